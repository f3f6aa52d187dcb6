//! Webhooks: register endpoints for events, edit and remove them, read their delivery log,
//! send a test ping. Payloads and signatures are described in `docs/webhooks.md`.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AuthUser, Json, Query};
use super::{Page, PageQuery};
use crate::clock::from_ms;
use crate::error::{Error, ErrorBody, Result};
use crate::events::{Event, KINDS};
use crate::state::AppState;
use crate::store::webhooks::{AttemptRow, DeliveryRow, WebhookRow};
use crate::store::UserRow;
use crate::webhooks::{enqueue, new_secret, wake, PING};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(ping_webhook))
}

/// Webhooks one account may create.
const MAX_WEBHOOKS_PER_USER: i64 = 25;
const MAX_URL_LEN: usize = 2000;

// ----- shapes -----

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateWebhook {
    /// Where events are POSTed (http or https; redirects are not followed).
    #[schema(example = "https://hooks.example.com/convene")]
    url: String,
    /// Event types to receive; omitted or empty means every type except `chat.message`,
    /// which is only sent when listed.
    #[schema(example = json!(["meeting.started", "meeting.ended"]))]
    events: Option<Vec<String>>,
    /// `user` (default): events about your own meetings. `organization` (administrators
    /// only): every event on the server.
    #[schema(example = "user")]
    scope: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateWebhook {
    url: Option<String>,
    /// Replaces the list; empty means every type except `chat.message`.
    events: Option<Vec<String>>,
    /// Inactive webhooks receive nothing; pending retries to them are given up.
    active: Option<bool>,
}

/// A registered endpoint (the secret is only shown when it is created).
#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookView {
    id: String,
    url: String,
    /// `user` or `organization`.
    scope: String,
    /// Subscribed event types; empty means every type except `chat.message`.
    events: Vec<String>,
    active: bool,
    owner_id: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&WebhookRow> for WebhookView {
    fn from(w: &WebhookRow) -> Self {
        WebhookView {
            id: w.id.clone(),
            url: w.url.clone(),
            scope: w.scope.clone(),
            events: w.events.clone(),
            active: w.active,
            owner_id: w.owner_id.clone(),
            created_at: from_ms(w.created_at),
            updated_at: from_ms(w.updated_at),
        }
    }
}

/// A new webhook with its signing secret; store the secret, it is not shown again.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedWebhook {
    #[serde(flatten)]
    webhook: WebhookView,
    /// Key for verifying `Convene-Signature` (see docs/webhooks.md).
    #[schema(example = "whsec_3q2-7wZ1...")]
    secret: String,
}

/// One try at delivering.
#[derive(Serialize, ToSchema)]
pub(crate) struct AttemptView {
    /// 1 for the first try.
    attempt: i64,
    at: DateTime<Utc>,
    duration_ms: i64,
    /// HTTP status the endpoint answered, if it answered.
    status: Option<i64>,
    error: Option<String>,
}

impl From<&AttemptRow> for AttemptView {
    fn from(a: &AttemptRow) -> Self {
        AttemptView {
            attempt: a.attempt,
            at: from_ms(a.started_at),
            duration_ms: a.duration_ms,
            status: a.status,
            error: a.error.clone(),
        }
    }
}

/// One event queued for one webhook, with how its delivery went.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryView {
    id: String,
    webhook_id: String,
    event_id: String,
    event_type: String,
    /// `pending`, `delivered` or `failed` (attempts exhausted).
    status: String,
    /// Attempts started so far.
    attempts: i64,
    /// HTTP status of the latest finished attempt (none if it could not connect).
    last_status: Option<i64>,
    last_error: Option<String>,
    /// When the next attempt is due (pending deliveries only).
    next_attempt_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    /// The body sent, exactly as signed.
    #[schema(value_type = Object)]
    payload: serde_json::Value,
    /// Every finished attempt, oldest first.
    history: Vec<AttemptView>,
}

