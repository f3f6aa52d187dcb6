//! Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::error_response;
use crate::state::AppState;

/// Liveness: the process is up and serving.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            error_response(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", "database is not reachable")
        }
    }
}

pub(crate) use crate::metrics_recorder::prometheus;

/// `/metrics` on the API port: only for a request bearing the configured metrics token; without
/// a token it is not there at all (use `--metrics-listen` for a separate, private address).
pub(super) async fn metrics_on_api_port(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = state.config.metrics_token.as_deref() else {
        return error_response(StatusCode::NOT_FOUND, "route_not_found", "no such endpoint");
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Comparing digests: the time taken says nothing about how much of the token was right.
    use sha2::Digest;
    if sha2::Sha256::digest(given.as_bytes()) != sha2::Sha256::digest(expected.as_bytes()) {
        let mut resp = error_response(
            StatusCode::UNAUTHORIZED,
            "metrics_token_required",
            "send Authorization: Bearer <metrics token>",
        );
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        return resp;
    }
    metrics_endpoint().await
}

pub(super) async fn metrics_endpoint() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], prometheus().render()).into_response()
}

/// Counts requests and their latency by method, route template and status.
pub(super) async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let resp = next.run(req).await;
    let labels = [("method", method), ("route", route), ("status", resp.status().as_u16().to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2]).record(started.elapsed().as_secs_f64());
    resp
}
