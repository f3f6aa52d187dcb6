//! Webhooks: domain events POSTed as signed JSON to endpoints users and admins register.
//!
//! Two background tasks, started by [`start`]:
//!
//! - the **dispatcher** subscribes to the [`EventBus`](crate::events::EventBus) and, for every
//!   event, queues one delivery per active webhook that wants it (a row in
//!   `webhook_deliveries`; the pair webhook + event id is unique, so an event is queued once per
//!   endpoint);
//! - the **worker** claims due deliveries with a lease (see
//!   [`Store::claim_due_deliveries`](crate::store::Store::claim_due_deliveries)), POSTs them
//!   concurrently, records each attempt and schedules retries with exponential backoff and
//!   jitter until the endpoint answers 2xx or the attempts run out.
//!
//! Emitting an event never waits for any of this, so a slow or dead endpoint cannot slow a
//! meeting. Delivery is at least once: receivers deduplicate on the event `id`.
//!
//! Signature (documented for receivers in `docs/webhooks.md`):
//! `Convene-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use tokio::sync::{broadcast, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::error::Result;
use crate::events::Event;
use crate::services::Services;
use crate::store::webhooks::{AttemptOutcome, ClaimedDelivery, WebhookRow};

/// Header naming the event type.
pub const EVENT_HEADER: &str = "Convene-Event";
/// Header carrying the delivery id (the same on every retry of one delivery).
pub const DELIVERY_HEADER: &str = "Convene-Delivery";
/// Header carrying the timestamped signature.
pub const SIGNATURE_HEADER: &str = "Convene-Signature";
/// Prefix of webhook secrets.
pub const SECRET_PREFIX: &str = "whsec_";
/// The event type of test deliveries sent by `POST /api/v1/webhooks/{id}/ping`.
pub const PING: &str = "ping";
/// The event type only delivered to webhooks that list it explicitly.
pub const OPT_IN_KINDS: &[&str] = &["chat.message"];

/// How long a claimed attempt stays leased to its worker before another may retry it.
const LEASE_MS: i64 = 60_000;
/// Longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 60 * 60 * 1000;
/// Deliveries sent at the same time by one node.
const CONCURRENCY: usize = 16;

/// A fresh secret: `whsec_` and 32 random bytes (URL-safe base64).
pub fn new_secret() -> String {
    format!("{SECRET_PREFIX}{}", crate::auth::random_secret())
}

/// Hex HMAC-SHA256 with key `secret` over `"<timestamp>.<body>"`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Convene-Signature` header value for a body sent at `timestamp` (Unix seconds).
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// Checks a `Convene-Signature` header the way receivers should: some `v1` matches (in constant
/// time) and `t` is within `tolerance_secs` of `now_secs`.
pub fn verify(secret: &str, header: &str, body: &[u8], now_secs: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    if (now_secs - t).abs() > tolerance_secs {
        return false;
    }
    candidates.iter().any(|sig| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(sig).is_ok()
    })
}

/// Whether `webhook` wants `event`: organization webhooks see every owner's events, user
/// webhooks only their owner's; an empty list means every type except the opt-in ones.
pub fn subscribes(webhook: &WebhookRow, event: &Event) -> bool {
    if !webhook.active {
        return false;
    }
    let owner_ok = match webhook.scope.as_str() {
        "organization" => true,
        "user" => event.owner_id.as_deref() == Some(webhook.owner_id.as_str()),
        _ => false,
    };
    let kind_ok = if webhook.events.is_empty() {
        !OPT_IN_KINDS.contains(&event.kind)
    } else {
        webhook.events.iter().any(|e| e == event.kind)
    };
    owner_ok && kind_ok
}

/// Wait before the attempt after attempt number `attempts` (1-based) failed: `base`, doubled
/// each time, capped at an hour, then spread by ±20 % so retries of many deliveries scatter.
pub fn backoff_ms(base_ms: u64, attempts: i64) -> i64 {
    let base = i64::try_from(base_ms).unwrap_or(i64::MAX).max(1);
    let exponent = u32::try_from((attempts - 1).clamp(0, 30)).unwrap_or(30);
    let delay = base.saturating_mul(1_i64 << exponent).min(MAX_BACKOFF_MS);
    let spread = delay / 5;
    let jitter = if spread > 0 { rand::thread_rng().gen_range(-spread..=spread) } else { 0 };
    (delay + jitter).clamp(1, MAX_BACKOFF_MS)
}

/// Wakes this process's delivery workers (something was queued). Best effort: workers also
/// poll, which is what makes deliveries queued by other nodes go out.
pub fn wake() {
    WAKE.notify_waiters();
}

static WAKE: Notify = Notify::const_new();

