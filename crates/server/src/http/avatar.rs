//! Profile photos: upload, fetch (anyone's, for meeting tiles) and remove.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AuthUser, Upload};
use super::stored_image::StoredImage;
use super::users::Me;
use crate::avatar;
use crate::error::{Error, ErrorBody, Result};
use crate::state::AppState;

/// Avatar upload lives in its own router so only it accepts 5 MB bodies.
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_avatar, get_my_avatar, delete_avatar))
        // A little headroom so the handler, not the transport, reports the size error.
        .layer(axum::extract::DefaultBodyLimit::max(avatar::MAX_UPLOAD_BYTES + 1))
        .routes(routes!(user_avatar))
}

/// Someone's profile photo (PNG, 256×256). Public, so meeting tiles can show it to guests.
#[utoipa::path(get, path = "/api/v1/users/{id}/avatar", tag = "accounts",
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, content_type = "image/png", description = "the photo"), (status = 304), (status = 404, body = ErrorBody)))]
async fn user_avatar(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response> {
    serve_avatar(&state, &id, &headers).await
}

/// Upload my profile photo: PNG, JPEG or WebP up to 5 MB, stored as a 256×256 square.
#[utoipa::path(put, path = "/api/v1/users/me/avatar", tag = "accounts", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png", description = "the image file (PNG, JPEG or WebP)"),
    responses((status = 200, body = Me), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn put_avatar(State(state): State<AppState>, auth: AuthUser, Upload(body): Upload) -> Result<axum::Json<Me>> {
    if body.len() > avatar::MAX_UPLOAD_BYTES {
        return Err(avatar::too_large());
    }
    let processed = avatar::process(body.to_vec()).await?;
    state.store.set_avatar(&auth.user.id, Some((&processed.png, &processed.etag)), state.clock.now_ms()).await?;
    let user = state.store.user_by_id(&auth.user.id).await?.ok_or_else(|| anyhow::anyhow!("user vanished"))?;
    Ok(axum::Json(Me::from(&user)))
}

/// My profile photo.
#[utoipa::path(get, path = "/api/v1/users/me/avatar", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, content_type = "image/png", description = "the photo"), (status = 304), (status = 404, body = ErrorBody)))]
async fn get_my_avatar(State(state): State<AppState>, auth: AuthUser, headers: HeaderMap) -> Result<Response> {
    serve_avatar(&state, &auth.user.id, &headers).await
}

/// Remove my profile photo.
#[utoipa::path(delete, path = "/api/v1/users/me/avatar", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn delete_avatar(State(state): State<AppState>, auth: AuthUser) -> Result<StatusCode> {
    state.store.set_avatar(&auth.user.id, None, state.clock.now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn serve_avatar(state: &AppState, user_id: &str, headers: &HeaderMap) -> Result<Response> {
    let (png, etag) = state
        .store
        .avatar(user_id)
        .await?
        .ok_or_else(|| Error::not_found("no_avatar", "this user has no profile photo"))?;
    let image = StoredImage {
        bytes: png,
        etag,
        content_type: "image/png",
        cache_control: "public, max-age=300, must-revalidate",
    };
    Ok(image.respond(headers))
}
