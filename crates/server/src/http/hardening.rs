//! Layers every HTTP response passes through on its way out: security headers, the JSON
//! error shape for rejections that did not come from our own handlers, and a catch-panic
//! layer that answers 500 in that shape instead of dropping the connection.
//!
//! They live in one place so a new route is covered without doing anything.

use std::any::Any;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::Config;
use crate::error::error_response;

/// Longest piece of a request (a path, a query value, a JSON fragment) that an error message
/// repeats back.
const MAX_ECHO: usize = 160;
/// The most of a non-JSON error body read to turn it into a message.
const MAX_REJECTION_BODY: usize = 4096;

/// What the browser may do on our pages; the headers are computed once from the config.
pub(crate) struct Policy {
    /// For HTML documents and the scripts that start workers.
    page_csp: HeaderValue,
    /// `Strict-Transport-Security`, only when the public URL is https.
    hsts: Option<HeaderValue>,
}

impl Policy {
    pub(crate) fn from_config(config: &Config) -> Policy {
        let public = url::Url::parse(&config.public_url).ok();
        let https = public.as_ref().is_some_and(|u| u.scheme() == "https");
        // WebSockets to this server's public address; in a cluster the meeting's socket may be
        // on another node, whose address only the join answer knows.
        let mut connect = vec!["'self'".to_owned()];
        if let Some(host) = public.as_ref().and_then(|u| u.host_str().map(|h| (h, u.port()))) {
            let port = host.1.map(|p| format!(":{p}")).unwrap_or_default();
            connect.push(format!("{}://{}{port}", if https { "wss" } else { "ws" }, host.0));
        }
        if config.nats_url.is_some() {
            connect.extend(if https { ["https:", "wss:"] } else { ["http:", "ws:"] }.map(str::to_owned));
        }
        let csp = format!(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' blob: data:; \
             media-src 'self' blob:; font-src 'self'; connect-src {}; worker-src 'self' blob:; \
             manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'",
            connect.join(" ")
        );
        Policy {
            page_csp: HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")),
            hsts: https.then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains")),
        }
    }
}

/// Wraps every route and the fallback of `router` in the hardening layers.
pub(crate) fn harden<S: Clone + Send + Sync + 'static>(router: Router<S>, policy: Policy) -> Router<S> {
    let policy = Arc::new(policy);
    router.layer(CatchPanicLayer::custom(panic_response)).layer(axum::middleware::from_fn(json_errors)).layer(
        axum::middleware::from_fn(move |req: Request, next: Next| {
            let policy = policy.clone();
            async move { security_headers(&policy, next.run(req).await) }
        }),
    )
}

