//! Server administration: list accounts, disable and enable them; the cluster's nodes and
//! draining this one.

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
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(cluster_status))
        .routes(routes!(drain_node))
}

/// This node and the cluster it belongs to.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ClusterStatus {
    node_id: String,
    /// False for a single node (no NATS).
    clustered: bool,
    draining: bool,
    /// Live meetings and participants on this node.
    rooms: usize,
    participants: usize,
    /// Every live node as this node last saw the registry.
    nodes: Vec<crate::cluster::placement::NodeInfo>,
}

/// The cluster's nodes as this node sees them (administrators only).
#[utoipa::path(get, path = "/api/v1/admin/cluster", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ClusterStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn cluster_status(State(state): State<AppState>, _admin: AdminUser) -> axum::Json<ClusterStatus> {
    let (rooms, participants) = state.live.load();
    axum::Json(ClusterStatus {
        node_id: state.cluster.node_id().to_owned(),
        clustered: state.cluster.is_clustered(),
        draining: state.cluster.is_draining(),
        rooms,
        participants,
        nodes: state.cluster.nodes(),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct DrainRequest {
    /// How long live meetings may stay before they are moved, 0–3600 s [default: 60].
    deadline_seconds: Option<u64>,
}

/// Drains this node: no new meetings; live ones move to other nodes at the deadline
/// (administrators only; cluster mode).
#[utoipa::path(post, path = "/api/v1/admin/cluster/drain", tag = "admin", security(("bearer" = [])),
    request_body = DrainRequest,
    responses((status = 202, body = ClusterStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn drain_node(
    State(state): State<AppState>,
    admin: AdminUser,
    super::extract::Json(req): super::extract::Json<DrainRequest>,
) -> Result<(axum::http::StatusCode, axum::Json<ClusterStatus>)> {
    if !state.cluster.is_clustered() {
        return Err(Error::conflict(
            "not_clustered",
            "this node runs alone (no --nats-url): there is nowhere to drain to",
        ));
    }
    let deadline = req.deadline_seconds.unwrap_or(60);
    if deadline > 3600 {
        return Err(Error::invalid("invalid_deadline", "deadline_seconds must be between 0 and 3600"));
    }
    state.cluster.set_draining(true).await;
    tracing::info!(by = %admin.0.user.id, deadline, "drain requested");
    let (live, drain_state) = (state.live.clone(), state.clone());
    tokio::spawn(async move { live.drain(&drain_state, std::time::Duration::from_secs(deadline)).await });
    let status = cluster_status(State(state), admin).await;
    Ok((axum::http::StatusCode::ACCEPTED, status))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UserListQuery {
    /// Substring of username, e-mail or display name.
    q: Option<String>,
}

/// All accounts (administrators only).
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), params(UserListQuery, PageQuery),
    responses((status = 200, body = Page<Me>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(q): Query<UserListQuery>,
    Query(page): Query<PageQuery>,
) -> Result<axum::Json<Page<Me>>> {
    let page = page.validate()?;
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
        crate::live::revocation::revoke(state, &state.live, id, crate::live::revocation::Revoked::Disabled).await?;
    }
    tracing::info!(user_id = %id, disabled, "account state changed by admin");
    let user = state.store.user_by_id(id).await?.ok_or_else(|| anyhow::anyhow!("user vanished"))?;
    Ok(axum::Json(Me::from(&user)))
}