fn delivery_view(d: &DeliveryRow, history: Vec<AttemptView>) -> DeliveryView {
    DeliveryView {
        id: d.id.clone(),
        webhook_id: d.webhook_id.clone(),
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        status: d.status.clone(),
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        next_attempt_at: (d.status == "pending").then(|| from_ms(d.next_attempt_at)),
        created_at: from_ms(d.created_at),
        delivered_at: d.delivered_at.map(from_ms),
        payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
        history,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryQuery {
    /// Only deliveries in this state: `pending`, `delivered` or `failed`.
    status: Option<String>,
}

// ----- validation -----

async fn validate_url(state: &AppState, raw: &str) -> Result<String> {
    let raw = raw.trim();
    let bad = |why: &str| Error::invalid("invalid_url", format!("url {why}"));
    if raw.len() > MAX_URL_LEN {
        return Err(bad("is too long"));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(&format!("is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must use http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("needs a host"));
    }
    state.outbound.check_url(&url).await.map_err(|refused| bad(&refused.explain()))?;
    Ok(url.to_string())
}

fn validate_events(events: Option<Vec<String>>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for e in events.unwrap_or_default() {
        if !KINDS.contains(&e.as_str()) {
            return Err(Error::invalid(
                "unknown_event",
                format!("unknown event type {e:?}; known types: {}", KINDS.join(", ")),
            ));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

/// Organization webhooks belong to the administrators; user webhooks to their owner only.
fn can_see(user: &UserRow, w: &WebhookRow) -> bool {
    match w.scope.as_str() {
        "organization" => user.is_admin(),
        _ => w.owner_id == user.id,
    }
}

/// The webhook if the caller may see it; otherwise 404 whether or not it exists.
async fn visible(state: &AppState, user: &UserRow, id: &str) -> Result<WebhookRow> {
    match state.store.webhook(id).await? {
        Some(w) if can_see(user, &w) => Ok(w),
        _ => Err(Error::not_found("webhook_not_found", "no such webhook")),
    }
}

// ----- handlers -----

/// Register a webhook. The response carries the signing secret, shown this once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = CreateWebhook,
    responses((status = 201, body = CreatedWebhook), (status = 401, body = ErrorBody),
        (status = 403, description = "organization scope without being an administrator", body = ErrorBody),
        (status = 409, description = "too many webhooks", body = ErrorBody),
        (status = 422, description = "bad URL, event type or scope", body = ErrorBody)))]
async fn create_webhook(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<CreateWebhook>,
) -> Result<(StatusCode, axum::Json<CreatedWebhook>)> {
    let scope = body.scope.unwrap_or_else(|| "user".into());
    match scope.as_str() {
        "user" => {}
        "organization" if auth.user.is_admin() => {}
        "organization" => {
            return Err(Error::forbidden("admin_only", "only administrators may create organization webhooks"))
        }
        _ => return Err(Error::invalid("invalid_scope", "scope is 'user' or 'organization'")),
    }
    let url = validate_url(&state, &body.url).await?;
    let events = validate_events(body.events)?;
    if state.store.count_webhooks_of(&auth.user.id).await? >= MAX_WEBHOOKS_PER_USER {
        return Err(Error::conflict(
            "too_many_webhooks",
            format!("an account may have at most {MAX_WEBHOOKS_PER_USER} webhooks"),
        ));
    }
    let now = state.clock.now_ms();
    let row = WebhookRow {
        id: uuid::Uuid::new_v4().to_string(),
        owner_id: auth.user.id.clone(),
        scope,
        url,
        secret: new_secret(),
        events,
        active: true,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_webhook(&row).await?;
    tracing::info!(webhook_id = %row.id, user_id = %row.owner_id, scope = %row.scope, "webhook registered");
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedWebhook { webhook: WebhookView::from(&row), secret: row.secret.clone() }),
    ))
}

/// Your webhooks; administrators also see the organization's.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<WebhookView>), (status = 401, body = ErrorBody)))]
async fn list_webhooks(State(state): State<AppState>, auth: AuthUser) -> Result<axum::Json<Vec<WebhookView>>> {
    let rows = state.store.webhooks_visible_to(&auth.user.id, auth.user.is_admin()).await?;
    Ok(axum::Json(rows.iter().map(WebhookView::from).collect()))
}

/// One webhook.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 200, body = WebhookView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_webhook(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<WebhookView>> {
    let w = visible(&state, &auth.user, &id).await?;
    Ok(axum::Json(WebhookView::from(&w)))
}

/// Change a webhook's URL, event types or whether it is active.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id")), request_body = UpdateWebhook,
    responses((status = 200, body = WebhookView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn update_webhook(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<UpdateWebhook>,
) -> Result<axum::Json<WebhookView>> {
    let mut w = visible(&state, &auth.user, &id).await?;
    if let Some(url) = body.url {
        w.url = validate_url(&state, &url).await?;
    }
    if body.events.is_some() {
        w.events = validate_events(body.events)?;
    }
    if let Some(active) = body.active {
        w.active = active;
    }
    w.updated_at = state.clock.now_ms();
    state.store.update_webhook(&w).await?;
    Ok(axum::Json(WebhookView::from(&w)))
}

/// Remove a webhook and its delivery log.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_webhook(State(state): State<AppState>, auth: AuthUser, Path(id): Path<String>) -> Result<StatusCode> {
    let w = visible(&state, &auth.user, &id).await?;
    state.store.delete_webhook(&w.id).await?;
    tracing::info!(webhook_id = %w.id, user_id = %auth.user.id, "webhook deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The delivery log, newest first: each event queued for this webhook, its state, attempts,
/// last HTTP status and error, and the history of attempts.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id"), DeliveryQuery, PageQuery),
    responses((status = 200, body = Page<DeliveryView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn list_deliveries(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<DeliveryQuery>,
    Query(page): Query<PageQuery>,
) -> Result<axum::Json<Page<DeliveryView>>> {
    let w = visible(&state, &auth.user, &id).await?;
    let page = page.validate()?;
    if let Some(s) = q.status.as_deref() {
        if !matches!(s, "pending" | "delivered" | "failed") {
            return Err(Error::bad_request("invalid_query", "status is pending, delivered or failed"));
        }
    }
    let (rows, total) = state.store.deliveries(&w.id, q.status.as_deref(), page.size, page.offset()).await?;
    let ids: Vec<String> = rows.iter().map(|d| d.id.clone()).collect();
    let mut history: HashMap<String, Vec<AttemptView>> = HashMap::new();
    for a in state.store.attempts_of(&ids).await? {
        history.entry(a.delivery_id.clone()).or_default().push(AttemptView::from(&a));
    }
    let items = rows.iter().map(|d| delivery_view(d, history.remove(&d.id).unwrap_or_default())).collect();
    Ok(axum::Json(page.wrap(items, total)))
}

/// Send a test event (type `ping`) to the webhook now; it shows up in the delivery log.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/ping", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 202, body = DeliveryView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the webhook is inactive", body = ErrorBody)))]
async fn ping_webhook(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, axum::Json<DeliveryView>)> {
    let w = visible(&state, &auth.user, &id).await?;
    if !w.active {
        return Err(Error::conflict("webhook_inactive", "activate the webhook before pinging it"));
    }
    let event = Event {
        id: uuid::Uuid::new_v4().to_string(),
        kind: PING,
        created_at: state.clock.now(),
        meeting_id: None,
        owner_id: Some(w.owner_id.clone()),
        data: serde_json::json!({ "webhook_id": w.id, "message": "Convene webhook test" }),
    };
    let delivery_id = enqueue(&state, &w, &event).await?.ok_or_else(|| anyhow::anyhow!("fresh ping id collided"))?;
    wake();
    let row = state.store.delivery(&delivery_id).await?.ok_or_else(|| anyhow::anyhow!("ping delivery vanished"))?;
    Ok((StatusCode::ACCEPTED, axum::Json(delivery_view(&row, Vec::new()))))
}
