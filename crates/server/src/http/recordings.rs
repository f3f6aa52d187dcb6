//! Recordings over HTTP: start / stop a meeting's recording, list and inspect the ones you
//! may watch, change who may watch, delete, and fetch the media through expiring signed
//! links (with HTTP Range, so players can seek).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AuthUser, Json, Query};
use super::meetings::{access, load};
use crate::clock::from_ms;
use crate::error::{Error, ErrorBody, Result};
use crate::meeting::{
    authorize, Action, Actor, Lifecycle, Meeting, MeetingId, MeetingKind, MeetingStatus, RecordingAccess,
    RecordingFacts,
};
use crate::recorder::links::LinkError;
use crate::recorder::storage::parse_range;
use crate::state::AppState;
use crate::store::{RecordingRow, UserRow, Viewer};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(stop))
        .routes(routes!(list))
        .routes(routes!(get_one, update, remove))
        .routes(routes!(media))
}

/// A recording as the API shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct RecordingView {
    id: String,
    meeting_id: i64,
    meeting_title: String,
    /// `server` (recorded by the SFU) or `client` (recorded on a participant's device and
    /// uploaded).
    kind: String,
    /// Who started it (server recordings) or recorded it (client recordings), by name.
    recorded_by: Option<String>,
    /// `recording`, `processing`, `ready` or `failed`.
    status: String,
    /// Why it failed (or why the last composition attempt failed while retrying).
    failure: Option<String>,
    /// Who may watch: `host`, `participants` or `organisation`.
    access: String,
    started_at: DateTime<Utc>,
    stopped_at: Option<DateTime<Utc>>,
    duration_seconds: Option<f64>,
    size_bytes: Option<i64>,
    content_type: String,
    /// When retention deletes it, if it does.
    expires_at: Option<DateTime<Utc>>,
    /// Whether you may delete it and change who may watch it.
    can_manage: bool,
}

