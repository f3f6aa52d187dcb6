//! Web Push: browser notifications through the browsers' push services.
//!
//! - [`keys`]: VAPID (RFC 8292), one P-256 key pair for the whole server, created the first
//!   time it is needed and kept in `server_secrets` (`vapid_private_key`, base64url of the
//!   32-byte scalar), so every node signs with the same key and subscriptions survive
//!   restarts. Each request carries `Authorization: vapid t=<ES256 JWT>, k=<public key>` with
//!   `aud` = the endpoint's origin, `exp` 12 hours ahead and `sub` = the server's public URL.
//! - [`encryption`]: message encryption (RFC 8291), the `aes128gcm` content coding of RFC 8188
//!   with a fresh ephemeral key and salt per message, record size 4096, one record.
//! - [`delivery`]: RFC 8030 requests with `TTL`, `Urgency` and (for short tags) `Topic`
//!   headers. Subscriptions the push service reports as gone (404/410) are deleted; other
//!   failures are counted and a subscription that keeps failing is dropped after
//!   [`MAX_CONSECUTIVE_FAILURES`].
//! - [`subscribe`]: what a browser may hand over when it subscribes.
//!
//! The subscriptions themselves are kept by the store (`store/push.rs`). Callers use
//! [`send_to_user`] (awaits delivery) or [`spawn_send_to_user`] (fire and forget).

mod delivery;
mod encryption;
mod keys;
mod subscribe;

use serde::Serialize;

pub use crate::store::{NewSubscription, Subscription, MAX_SUBSCRIPTIONS_PER_USER};
pub use delivery::{send_to_user, send_to_user_report, spawn_send_to_user, SendReport};
pub use encryption::{decode_b64url, encrypt};
pub use keys::VapidKeys;
pub use subscribe::{validate_endpoint, validate_keys};

/// Name of the server secret holding the VAPID private key.
pub const VAPID_SECRET_NAME: &str = "vapid_private_key";
/// Record size announced in the `aes128gcm` header.
pub const RECORD_SIZE: u32 = 4096;
/// Push services accept bodies of at least 4096 bytes; minus the 86-byte header, the padding
/// delimiter and the 16-byte tag, this much plaintext fits.
pub const MAX_PLAINTEXT: usize = 4096 - 86 - 1 - 16;
/// A subscription failing this many times in a row (without a 404/410) is removed.
pub const MAX_CONSECUTIVE_FAILURES: i64 = 20;
/// Time-to-live sent when the message does not set one: an hour.
pub const DEFAULT_TTL_SECS: u32 = 3600;

/// What a notification shows; the JSON the service worker (`web/sw.js`) receives.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PushMessage {
    pub title: String,
    pub body: String,
    /// Where a click on the notification leads; absolute, or relative to the server.
    pub url: String,
    /// Notifications with the same tag replace each other on the device; may be empty.
    pub tag: String,
    /// Seconds the push service keeps the message while the device is offline.
    #[serde(skip)]
    pub ttl_secs: u32,
    #[serde(skip)]
    pub urgency: Urgency,
}

impl PushMessage {
    pub fn new(title: impl Into<String>, body: impl Into<String>, url: impl Into<String>) -> PushMessage {
        PushMessage {
            title: title.into(),
            body: body.into(),
            url: url.into(),
            tag: String::new(),
            ttl_secs: DEFAULT_TTL_SECS,
            urgency: Urgency::Normal,
        }
    }

    pub fn with_tag(mut self, tag: impl Into<String>) -> PushMessage {
        self.tag = tag.into();
        self
    }

    pub fn with_ttl(mut self, secs: u32) -> PushMessage {
        self.ttl_secs = secs;
        self
    }

    pub fn with_urgency(mut self, urgency: Urgency) -> PushMessage {
        self.urgency = urgency;
        self
    }

    /// The JSON payload, with the body shortened if the whole would not fit in one push.
    pub fn payload(&self) -> Vec<u8> {
        let mut msg = self.clone();
        loop {
            let json = serde_json::to_vec(&msg).unwrap_or_default();
            if json.len() <= MAX_PLAINTEXT || (msg.body.is_empty() && msg.title.is_empty()) {
                return json;
            }
            let field = if msg.body.is_empty() { &mut msg.title } else { &mut msg.body };
            let excess = json.len() - MAX_PLAINTEXT;
            let keep = field.chars().count().saturating_sub(excess.max(1) + 1);
            *field = field.chars().take(keep).collect::<String>();
            if !field.is_empty() {
                field.push('…');
            }
        }
    }
}

/// RFC 8030 §5.3 `Urgency`: how eagerly a device should wake up for the message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Urgency {
    VeryLow,
    Low,
    #[default]
    Normal,
    High,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_shortened_to_fit() {
        let msg = PushMessage::new("t", "x".repeat(10_000), "/");
        let payload = msg.payload();
        assert!(payload.len() <= MAX_PLAINTEXT);
        let back: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert!(back["body"].as_str().unwrap().ends_with('…'));
    }
}
