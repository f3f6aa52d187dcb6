//! Authorization denials through the router itself (`app()` + `oneshot`): no socket, no port.
//! Each refusal is the one [`convene::meeting::authorize`] gives, and nothing changes.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use convene::config::Config;
use convene::state::AppState;
use convene::store::RecordingRow;
use serde_json::{json, Value};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";

struct Api {
    router: Router,
    state: AppState,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn new() -> Api {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = AppState::new(Config::for_data_dir(dir.path())).await.expect("server state");
        Api { router: convene::http::app(state.clone()), state, _dir: dir }
    }

    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        let resp = self.router.clone().oneshot(req.unwrap()).await.expect("a response");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("a body");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Registers `name` and signs in; returns (user id, token).
    async fn account(&self, name: &str) -> (String, String) {
        let email = format!("{name}@example.com");
        let body = json!({"username": name, "email": email, "password": PASSWORD});
        let (status, _) = self.call(Method::POST, "/api/v1/users/register", None, Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let body = json!({"email": email, "password": PASSWORD});
        let (status, v) = self.call(Method::POST, "/api/v1/users/login", None, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        // No mail worker runs here (no server): vouch for the address as `convene admin
        // verify` would. Verification itself is tested in tests/verification.rs.
        let user_id = v["user_id"].as_str().unwrap();
        self.state.store.mark_email_verified(user_id, &email, 0).await.unwrap();
        (v["user_id"].as_str().unwrap().to_owned(), v["token"].as_str().unwrap().to_owned())
    }
}

/// Asserts an error answer: its status and `error.code`.
fn refused((status, body): (StatusCode, Value), want: StatusCode, code: &str) {
    assert_eq!((status, body["error"]["code"].as_str()), (want, Some(code)), "{body}");
}

#[tokio::test]
async fn only_moderators_edit_cancel_and_see_attendance() {
    let api = Api::new().await;
    let (_, alice) = api.account("alice").await;
    let (bob_id, bob) = api.account("bob").await;
    let (_, carol) = api.account("carol").await;
    let start = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let body = json!({"title": "Plans", "start_time": start, "invitees": [bob_id]});
    let (status, m) = api.call(Method::POST, "/api/v1/meetings", Some(&alice), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let path = format!("/api/v1/meetings/{}", m["meeting_id"]);

    for who in [&bob, &carol] {
        let edit = api.call(Method::PATCH, &path, Some(who), Some(json!({"title": "Mine now"}))).await;
        refused(edit, StatusCode::FORBIDDEN, "not_host");
        refused(api.call(Method::DELETE, &path, Some(who), None).await, StatusCode::FORBIDDEN, "not_host");
        let attendance = api.call(Method::GET, &format!("{path}/attendance"), Some(who), None).await;
        refused(attendance, StatusCode::FORBIDDEN, "not_host");
    }
    refused(api.call(Method::GET, &path, Some(&carol), None).await, StatusCode::FORBIDDEN, "not_invited");
    refused(
        api.call(Method::PATCH, &path, None, Some(json!({"title": "x"}))).await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    );

    let (status, still) = api.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(
        (status, still["title"].as_str(), still["status"].as_str()),
        (StatusCode::OK, Some("Plans"), Some("scheduled"))
    );
    let (status, _) = api.call(Method::GET, &format!("{path}/attendance"), Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "the host sees attendance");
}

#[tokio::test]
async fn only_the_host_gets_a_host_only_recording() {
    let api = Api::new().await;
    let (alice_id, alice) = api.account("alice").await;
    let (bob_id, bob) = api.account("bob").await;
    let body = json!({"title": "Review", "invitees": [bob_id]});
    let (status, m) = api.call(Method::POST, "/api/v1/meetings", Some(&alice), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let now = api.state.clock.now_ms();
    let rec = RecordingRow {
        id: "rec_authorize_test".into(),
        meeting_id: m["meeting_id"].as_i64().unwrap(),
        host_id: alice_id,
        started_by: None,
        kind: "server".into(),
        status: "ready".into(),
        failure: None,
        access: "host".into(),
        started_at: now - 60_000,
        stopped_at: Some(now),
        duration_ms: Some(60_000),
        size_bytes: Some(4),
        media_key: Some("rec_authorize_test.webm".into()),
        content_type: "video/webm".into(),
        ready_at: Some(now),
        expires_at: None,
        created_at: now - 60_000,
        updated_at: now,
    };
    api.state.store.insert_recording(&rec).await.unwrap();
    let path = format!("/api/v1/recordings/{}", rec.id);

    // Not shared with bob: he cannot see it, so cannot change it either.
    refused(api.call(Method::GET, &path, Some(&bob), None).await, StatusCode::FORBIDDEN, "not_allowed");
    let share = api.call(Method::PATCH, &path, Some(&bob), Some(json!({"access": "organisation"}))).await;
    refused(share, StatusCode::FORBIDDEN, "not_allowed");
    refused(api.call(Method::DELETE, &path, Some(&bob), None).await, StatusCode::FORBIDDEN, "not_allowed");
    let forged = format!("{path}/media?expires=99999999999&signature=forged&download=1");
    refused(api.call(Method::GET, &forged, Some(&bob), None).await, StatusCode::FORBIDDEN, "invalid_link");

    // Shared with everyone: bob watches it, but only the host manages it.
    let (status, got) = api.call(Method::PATCH, &path, Some(&alice), Some(json!({"access": "organisation"}))).await;
    assert_eq!((status, got["access"].as_str()), (StatusCode::OK, Some("organisation")), "{got}");
    let (status, got) = api.call(Method::GET, &path, Some(&bob), None).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert!(got["download_url"].as_str().is_some_and(|u| u.contains("signature=")), "{got}");
    let hide = api.call(Method::PATCH, &path, Some(&bob), Some(json!({"access": "host"}))).await;
    refused(hide, StatusCode::FORBIDDEN, "not_host");
    refused(api.call(Method::DELETE, &path, Some(&bob), None).await, StatusCode::FORBIDDEN, "not_host");
    let (status, got) = api.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!((status, got["access"].as_str()), (StatusCode::OK, Some("organisation")), "{got}");
}