/// One recording with what its page shows.
#[derive(Serialize, ToSchema)]
pub(crate) struct RecordingDetail {
    #[serde(flatten)]
    recording: RecordingView,
    /// Who was in the meeting while it was recorded.
    participants: Vec<String>,
    /// The meeting's public chat during the recording.
    chat: Vec<ChatLine>,
    /// Signed link for playback (Range requests work); `null` until ready.
    stream_url: Option<String>,
    /// Signed link that downloads the file; `null` until ready.
    download_url: Option<String>,
    /// When the two links stop working.
    links_expire_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ChatLine {
    from_name: String,
    text: String,
    sent_at: DateTime<Utc>,
    /// Seconds into the recording.
    offset_seconds: f64,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct StartStop {
    message: String,
    recording: RecordingView,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordingUpdate {
    /// Who may watch: `host`, `participants` or `organisation`.
    access: RecordingAccess,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MediaQuery {
    /// Unix time the link stops working.
    expires: i64,
    /// The link's signature.
    signature: String,
    /// `1` to download as a file instead of playing.
    download: Option<u8>,
}

/// A recording as permissions see it.
fn facts(r: &RecordingRow) -> RecordingFacts<'_> {
    RecordingFacts {
        host_id: &r.host_id,
        made_on_device_by: r.started_by.as_deref().filter(|_| r.kind == "client"),
        access: RecordingAccess::parse(&r.access),
    }
}

/// Whether `user` may do `action` with recording `r` (an action about that recording).
async fn allowed(state: &AppState, r: &RecordingRow, user: &UserRow, action: Action<'_>) -> Result<()> {
    let actor = Actor::account(state.store.access(r.meeting_id, &r.host_id, user).await?);
    // A meeting whose record is gone is over.
    let over = Lifecycle { status: MeetingStatus::Ended, kind: MeetingKind::Scheduled, recurring: false };
    let meeting = match state.store.meeting(r.meeting_id).await? {
        Some(m) => m.facts(&state.config),
        None => Meeting { lifecycle: over, allow_guests: false },
    };
    authorize(&actor, &meeting, action)
}

pub(super) async fn view(state: &AppState, r: &RecordingRow, user: &UserRow) -> Result<RecordingView> {
    let title = state.store.meeting(r.meeting_id).await?.map(|m| m.title).unwrap_or_default();
    let recorded_by = match &r.started_by {
        Some(u) => state.store.user_by_id(u).await?.map(|u| u.display_name),
        None => None,
    };
    Ok(RecordingView {
        id: r.id.clone(),
        meeting_id: r.meeting_id,
        meeting_title: title,
        kind: r.kind.clone(),
        recorded_by,
        status: r.status.clone(),
        failure: r.failure.clone(),
        access: r.access.clone(),
        started_at: from_ms(r.started_at),
        stopped_at: r.stopped_at.map(from_ms),
        duration_seconds: r.duration_ms.map(|d| d as f64 / 1000.0),
        size_bytes: r.size_bytes,
        content_type: r.content_type.clone(),
        expires_at: r.expires_at.map(from_ms),
        can_manage: allowed(state, r, user, Action::ManageRecording(facts(r))).await.is_ok(),
    })
}

fn not_found() -> Error {
    Error::not_found("recording_not_found", "no such recording")
}

/// The recording, if it exists and `user` may watch it.
pub(super) async fn visible(state: &AppState, id: &str, user: &UserRow) -> Result<RecordingRow> {
    let row = state.store.recording(id).await?.ok_or_else(not_found)?;
    allowed(state, &row, user, Action::WatchRecording(facts(&row))).await?;
    Ok(row)
}

/// Start recording a live meeting (host or co-host). Everyone in it is told.
#[utoipa::path(post, path = "/api/v1/meetings/{id}/recording/start", tag = "recordings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = StartStop), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn start(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    if let Some(answer) = on_owner(&state, &headers, &id, "start").await? {
        return Ok(answer);
    }
    let room = moderated_room(&state, &auth, &id).await?;
    let row = crate::live::recording::start(&state, &room, Some(&auth.user.id)).await?;
    Ok(axum::Json(StartStop { message: "Recording started".into(), recording: view(&state, &row, &auth.user).await? })
        .into_response())
}

/// Stop recording a meeting (host or co-host); composition starts at once.
#[utoipa::path(post, path = "/api/v1/meetings/{id}/recording/stop", tag = "recordings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = StartStop), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn stop(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    if let Some(answer) = on_owner(&state, &headers, &id, "stop").await? {
        return Ok(answer);
    }
    let room = moderated_room(&state, &auth, &id).await?;
    let row = crate::live::recording::stop(&state, &room)
        .await?
        .ok_or_else(|| Error::conflict("not_recording", "this meeting is not being recorded"))?;
    Ok(axum::Json(StartStop { message: "Recording stopped".into(), recording: view(&state, &row, &auth.user).await? })
        .into_response())
}

/// Marks a request one node passed to another, so it is never passed on again.
const FORWARDED: &str = "x-convene-forwarded";

/// In cluster mode, a meeting live on another node is recorded there: the request goes to
/// that node as it came (same credentials; it checks them itself) and its answer comes
/// back unchanged. `None`: handle it here.
async fn on_owner(state: &AppState, headers: &HeaderMap, id: &str, action: &str) -> Result<Option<Response>> {
    let Ok(meeting) = MeetingId::parse(id).map(MeetingId::get) else { return Ok(None) };
    if headers.contains_key(FORWARDED) || state.live.room(meeting).is_some() {
        return Ok(None);
    }
    let Some(owner) = state.cluster.owner_elsewhere(meeting).await? else { return Ok(None) };
    let url = format!("{}/api/v1/meetings/{meeting}/recording/{action}", owner.url.trim_end_matches('/'));
    let mut request = crate::outbound::internal_client().post(&url).header(FORWARDED, state.cluster.node_id());
    if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) {
        request = request.header(axum::http::header::AUTHORIZATION, auth.clone());
    }
    let answer = request.send().await.map_err(|e| {
        tracing::warn!(node = %owner.id, error = %e, "could not reach the meeting's node");
        Error::Client {
            status: StatusCode::BAD_GATEWAY,
            code: "node_unreachable",
            message: "the node hosting this meeting did not answer; try again shortly".into(),
            retry_after: Some(2),
        }
    })?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = answer.bytes().await.unwrap_or_default();
    Ok(Some((status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()))
}

