//! The API surface as a whole: the OpenAPI document matches the routes, unknown routes and
//! methods, body limits and parse errors answer in the JSON error shape, operations endpoints.
mod common;
use std::collections::BTreeSet;

use common::{Backend, Reply, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Every API route the server has, as read from the `#[utoipa::path]` attributes in src/http.
/// Adding a route without documenting it (or documenting one that does not exist) fails below.
const EXPECTED_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/admin/users"),
    ("post", "/api/v1/admin/users/{id}/disable"),
    ("post", "/api/v1/admin/users/{id}/enable"),
    ("get", "/api/v1/admin/cluster"),
    ("post", "/api/v1/admin/cluster/drain"),
    ("post", "/api/v1/meetings"),
    ("get", "/api/v1/meetings"),
    ("get", "/api/v1/meetings/personal"),
    ("get", "/api/v1/meetings/{id}"),
    ("patch", "/api/v1/meetings/{id}"),
    ("delete", "/api/v1/meetings/{id}"),
    ("get", "/api/v1/meetings/{id}/occurrences"),
    ("get", "/api/v1/meetings/{id}/attendance"),
    ("get", "/api/v1/meetings/{id}/transcript"),
    ("get", "/api/v1/recordings/{id}/transcript"),
    ("post", "/api/v1/meetings/{id}/join"),
    ("post", "/api/v1/meetings/{id}/preview"),
    ("post", "/api/v1/users/register"),
    ("post", "/api/v1/users/login"),
    ("post", "/api/v1/users/refresh"),
    ("post", "/api/v1/users/logout"),
    ("get", "/api/v1/users/me"),
    ("patch", "/api/v1/users/me"),
    ("delete", "/api/v1/users/me"),
    ("post", "/api/v1/users/me/password"),
    ("post", "/api/v1/users/password-reset"),
    ("post", "/api/v1/users/password-reset/confirm"),
    ("post", "/api/v1/users/verify-email"),
    ("post", "/api/v1/users/me/verification"),
    ("put", "/api/v1/users/me/email"),
    ("get", "/api/v1/users/me/export"),
    ("get", "/api/v1/users/{id}"),
    ("get", "/api/v1/users/{id}/avatar"),
    ("put", "/api/v1/users/me/avatar"),
    ("get", "/api/v1/users/me/avatar"),
    ("delete", "/api/v1/users/me/avatar"),
    ("put", "/api/v1/users/me/background"),
    ("get", "/api/v1/users/me/background"),
    ("delete", "/api/v1/users/me/background"),
    ("get", "/api/v1/push/vapid-public-key"),
    ("post", "/api/v1/push/subscriptions"),
    ("get", "/api/v1/push/subscriptions"),
    ("delete", "/api/v1/push/subscriptions"),
    ("post", "/api/v1/push/test"),
    ("post", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks/{id}"),
    ("patch", "/api/v1/webhooks/{id}"),
    ("delete", "/api/v1/webhooks/{id}"),
    ("get", "/api/v1/webhooks/{id}/deliveries"),
    ("post", "/api/v1/webhooks/{id}/ping"),
    ("get", "/api/v1/meetings/{id}/ws"),
    ("get", "/api/v1/meetings/{id}/calendar.ics"),
    ("get", "/api/v1/users/me/calendar-feed"),
    ("post", "/api/v1/users/me/calendar-feed"),
    ("delete", "/api/v1/users/me/calendar-feed"),
    ("get", "/calendar/{file}"),
    ("get", "/api/v1/users/me/notifications"),
    ("put", "/api/v1/users/me/notifications"),
    ("get", "/api/v1/meetings/{id}/chat"),
    ("get", "/api/v1/meetings/{id}/polls"),
    ("post", "/api/v1/meetings/{id}/files"),
    ("get", "/api/v1/meetings/{id}/files/{file_id}"),
    ("post", "/api/v1/meetings/{id}/recording/start"),
    ("post", "/api/v1/meetings/{id}/recording/stop"),
    ("get", "/api/v1/recordings"),
    ("get", "/api/v1/recordings/{id}"),
    ("patch", "/api/v1/recordings/{id}"),
    ("delete", "/api/v1/recordings/{id}"),
    ("get", "/api/v1/recordings/{id}/media"),
    ("post", "/api/v1/meetings/{id}/recording-uploads"),
    ("get", "/api/v1/recording-uploads/{id}"),
    ("patch", "/api/v1/recording-uploads/{id}"),
    ("delete", "/api/v1/recording-uploads/{id}"),
    ("post", "/api/v1/recording-uploads/{id}/complete"),
];

const HTTP_METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

async fn openapi(app: &TestApp) -> Value {
    let r = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(r.status.as_u16(), 200);
    assert!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json")),
        "content type {:?}",
        r.headers.get("content-type")
    );
    assert!(r.body.is_object(), "openapi.json is not JSON: {}", String::from_utf8_lossy(&r.bytes));
    r.body
}

