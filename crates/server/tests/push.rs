//! Web Push end to end. The test plays both the browser (its own P-256 key pair and 16-byte auth
//! secret, subscribing through the API) and the push service (a loopback HTTP receiver), and
//! decrypts what the server sends with an RFC 8291 implementation of its own.
mod common;

use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{Backend, TestApp};
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier as _;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::mpsc;

const VAPID_KEY_PATH: &str = "/api/v1/push/vapid-public-key";
const SUBS_PATH: &str = "/api/v1/push/subscriptions";
const TEST_PATH: &str = "/api/v1/push/test";

/// One request the fake push service got.
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A fake push service on 127.0.0.1 answering every push with `status`.
struct PushService {
    origin: String,
    rx: mpsc::UnboundedReceiver<Received>,
}

impl PushService {
    async fn start(status: u16) -> PushService {
        let (tx, rx) = mpsc::unbounded_channel();
        let handler = move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Received { headers, body: body.to_vec() });
                StatusCode::from_u16(status).unwrap()
            }
        };
        let app = axum::Router::new().route("/push/{id}", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PushService { origin: format!("http://{addr}"), rx }
    }

    fn endpoint(&self, id: &str) -> String {
        format!("{}/push/{id}", self.origin)
    }

    async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("push service got nothing within 10 s")
            .expect("push service channel closed")
    }

    fn nothing_more(&mut self) {
        assert!(self.rx.try_recv().is_err(), "unexpected extra push");
    }
}

/// A browser's side of a subscription: its ECDH key pair and auth secret.
struct Browser {
    secret: p256::SecretKey,
    public: Vec<u8>,
    auth: [u8; 16],
}

impl Browser {
    fn new() -> Browser {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let public = secret.public_key().to_encoded_point(false).as_bytes().to_vec();
        let mut auth = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut auth);
        Browser { secret, public, auth }
    }

    /// What `PushSubscription.toJSON()` returns.
    fn subscription(&self, endpoint: &str) -> Value {
        json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": {"p256dh": URL_SAFE_NO_PAD.encode(&self.public), "auth": URL_SAFE_NO_PAD.encode(self.auth)},
        })
    }

    /// RFC 8291 §3.4 + RFC 8188 §2 decryption of an `aes128gcm` body.
    fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        assert!(body.len() > 21, "body too short for an aes128gcm header");
        let salt = &body[..16];
        let rs = u32::from_be_bytes(body[16..20].try_into().unwrap());
        let idlen = body[20] as usize;
        assert_eq!(rs, 4096, "record size");
        assert_eq!(idlen, 65, "keyid is the server's uncompressed ephemeral public key");
        let as_public = &body[21..21 + idlen];
        let ciphertext = &body[21 + idlen..];
        assert!(ciphertext.len() <= rs as usize, "a single record");

        let as_key = p256::PublicKey::from_sec1_bytes(as_public).expect("keyid is a P-256 point");
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), as_key.as_affine());
        let mut key_info = b"WebPush: info\0".to_vec();
        key_info.extend_from_slice(&self.public);
        key_info.extend_from_slice(as_public);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes()).expand(&key_info, &mut ikm).unwrap();
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let mut cek = [0u8; 16];
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).unwrap();
        let mut nonce = [0u8; 12];
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce).unwrap();
        let mut record = Aes128Gcm::new_from_slice(&cek)
            .unwrap()
            .decrypt(Nonce::from_slice(&nonce), ciphertext)
            .expect("AES-GCM tag verifies with the subscriber's keys");
        // Strip padding: zeros after the last-record delimiter 0x02.
        while record.last() == Some(&0) {
            record.pop();
        }
        assert_eq!(record.pop(), Some(2), "last-record delimiter");
        record
    }
}

/// Checks the VAPID `Authorization` header; returns the JWT claims.
fn check_vapid(headers: &HeaderMap, server_key_b64: &str, expected_aud: &str) -> Value {
    let value = headers.get("authorization").expect("Authorization header").to_str().unwrap();
    let rest = value.strip_prefix("vapid ").unwrap_or_else(|| panic!("not a vapid header: {value}"));
    let mut jwt = None;
    let mut k = None;
    for part in rest.split(',').map(str::trim) {
        if let Some(t) = part.strip_prefix("t=") {
            jwt = Some(t);
        } else if let Some(key) = part.strip_prefix("k=") {
            k = Some(key);
        }
    }
    let (jwt, k) = (jwt.expect("t="), k.expect("k="));
    assert_eq!(k, server_key_b64, "k= is the key from {VAPID_KEY_PATH}");

    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT has three parts");
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(server_key_b64).unwrap()).unwrap();
    let signature = p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("JWT signature verifies with the server's VAPID public key");

    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["aud"], expected_aud, "aud is the push service's origin");
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().expect("exp");
    assert!(exp > now && exp <= now + 24 * 3600, "exp within 24 h: {exp} vs now {now}");
    let sub = claims["sub"].as_str().expect("sub");
    assert!(sub.starts_with("mailto:") || sub.starts_with("http"), "sub: {sub}");
    claims
}