/// The live room of a meeting the caller hosts or co-hosts (by the meeting's settings, or
/// by the role they hold in the room right now).
async fn moderated_room(state: &AppState, auth: &AuthUser, id: &str) -> Result<std::sync::Arc<crate::live::Room>> {
    let m = load(state, id).await?;
    let room = state.live.room(m.id);
    let seat = room.as_ref().and_then(|r| {
        r.participants().into_iter().find(|p| p.user_id.as_deref() == Some(&auth.user.id) && p.role.is_moderator())
    });
    let actor = Actor::account(access(state, &m, &auth.user).await?).with_seat(seat.as_ref());
    authorize(&actor, &m.facts(&state.config), Action::Record)?;
    room.ok_or_else(|| Error::conflict("meeting_not_live", "the meeting is not running"))
}

/// Recordings you may watch: of meetings you host or attended (as each meeting's recording
/// access allows) and those shared with the whole organisation. Newest first.
#[utoipa::path(get, path = "/api/v1/recordings", tag = "recordings", security(("bearer" = [])),
    responses((status = 200, body = Vec<RecordingView>), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: AuthUser) -> Result<axum::Json<Vec<RecordingView>>> {
    let mut out = Vec::new();
    for r in state.store.recordings_for_user(&auth.user.id).await? {
        if allowed(&state, &r, &auth.user, Action::WatchRecording(facts(&r))).await.is_ok() {
            out.push(view(&state, &r, &auth.user).await?);
        }
    }
    Ok(axum::Json(out))
}