/// (method, path template, operation) for every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if HTTP_METHODS.contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// A concrete URL for a path template: meeting ids are numbers, user ids UUIDs.
fn concrete(path: &str) -> String {
    let uuid = "6f1c2d3e-4a5b-4c6d-8e7f-001122334455";
    if path.starts_with("/api/v1/meetings/") {
        path.replace("{id}", "1234567890")
    } else {
        path.replace("{id}", uuid)
    }
}

fn method_of(name: &str) -> Method {
    Method::from_bytes(name.to_uppercase().as_bytes()).unwrap()
}

#[track_caller]
fn assert_no_internals(r: &Reply) {
    let text = String::from_utf8_lossy(&r.bytes).to_lowercase();
    for leak in ["sqlx", "database", "sqlite", "postgres", "panicked", "src/", ".rs:"] {
        assert!(!text.contains(leak), "response leaks {leak:?}: {text}");
    }
}

async fn openapi_document_is_valid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc = openapi(&app).await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "openapi version {}", doc["openapi"]);
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["version"].is_string());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object(), "bearer scheme declared");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    // Every schema reference resolves.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling schema reference {name}");
    }
    for (method, path, op) in operations(&doc) {
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} documents no responses");
        for param in path.split('{').skip(1).map(|p| p.split('}').next().unwrap()) {
            let declared = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == param && p["in"] == "path"));
            assert!(declared, "{method} {path} does not declare path parameter {param}");
        }
    }
    app.stop().await;
}

async fn every_documented_operation_is_routed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc = openapi(&app).await;
    let ops = operations(&doc);
    assert!(ops.len() >= EXPECTED_ROUTES.len(), "only {} operations documented", ops.len());
    for (method, path, op) in &ops {
        let url = concrete(path);
        let body = match method.as_str() {
            "post" | "put" | "patch" => Some(json!({})),
            _ => None,
        };
        let r = app.request(method_of(method), &url, None, body).await;
        let code = r.code();
        assert!(
            code != "route_not_found" && code != "method_not_allowed",
            "documented {method} {path} is not served: {} {}",
            r.status,
            r.body
        );
        assert!(r.status.as_u16() < 500, "{method} {url}: {} {}", r.status, r.body);
        // A documented bearer requirement is enforced, and an enforced one is documented.
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        if secured {
            assert_eq!(r.status.as_u16(), 401, "{method} {path} is documented as signed-in only: {}", r.body);
        } else {
            assert_ne!(code, "missing_token", "{method} {path} needs a token but does not document it");
        }
        if r.status.as_u16() >= 400 {
            r.expect(r.status.as_u16());
            assert_no_internals(&r);
        }
    }
    app.stop().await;
}

async fn every_route_is_documented(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc = openapi(&app).await;
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(m, p, _)| (m, p)).collect();
    let expected: BTreeSet<(String, String)> =
        EXPECTED_ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let undocumented: Vec<_> = expected.difference(&documented).collect();
    assert!(undocumented.is_empty(), "routes missing from the OpenAPI document: {undocumented:?}");
    let unexpected: Vec<_> = documented.difference(&expected).collect();
    assert!(unexpected.is_empty(), "documented operations this test does not know (add them here): {unexpected:?}");

    // The expected routes really are served (not only documented).
    for (method, path) in EXPECTED_ROUTES {
        let body = if matches!(*method, "post" | "put" | "patch") { Some(json!({})) } else { None };
        let r = app.request(method_of(method), &concrete(path), None, body).await;
        assert!(
            r.code() != "route_not_found" && r.code() != "method_not_allowed",
            "{method} {path}: {} {}",
            r.status,
            r.body
        );
    }

    // The operations endpoints are served but deliberately left out of the document.
    for route in convene::http::UNDOCUMENTED_ROUTES {
        let token = (*route == "/metrics").then_some(common::METRICS_TOKEN);
        let r = app.get(route, token).await;
        assert_eq!(r.status.as_u16(), 200, "GET {route}: {}", r.body);
        assert!(doc["paths"].get(*route).is_none(), "{route} is said to be undocumented but is documented");
    }
    app.stop().await;
}