async fn vapid_key(app: &TestApp) -> String {
    let r = app.get(VAPID_KEY_PATH, None).await;
    let key = r.expect(200)["public_key"].as_str().unwrap().to_owned();
    let raw = URL_SAFE_NO_PAD.decode(&key).expect("base64url");
    assert_eq!(raw.len(), 65);
    assert_eq!(raw[0], 4, "uncompressed point");
    key
}

async fn test_push_arrives_and_decrypts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let mut service = PushService::start(201).await;
    let browser = Browser::new();
    let key = vapid_key(&app).await;

    let endpoint = service.endpoint("alice-1");
    let r = app.post(SUBS_PATH, Some(&alice.token), browser.subscription(&endpoint)).await;
    assert_eq!(r.expect(201)["endpoint"], endpoint);
    assert!(r.body.get("keys").is_none(), "keys are not echoed");
    // Subscribing again refreshes the same row.
    app.post(SUBS_PATH, Some(&alice.token), browser.subscription(&endpoint)).await.expect(200);
    let list = app.get(SUBS_PATH, Some(&alice.token)).await;
    assert_eq!(list.expect(200)["items"].as_array().unwrap().len(), 1);
    assert!(list.body["items"][0]["last_success_at"].is_null());

    let r = app.post(TEST_PATH, Some(&alice.token), json!({})).await;
    assert_eq!(r.expect(200)["delivered"], 1, "{}", r.body);
    assert_eq!(r.body["failed"], 0);

    let got = service.next().await;
    assert_eq!(got.headers["content-encoding"], "aes128gcm");
    assert!(got.headers["ttl"].to_str().unwrap().parse::<u32>().is_ok(), "TTL header");
    assert!(got.headers.contains_key("urgency"));
    check_vapid(&got.headers, &key, &service.origin);
    let payload: Value = serde_json::from_slice(&browser.decrypt(&got.body)).expect("JSON payload");
    assert_eq!(payload["title"], "Convene");
    assert!(payload["body"].as_str().is_some_and(|b| !b.is_empty()));
    assert!(payload["url"].is_string());
    assert_eq!(payload["tag"], "convene-test");

    let list = app.get(SUBS_PATH, Some(&alice.token)).await;
    assert!(list.expect(200)["items"][0]["last_success_at"].is_string(), "success recorded");

    // The library calls other features use.
    let msg = convene::push::PushMessage::new("Meeting started", "Weekly sync has begun — join now", "/meetings/42")
        .with_tag("meeting-42")
        .with_urgency(convene::push::Urgency::High);
    let delivered = convene::push::send_to_user(&app.state, &alice.user_id, &msg).await.unwrap();
    assert_eq!(delivered, 1);
    let got = service.next().await;
    assert_eq!(got.headers["urgency"], "high");
    assert_eq!(got.headers["topic"], "meeting-42");
    let payload: Value = serde_json::from_slice(&browser.decrypt(&got.body)).unwrap();
    assert_eq!(
        payload,
        json!({"title": "Meeting started", "body": "Weekly sync has begun — join now", "url": "/meetings/42", "tag": "meeting-42"})
    );

    let admitted = convene::push::PushMessage::new("You were admitted", "Come in", "/meetings/42");
    convene::push::spawn_send_to_user(&app.state, &alice.user_id, admitted).await.unwrap();
    let got = service.next().await;
    let payload: Value = serde_json::from_slice(&browser.decrypt(&got.body)).unwrap();
    assert_eq!(payload["title"], "You were admitted");
    service.nothing_more();

    // Nobody else's subscriptions are touched; a user without any gets nothing.
    let bob = app.account("bob").await;
    let r = app.post(TEST_PATH, Some(&bob.token), json!({})).await;
    assert_eq!(r.expect(200)["delivered"], 0);
    assert!(app.get(SUBS_PATH, Some(&bob.token)).await.expect(200)["items"].as_array().unwrap().is_empty());
    service.nothing_more();

    // Unsubscribing: only the owner can, then it is gone.
    let del = json!({"endpoint": endpoint});
    app.delete(SUBS_PATH, Some(&bob.token), Some(del.clone())).await.expect_error(404, "subscription_not_found");
    app.delete(SUBS_PATH, Some(&alice.token), Some(del.clone())).await.expect(204);
    app.delete(SUBS_PATH, Some(&alice.token), Some(del)).await.expect_error(404, "subscription_not_found");
    let r = app.post(TEST_PATH, Some(&alice.token), json!({})).await;
    assert_eq!(r.expect(200)["delivered"], 0);
    service.nothing_more();
    app.stop().await;
}

