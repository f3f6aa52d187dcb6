//! Web Push: browser notifications through the browsers' push services.
//!
//! - VAPID (RFC 8292): one P-256 key pair for the whole server, created the first time it is
//!   needed and kept in `server_secrets` (`vapid_private_key`, base64url of the 32-byte scalar),
//!   so every node signs with the same key and subscriptions survive restarts. Each request
//!   carries `Authorization: vapid t=<ES256 JWT>, k=<public key>` with `aud` = the endpoint's
//!   origin, `exp` 12 hours ahead and `sub` = the server's public URL.
//! - Message encryption (RFC 8291): the `aes128gcm` content coding of RFC 8188 with a fresh
//!   ephemeral key and salt per message, record size 4096, one record.
//! - Delivery (RFC 8030): `TTL`, `Urgency` and (for short tags) `Topic` headers. Subscriptions
//!   the push service reports as gone (404/410) are deleted; other failures are counted and a
//!   subscription that keeps failing is dropped after [`MAX_CONSECUTIVE_FAILURES`].
//!
//! Callers use [`send_to_user`] (awaits delivery) or [`spawn_send_to_user`] (fire and forget).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use serde::Serialize;
use sha2::Sha256;
use sqlx::Row as _;

use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::Store;

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
/// How long a VAPID token is valid (RFC 8292 allows at most 24 hours).
const JWT_VALIDITY_SECS: i64 = 12 * 3600;

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

// ----- VAPID -----

/// The server's VAPID key pair.
#[derive(Clone)]
pub struct VapidKeys {
    signing: p256::ecdsa::SigningKey,
    public: Vec<u8>,
}

impl VapidKeys {
    /// Loads the key pair from the database, creating it the first time.
    pub async fn load(store: &Store) -> Result<VapidKeys> {
        let stored: Option<String> = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(VAPID_SECRET_NAME)
            .fetch_optional(store.pool())
            .await?;
        let encoded = match stored {
            Some(v) => v,
            None => store.secret(VAPID_SECRET_NAME, generate_private_key).await?,
        };
        VapidKeys::from_private(&encoded)
    }

    /// Parses base64url of the 32-byte private scalar.
    pub fn from_private(encoded: &str) -> Result<VapidKeys> {
        let bytes = decode_b64url(encoded).ok_or_else(|| anyhow::anyhow!("stored VAPID key is not base64url"))?;
        let secret =
            p256::SecretKey::from_slice(&bytes).map_err(|_| anyhow::anyhow!("stored VAPID key is not a P-256 key"))?;
        let public = secret.public_key().to_encoded_point(false).as_bytes().to_vec();
        Ok(VapidKeys { signing: p256::ecdsa::SigningKey::from(&secret), public })
    }

    /// The uncompressed public point (65 bytes) as base64url: `applicationServerKey`.
    pub fn public_key_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.public)
    }

    /// `vapid t=<jwt>, k=<key>` for a request to `endpoint`.
    pub fn authorization(&self, endpoint: &url::Url, subject: &str, now_secs: i64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": now_secs + JWT_VALIDITY_SECS,
            "sub": subject,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: p256::ecdsa::Signature = self.signing.sign(signing_input.as_bytes());
        let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        format!("vapid t={jwt}, k={}", self.public_key_b64())
    }
}

fn generate_private_key() -> String {
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    URL_SAFE_NO_PAD.encode(secret.to_bytes())
}

/// Decodes base64url, tolerating padding and the standard alphabet.
pub fn decode_b64url(s: &str) -> Option<Vec<u8>> {
    let cleaned: String = s
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| {
            if c == '+' {
                '-'
            } else if c == '/' {
                '_'
            } else {
                c
            }
        })
        .collect();
    URL_SAFE_NO_PAD.decode(cleaned).ok()
}

// ----- RFC 8291 encryption -----

