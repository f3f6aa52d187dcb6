//! Webhooks: signed deliveries to a loopback receiver, who gets which events, retries with
//! backoff, the delivery log, dead endpoints, and the API's access rules.
mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use common::{Account, Backend, TestApp};
use convene::events::Event;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::Semaphore;

// ----- a tiny webhook receiver on loopback -----

#[derive(Clone, Debug)]
struct Received {
    endpoint: String,
    event: String,
    delivery: String,
    signature: String,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// One scripted answer: a status, optionally held until the test releases it.
#[derive(Clone, Copy)]
struct Step {
    status: u16,
    hold: bool,
}

struct ReceiverState {
    received: Mutex<Vec<Received>>,
    /// Answers per endpoint, used in order; once used up the endpoint answers 200.
    script: Mutex<HashMap<String, VecDeque<Step>>>,
    release: Semaphore,
}

#[derive(Clone)]
struct Receiver {
    base: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(ReceiverState {
            received: Mutex::default(),
            script: Mutex::default(),
            release: Semaphore::new(0),
        });
        let app = axum::Router::new().route("/hooks/{name}", axum::routing::post(receive)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { base, state }
    }

    fn url(&self, name: &str) -> String {
        format!("{}/hooks/{name}", self.base)
    }

    fn script(&self, name: &str, steps: &[Step]) {
        self.state.script.lock().unwrap().insert(name.into(), steps.iter().copied().collect());
    }

    fn received(&self, name: &str) -> Vec<Received> {
        self.state.received.lock().unwrap().iter().filter(|r| r.endpoint == name).cloned().collect()
    }

    /// Waits until `name` got a request matching `pred`.
    async fn wait_for(&self, name: &str, what: &str, pred: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(r) = self.received(name).into_iter().find(|r| pred(r)) {
                return r;
            }
            assert!(Instant::now() < deadline, "{name} never received {what}; got {:?}", self.received(name));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    state.received.lock().unwrap().push(Received {
        endpoint: name.clone(),
        event: header("convene-event"),
        delivery: header("convene-delivery"),
        signature: header("convene-signature"),
        body: body.to_vec(),
    });
    let step = state.script.lock().unwrap().get_mut(&name).and_then(VecDeque::pop_front);
    let step = step.unwrap_or(Step { status: 200, hold: false });
    if step.hold {
        state.release.acquire().await.unwrap().forget();
    }
    // Every answer carries a body, which the delivery log must never repeat.
    (StatusCode::from_u16(step.status).unwrap(), RECEIVER_BODY)
}

/// What the receiver answers; stands for an internal page an attacker would like to read.
const RECEIVER_BODY: &str = "secret internal page";

// ----- helpers -----

/// Checks a Convene-Signature header by hand, as a receiver would.
fn signature_valid(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v.to_owned()),
            Some(("v1", v)) => v1 = Some(v.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    if age.abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes()) == v1
}

fn event(kind: &'static str, meeting_id: i64, owner: &Account, data: Value) -> Event {
    Event::new(kind, chrono::Utc::now(), Some(meeting_id), Some(owner.user_id.clone()), data)
}

async fn fast_retries(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |c| {
        c.webhook_retry_base_ms = 200;
        c.webhook_max_attempts = 3;
    })
    .await
}

