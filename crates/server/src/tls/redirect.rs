//! The plain-HTTP port when HTTPS listens elsewhere: every request is sent on to HTTPS, except
//! an ACME HTTP-01 validation, which is answered here.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rustls_acme::ResolvesServerCertAcme;

#[derive(Clone)]
struct Redirect {
    /// `https://host[:port]`, without a trailing slash.
    base: Arc<str>,
    acme: Option<Arc<ResolvesServerCertAcme>>,
}

/// The app of the HTTP port: redirects to `https_base`; answers HTTP-01 challenges of `acme`.
pub(super) fn app(https_base: &str, acme: Option<Arc<ResolvesServerCertAcme>>) -> Router {
    let state = Redirect { base: https_base.trim_end_matches('/').into(), acme };
    Router::new().route("/.well-known/acme-challenge/{token}", get(challenge)).fallback(redirect).with_state(state)
}

async fn redirect(State(r): State<Redirect>, uri: Uri) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    // 308 keeps the method and body (a POST stays a POST).
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, format!("{}{path}", r.base))]).into_response()
}

async fn challenge(State(r): State<Redirect>, Path(token): Path<String>, uri: Uri) -> Response {
    match r.acme.as_ref().and_then(|a| a.get_http_01_key_auth(&token)) {
        Some(key_auth) => {
            tracing::info!("answered an ACME HTTP-01 validation");
            ([(header::CONTENT_TYPE, "application/octet-stream")], key_auth).into_response()
        }
        None => redirect(State(r), uri).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn everything_goes_to_https_with_its_path() {
        let app = app("https://meet.example.com", None);
        let res = app
            .oneshot(axum::http::Request::post("/api/v1/users/login?x=1").body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(res.headers()[header::LOCATION], "https://meet.example.com/api/v1/users/login?x=1");
    }
}
