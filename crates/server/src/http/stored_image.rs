//! Serving an image kept in the database under an ETag (profile photos, background images):
//! `304 Not Modified` when the browser already holds this version, else the bytes.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// An image as it is sent: its bytes and type, its version, and how long caches may keep it.
pub(super) struct StoredImage {
    pub(super) bytes: Vec<u8>,
    pub(super) etag: String,
    pub(super) content_type: &'static str,
    pub(super) cache_control: &'static str,
}

impl StoredImage {
    /// The answer to a GET with these request headers: 304 when `If-None-Match` names this
    /// version (or `*`), else the image; both carry the ETag and caching rule.
    pub(super) fn respond(self, headers: &HeaderMap) -> Response {
        let quoted = format!("\"{}\"", self.etag);
        let cache = [(header::ETAG, quoted.clone()), (header::CACHE_CONTROL, self.cache_control.to_owned())];
        let matches = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == quoted || t.trim() == "*"));
        if matches {
            return (StatusCode::NOT_MODIFIED, cache).into_response();
        }
        (cache, [(header::CONTENT_TYPE, self.content_type.to_owned())], self.bytes).into_response()
    }
}
