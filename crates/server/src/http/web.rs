//! The browser client: the files under `web/`, embedded in the binary, served at `/`.
//!
//! Every path that is neither an API route nor a file gets `index.html`, so the client's own
//! routes (`/j/{id}` join links, `/#/…` screens) load the app. Paths under `/api` never do: an
//! unknown API route keeps its JSON `route_not_found`. Release builds carry the files inside
//! the binary; debug builds read them from `web/` on each request, so edits show on reload.
//! The npm packages the client runs (the person-segmentation model, RNNoise) are served under
//! `/vendor/<package>/` from `node_modules/` (installed by `npm ci` before the build).

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::error_response;

#[derive(RustEmbed)]
#[folder = "../../web"]
struct Assets;

/// MediaPipe's selfie segmentation: its loader, WebAssembly and model, for backgrounds.
#[derive(RustEmbed)]
#[folder = "../../node_modules/@mediapipe/selfie_segmentation"]
#[prefix = "vendor/selfie_segmentation/"]
#[allow_missing = true]
struct SelfieSegmentation;

/// RNNoise compiled to WebAssembly with its AudioWorklet processor, for noise suppression.
#[derive(RustEmbed)]
#[folder = "../../node_modules/@sapphi-red/web-noise-suppressor/dist"]
#[prefix = "vendor/web-noise-suppressor/"]
#[allow_missing = true]
struct NoiseSuppressor;

fn asset(name: &str) -> Option<rust_embed::EmbeddedFile> {
    if name.starts_with("vendor/") {
        return SelfieSegmentation::get(name).or_else(|| NoiseSuppressor::get(name));
    }
    Assets::get(name)
}

/// The router's fallback: web files and the app shell for the browser, JSON 404 for the API.
pub(super) async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") || !matches!(method, Method::GET | Method::HEAD) {
        return not_found();
    }
    let name = path.trim_start_matches('/');
    if let Some(file) = (!name.is_empty()).then(|| asset(name)).flatten() {
        return serve(name, file, &headers);
    }
    // A missing file (it has an extension) is a 404; anything else is a client-side route.
    let last = name.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return not_found();
    }
    match Assets::get("index.html") {
        Some(file) => serve("index.html", file, &headers),
        None => not_found(),
    }
}

fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "route_not_found", "no such endpoint")
}

fn serve(name: &str, file: rust_embed::EmbeddedFile, request: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    // Revalidate every time: a new release must never run against a cached old client.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (StatusCode::OK, headers, file.data.into_owned()).into_response()
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        // WebAssembly.instantiateStreaming insists on this type.
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