/// Encrypts `plaintext` for a subscriber with public key `ua_public` (65-byte uncompressed
/// point) and authentication secret `auth` (16 bytes): the complete `aes128gcm` body.
pub fn encrypt(plaintext: &[u8], ua_public: &[u8], auth: &[u8]) -> Result<Vec<u8>> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(anyhow::anyhow!("push payload too large ({} bytes)", plaintext.len()).into());
    }
    let ua_key = p256::PublicKey::from_sec1_bytes(ua_public).map_err(|_| anyhow::anyhow!("invalid p256dh key"))?;
    let ephemeral = p256::ecdh::EphemeralSecret::random(&mut rand::rngs::OsRng);
    let as_public = ephemeral.public_key().to_encoded_point(false);
    let shared = ephemeral.diffie_hellman(&ua_key);
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
    encrypt_with(plaintext, ua_public, auth, as_public.as_bytes(), shared.raw_secret_bytes(), &salt)
}

/// The deterministic part of [`encrypt`] (RFC 8291 §3.4 and RFC 8188 §2).
fn encrypt_with(
    plaintext: &[u8],
    ua_public: &[u8],
    auth: &[u8],
    as_public: &[u8],
    ecdh_secret: &[u8],
    salt: &[u8; 16],
) -> Result<Vec<u8>> {
    let hkdf_err = |_| anyhow::anyhow!("hkdf output length");
    // IKM = HKDF(auth, ecdh_secret, "WebPush: info" || 0x00 || ua_public || as_public, 32)
    let mut key_info = Vec::with_capacity(14 + 130);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), ecdh_secret).expand(&key_info, &mut ikm).map_err(hkdf_err)?;
    // CEK and nonce from the salt (RFC 8188 §2.2, §2.3).
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).map_err(hkdf_err)?;
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).map_err(hkdf_err)?;
    // One record: plaintext, then the last-record delimiter 0x02, no padding.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(2);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| anyhow::anyhow!("aes key length"))?;
    let sealed =
        cipher.encrypt(Nonce::from_slice(&nonce), record.as_slice()).map_err(|_| anyhow::anyhow!("aes-gcm failed"))?;
    // Header: salt (16) || rs (u32 BE) || idlen (1) || keyid (the sender's public key).
    let mut body = Vec::with_capacity(21 + as_public.len() + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&sealed);
    Ok(body)
}

// ----- subscriptions -----

/// One stored browser subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub user_id: String,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub user_agent: String,
    pub created_at: i64,
    pub last_success_at: Option<i64>,
    pub failure_count: i64,
}

const SUB_COLUMNS: &str = "id, user_id, endpoint, p256dh, auth, user_agent, created_at, last_success_at, failure_count";

fn subscription_from(row: &sqlx::any::AnyRow) -> Result<Subscription> {
    Ok(Subscription {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        endpoint: row.try_get("endpoint")?,
        p256dh: row.try_get("p256dh")?,
        auth: row.try_get("auth")?,
        user_agent: row.try_get("user_agent")?,
        created_at: row.try_get("created_at")?,
        last_success_at: row.try_get("last_success_at")?,
        failure_count: row.try_get("failure_count")?,
    })
}

/// A user keeps at most this many subscriptions; the oldest go first.
pub const MAX_SUBSCRIPTIONS_PER_USER: usize = 20;

/// What a browser hands over when it subscribes.
pub struct NewSubscription<'a> {
    pub user_id: &'a str,
    pub endpoint: &'a str,
    pub p256dh: &'a str,
    pub auth: &'a str,
    pub user_agent: &'a str,
    pub now: i64,
}