fn security_headers(policy: &Policy, mut resp: Response) -> Response {
    let content_type = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let page = content_type.starts_with("text/html") || content_type.starts_with("text/javascript");
    let h = resp.headers_mut();
    // A handler's own choice wins (uploads carry `sandbox`).
    // Anything else (JSON, avatars, files) is never a document: opened directly it runs nothing.
    let csp = if page {
        policy.page_csp.clone()
    } else {
        HeaderValue::from_static("sandbox; default-src 'none'; frame-ancestors 'none'")
    };
    set_default(h, header::CONTENT_SECURITY_POLICY, csp);
    set_default(h, header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    set_default(h, header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Join links carry `?pwd=`; no page of ours tells another site where the user came from.
    set_default(h, header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if page {
        set_default(
            h,
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(self), microphone=(self), display-capture=(self), geolocation=()"),
        );
    }
    if let Some(hsts) = &policy.hsts {
        set_default(h, header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    resp
}

fn set_default(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    headers.entry(name).or_insert(value);
}

/// Turns an error answered by the framework (a path, query or body it could not parse, a body
/// over the limit, a wrong method) into the JSON error shape; our own errors already are.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = head_of(body).await;
    let text = text.trim();
    let fallback = status.canonical_reason().unwrap_or("request refused").to_lowercase();
    // A server error's text may describe internals; a client error's describes the request.
    let message = if status.is_server_error() || text.is_empty() { fallback } else { echo(text) };
    let code = match status {
        StatusCode::BAD_REQUEST if text.starts_with("Invalid URL") => "invalid_path",
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "route_not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let mut out = error_response(status, code, &message);
    for (name, value) in &parts.headers {
        if !matches!(name, &header::CONTENT_TYPE | &header::CONTENT_LENGTH | &header::TRANSFER_ENCODING) {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

/// The first [`MAX_REJECTION_BODY`] bytes of a body, as text (a rejection repeats its input,
/// which may be long).
async fn head_of(body: axum::body::Body) -> String {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut head = Vec::new();
    while head.len() < MAX_REJECTION_BODY {
        match stream.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            _ => break,
        }
    }
    head.truncate(MAX_REJECTION_BODY);
    String::from_utf8_lossy(&head).into_owned()
}

/// Input repeated in an error message: control characters dropped, at most [`MAX_ECHO`]
/// characters, so a request cannot make the answer (or a log line) large or garbled.
pub(crate) fn echo(text: &str) -> String {
    let mut clean: String =
        text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_ECHO + 1).collect::<String>();
    if clean.chars().count() > MAX_ECHO {
        clean = clean.chars().take(MAX_ECHO).collect::<String>() + "…";
    }
    clean
}

/// A handler panicked: log it, count it, answer 500 in the JSON error shape.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = detail, "a request handler panicked");
    metrics::counter!("http_panics_total").increment(1);
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    /// The production layer stack around test routes, among them one that panics.
    fn app(public_url: &str) -> Router {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(dir.path());
        config.public_url = public_url.to_owned();
        let routes = Router::new()
            .route("/boom", get(|| async { panic!("TimeDelta::minutes out of bounds") as &'static str }))
            .route(
                "/items/{id}",
                get(|axum::extract::Path(id): axum::extract::Path<u32>| async move { id.to_string() }),
            )
            .route("/page", get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], "<p>hi</p>") }));
        harden(routes, Policy::from_config(&config))
    }

    async fn call(app: Router, req: Request<Body>) -> (StatusCode, HeaderMap, serde_json::Value) {
        let resp = app.oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    fn get_req(uri: &str) -> Request<Body> {
        Request::get(uri).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_the_json_shape() {
        let (status, headers, body) = call(app("http://127.0.0.1:8080"), get_req("/boom")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("TimeDelta"), "the panic message stays in the log: {body}");
    }

    #[tokio::test]
    async fn framework_rejections_answer_in_the_json_shape_with_short_echoes() {
        let long = "9".repeat(5000);
        let (status, _, body) = call(app("http://127.0.0.1:8080"), get_req(&format!("/items/{long}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "invalid_path", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.chars().count() <= MAX_ECHO + 1, "{message}");
        let req = Request::post("/items/1").body(Body::empty()).unwrap();
        let (status, headers, body) = call(app("http://127.0.0.1:8080"), req).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["error"]["code"], "method_not_allowed");
        assert!(headers.contains_key(header::ALLOW), "the Allow header survives");
    }

    #[tokio::test]
    async fn pages_get_a_strict_policy_and_https_gets_hsts() {
        let (_, headers, _) = call(app("https://meet.example.com"), get_req("/page")).await;
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        for part in [
            "script-src 'self' 'wasm-unsafe-eval';",
            "style-src 'self';",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "wss://meet.example.com",
        ] {
            assert!(csp.contains(part), "{part} missing from {csp}");
        }
        // Compiling WebAssembly (backgrounds, noise suppression) is the one exception.
        assert!(!csp.replace("'wasm-unsafe-eval'", "").contains("unsafe"), "{csp}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(headers["permissions-policy"].to_str().unwrap().contains("camera=(self)"));
        assert!(headers[header::STRICT_TRANSPORT_SECURITY].to_str().unwrap().starts_with("max-age="));
        let (_, headers, _) = call(app("http://127.0.0.1:8080"), get_req("/page")).await;
        assert!(!headers.contains_key(header::STRICT_TRANSPORT_SECURITY), "no HSTS over plain http");
    }
}