/// One recording: metadata, participants, chat log and (when ready) signed media links.
#[utoipa::path(get, path = "/api/v1/recordings/{id}", tag = "recordings", security(("bearer" = [])),
    params(("id" = String, Path, description = "recording id")),
    responses((status = 200, body = RecordingDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn get_one(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<RecordingDetail>> {
    let r = visible(&state, &id, &auth.user).await?;
    let until = r.stopped_at.unwrap_or_else(|| state.clock.now_ms());
    let mut participants: Vec<String> = Vec::new();
    for a in state.store.attendance(r.meeting_id).await? {
        let overlaps = a.joined_at <= until && a.left_at.is_none_or(|l| l >= r.started_at);
        if overlaps && !participants.contains(&a.display_name) {
            participants.push(a.display_name);
        }
    }
    let everyone = Viewer { participant_id: None, user_id: None };
    let (rows, _) = state.store.chat_for(r.meeting_id, &everyone, 1000, 0).await?;
    let chat = rows
        .into_iter()
        // What the recording's room saw: the main room's chat, not the breakout rooms'.
        .filter(|c| c.breakout_room.is_none() && (r.started_at..=until).contains(&c.sent_at))
        .map(|c| ChatLine {
            offset_seconds: (c.sent_at - r.started_at) as f64 / 1000.0,
            from_name: c.from_name,
            text: c.text,
            sent_at: from_ms(c.sent_at),
        })
        .collect();
    let (stream_url, download_url, links_expire_at) = if r.status == "ready" {
        let expires = state.clock.now_ms() / 1000 + i64::try_from(state.config.recording_link_ttl_secs).unwrap_or(3600);
        let sig = state.recordings.links.sign(&r.id, expires);
        let base = format!("/api/v1/recordings/{}/media?expires={expires}&signature={sig}", r.id);
        (Some(base.clone()), Some(format!("{base}&download=1")), Some(from_ms(expires * 1000)))
    } else {
        (None, None, None)
    };
    Ok(axum::Json(RecordingDetail {
        recording: view(&state, &r, &auth.user).await?,
        participants,
        chat,
        stream_url,
        download_url,
        links_expire_at,
    }))
}

/// Change who may watch a recording (the meeting's host; for a recording made on a device,
/// also the person who made it).
#[utoipa::path(patch, path = "/api/v1/recordings/{id}", tag = "recordings", security(("bearer" = [])),
    params(("id" = String, Path, description = "recording id")), request_body = RecordingUpdate,
    responses((status = 200, body = RecordingView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<RecordingUpdate>,
) -> Result<axum::Json<RecordingView>> {
    let r = visible(&state, &id, &auth.user).await?;
    allowed(&state, &r, &auth.user, Action::ManageRecording(facts(&r))).await?;
    state.store.set_recording_access(&r.id, body.access.as_str(), state.clock.now_ms()).await?;
    let r = state.store.recording(&id).await?.ok_or_else(not_found)?;
    Ok(axum::Json(view(&state, &r, &auth.user).await?))
}

/// Delete a recording for good (the meeting's host; for a recording made on a device, also
/// the person who made it).
#[utoipa::path(delete, path = "/api/v1/recordings/{id}", tag = "recordings", security(("bearer" = [])),
    params(("id" = String, Path, description = "recording id")),
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove(State(state): State<AppState>, auth: AuthUser, Path(id): Path<String>) -> Result<StatusCode> {
    let r = visible(&state, &id, &auth.user).await?;
    allowed(&state, &r, &auth.user, Action::ManageRecording(facts(&r))).await?;
    if r.status == "recording" {
        return Err(Error::conflict("still_recording", "stop the recording first"));
    }
    crate::recording::delete(&state, &r).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The recording's media through a signed link from `GET /api/v1/recordings/{id}`. Honours
/// `Range` (206 Partial Content) so players can seek.
#[utoipa::path(get, path = "/api/v1/recordings/{id}/media", tag = "recordings",
    params(("id" = String, Path, description = "recording id"), MediaQuery,
        ("Range" = Option<String>, Header, description = "bytes=start-end")),
    responses((status = 200, description = "the whole file"), (status = 206, description = "the requested bytes"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
async fn media(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<MediaQuery>,
    headers: HeaderMap,
) -> Result<Response> {
    match state.recordings.links.verify(&id, q.expires, &q.signature, state.clock.now_ms() / 1000) {
        Ok(()) => {}
        Err(LinkError::Expired) => {
            return Err(Error::forbidden("link_expired", "this link has expired; open the recording again"))
        }
        Err(LinkError::BadSignature) => return Err(Error::forbidden("invalid_link", "this link is not valid")),
    }
    let r = state.store.recording(&id).await?.ok_or_else(not_found)?;
    let key = r.media_key.as_deref().filter(|_| r.status == "ready").ok_or_else(not_found)?;
    let storage = &state.recordings.storage;
    let len = storage.size(key).await.map_err(|_| not_found())?;
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = parse_range(range_header, len).map_err(|_| {
        Error::client(StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable", format!("the file has {len} bytes"))
    })?;
    let body = storage.read(key, range.clone()).await?;
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    // Only a video type plays inline; anything else a local upload claimed is served inert.
    let essence = r.content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let content_type = match essence.as_str() {
        "video/webm" | "video/mp4" | "video/x-matroska" | "audio/webm" => r.content_type.clone(),
        _ => "application/octet-stream".to_owned(),
    };
    h.insert(header::CONTENT_TYPE, content_type.parse().unwrap_or(header::HeaderValue::from_static("video/webm")));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static("sandbox; default-src 'none'"));
    h.insert(header::ACCEPT_RANGES, header::HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("private, max-age=300"));
    if q.download == Some(1) {
        let name = format!("attachment; filename=\"recording-{}-{}.webm\"", r.meeting_id, r.id);
        h.insert(header::CONTENT_DISPOSITION, name.parse().unwrap_or(header::HeaderValue::from_static("attachment")));
    }
    match range {
        Some(rg) => {
            h.insert(header::CONTENT_LENGTH, (rg.end - rg.start).into());
            let cr = format!("bytes {}-{}/{len}", rg.start, rg.end - 1);
            h.insert(header::CONTENT_RANGE, cr.parse().unwrap_or(header::HeaderValue::from_static("bytes */0")));
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
        None => {
            h.insert(header::CONTENT_LENGTH, len.into());
        }
    }
    Ok(resp)
}