/// Stores a subscription, or refreshes the one with the same endpoint (which then belongs to
/// this user: whoever is signed in on that browser now). Returns it and whether it is new.
pub async fn upsert_subscription(store: &Store, new: NewSubscription<'_>) -> Result<(Subscription, bool)> {
    let existed = subscription_by_endpoint(store, new.endpoint).await?.is_some();
    sqlx::query(
        "INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, user_agent, created_at, failure_count) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0) \
         ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh, \
         auth = excluded.auth, user_agent = excluded.user_agent, failure_count = 0",
    )
    .bind(uuid::Uuid::new_v4().simple().to_string())
    .bind(new.user_id)
    .bind(new.endpoint)
    .bind(new.p256dh)
    .bind(new.auth)
    .bind(new.user_agent)
    .bind(new.now)
    .execute(store.pool())
    .await?;
    let subs = subscriptions_of(store, new.user_id).await?;
    if subs.len() > MAX_SUBSCRIPTIONS_PER_USER {
        // `subscriptions_of` lists oldest first.
        for old in subs.iter().filter(|s| s.endpoint != new.endpoint).take(subs.len() - MAX_SUBSCRIPTIONS_PER_USER) {
            delete_subscription(store, &old.id).await?;
        }
    }
    let sub = subscription_by_endpoint(store, new.endpoint)
        .await?
        .ok_or_else(|| anyhow::anyhow!("push subscription vanished after upsert"))?;
    Ok((sub, !existed))
}

pub async fn subscription_by_endpoint(store: &Store, endpoint: &str) -> Result<Option<Subscription>> {
    let row = sqlx::query(&format!("SELECT {SUB_COLUMNS} FROM push_subscriptions WHERE endpoint = $1"))
        .bind(endpoint)
        .fetch_optional(store.pool())
        .await?;
    row.as_ref().map(subscription_from).transpose()
}