async fn gone_subscriptions_are_removed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let mut gone = PushService::start(410).await;
    let mut not_found = PushService::start(404).await;
    let mut broken = PushService::start(500).await;
    let mut fine = PushService::start(201).await;
    for (service, id) in [(&gone, "g"), (&not_found, "n"), (&broken, "b"), (&fine, "f")] {
        app.post(SUBS_PATH, Some(&alice.token), Browser::new().subscription(&service.endpoint(id))).await.expect(201);
    }

    let r = app.post(TEST_PATH, Some(&alice.token), json!({})).await;
    let report = r.expect(200);
    assert_eq!(report["delivered"], 1, "{report}");
    assert_eq!(report["failed"], 1, "{report}");
    assert_eq!(report["removed"], 2, "{report}");
    for service in [&mut gone, &mut not_found, &mut broken, &mut fine] {
        service.next().await;
    }

    let list = app.get(SUBS_PATH, Some(&alice.token)).await;
    let items = list.expect(200)["items"].as_array().unwrap().clone();
    let endpoints: Vec<&str> = items.iter().map(|i| i["endpoint"].as_str().unwrap()).collect();
    assert_eq!(endpoints.len(), 2, "{endpoints:?}");
    assert!(endpoints.contains(&broken.endpoint("b").as_str()));
    assert!(endpoints.contains(&fine.endpoint("f").as_str()));
    let broken_item = items.iter().find(|i| i["endpoint"] == broken.endpoint("b")).unwrap();
    assert_eq!(broken_item["failure_count"], 1, "a failure is counted, the subscription kept");
    app.stop().await;
}

async fn bad_subscriptions_are_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let service = PushService::start(201).await;
    let endpoint = service.endpoint("x");
    let browser = Browser::new();
    let good = browser.subscription(&endpoint);
    let token = Some(alice.token.as_str());
    let with = |path: &str, value: Value| {
        let mut body = good.clone();
        *body.pointer_mut(path).unwrap() = value;
        body
    };
    let b64 = |bytes: &[u8]| json!(URL_SAFE_NO_PAD.encode(bytes));

    // No token.
    app.post(SUBS_PATH, None, good.clone()).await.expect_error(401, "missing_token");
    app.get(SUBS_PATH, None).await.expect_error(401, "missing_token");
    app.delete(SUBS_PATH, None, Some(json!({"endpoint": endpoint}))).await.expect_error(401, "missing_token");
    app.post(TEST_PATH, None, json!({})).await.expect_error(401, "missing_token");
    // The public key is public.
    app.get(VAPID_KEY_PATH, None).await.expect(200);

    // Shape errors.
    app.post(SUBS_PATH, token, json!({"endpoint": endpoint})).await.expect(422);
    app.post(SUBS_PATH, token, json!({"keys": good["keys"]})).await.expect(422);
    app.post(SUBS_PATH, token, with("/keys/p256dh", json!(5))).await.expect(422);

    // Keys.
    let mut compressed = browser.public[..33].to_vec();
    compressed[0] = 2;
    let mut not_uncompressed = browser.public.clone();
    not_uncompressed[0] = 5;
    let mut off_curve = browser.public.clone();
    off_curve[64] ^= 1;
    for bad in [b64(&browser.public[..64]), b64(&compressed), b64(&not_uncompressed), b64(&off_curve), json!("!!!")] {
        app.post(SUBS_PATH, token, with("/keys/p256dh", bad)).await.expect_error(422, "invalid_keys");
    }
    for bad in [b64(&[7u8; 15]), b64(&[7u8; 17]), json!(""), json!("not base64 *")] {
        app.post(SUBS_PATH, token, with("/keys/auth", bad)).await.expect_error(422, "invalid_keys");
    }

    // Endpoints: https to a public host, or http to loopback on a loopback dev server only.
    for bad in [
        "http://push.example.com/abc",
        "ftp://push.example.com/abc",
        "https://10.1.2.3/abc",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:169.254.169.254]/abc",
        "https://[fd00:ec2::254]/abc",
        "https://user:pw@push.example.com/abc",
        "not a url",
        "",
    ] {
        app.post(SUBS_PATH, token, with("/endpoint", json!(bad))).await.expect_error(422, "invalid_endpoint");
    }
    let long = format!("https://push.example.com/{}", "a".repeat(3000));
    app.post(SUBS_PATH, token, with("/endpoint", json!(long))).await.expect_error(422, "invalid_endpoint");

    // Padded / standard-alphabet keys are accepted and stored canonically.
    let padded = with("/keys/auth", json!(base64::engine::general_purpose::STANDARD.encode(browser.auth)));
    app.post(SUBS_PATH, token, padded).await.expect(201);
    app.post(SUBS_PATH, token, with("/endpoint", json!("https://push.example.com/sub/1"))).await.expect(201);
    assert_eq!(app.get(SUBS_PATH, token).await.expect(200)["items"].as_array().unwrap().len(), 2);
    app.stop().await;
}