/// Starts the dispatcher and the delivery worker. Subscribes before returning, so no event
/// emitted after this call is missed. Abort the handle to stop both (in-flight attempts are
/// dropped; their leases expire and they are retried).
pub fn start(state: &Services) -> JoinHandle<()> {
    let events = state.events.subscribe();
    let state = state.clone();
    tokio::spawn(async move {
        tokio::join!(dispatch_loop(state.clone(), events), deliver_loop(state));
    })
}

/// Queues `event` for one webhook (used by the dispatcher and by ping). Returns the new
/// delivery id, or `None` if this event was already queued for this webhook.
pub async fn enqueue(state: &Services, webhook: &WebhookRow, event: &Event) -> Result<Option<String>> {
    let payload = serde_json::to_string(event).map_err(anyhow::Error::from)?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = state.clock.now_ms();
    let queued = state.store.enqueue_delivery(&id, &webhook.id, &event.id, event.kind, &payload, now).await?;
    Ok(queued.then_some(id))
}

async fn dispatch_loop(state: Services, mut events: broadcast::Receiver<Event>) {
    loop {
        match events.recv().await {
            Ok(event) => {
                // The insert is idempotent, so a failed round can simply be tried again.
                for round in 1..=3 {
                    match dispatch(&state, &event).await {
                        Ok(0) => break,
                        Ok(_) => {
                            wake();
                            break;
                        }
                        Err(e) if round < 3 => {
                            tracing::warn!(error = %e, event_id = %event.id, "queueing webhook deliveries failed; retrying");
                            tokio::time::sleep(Duration::from_millis(200 * round)).await;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, event_id = %event.id, kind = event.kind, "webhook deliveries for this event were lost");
                        }
                    }
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                metrics::counter!("webhook_events_missed_total").increment(missed);
                tracing::error!(missed, "webhook dispatcher fell behind the event bus; events were dropped");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Queues `event` for every webhook that wants it; returns how many deliveries were queued.
async fn dispatch(state: &Services, event: &Event) -> Result<usize> {
    let hooks = state.store.webhooks_for_event(event.owner_id.as_deref()).await?;
    let mut queued = 0;
    for webhook in hooks.iter().filter(|w| subscribes(w, event)) {
        if enqueue(state, webhook, event).await?.is_some() {
            queued += 1;
        }
    }
    Ok(queued)
}

async fn deliver_loop(state: Services) {
    // The outbound rule's client: internal addresses refused, no redirects, no proxy.
    let client = state.outbound.client().clone();
    let poll = Duration::from_millis((state.config.webhook_retry_base_ms / 2).clamp(50, 1000));
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let finished = Arc::new(Notify::new());
    let mut in_flight = JoinSet::new();
    loop {
        let woken = WAKE.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        while in_flight.try_join_next().is_some() {}

        let free = permits.available_permits();
        if free > 0 {
            let now = state.clock.now_ms();
            let max = i64::from(state.config.webhook_max_attempts);
            match state.store.claim_due_deliveries(now, now + LEASE_MS, max, free as i64).await {
                Ok(claimed) => {
                    for delivery in claimed {
                        let Ok(permit) = permits.clone().acquire_owned().await else { return };
                        let (state, client, finished) = (state.clone(), client.clone(), finished.clone());
                        in_flight.spawn(async move {
                            attempt(&state, &client, delivery).await;
                            drop(permit);
                            finished.notify_one();
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
            }
        }
        tokio::select! {
            () = &mut woken => {}
            () = finished.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// Sends one claimed attempt and records the outcome.
async fn attempt(state: &Services, client: &reqwest::Client, claimed: ClaimedDelivery) {
    let d = &claimed.delivery;
    let started_at = state.clock.now_ms();
    let (status, error, success, give_up) = if claimed.webhook_active {
        let (status, error, success) = post(state, client, &claimed).await;
        (status, error, success, false)
    } else {
        (None, Some("the webhook was deactivated".to_owned()), false, true)
    };
    let finished_at = state.clock.now_ms();
    let attempts_left = d.attempts < i64::from(state.config.webhook_max_attempts);
    let retry_at = (!success && !give_up && attempts_left)
        .then(|| finished_at + backoff_ms(state.config.webhook_retry_base_ms, d.attempts));
    let result = match (success, retry_at) {
        (true, _) => "delivered",
        (false, Some(_)) => "retry",
        (false, None) => "failed",
    };
    metrics::counter!("webhook_attempts_total", "result" => result).increment(1);
    tracing::debug!(delivery_id = %d.id, attempt = d.attempts, ?status, result, "webhook attempt");
    if result == "failed" {
        tracing::info!(delivery_id = %d.id, webhook_id = %d.webhook_id, attempts = d.attempts, error = ?error, "webhook delivery failed for good");
    }
    let outcome = AttemptOutcome { started_at, finished_at, status, error, success, retry_at };
    match state.store.finish_attempt(&d.id, d.attempts, &outcome).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(delivery_id = %d.id, "webhook attempt finished after its lease was taken over"),
        Err(e) => tracing::error!(error = %e, delivery_id = %d.id, "recording a webhook attempt failed"),
    }
}

/// POSTs the stored payload; returns (HTTP status, error, delivered).
async fn post(
    state: &Services,
    client: &reqwest::Client,
    claimed: &ClaimedDelivery,
) -> (Option<i64>, Option<String>, bool) {
    let d = &claimed.delivery;
    let url = match url::Url::parse(&claimed.url) {
        Ok(url) => url,
        Err(_) => return (None, Some("invalid URL".to_owned()), false),
    };
    if let Err(refused) = state.outbound.check_literal(&url) {
        return (None, Some(refused.to_string()), false);
    }
    let timestamp = state.clock.now().timestamp();
    let request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_HEADER, &d.event_type)
        .header(DELIVERY_HEADER, &d.id)
        .header(SIGNATURE_HEADER, signature_header(&claimed.secret, timestamp, d.payload.as_bytes()))
        .body(d.payload.clone());
    match request.send().await {
        // The log keeps the status only: a target's body could be an internal page's content.
        Ok(response) => {
            let code = response.status();
            if code.is_success() {
                return (Some(i64::from(code.as_u16())), None, true);
            }
            let mut error = format!("HTTP {}", code.as_u16());
            if code.is_redirection() {
                error.push_str(" (redirects are not followed)");
            }
            (Some(i64::from(code.as_u16())), Some(error), false)
        }
        Err(e) => (None, Some(crate::outbound::classify(&e)), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(scope: &str, owner: &str, events: &[&str]) -> WebhookRow {
        WebhookRow {
            id: "w".into(),
            owner_id: owner.into(),
            scope: scope.into(),
            url: "http://127.0.0.1:1/".into(),
            secret: "whsec_x".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            active: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn event(kind: &'static str, owner: Option<&str>) -> Event {
        Event::new(kind, chrono::Utc::now(), Some(1), owner.map(str::to_owned), serde_json::json!({}))
    }

    #[test]
    fn signature_round_trip_and_tampering() {
        let body = br#"{"id":"e1","type":"meeting.started"}"#;
        let header = signature_header("whsec_secret", 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify("whsec_secret", &header, body, 1_700_000_010, 300));
        assert!(!verify("whsec_other", &header, body, 1_700_000_010, 300), "wrong secret");
        assert!(!verify("whsec_secret", &header, br#"{"id":"e2","type":"meeting.started"}"#, 1_700_000_010, 300));
        assert!(!verify("whsec_secret", &header, body, 1_700_001_000, 300), "too old");
        assert!(!verify("whsec_secret", "v1=00", body, 1_700_000_000, 300), "no timestamp");
        // Known answer, from Python: hmac.new(b"key", b"1.{}", hashlib.sha256).hexdigest()
        assert_eq!(sign("key", 1, b"{}"), "1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224");
    }

    #[test]
    fn who_receives_what() {
        let mine = hook("user", "alice", &[]);
        assert!(subscribes(&mine, &event("meeting.scheduled", Some("alice"))));
        assert!(!subscribes(&mine, &event("meeting.scheduled", Some("bob"))), "other owner");
        assert!(!subscribes(&mine, &event("meeting.scheduled", None)), "ownerless event");
        assert!(!subscribes(&mine, &event("chat.message", Some("alice"))), "chat is opt-in");
        let chat = hook("user", "alice", &["chat.message"]);
        assert!(subscribes(&chat, &event("chat.message", Some("alice"))));
        assert!(!subscribes(&chat, &event("meeting.started", Some("alice"))), "only listed types");
        let org = hook("organization", "root", &[]);
        assert!(subscribes(&org, &event("meeting.ended", Some("bob"))));
        assert!(subscribes(&org, &event("recording.ready", None)));
        assert!(!subscribes(&org, &event("chat.message", Some("bob"))));
        let off = WebhookRow { active: false, ..hook("organization", "root", &[]) };
        assert!(!subscribes(&off, &event("meeting.ended", Some("bob"))));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        for _ in 0..50 {
            let first = backoff_ms(10_000, 1);
            assert!((8_000..=12_000).contains(&first), "{first}");
            let third = backoff_ms(10_000, 3);
            assert!((32_000..=48_000).contains(&third), "{third}");
            assert!(backoff_ms(10_000, 40) <= MAX_BACKOFF_MS);
            assert!(backoff_ms(10_000, 40) >= MAX_BACKOFF_MS * 4 / 5);
        }
    }
}