/// A user's subscriptions, oldest first.
pub async fn subscriptions_of(store: &Store, user_id: &str) -> Result<Vec<Subscription>> {
    let rows = sqlx::query(&format!(
        "SELECT {SUB_COLUMNS} FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at, id"
    ))
    .bind(user_id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(subscription_from).collect()
}

/// Removes a user's subscription by endpoint; whether there was one.
pub async fn unsubscribe(store: &Store, user_id: &str, endpoint: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2")
        .bind(user_id)
        .bind(endpoint)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

async fn delete_subscription(store: &Store, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM push_subscriptions WHERE id = $1").bind(id).execute(store.pool()).await?;
    Ok(())
}

// ----- sending -----

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
pub async fn send_to_user(state: &AppState, user_id: &str, message: &PushMessage) -> Result<usize> {
    Ok(send_to_user_report(state, user_id, message).await?.delivered)
}

/// [`send_to_user`] in the background: never blocks or fails the caller (errors are logged).
pub fn spawn_send_to_user(state: &AppState, user_id: &str, message: PushMessage) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    let user_id = user_id.to_owned();
    tokio::spawn(async move {
        if let Err(e) = send_to_user_report(&state, &user_id, &message).await {
            tracing::warn!(user_id = %user_id, error = %e, "web push failed");
        }
    })
}

/// [`send_to_user`] with the full tally.
pub async fn send_to_user_report(state: &AppState, user_id: &str, message: &PushMessage) -> Result<SendReport> {
    let subs = subscriptions_of(&state.store, user_id).await?;
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
                sqlx::query("UPDATE push_subscriptions SET last_success_at = $1, failure_count = 0 WHERE id = $2")
                    .bind(state.clock.now_ms())
                    .bind(&sub.id)
                    .execute(state.store.pool())
                    .await?;
            }
            Outcome::Gone => {
                report.removed += 1;
                tracing::info!(user_id = %user_id, subscription = %sub.id, "push subscription gone; removed");
                delete_subscription(&state.store, &sub.id).await?;
            }
            Outcome::Failed(why) => {
                report.failed += 1;
                tracing::warn!(user_id = %user_id, subscription = %sub.id, error = %why, "push delivery failed");
                if sub.failure_count + 1 >= MAX_CONSECUTIVE_FAILURES {
                    report.removed += 1;
                    delete_subscription(&state.store, &sub.id).await?;
                } else {
                    sqlx::query("UPDATE push_subscriptions SET failure_count = failure_count + 1 WHERE id = $1")
                        .bind(&sub.id)
                        .execute(state.store.pool())
                        .await?;
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

// ----- validation of what browsers send -----

/// Checks a subscription endpoint's form: an `https` URL without credentials. Plain `http`
/// to a loopback host is accepted only while the server itself runs on a loopback `http` URL
/// (development and tests). Which addresses it may reach is the outbound rule's call
/// ([`crate::outbound`]), checked by the caller and again at delivery.
pub fn validate_endpoint(endpoint: &str, public_url: &str) -> Result<url::Url> {
    let bad = |why: &str| Error::invalid("invalid_endpoint", why.to_owned());
    if endpoint.len() > 2048 {
        return Err(bad("endpoint is longer than 2048 characters"));
    }
    let url = url::Url::parse(endpoint).map_err(|_| bad("endpoint is not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("endpoint must not carry credentials"));
    }
    let host = url.host().ok_or_else(|| bad("endpoint has no host"))?;
    let dev = url::Url::parse(public_url)
        .ok()
        .is_some_and(|p| p.scheme() == "http" && p.host().as_ref().is_some_and(is_loopback));
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&host) && dev => Ok(url),
        _ => Err(bad("endpoint must be an https URL")),
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Checks the subscription keys: `p256dh` a base64url uncompressed P-256 point (65 bytes,
/// starting 0x04) and `auth` base64url of 16 bytes. Returns them re-encoded canonically.
pub fn validate_keys(p256dh: &str, auth: &str) -> Result<(String, String)> {
    let key = decode_b64url(p256dh)
        .filter(|k| k.len() == 65 && k[0] == 4 && p256::PublicKey::from_sec1_bytes(k).is_ok())
        .ok_or_else(|| {
            Error::invalid("invalid_keys", "keys.p256dh must be a base64url uncompressed P-256 point (65 bytes)")
        })?;
    let secret = decode_b64url(auth)
        .filter(|a| a.len() == 16)
        .ok_or_else(|| Error::invalid("invalid_keys", "keys.auth must be 16 bytes, base64url"))?;
    Ok((URL_SAFE_NO_PAD.encode(key), URL_SAFE_NO_PAD.encode(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8291 §5 / Appendix A test vector.
    #[test]
    fn rfc8291_example() {
        let b = |s: &str| decode_b64url(s).unwrap();
        let plaintext = b"When I grow up, I want to be a watermelon";
        let ua_public = b("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let auth = b("BTBZMqHH6r4Tts7J_aSIgg");
        let as_private = b("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw");
        let salt: [u8; 16] = b("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let expected = b("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN");
        let secret = p256::SecretKey::from_slice(&as_private).unwrap();
        let as_public = secret.public_key().to_encoded_point(false);
        let ua_key = p256::PublicKey::from_sec1_bytes(&ua_public).unwrap();
        let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), ua_key.as_affine());
        // The RFC example uses rs = 4096 too.
        let body =
            encrypt_with(plaintext, &ua_public, &auth, as_public.as_bytes(), shared.raw_secret_bytes(), &salt).unwrap();
        assert_eq!(body, expected);
    }

    #[test]
    fn payload_is_shortened_to_fit() {
        let msg = PushMessage::new("t", "x".repeat(10_000), "/");
        let payload = msg.payload();
        assert!(payload.len() <= MAX_PLAINTEXT);
        let back: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert!(back["body"].as_str().unwrap().ends_with('…'));
    }

    #[test]
    fn endpoints() {
        let prod = "https://meet.example.com";
        let dev = "http://127.0.0.1:8080";
        assert!(validate_endpoint("https://fcm.googleapis.com/fcm/send/abc", prod).is_ok());
        assert!(validate_endpoint("http://fcm.googleapis.com/fcm/send/abc", prod).is_err());
        assert!(validate_endpoint("http://127.0.0.1:9/push", prod).is_err());
        assert!(validate_endpoint("http://127.0.0.1:9/push", dev).is_ok());
        assert!(validate_endpoint("ftp://example.com/push", prod).is_err());
        assert!(validate_endpoint("not a url", prod).is_err());
    }
}
