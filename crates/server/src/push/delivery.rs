//! Sending a message to every browser a user subscribed (RFC 8030), and what the push
//! services' answers do to the stored subscriptions.

use serde::Serialize;

use super::{decode_b64url, encrypt, PushMessage, Subscription, VapidKeys, MAX_CONSECUTIVE_FAILURES};
use crate::error::Result;
use crate::services::Services;

/// How a send to one user went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SendReport {
    /// Subscriptions the push service accepted the message for.
    pub delivered: usize,
    /// Subscriptions that failed this time (kept, failure counted).
    pub failed: usize,
    /// Subscriptions removed because the push service said they are gone (or kept failing).
    pub removed: usize,
}

enum Outcome {
    Delivered,
    Gone,
    Failed(String),
}

/// Sends `message` to every subscription of the user; the number the push services accepted.
pub async fn send_to_user(state: &Services, user_id: &str, message: &PushMessage) -> Result<usize> {
    Ok(send_to_user_report(state, user_id, message).await?.delivered)
}

/// [`send_to_user`] in the background: never blocks or fails the caller (errors are logged).
pub fn spawn_send_to_user(state: &Services, user_id: &str, message: PushMessage) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    let user_id = user_id.to_owned();
    tokio::spawn(async move {
        if let Err(e) = send_to_user_report(&state, &user_id, &message).await {
            tracing::warn!(user_id = %user_id, error = %e, "web push failed");
        }
    })
}

/// [`send_to_user`] with the full tally.
pub async fn send_to_user_report(state: &Services, user_id: &str, message: &PushMessage) -> Result<SendReport> {
    let subs = state.store.push_subscriptions_of(user_id).await?;
    let mut report = SendReport::default();
    if subs.is_empty() {
        return Ok(report);
    }
    let vapid = VapidKeys::load(&state.store).await?;
    let payload = message.payload();
    let subject = state.config.public_url.clone();
    let now_secs = state.clock.now().timestamp();
    let mut tasks = tokio::task::JoinSet::new();
    for sub in subs {
        let (vapid, payload, subject, message) = (vapid.clone(), payload.clone(), subject.clone(), message.clone());
        let outbound = state.outbound.clone();
        tasks.spawn(async move {
            let outcome = deliver(&outbound, &vapid, &sub, &payload, &message, &subject, now_secs).await;
            (sub, outcome)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (sub, outcome) = joined.map_err(|e| anyhow::anyhow!("push task failed: {e}"))?;
        match outcome {
            Outcome::Delivered => {
                report.delivered += 1;
                state.store.push_delivered(&sub.id, state.clock.now_ms()).await?;
            }
            Outcome::Gone => {
                report.removed += 1;
                tracing::info!(user_id = %user_id, subscription = %sub.id, "push subscription gone; removed");
                state.store.delete_push_subscription(&sub.id).await?;
            }
            Outcome::Failed(why) => {
                report.failed += 1;
                tracing::warn!(user_id = %user_id, subscription = %sub.id, error = %why, "push delivery failed");
                if sub.failure_count + 1 >= MAX_CONSECUTIVE_FAILURES {
                    report.removed += 1;
                    state.store.delete_push_subscription(&sub.id).await?;
                } else {
                    state.store.push_failed(&sub.id).await?;
                }
            }
        }
    }
    Ok(report)
}

async fn deliver(
    outbound: &crate::outbound::Outbound,
    vapid: &VapidKeys,
    sub: &Subscription,
    payload: &[u8],
    message: &PushMessage,
    subject: &str,
    now_secs: i64,
) -> Outcome {
    let Ok(endpoint) = url::Url::parse(&sub.endpoint) else { return Outcome::Gone };
    if let Err(refused) = outbound.check_literal(&endpoint) {
        return Outcome::Failed(refused.to_string());
    }
    let (Some(ua_public), Some(auth)) = (decode_b64url(&sub.p256dh), decode_b64url(&sub.auth)) else {
        return Outcome::Gone;
    };
    let body = match encrypt(payload, &ua_public, &auth) {
        Ok(body) => body,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let mut request = outbound
        .client()
        .post(endpoint.clone())
        .header("Content-Encoding", "aes128gcm")
        .header("Content-Type", "application/octet-stream")
        .header("TTL", message.ttl_secs.to_string())
        .header("Urgency", message.urgency.as_str())
        .header("Authorization", vapid.authorization(&endpoint, subject, now_secs));
    if is_topic(&message.tag) {
        request = request.header("Topic", &message.tag);
    }
    match request.body(body).send().await {
        Ok(resp) if resp.status().is_success() => Outcome::Delivered,
        Ok(resp) if matches!(resp.status().as_u16(), 404 | 410) => Outcome::Gone,
        // The status only: what an endpoint answers is not ours to log.
        Ok(resp) => Outcome::Failed(format!("HTTP {}", resp.status().as_u16())),
        Err(e) => Outcome::Failed(crate::outbound::classify(&e)),
    }
}

/// RFC 8030 §5.4: a topic is at most 32 characters of the base64url alphabet.
fn is_topic(tag: &str) -> bool {
    !tag.is_empty() && tag.len() <= 32 && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