async fn unknown_routes_and_methods(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    for path in ["/api/v1/nope", "/api/v2/meetings", "/api", "/api/v1/meetings/1234567890/nope", "/js/nope.js"] {
        let r = app.get(path, Some(&alice.token)).await;
        r.expect_error(404, "route_not_found");
    }
    // Other paths belong to the browser client: its files, or the app shell for its routes.
    for path in ["/", "/j/1234567890", "/no/such/page"] {
        let r = app.get(path, None).await;
        assert_eq!(r.status.as_u16(), 200, "GET {path}");
        let content_type = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with("text/html"), "GET {path}: {content_type}");
    }
    let r = app.request(Method::PUT, "/api/v1/meetings", Some(&alice.token), Some(json!({}))).await;
    r.expect_error(405, "method_not_allowed");
    let r = app.request(Method::POST, "/api/v1/meetings/1234567890", Some(&alice.token), Some(json!({}))).await;
    r.expect_error(405, "method_not_allowed");
    let r = app.request(Method::DELETE, "/api/v1/users/login", None, None).await;
    r.expect_error(405, "method_not_allowed");
    let r = app.request(Method::POST, "/healthz", None, None).await;
    r.expect_error(405, "method_not_allowed");
    app.stop().await;
}

async fn body_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let url = format!("{}/api/v1/meetings", app.base);

    // Over 1 MB of JSON.
    let big = format!("{{\"title\":\"{}\"}}", "x".repeat(1024 * 1024 + 10));
    let r = app
        .raw(
            app.client
                .post(&url)
                .bearer_auth(&alice.token)
                .header("content-type", "application/json")
                .body(big.clone()),
        )
        .await;
    r.expect_error(413, "payload_too_large");
    assert_no_internals(&r);
    let r = app
        .raw(
            app.client
                .post(format!("{}/api/v1/users/register", app.base))
                .header("content-type", "application/json")
                .body(big),
        )
        .await;
    r.expect_error(413, "payload_too_large");
    // Just under the limit is parsed (and then judged on its content).
    let fits = format!("{{\"title\":\"{}\"}}", "x".repeat(1000 * 1000));
    let r = app
        .raw(app.client.post(&url).bearer_auth(&alice.token).header("content-type", "application/json").body(fits))
        .await;
    r.expect_error(422, "invalid_title");

    let r = app
        .raw(
            app.client
                .post(&url)
                .bearer_auth(&alice.token)
                .header("content-type", "application/json")
                .body("{\"title\": "),
        )
        .await;
    r.expect_error(400, "malformed_json");
    assert_no_internals(&r);
    let r = app
        .raw(
            app.client.post(&url).bearer_auth(&alice.token).header("content-type", "application/json").body("not json"),
        )
        .await;
    r.expect_error(400, "malformed_json");

    let r = app.raw(app.client.post(&url).bearer_auth(&alice.token).body("{\"title\": \"x\"}")).await;
    r.expect_error(415, "unsupported_media_type");
    assert_no_internals(&r);
    let r = app
        .raw(
            app.client
                .post(&url)
                .bearer_auth(&alice.token)
                .header("content-type", "text/plain")
                .body("{\"title\": \"x\"}"),
        )
        .await;
    r.expect_error(415, "unsupported_media_type");

    let r = app.post("/api/v1/meetings", Some(&alice.token), json!({"title": 42})).await;
    r.expect_error(422, "invalid_body");
    assert_no_internals(&r);
    let r = app.get("/api/v1/meetings?page=lots", Some(&alice.token)).await;
    r.expect_error(400, "invalid_query");
    assert_no_internals(&r);
    // Nothing of the refused requests was stored.
    let list = app.get("/api/v1/meetings", Some(&alice.token)).await;
    assert_eq!(list.expect(200)["total"], 0);
    app.stop().await;
}

