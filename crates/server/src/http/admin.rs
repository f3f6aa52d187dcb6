//! Server administration: list accounts, disable and enable them.

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AdminUser, Query};
use super::users::Me;
use super::{Page, PageQuery};
use crate::error::{Error, ErrorBody, Result};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_users)).routes(routes!(disable_user)).routes(routes!(enable_user))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UserListQuery {
    /// Substring of username, e-mail or display name.
    q: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// All accounts (administrators only).
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), params(UserListQuery),
    responses((status = 200, body = Page<Me>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(q): Query<UserListQuery>,
) -> Result<axum::Json<Page<Me>>> {
    let page = PageQuery { page: q.page, page_size: q.page_size }.validate()?;
    let (rows, total) = state.store.list_users(q.q.as_deref(), page.size, page.offset()).await?;
    Ok(axum::Json(page.wrap(rows.iter().map(Me::from).collect(), total)))
}

/// Disable an account: it can no longer sign in and its tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/disable", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = Me), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn disable_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<axum::Json<Me>> {
    if admin.user.id == id {
        return Err(Error::conflict("cannot_disable_self", "you cannot disable your own account"));
    }
    set_disabled(&state, &id, true).await
}

/// Enable a disabled account again.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/enable", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = Me), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn enable_user(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<axum::Json<Me>> {
    set_disabled(&state, &id, false).await
}

async fn set_disabled(state: &AppState, id: &str, disabled: bool) -> Result<axum::Json<Me>> {
    if state.store.user_by_id(id).await?.is_none() {
        return Err(Error::not_found("user_not_found", "no such user"));
    }
    let now = state.clock.now_ms();
    state.store.set_disabled(id, disabled, now).await?;
    if disabled {
        state.store.revoke_sessions_of(id, None, now).await?;
    }
    tracing::info!(user_id = %id, disabled, "account state changed by admin");
    let user = state.store.user_by_id(id).await?.ok_or_else(|| anyhow::anyhow!("user vanished"))?;
    Ok(axum::Json(Me::from(&user)))
}
