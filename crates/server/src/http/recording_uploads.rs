//! Uploading a recording made on a participant's device, resumably: create the upload when
//! recording starts, append chunks at the offset the server reports (`Upload-Offset`, as in
//! tus), ask where it got to after a network failure (`GET`/`HEAD`), then complete it (it
//! becomes a recording of the meeting) or abort it. See docs/protocol.md, "Local recording".

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AuthUser, Json};
use super::meetings::load;
use super::recordings::{view, RecordingView};
use crate::clock::from_ms;
use crate::error::{Error, ErrorBody, Result};
use crate::meeting::{authorize, Action, Actor};
use crate::recording::uploads::{self, NewUpload};
use crate::state::AppState;
use crate::store::UploadRow;
use convene_protocol::Participant;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create)).routes(routes!(status, append, abort)).routes(routes!(complete))
}

const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUpload {
    /// `video/webm` (or `video/x-matroska`); codec parameters are allowed.
    content_type: String,
    /// Total size in bytes, if known now; else declare it later with `Upload-Length`.
    size: Option<u64>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompleteUpload {
    /// How long the recording is, as the browser measured it; used only when the server
    /// cannot measure the file itself (no ffprobe).
    duration_seconds: Option<f64>,
}

/// An upload in progress.
#[derive(Serialize, ToSchema)]
pub(crate) struct UploadView {
    id: String,
    meeting_id: i64,
    /// Bytes received so far: the offset the next chunk starts at.
    offset: u64,
    /// The declared total size, once known.
    size: Option<u64>,
    content_type: String,
    /// The largest recording this server takes, in bytes.
    max_bytes: u64,
    started_at: DateTime<Utc>,
    /// When the upload is deleted unless another chunk arrives.
    expires_at: DateTime<Utc>,
    /// Where to send chunks (`PATCH`), ask for the offset (`GET`/`HEAD`) or abort (`DELETE`).
    url: String,
}

fn upload_view(state: &AppState, u: &UploadRow) -> UploadView {
    UploadView {
        id: u.id.clone(),
        meeting_id: u.meeting_id,
        offset: u64::try_from(u.received).unwrap_or(0),
        size: u.size_bytes.and_then(|s| u64::try_from(s).ok()),
        content_type: u.content_type.clone(),
        max_bytes: state.config.max_local_recording_bytes,
        started_at: from_ms(u.started_at),
        expires_at: from_ms(u.expires_at),
        url: format!("/api/v1/recording-uploads/{}", u.id),
    }
}

/// The tus-style headers that tell a client where an upload stands.
fn with_offset(mut resp: Response, u: &UploadRow) -> Response {
    let h = resp.headers_mut();
    h.insert(UPLOAD_OFFSET, HeaderValue::from(u.received));
    if let Some(size) = u.size_bytes {
        h.insert(UPLOAD_LENGTH, HeaderValue::from(size));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn number_header(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| Error::bad_request("invalid_header", format!("{name} must be a whole number of bytes"))),
    }
}

/// Start uploading a recording made on your device, when you start recording. Only people in
/// the live meeting who may record it: the host, co-hosts, and participants a host allowed;
/// never in an end-to-end encrypted meeting (409 `e2ee_recording_stays_on_device`).
#[utoipa::path(post, path = "/api/v1/meetings/{id}/recording-uploads", tag = "recordings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID")), request_body = CreateUpload,
    responses((status = 201, body = UploadView, headers(("Location" = String), ("Upload-Offset" = u64))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<CreateUpload>,
) -> Result<Response> {
    let m = load(&state, &id).await?;
    let room = state
        .live
        .room(m.id)
        .ok_or_else(|| Error::conflict("meeting_not_live", "recordings are made while the meeting runs"))?;
    // A recording on a device is the only plaintext copy of an end-to-end encrypted meeting:
    // it stays on that device (docs/e2ee.md), the server takes none.
    if room.settings.e2ee {
        return Err(Error::conflict(
            "e2ee_recording_stays_on_device",
            "this meeting is end-to-end encrypted: a recording made on a device stays on that device",
        ));
    }
    // Someone in the meeting twice (two windows) may record if either seat may.
    let facts = m.facts(&state.config);
    let seats: Vec<_> =
        room.participants().into_iter().filter(|p| p.user_id.as_deref() == Some(&auth.user.id)).collect();
    let may = |p: &&Participant| authorize(&Actor::seated(p), &facts, Action::RecordLocally).is_ok();
    let seat = seats.iter().find(may).or(seats.first());
    authorize(&Actor::anonymous().with_seat(seat), &facts, Action::RecordLocally)?;
    let new = NewUpload { content_type: &body.content_type, size: body.size };
    let row = uploads::create(&state, m.id, &auth.user.id, new).await?;
    let v = upload_view(&state, &row);
    let location = HeaderValue::try_from(v.url.clone()).map_err(anyhow::Error::from)?;
    let mut resp = (StatusCode::CREATED, axum::Json(v)).into_response();
    resp.headers_mut().insert(header::LOCATION, location);
    Ok(with_offset(resp, &row))
}

/// Where an upload stands: `offset` (also the `Upload-Offset` header; `HEAD` answers with the
/// headers only). After a failed chunk, resume from there.
#[utoipa::path(get, path = "/api/v1/recording-uploads/{id}", tag = "recordings", security(("bearer" = [])),
    params(("id" = String, Path, description = "upload id")),
    responses((status = 200, body = UploadView, headers(("Upload-Offset" = u64), ("Upload-Length" = u64))),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn status(State(state): State<AppState>, auth: AuthUser, Path(id): Path<String>) -> Result<Response> {
    let row = uploads::find(&state, &id, &auth.user.id).await?;
    Ok(with_offset(axum::Json(upload_view(&state, &row)).into_response(), &row))
}

/// Append a chunk (the raw bytes; `Content-Type: application/offset+octet-stream`) at
/// `Upload-Offset`, which must equal the upload's offset (else 409 with the current one in
/// `Upload-Offset`). `Upload-Length` declares the total size if it was not declared yet.
/// Bytes that arrived before a broken connection are kept. Chunks stream to disk (the raw
/// body is not subject to the 1 MB JSON limit); any size up to the cap is fine.
#[utoipa::path(patch, path = "/api/v1/recording-uploads/{id}", tag = "recordings", security(("bearer" = [])),
    params(("id" = String, Path, description = "upload id"),
        ("Upload-Offset" = u64, Header, description = "where this chunk starts"),
        ("Upload-Length" = Option<u64>, Header, description = "the total size, if not declared yet")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "the chunk"),
    responses((status = 200, body = UploadView, headers(("Upload-Offset" = u64))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn append(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let offset = number_header(&headers, &UPLOAD_OFFSET)?
        .ok_or_else(|| Error::bad_request("missing_offset", "send Upload-Offset: where this chunk starts"))?;
    let length = number_header(&headers, &UPLOAD_LENGTH)?;
    let result = uploads::append(&state, &id, &auth.user.id, offset, length, body).await;
    // Every answer, refusals included, says where the upload stands now.
    let current = state.store.upload(&id).await?.filter(|u| u.user_id == auth.user.id);
    let resp = match result {
        Ok(_) => {
            let row = current.clone().ok_or_else(|| Error::not_found("upload_not_found", "no such upload"))?;
            axum::Json(upload_view(&state, &row)).into_response()
        }
        Err(e) => e.into_response(),
    };
    Ok(match &current {
        Some(u) => with_offset(resp, u),
        None => resp,
    })
}

/// Finish an upload whose bytes all arrived: the file is checked (WebM, size cap, readable)
/// and becomes a recording of the meeting, listed and played like the others.
#[utoipa::path(post, path = "/api/v1/recording-uploads/{id}/complete", tag = "recordings", security(("bearer" = [])),
    params(("id" = String, Path, description = "upload id")), request_body = CompleteUpload,
    responses((status = 201, body = RecordingView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn complete(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, axum::Json<RecordingView>)> {
    // The body is optional (most clients send none).
    let body: CompleteUpload = if body.iter().all(u8::is_ascii_whitespace) {
        CompleteUpload::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| Error::invalid("invalid_body", e.to_string()))?
    };
    let duration = body.duration_seconds;
    let row = uploads::complete(&state, &id, &auth.user.id, duration).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&state, &row, &auth.user).await?)))
}

/// Abort an upload: its bytes are deleted.
#[utoipa::path(delete, path = "/api/v1/recording-uploads/{id}", tag = "recordings", security(("bearer" = [])),
    params(("id" = String, Path, description = "upload id")),
    responses((status = 204, description = "aborted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn abort(State(state): State<AppState>, auth: AuthUser, Path(id): Path<String>) -> Result<StatusCode> {
    uploads::abort(&state, &id, &auth.user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