async fn vapid_key_survives_restart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = vapid_key(&app).await;
    assert_eq!(vapid_key(&app).await, key, "stable while running");
    // A second node on the same database signs with the same key.
    let node2 = convene::AppState::new((*app.state.config).clone()).await.unwrap();
    let key2 = convene::push::VapidKeys::load(&node2.store).await.unwrap().public_key_b64();
    assert_eq!(key2, key, "all nodes share the key");
    node2.store.close().await;

    let alice = app.account("alice").await;
    let mut service = PushService::start(201).await;
    let browser = Browser::new();
    app.post(SUBS_PATH, Some(&alice.token), browser.subscription(&service.endpoint("a"))).await.expect(201);

    let app = app.restart().await;
    assert_eq!(vapid_key(&app).await, key, "same key after a restart");
    // The subscription made before the restart still works and verifies against the old key.
    let msg = convene::push::PushMessage::new("Reminder", "Weekly sync in 10 minutes", "/meetings/7");
    assert_eq!(convene::push::send_to_user(&app.state, &alice.user_id, &msg).await.unwrap(), 1);
    let got = service.next().await;
    check_vapid(&got.headers, &key, &service.origin);
    let payload: Value = serde_json::from_slice(&browser.decrypt(&got.body)).unwrap();
    assert_eq!(payload["body"], "Weekly sync in 10 minutes");
    app.stop().await;
}

/// Pushes the product sends by itself: "meeting started" to invitees, "you were let in" to
/// whoever a host admits from the waiting room, and reminders before the start.
async fn meeting_pushes_reach_subscribed_people(backend: Backend) {
    use common::ws::Client;
    let app = TestApp::spawn_with(backend, |c| {
        c.job_poll_ms = 50;
        c.reminder_scan_ms = 100;
    })
    .await;
    let host = app.account("hana").await;
    let ivy = app.account("ivy").await;
    let mut service = PushService::start(201).await;
    let browser = Browser::new();
    app.post(SUBS_PATH, Some(&ivy.token), browser.subscription(&service.endpoint("ivy"))).await.expect(201);
    let payload = |got: Received| -> Value { serde_json::from_slice(&browser.decrypt(&got.body)).unwrap() };

    // Ivy is invited; the host starts the meeting: Ivy's browser is told.
    let m = app
        .meeting(&host, json!({"start_time": null, "invitees": [ivy.email], "settings": {"waiting_room": true}}))
        .await;
    let (_h, _) = Client::join(&app, &m, Some(&host), "Hana").await;
    let started = payload(service.next().await);
    assert!(started["title"].as_str().unwrap().starts_with("Started:"), "{started}");
    assert!(started["url"].as_str().unwrap().contains(&format!("/j/{}", m["meeting_id"])));

    // Ivy waits, the host admits her: "you were let in".
    let (_i, first) =
        Client::join_body(&app, &m, Some(&ivy), json!({"passcode": m["passcode"], "display_name": "Ivy"})).await;
    assert_eq!(first["type"], "waiting");
    let mut h = _h;
    h.expect_where("waiting_room", |w| !w["waiting"].as_array().unwrap().is_empty()).await;
    h.send(json!({"type": "admit", "participant_id": first["participant_id"]})).await;
    let admitted = payload(service.next().await);
    assert_eq!(admitted["title"], "You were let in");

    // A reminder before a scheduled meeting arrives as a push too.
    app.meeting(&host, json!({"title": "Retro", "start_time": common::in_hours(1), "invitees": [ivy.email]})).await;
    app.state.clock.advance(chrono::Duration::minutes(51));
    let reminder = payload(service.next().await);
    assert!(reminder["title"].as_str().unwrap().contains("Retro"), "{reminder}");
    service.nothing_more();
}

backend_tests!(
    meeting_pushes_reach_subscribed_people,
    test_push_arrives_and_decrypts,
    gone_subscriptions_are_removed,
    bad_subscriptions_are_rejected,
    vapid_key_survives_restart
);