async fn error_messages_do_not_leak_internals(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let m = app.meeting(&alice, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let replies = vec![
        app.get("/api/v1/meetings/99999999999", Some(&alice.token)).await,
        app.get("/api/v1/meetings/abc", Some(&alice.token)).await,
        app.get("/api/v1/meetings?scope=bogus", Some(&alice.token)).await,
        app.get("/api/v1/meetings?page=0", Some(&alice.token)).await,
        app.post("/api/v1/meetings", Some(&alice.token), json!({"title": "x", "timezone": "Bad/Zone"})).await,
        app.post("/api/v1/meetings", Some(&alice.token), json!({"title": "x", "recurrence": "FREQ=;;;"})).await,
        app.post("/api/v1/meetings", Some(&alice.token), json!({"title": "x", "invitees": ["' OR 1=1 --"]})).await,
        app.post("/api/v1/meetings", Some(&alice.token), json!({"title": "x", "unknown": 1})).await,
        app.post(&format!("/api/v1/meetings/{id}/join"), None, json!({"passcode": "' OR '1'='1"})).await,
        app.get(&format!("/api/v1/meetings/{id}/occurrences?count=0"), Some(&alice.token)).await,
        app.get("/api/v1/meetings", Some("eyJhbGciOiJIUzI1NiJ9.e30.x")).await,
    ];
    for r in &replies {
        let status = r.status.as_u16();
        assert!((400..500).contains(&status), "expected a client error, got {status}: {}", r.body);
        r.expect(status);
        assert_no_internals(r);
    }
    // The injection attempts did no harm.
    let r = app.get(&format!("/api/v1/meetings/{id}"), Some(&alice.token)).await;
    assert_eq!(r.expect(200)["title"], "Weekly sync");
    app.stop().await;
}

async fn health_readiness_and_metrics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(String::from_utf8_lossy(&r.bytes), "ok");
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(String::from_utf8_lossy(&r.bytes), "ready");

    let alice = app.account("alice").await;
    app.get("/api/v1/meetings/1234567890", Some(&alice.token)).await.expect_error(404, "meeting_not_found");
    app.get("/api/v1/meetings/5550001111", Some(&alice.token)).await.expect_error(404, "meeting_not_found");
    app.get("/api/no/such/route-xyz", None).await.expect_error(404, "route_not_found");
    // Metrics are not public: the API port wants the operator's token.
    app.get("/metrics", None).await.expect_error(401, "metrics_token_required");
    app.get("/metrics", Some("not-the-metrics-token")).await.expect_error(401, "metrics_token_required");
    app.get("/metrics", Some(&alice.token)).await.expect_error(401, "metrics_token_required");
    let r = app.get("/metrics", Some(common::METRICS_TOKEN)).await;
    assert_eq!(r.status.as_u16(), 200);
    assert!(r.headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/plain")));
    let text = String::from_utf8_lossy(&r.bytes).into_owned();
    let requests: Vec<&str> = text.lines().filter(|l| l.starts_with("http_requests_total{")).collect();
    assert!(!requests.is_empty(), "no http_requests_total in:\n{text}");
    let meeting_line = requests
        .iter()
        .find(|l| {
            l.contains("route=\"/api/v1/meetings/{id}\"")
                && l.contains("status=\"404\"")
                && l.contains("method=\"GET\"")
        })
        .unwrap_or_else(|| panic!("no templated meeting route in:\n{}", requests.join("\n")));
    let count: f64 = meeting_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 2.0, "both lookups counted under one label: {meeting_line}");
    assert!(requests.iter().any(|l| l.contains("route=\"/api/v1/users/register\"") && l.contains("status=\"202\"")));
    assert!(requests.iter().any(|l| l.contains("route=\"/healthz\"")));
    // Labels use route templates, never raw paths (which would make label values unbounded).
    assert!(!text.contains("1234567890") && !text.contains("route-xyz"), "raw paths in metrics:\n{text}");
    assert!(text.contains("http_request_duration_seconds"), "latency histogram missing");
    app.stop().await;
}

