//! The browser's refresh token: an `HttpOnly; Secure; SameSite=Strict` cookie sent only to
//! `POST /api/v1/users/refresh`, so script on the page (an XSS) can never read it, and other
//! sites can never make the browser use it. Browsers accept `Secure` cookies from
//! `http://localhost` and `http://127.0.0.1` too (development, tests); anywhere else the
//! server must be reached over https (docs/operations.md).

use axum::http::{header, HeaderMap, HeaderValue};

use crate::auth::token;

pub(super) const NAME: &str = "convene_refresh";
/// The only path the cookie is sent to.
pub(super) const PATH: &str = "/api/v1/users/refresh";

/// `Set-Cookie` holding a new refresh token.
pub(super) fn set(refresh_token: &str) -> HeaderValue {
    let value = format!(
        "{NAME}={refresh_token}; Path={PATH}; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        token::REFRESH_TTL_SECS
    );
    // Refresh tokens are URL-safe base64: always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| clear())
}

/// `Set-Cookie` that removes the cookie (sign-out, a refused refresh).
pub(super) fn clear() -> HeaderValue {
    HeaderValue::from_static(
        "convene_refresh=; Path=/api/v1/users/refresh; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
    )
}

/// The refresh token from the request's cookie, if any.
pub(super) fn read(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == NAME && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}