/// Registers a webhook; returns (id, secret).
async fn register(app: &TestApp, who: &Account, body: Value) -> (String, String) {
    let r = app.post("/api/v1/webhooks", Some(&who.token), body).await;
    let b = r.expect(201);
    let secret = b["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (b["id"].as_str().unwrap().to_owned(), secret)
}

async fn deliveries(app: &TestApp, who: &Account, webhook: &str) -> Value {
    app.get(&format!("/api/v1/webhooks/{webhook}/deliveries?page_size=100"), Some(&who.token)).await.expect(200).clone()
}

/// Polls the delivery log until `pred` holds for it.
async fn wait_log(app: &TestApp, who: &Account, webhook: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = deliveries(app, who, webhook).await;
        if pred(&log) {
            return log;
        }
        assert!(Instant::now() < deadline, "delivery log never showed {what}: {log:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ----- tests -----

async fn signed_events_reach_the_right_receivers(backend: Backend) {
    let app = fast_retries(backend).await;
    let rx = Receiver::start().await;
    let alice = app.account("alice").await; // first account: administrator
    let bob = app.account("bobby").await;
    let (hook, secret) = register(&app, &bob, json!({"url": rx.url("bob")})).await;
    let (chat_hook, chat_secret) =
        register(&app, &bob, json!({"url": rx.url("bobchat"), "events": ["chat.message", "meeting.ended"]})).await;
    let (org_hook, _) = register(&app, &alice, json!({"url": rx.url("org"), "scope": "organization"})).await;

    // Bob's meeting is scheduled; Alice's meeting too; someone chats in Bob's meeting.
    let scheduled = event("meeting.scheduled", 8412345678, &bob, json!({"title": "Weekly sync"}));
    let scheduled_id = scheduled.id.clone();
    app.state.events.emit(scheduled);
    app.state.events.emit(event("meeting.scheduled", 8400000001, &alice, json!({"title": "Alice's"})));
    app.state.events.emit(event("chat.message", 8412345678, &bob, json!({"text": "hi"})));
    app.state.events.emit(event("meeting.ended", 8412345678, &bob, json!({})));

    let got = rx.wait_for("bob", "meeting.scheduled", |r| r.event == "meeting.scheduled").await;
    let body = got.json();
    assert_eq!(body["id"], scheduled_id.as_str());
    assert_eq!(body["type"], "meeting.scheduled");
    assert_eq!(body["meeting_id"], 8412345678_i64);
    assert_eq!(body["data"]["title"], "Weekly sync");
    assert!(body["created_at"].as_str().is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()), "{body}");
    assert!(body.get("owner_id").is_none(), "owner stays internal: {body}");
    assert!(!got.delivery.is_empty());
    assert!(signature_valid(&secret, &got.signature, &got.body), "signature must verify: {}", got.signature);
    let mut tampered = got.body.clone();
    tampered.extend_from_slice(b" ");
    assert!(!signature_valid(&secret, &got.signature, &tampered), "a tampered body must not verify");
    assert!(!signature_valid(&chat_secret, &got.signature, &got.body), "another webhook's secret must not verify");

    // chat.message only where it was asked for; meeting.ended reaches both of Bob's hooks.
    let chat = rx.wait_for("bobchat", "chat.message", |r| r.event == "chat.message").await;
    assert!(signature_valid(&chat_secret, &chat.signature, &chat.body));
    assert_eq!(chat.json()["data"]["text"], "hi");
    rx.wait_for("bob", "meeting.ended", |r| r.event == "meeting.ended").await;
    rx.wait_for("bobchat", "meeting.ended", |r| r.event == "meeting.ended").await;
    // The organization webhook sees both owners' events but not chat (not listed).
    rx.wait_for("org", "Bob's meeting", |r| r.json()["meeting_id"] == 8412345678_i64).await;
    rx.wait_for("org", "Alice's meeting", |r| r.json()["meeting_id"] == 8400000001_i64).await;
    rx.wait_for("org", "meeting.ended", |r| r.event == "meeting.ended").await;

    // The dispatcher handles events in order, so by now everything is queued: Bob's general
    // hook has exactly his two non-chat events, and nobody else's.
    let log = wait_log(&app, &bob, &hook, "2 delivered", |l| {
        l["items"].as_array().unwrap().iter().filter(|d| d["status"] == "delivered").count() == 2
    })
    .await;
    assert_eq!(log["total"], 2, "{log:#}");
    let types: Vec<&str> = log["items"].as_array().unwrap().iter().map(|d| d["event_type"].as_str().unwrap()).collect();
    assert!(types.contains(&"meeting.scheduled") && types.contains(&"meeting.ended"), "{types:?}");
    for r in rx.received("bob") {
        assert_ne!(r.json()["meeting_id"], 8400000001_i64, "Alice's event leaked to Bob's webhook");
        assert_ne!(r.event, "chat.message", "chat.message is opt-in");
    }
    assert_eq!(deliveries(&app, &bob, &chat_hook).await["total"], 2, "chat hook: chat.message + meeting.ended");
    let org_log = deliveries(&app, &alice, &org_hook).await;
    assert_eq!(org_log["total"], 3, "organization: two scheduled + ended, no chat: {org_log:#}");
    let first = &log["items"][0];
    assert_eq!(first["attempts"], 1);
    assert_eq!(first["last_status"], 200);
    assert!(first["delivered_at"].is_string());
    assert_eq!(first["history"].as_array().unwrap().len(), 1);

    // Ping: a test delivery to one webhook.
    let ping = app.post(&format!("/api/v1/webhooks/{hook}/ping"), Some(&bob.token), json!({})).await;
    assert_eq!(ping.expect(202)["event_type"], "ping");
    let got = rx.wait_for("bob", "ping", |r| r.event == "ping").await;
    assert!(signature_valid(&secret, &got.signature, &got.body));
    assert_eq!(got.json()["data"]["webhook_id"], hook.as_str());
    assert_eq!(rx.received("org").iter().filter(|r| r.event == "ping").count(), 0, "ping goes to one webhook");
    app.stop().await;
}

async fn failing_endpoint_is_retried_with_backoff(backend: Backend) {
    let app = fast_retries(backend).await;
    let rx = Receiver::start().await;
    let alice = app.account("alice").await;
    rx.script("flaky", &[Step { status: 500, hold: false }, Step { status: 500, hold: true }]);
    let (hook, secret) = register(&app, &alice, json!({"url": rx.url("flaky")})).await;
    app.state.events.emit(event("meeting.started", 8412345678, &alice, json!({})));

    // The second attempt is held by the receiver: the log shows the first one's outcome.
    rx.wait_for("flaky", "a second attempt", |_| rx.received("flaky").len() >= 2).await;
    let log = wait_log(&app, &alice, &hook, "attempt 2 under way", |l| l["items"][0]["attempts"] == 2).await;
    let d = &log["items"][0];
    assert_eq!(d["status"], "pending", "{d:#}");
    assert_eq!(d["last_status"], 500, "first attempt's status is recorded: {d:#}");
    assert_eq!(d["last_error"], "HTTP 500", "status only, never the body: {d:#}");
    assert!(d["next_attempt_at"].is_string());
    assert_eq!(d["history"][0]["status"], 500);
    rx.state.release.add_permits(1);

    let log = wait_log(&app, &alice, &hook, "delivered", |l| l["items"][0]["status"] == "delivered").await;
    let d = &log["items"][0];
    assert_eq!(d["attempts"], 3, "{d:#}");
    assert_eq!(d["last_status"], 200);
    assert!(d["last_error"].is_null());
    let statuses: Vec<i64> = d["history"].as_array().unwrap().iter().map(|a| a["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [500, 500, 200]);

    // Three requests, one delivery id, the same body, each signed, with growing gaps.
    let got = rx.received("flaky");
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.delivery == got[0].delivery && r.body == got[0].body));
    assert!(got.iter().all(|r| signature_valid(&secret, &r.signature, &r.body)));
    let at: Vec<chrono::DateTime<chrono::Utc>> =
        d["history"].as_array().unwrap().iter().map(|a| a["at"].as_str().unwrap().parse().unwrap()).collect();
    assert!(at[1] - at[0] >= chrono::Duration::milliseconds(150), "backoff before retry 1: {at:?}");
    app.stop().await;
}

async fn dead_endpoint_fails_after_max_attempts_without_blocking(backend: Backend) {
    let app = fast_retries(backend).await;
    let alice = app.account("alice").await;
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (hook, _) = register(&app, &alice, json!({"url": format!("http://127.0.0.1:{closed}/hook")})).await;

    let started = Instant::now();
    for i in 0..20 {
        app.state.events.emit(event("participant.joined", 8412345678, &alice, json!({"n": i})));
    }
    assert!(started.elapsed() < Duration::from_millis(100), "emitting must not wait: {:?}", started.elapsed());
    // The API stays responsive while deliveries fail.
    let t = Instant::now();
    app.get("/api/v1/webhooks", Some(&alice.token)).await.expect(200);
    assert!(t.elapsed() < Duration::from_secs(2));

    let log = wait_log(&app, &alice, &hook, "20 failed", |l| {
        l["total"] == 20 && l["items"].as_array().unwrap().iter().all(|d| d["status"] == "failed")
    })
    .await;
    for d in log["items"].as_array().unwrap() {
        assert_eq!(d["attempts"], 3, "max attempts: {d:#}");
        assert!(d["last_status"].is_null());
        assert_eq!(d["last_error"], "connection refused", "a classified error: {d:#}");
        assert!(d["next_attempt_at"].is_null());
        assert_eq!(d["history"].as_array().unwrap().len(), 3);
    }
    let failed =
        app.get(&format!("/api/v1/webhooks/{hook}/deliveries?status=failed&page_size=5"), Some(&alice.token)).await;
    assert_eq!(failed.expect(200)["total"], 20);
    assert_eq!(failed.body["items"].as_array().unwrap().len(), 5);
    app.stop().await;
}

async fn webhook_api_access_rules(backend: Backend) {
    let app = fast_retries(backend).await;
    let rx = Receiver::start().await;
    let admin = app.account("alice").await;
    let bob = app.account("bobby").await;
    let carol = app.account("carol").await;
    let url = rx.url("x");

    app.post("/api/v1/webhooks", None, json!({"url": url})).await.expect_error(401, "missing_token");
    app.get("/api/v1/webhooks", None).await.expect(401);
    for bad in ["ftp://example.com/hook", "not a url", "http://", "javascript:alert(1)"] {
        app.post("/api/v1/webhooks", Some(&bob.token), json!({"url": bad})).await.expect_error(422, "invalid_url");
    }
    app.post("/api/v1/webhooks", Some(&bob.token), json!({"url": url, "events": ["meeting.exploded"]}))
        .await
        .expect_error(422, "unknown_event");
    app.post("/api/v1/webhooks", Some(&bob.token), json!({"url": url, "scope": "galaxy"}))
        .await
        .expect_error(422, "invalid_scope");
    app.post("/api/v1/webhooks", Some(&bob.token), json!({"url": url, "scope": "organization"}))
        .await
        .expect_error(403, "admin_only");

    let (mine, _) = register(&app, &bob, json!({"url": url, "events": ["meeting.started", "meeting.started"]})).await;
    let (org, _) = register(&app, &admin, json!({"url": url, "scope": "organization"})).await;
    let got = app.get(&format!("/api/v1/webhooks/{mine}"), Some(&bob.token)).await;
    let w = got.expect(200);
    assert_eq!(w["events"], json!(["meeting.started"]), "duplicates dropped");
    assert_eq!(w["scope"], "user");
    assert_eq!(w["active"], true);
    assert!(w.get("secret").is_none(), "the secret is only shown once");

    // Someone else's webhook is not there at all.
    let other = format!("/api/v1/webhooks/{mine}");
    app.get(&other, Some(&carol.token)).await.expect_error(404, "webhook_not_found");
    app.patch(&other, Some(&carol.token), json!({"active": false})).await.expect_error(404, "webhook_not_found");
    app.delete(&other, Some(&carol.token), None).await.expect_error(404, "webhook_not_found");
    app.get(&format!("{other}/deliveries"), Some(&carol.token)).await.expect_error(404, "webhook_not_found");
    app.post(&format!("{other}/ping"), Some(&carol.token), json!({})).await.expect_error(404, "webhook_not_found");
    app.get(&format!("/api/v1/webhooks/{org}"), Some(&bob.token)).await.expect_error(404, "webhook_not_found");
    app.get("/api/v1/webhooks/nope", Some(&bob.token)).await.expect_error(404, "webhook_not_found");

    // Lists: mine; administrators also see organization webhooks.
    let ids =
        |v: &Value| v.as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(ids(app.get("/api/v1/webhooks", Some(&bob.token)).await.expect(200)), [mine.as_str()]);
    assert!(ids(app.get("/api/v1/webhooks", Some(&carol.token)).await.expect(200)).is_empty());
    assert_eq!(ids(app.get("/api/v1/webhooks", Some(&admin.token)).await.expect(200)), [org.as_str()]);

    // Edit: validation applies, then an inactive webhook receives nothing.
    app.patch(&other, Some(&bob.token), json!({"url": "gopher://x"})).await.expect_error(422, "invalid_url");
    app.patch(&other, Some(&bob.token), json!({"events": ["nope"]})).await.expect_error(422, "unknown_event");
    let patched = app.patch(&other, Some(&bob.token), json!({"events": [], "active": false})).await;
    assert_eq!(patched.expect(200)["active"], false);
    assert_eq!(patched.body["events"], json!([]));
    app.post(&format!("{other}/ping"), Some(&bob.token), json!({})).await.expect_error(409, "webhook_inactive");
    app.state.events.emit(event("meeting.started", 8412345678, &bob, json!({})));
    // The organization webhook (same receiver URL) gets it; Bob's inactive one does not.
    rx.wait_for("x", "meeting.started", |r| r.event == "meeting.started").await;
    assert_eq!(deliveries(&app, &bob, &mine).await["total"], 0);
    app.get(&format!("{other}/deliveries?status=bogus"), Some(&bob.token)).await.expect_error(400, "invalid_query");

    app.delete(&other, Some(&bob.token), None).await.expect(204);
    app.get(&other, Some(&bob.token)).await.expect_error(404, "webhook_not_found");

    // Documented in the OpenAPI description.
    let doc = app.get("/api/v1/openapi.json", None).await;
    let paths = &doc.expect(200)["paths"];
    for p in
        ["/api/v1/webhooks", "/api/v1/webhooks/{id}", "/api/v1/webhooks/{id}/deliveries", "/api/v1/webhooks/{id}/ping"]
    {
        assert!(paths.get(p).is_some(), "{p} missing from OpenAPI");
    }
    app.stop().await;
}

async fn claims_are_exclusive_and_leases_expire(backend: Backend) {
    use convene::store::webhooks::{AttemptOutcome, WebhookRow};
    let app = fast_retries(backend).await; // max 3 attempts
    let alice = app.account("alice").await;
    let store = &app.state.store;
    let now = chrono::Utc::now().timestamp_millis();
    let hook = WebhookRow {
        id: "wh-claims".into(),
        owner_id: alice.user_id.clone(),
        scope: "user".into(),
        url: "http://127.0.0.1:9/".into(),
        secret: "whsec_test".into(),
        events: vec![],
        active: true,
        created_at: now,
        updated_at: now,
    };
    store.insert_webhook(&hook).await.unwrap();
    // Due in an hour, so the server's own worker leaves it alone; we play two other nodes.
    let later = now + 3_600_000;
    assert!(store.enqueue_delivery("d1", "wh-claims", "ev1", "meeting.started", "{}", later).await.unwrap());
    assert!(
        !store.enqueue_delivery("d1b", "wh-claims", "ev1", "meeting.started", "{}", later).await.unwrap(),
        "once per endpoint"
    );

    let t = later + 1;
    let (a, b) = tokio::join!(
        store.claim_due_deliveries(t, t + 60_000, 3, 10),
        store.claim_due_deliveries(t, t + 60_000, 3, 10)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 1, "exactly one worker gets the attempt");
    let claimed = a.into_iter().chain(b).next().unwrap();
    assert_eq!(claimed.delivery.attempts, 1);
    assert_eq!(claimed.url, hook.url);
    assert!(store.claim_due_deliveries(t + 1_000, t + 61_000, 3, 10).await.unwrap().is_empty(), "leased");

    // The worker "crashes"; after the lease runs out another one takes attempt 2.
    let t2 = t + 60_001;
    let again = store.claim_due_deliveries(t2, t2 + 60_000, 3, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivery.attempts, 2);
    let outcome = |status: i64, retry_at: Option<i64>| AttemptOutcome {
        started_at: t2,
        finished_at: t2 + 5,
        status: Some(status),
        error: Some(format!("HTTP {status}")),
        success: false,
        retry_at,
    };
    // The crashed worker waking up late cannot overwrite the newer attempt.
    assert!(!store.finish_attempt("d1", 1, &outcome(502, Some(t2))).await.unwrap());
    assert!(store.finish_attempt("d1", 2, &outcome(503, Some(t2 + 10))).await.unwrap());
    let d = store.delivery("d1").await.unwrap().unwrap();
    assert_eq!((d.status.as_str(), d.attempts, d.last_status, d.locked_until), ("pending", 2, Some(503), None));

    // The final attempt is lost too: once its lease expires the delivery is failed, not resent.
    let t3 = t2 + 20;
    assert_eq!(store.claim_due_deliveries(t3, t3 + 60_000, 3, 10).await.unwrap()[0].delivery.attempts, 3);
    assert!(store.claim_due_deliveries(t3 + 60_001, t3 + 120_000, 3, 10).await.unwrap().is_empty());
    let d = store.delivery("d1").await.unwrap().unwrap();
    assert_eq!(d.status, "failed");
    assert_eq!(d.attempts, 3);
    app.stop().await;
}

async fn internal_addresses_are_refused_without_an_allow_list(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.outbound_allow.clear();
        c.webhook_retry_base_ms = 200;
        c.webhook_max_attempts = 1;
    })
    .await;
    let rx = Receiver::start().await;
    let alice = app.account("alice").await;
    let port = rx.base.rsplit(':').next().unwrap().to_owned();
    for url in [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/hook".to_owned(),
        "http://[::ffff:169.254.169.254]/".to_owned(),
        rx.url("direct"),
        format!("http://localhost:{port}/hooks/by-name"),
    ] {
        let r = app.post("/api/v1/webhooks", Some(&alice.token), json!({"url": url})).await;
        r.expect_error(422, "invalid_url");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("internal address") && message.contains("--outbound-allow"), "{url}: {message}");
    }

    // A name that passed registration (say its DNS changed since) is vetted again when
    // delivering: the connection is never made.
    let now = chrono::Utc::now().timestamp_millis();
    let hook = convene::store::webhooks::WebhookRow {
        id: "wh-rebound".into(),
        owner_id: alice.user_id.clone(),
        scope: "user".into(),
        url: format!("http://localhost:{port}/hooks/rebound"),
        secret: "whsec_test".into(),
        events: vec![],
        active: true,
        created_at: now,
        updated_at: now,
    };
    app.state.store.insert_webhook(&hook).await.unwrap();
    app.state.events.emit(event("meeting.started", 8412345678, &alice, json!({})));
    let log = wait_log(&app, &alice, "wh-rebound", "failed", |l| l["items"][0]["status"] == "failed").await;
    let error = log["items"][0]["last_error"].as_str().unwrap();
    assert!(error.starts_with("refused address"), "{error}");
    assert!(rx.received("rebound").is_empty(), "the receiver was reached");
    app.stop().await;
}

backend_tests!(
    internal_addresses_are_refused_without_an_allow_list,
    claims_are_exclusive_and_leases_expire,
    signed_events_reach_the_right_receivers,
    failing_endpoint_is_retried_with_backoff,
    dead_endpoint_fails_after_max_attempts_without_blocking,
    webhook_api_access_rules,
);
