//! My virtual background image: upload, fetch and remove (Settings → Default background).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AuthUser, Upload};
use super::stored_image::StoredImage;
use crate::background;
use crate::error::{Error, ErrorBody, Result};
use crate::state::AppState;

/// In its own router so only it accepts 5 MB bodies.
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_background, get_background, delete_background))
        // A little headroom so the handler, not the transport, reports the size error.
        .layer(axum::extract::DefaultBodyLimit::max(background::MAX_UPLOAD_BYTES + 1))
}

/// Where my background image is now (its ETag names the version).
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Uploaded {
    etag: String,
}

/// Upload my background image: PNG, JPEG or WebP up to 5 MB, stored as a JPEG within 1920×1080.
#[utoipa::path(put, path = "/api/v1/users/me/background", tag = "accounts", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "the image file (PNG, JPEG or WebP)"),
    responses((status = 200, body = Uploaded), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn put_background(
    State(state): State<AppState>,
    auth: AuthUser,
    Upload(body): Upload,
) -> Result<axum::Json<Uploaded>> {
    if body.len() > background::MAX_UPLOAD_BYTES {
        return Err(background::too_large());
    }
    let processed = background::process(body.to_vec()).await?;
    state.store.set_background(&auth.user.id, Some((&processed.jpeg, &processed.etag)), state.clock.now_ms()).await?;
    Ok(axum::Json(Uploaded { etag: processed.etag }))
}

/// My background image (JPEG). Private: only its owner's browser paints it.
#[utoipa::path(get, path = "/api/v1/users/me/background", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, content_type = "image/jpeg", description = "the image"), (status = 304), (status = 404, body = ErrorBody)))]
async fn get_background(State(state): State<AppState>, auth: AuthUser, headers: HeaderMap) -> Result<Response> {
    let (jpeg, etag) = state
        .store
        .background(&auth.user.id)
        .await?
        .ok_or_else(|| Error::not_found("no_background", "you have not uploaded a background image"))?;
    let image = StoredImage { bytes: jpeg, etag, content_type: "image/jpeg", cache_control: "private, no-cache" };
    Ok(image.respond(&headers))
}

/// Remove my background image.
#[utoipa::path(delete, path = "/api/v1/users/me/background", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn delete_background(State(state): State<AppState>, auth: AuthUser) -> Result<StatusCode> {
    state.store.set_background(&auth.user.id, None, state.clock.now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}