/// Without a token /metrics is absent from the API port; `metrics_listen` serves it apart.
async fn metrics_stay_off_the_api_port(backend: Backend) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = TestApp::spawn_with(backend, |c| {
        c.metrics_token = None;
        c.metrics_listen = Some(([127, 0, 0, 1], port).into());
    })
    .await;
    app.get("/metrics", None).await.expect_error(404, "route_not_found");
    app.get("/metrics", Some(common::METRICS_TOKEN)).await.expect_error(404, "route_not_found");
    let r = app.raw(app.client.get(format!("http://127.0.0.1:{port}/metrics"))).await;
    assert_eq!(r.status.as_u16(), 200);
    assert!(String::from_utf8_lossy(&r.bytes).contains("http_requests_total"));
    let r = app.raw(app.client.get(format!("http://127.0.0.1:{port}/api/v1/meetings"))).await;
    r.expect_error(404, "route_not_found");
    app.stop().await;
}

/// Whatever the framework refuses (path, query, body, method) answers in the JSON error
/// shape, with repeated input cut short; page numbers are bounded.
async fn every_rejection_is_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let token = Some(alice.token.as_str());
    let meetings = format!("{}/api/v1/meetings", app.base);
    let r = app.get("/api/v1/meetings/%00%ff", token).await;
    r.expect_error(400, "invalid_path");
    assert_eq!(r.headers["content-type"], "application/json");
    let r = app
        .raw(
            app.client
                .post(&meetings)
                .bearer_auth(&alice.token)
                .header("content-type", "application/json")
                .body("{\"title\":"),
        )
        .await;
    r.expect_error(400, "malformed_json");
    let r = app
        .raw(app.client.post(&meetings).bearer_auth(&alice.token).header("content-type", "text/xml").body("<a/>"))
        .await;
    r.expect_error(415, "unsupported_media_type");
    let r = app.request(Method::PATCH, "/api/v1/users/login", None, None).await;
    r.expect_error(405, "method_not_allowed");
    for q in ["page=9223372036854775807", "page=1000001", "page=0", "page_size=101", "page=-1"] {
        app.get(&format!("/api/v1/meetings?{q}"), token).await.expect_error(400, "invalid_page");
    }
    let r = app.get(&format!("/api/v1/meetings?page={}", "9".repeat(40)), token).await;
    r.expect_error(400, "invalid_query");
    let long = "A".repeat(5000);
    for r in [
        app.get(&format!("/api/v1/meetings?page={long}"), token).await,
        app.post("/api/v1/meetings", token, json!({"title": 1, "duration_minutes": long})).await,
    ] {
        let message = r.body["error"]["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.chars().count() <= 200, "echo not truncated: {} chars", message.len());
    }
    app.stop().await;
}

/// Pages carry a strict Content-Security-Policy and the framing, referrer, permissions and
/// sniffing headers; API answers are never documents.
async fn security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app.get("/", None).await;
    let header = |name: &str| r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let csp = header("content-security-policy");
    for part in ["script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"] {
        assert!(csp.contains(part), "{part} missing: {csp}");
    }
    // WebAssembly may compile (backgrounds, noise suppression); no other eval, no inline code.
    let rest = csp.replace("'wasm-unsafe-eval'", "");
    assert!(!rest.contains("unsafe-inline") && !rest.contains("unsafe-eval"), "{csp}");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("permissions-policy").contains("microphone=(self)"));
    assert!(header("strict-transport-security").is_empty(), "no HSTS on a plain-http server");
    let r = app.get("/api/v1/nope", None).await;
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("sandbox") && csp.contains("default-src 'none'"), "{csp}");
    app.stop().await;
}

backend_tests!(
    metrics_stay_off_the_api_port,
    every_rejection_is_json,
    security_headers,
    openapi_document_is_valid,
    every_documented_operation_is_routed,
    every_route_is_documented,
    unknown_routes_and_methods,
    body_errors,
    error_messages_do_not_leak_internals,
    health_readiness_and_metrics,
);
