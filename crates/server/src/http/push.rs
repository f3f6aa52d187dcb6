//! Web Push: the VAPID public key, browser subscriptions and a test notification.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AuthUser, Json};
use crate::auth::ratelimit::Limiter;
use crate::clock::from_ms;
use crate::error::{Error, ErrorBody, Result};
use crate::push::{self, PushMessage, SendReport, Subscription, VapidKeys};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(vapid_public_key))
        .routes(routes!(subscribe, list_subscriptions, unsubscribe))
        .routes(routes!(send_test))
}

/// Test notifications per user per minute (each one makes the server post to push services).
static TEST_LIMIT: LazyLock<Limiter> = LazyLock::new(|| Limiter::new(10, 60_000));

/// The server's VAPID public key.
#[derive(Serialize, ToSchema)]
pub(crate) struct VapidPublicKey {
    /// Base64url (no padding) of the uncompressed P-256 point: pass it, decoded to bytes, as
    /// `applicationServerKey` to `PushManager.subscribe`.
    #[schema(example = "BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U")]
    public_key: String,
}

/// What `PushSubscription.toJSON()` gives in the browser.
#[derive(Deserialize, ToSchema)]
pub(crate) struct SubscribeRequest {
    /// The push service URL for this browser.
    #[schema(example = "https://fcm.googleapis.com/fcm/send/c1KrmpTuRm0:APA91bE")]
    endpoint: String,
    keys: SubscriptionKeys,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct SubscriptionKeys {
    /// Base64url uncompressed P-256 public key of the browser (65 bytes).
    p256dh: String,
    /// Base64url authentication secret (16 bytes).
    auth: String,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct UnsubscribeRequest {
    endpoint: String,
}

/// A stored subscription as its owner sees it (keys are not echoed).
#[derive(Serialize, ToSchema)]
pub(crate) struct SubscriptionView {
    id: String,
    endpoint: String,
    user_agent: String,
    created_at: DateTime<Utc>,
    /// When a push to it last went through.
    last_success_at: Option<DateTime<Utc>>,
    /// Failed deliveries since the last success.
    failure_count: i64,
}

impl From<&Subscription> for SubscriptionView {
    fn from(s: &Subscription) -> SubscriptionView {
        SubscriptionView {
            id: s.id.clone(),
            endpoint: s.endpoint.clone(),
            user_agent: s.user_agent.clone(),
            created_at: from_ms(s.created_at),
            last_success_at: s.last_success_at.map(from_ms),
            failure_count: s.failure_count,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SubscriptionList {
    items: Vec<SubscriptionView>,
}

/// The VAPID public key browsers subscribe with.
#[utoipa::path(get, path = "/api/v1/push/vapid-public-key", tag = "push",
    responses((status = 200, body = VapidPublicKey)))]
async fn vapid_public_key(State(state): State<AppState>) -> Result<axum::Json<VapidPublicKey>> {
    let keys = VapidKeys::load(&state.store).await?;
    Ok(axum::Json(VapidPublicKey { public_key: keys.public_key_b64() }))
}

/// Register this browser for notifications (idempotent per endpoint).
///
/// The body is the browser's `PushSubscription.toJSON()`. An endpoint already registered is
/// refreshed and moves to the signed-in account. Each account keeps its 20 newest subscriptions.
#[utoipa::path(post, path = "/api/v1/push/subscriptions", tag = "push", security(("bearer" = [])),
    request_body = SubscribeRequest,
    responses((status = 201, description = "new subscription", body = SubscriptionView),
        (status = 200, description = "existing subscription refreshed", body = SubscriptionView),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn subscribe(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    Json(req): Json<SubscribeRequest>,
) -> Result<(StatusCode, axum::Json<SubscriptionView>)> {
    let endpoint = push::validate_endpoint(req.endpoint.trim(), &state.config.public_url)?;
    state.outbound.check_url(&endpoint).await.map_err(|refused| {
        crate::error::Error::invalid("invalid_endpoint", format!("endpoint {}", refused.explain()))
    })?;
    let (p256dh, auth_secret) = push::validate_keys(&req.keys.p256dh, &req.keys.auth)?;
    let user_agent: String =
        headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().chars().take(255).collect();
    let (sub, created) = state
        .store
        .upsert_push_subscription(push::NewSubscription {
            user_id: &auth.user.id,
            endpoint: endpoint.as_str(),
            p256dh: &p256dh,
            auth: &auth_secret,
            user_agent: &user_agent,
            now: state.clock.now_ms(),
        })
        .await?;
    if created {
        tracing::info!(user_id = %auth.user.id, subscription = %sub.id, "push subscription added");
    }
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, axum::Json(SubscriptionView::from(&sub))))
}

/// My push subscriptions, oldest first.
#[utoipa::path(get, path = "/api/v1/push/subscriptions", tag = "push", security(("bearer" = [])),
    responses((status = 200, body = SubscriptionList), (status = 401, body = ErrorBody)))]
async fn list_subscriptions(State(state): State<AppState>, auth: AuthUser) -> Result<axum::Json<SubscriptionList>> {
    let subs = state.store.push_subscriptions_of(&auth.user.id).await?;
    Ok(axum::Json(SubscriptionList { items: subs.iter().map(SubscriptionView::from).collect() }))
}

/// Stop notifications to a browser (call it after `PushSubscription.unsubscribe()`).
#[utoipa::path(delete, path = "/api/v1/push/subscriptions", tag = "push", security(("bearer" = [])),
    request_body = UnsubscribeRequest,
    responses((status = 204, description = "removed"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn unsubscribe(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<UnsubscribeRequest>,
) -> Result<StatusCode> {
    let endpoint = url::Url::parse(req.endpoint.trim()).map(String::from).unwrap_or(req.endpoint);
    if !state.store.delete_push_subscription_of(&auth.user.id, &endpoint).await? {
        return Err(Error::not_found("subscription_not_found", "no such push subscription on your account"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Send a test notification to all my subscriptions; how many push services accepted it.
#[utoipa::path(post, path = "/api/v1/push/test", tag = "push", security(("bearer" = [])),
    responses((status = 200, body = SendReport), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn send_test(State(state): State<AppState>, auth: AuthUser) -> Result<axum::Json<SendReport>> {
    let now = state.clock.now_ms();
    TEST_LIMIT.prune(now);
    if let Some(wait) = TEST_LIMIT.hit(&auth.user.id, now) {
        return Err(Error::too_many(wait, "too many test notifications; try again shortly"));
    }
    let message = PushMessage::new("Convene", "Notifications are working.", "/").with_tag("convene-test").with_ttl(300);
    Ok(axum::Json(push::send_to_user_report(&state, &auth.user.id, &message).await?))
}
