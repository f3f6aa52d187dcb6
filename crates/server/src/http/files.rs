//! Files shared in a meeting's chat: upload by a participant (announced in chat), download by
//! the people in the meeting or who attended it. Private files follow their chat message.
//!
//! Participants prove their seat with the `X-Convene-Seat: <resume token>` header (guests
//! have no account); people who attended use their access token after the meeting.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use convene_protocol::SharedFile;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{MaybeAuth, Query};
use crate::error::{Error, ErrorBody, Result};
use crate::meeting::{authorize, Action, Actor, MeetingId};
use crate::state::AppState;
use crate::store::FileRow;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload)).routes(routes!(download))
}

const SEAT_HEADER: &str = "x-convene-seat";

/// Types that would run on someone's machine if opened: refused whatever their name says.
const EXECUTABLE_TYPES: &[&str] = &[
    "application/x-executable",
    "application/vnd.microsoft.portable-executable",
    "application/x-msdownload",
    "application/x-mach-binary",
    "application/vnd.android.package-archive",
    "application/x-elf",
    "application/x-sharedlib",
];

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UploadQuery {
    /// File name to show (paths are stripped).
    name: String,
    /// Share privately with this participant instead of everyone.
    to: Option<String>,
}

/// The stored file, as announced in chat.
#[derive(Serialize, ToSchema)]
pub(crate) struct Uploaded {
    #[schema(value_type = Object)]
    file: SharedFile,
    message_id: String,
}

fn seat_token(headers: &HeaderMap) -> Option<&str> {
    headers.get(SEAT_HEADER).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

fn clean_name(raw: &str) -> Result<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let name: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::invalid("invalid_file_name", "give the file a name"));
    }
    Ok(name)
}

/// The type a shared file is stored with: what its bytes say, else the declared type —
/// `application/octet-stream` when that is active content a browser would run (HTML, SVG,
/// scripts), whoever named it. Programs are refused.
pub(crate) fn file_type(bytes: &[u8], declared: &str) -> Result<String> {
    let sniffed = infer::get(bytes).map(|t| t.mime_type());
    if sniffed.is_some_and(|m| EXECUTABLE_TYPES.contains(&m)) {
        return Err(Error::client(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "file_type_refused",
            "programs cannot be shared in a meeting",
        ));
    }
    // The sniffed type goes through the same filter as a declared one: content that looks
    // like HTML is no safer for having been recognised.
    let chosen = sniffed.unwrap_or(declared);
    Ok(chosen.parse::<mime_guess_lite::Mime>().map_or_else(|()| "application/octet-stream".into(), |m| m.0))
}

fn file_path(state: &AppState, meeting_id: i64, file_id: &str) -> std::path::PathBuf {
    state.config.data_dir.join("files").join(meeting_id.to_string()).join(file_id)
}

/// Share a file in the meeting chat (the body is the file). Needs `X-Convene-Seat`.
#[utoipa::path(post, path = "/api/v1/meetings/{id}/files", tag = "meetings",
    params(("id" = i64, Path, description = "meeting ID"), UploadQuery,
        ("X-Convene-Seat" = String, Header, description = "the participant's resume token")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file"),
    responses((status = 201, body = Uploaded), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, axum::Json<Uploaded>)> {
    let meeting_id = MeetingId::parse(&id)?.get();
    let token = seat_token(&headers)
        .ok_or_else(|| Error::unauthorized("missing_seat", "send X-Convene-Seat with your resume token"))?;
    let room = state
        .live
        .room(meeting_id)
        .ok_or_else(|| Error::not_found("meeting_not_live", "this meeting is not running"))?;
    let me = room
        .participant_by_resume(token)
        .ok_or_else(|| Error::unauthorized("invalid_seat", "you are not in this meeting"))?;
    let name = clean_name(&q.name)?;
    let recipient = match q.to.as_deref() {
        Some(pid) => Some(
            room.participant(pid)
                .ok_or_else(|| Error::invalid("unknown_participant", "no such participant in this meeting"))?,
        ),
        None => None,
    };
    let limit = state.config.max_upload_bytes;
    let too_large = || {
        Error::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("shared files are limited to {} MB", limit / (1024 * 1024)),
        )
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > limit) {
        // A client (a browser's fetch, reqwest) that is still writing the body when the
        // connection closes reports a broken pipe, not our answer. A modest excess is read and
        // dropped so the sender sees the 413; a huge one is cut off at once.
        if n <= limit.saturating_mul(2) {
            let _ = axum::body::to_bytes(body, usize::try_from(n).unwrap_or(usize::MAX)).await;
        }
        return Err(too_large());
    }
    let bytes =
        axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX)).await.map_err(|_| too_large())?;
    if bytes.is_empty() {
        return Err(Error::invalid("empty_file", "the file is empty"));
    }
    let declared_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let content_type = file_type(&bytes, declared_type)?;
    let file_id = format!("f_{}", uuid::Uuid::new_v4().simple());
    let path = file_path(&state, meeting_id, &file_id);
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    // Write then rename: a crash never leaves half a file under a real name.
    let tmp = path.with_extension("part");
    tokio::fs::write(&tmp, &bytes).await?;
    tokio::fs::rename(&tmp, &path).await?;
    let row = FileRow {
        id: file_id.clone(),
        meeting_id,
        uploader_participant: me.participant_id.clone(),
        uploader_user_id: me.user_id.clone(),
        name: name.clone(),
        size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        content_type: content_type.clone(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        created_at: state.clock.now_ms(),
    };
    if let Err(e) = state.store.insert_file(&row).await {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e);
    }
    let shared = SharedFile {
        url: format!("/api/v1/meetings/{meeting_id}/files/{file_id}"),
        file_id,
        name: name.clone(),
        size: bytes.len() as u64,
        content_type,
    };
    let msg = state
        .live
        .post_chat(&state, &room, &me, format!("shared a file: {name}"), recipient.as_ref(), Some(shared.clone()))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(Uploaded { file: shared, message_id: msg.message_id })))
}

/// Download a shared file: participants with `X-Convene-Seat`, or (signed in) the host,
/// co-hosts and people who attended. Private files only for their two parties.
#[utoipa::path(get, path = "/api/v1/meetings/{id}/files/{file_id}", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID"), ("file_id" = String, Path, description = "file id"),
        ("X-Convene-Seat" = Option<String>, Header, description = "the participant's resume token")),
    responses((status = 200, description = "the file, as an attachment"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn download(
    State(state): State<AppState>,
    Path((id, file_id)): Path<(String, String)>,
    MaybeAuth(auth): MaybeAuth,
    headers: HeaderMap,
) -> Result<Response> {
    let not_found = || Error::not_found("file_not_found", "no such file in this meeting");
    let meeting_id = MeetingId::parse(&id).map_err(|_| not_found())?.get();
    // Who is asking: a live seat, or an account.
    let seat = seat_token(&headers).and_then(|t| state.live.room(meeting_id)?.participant_by_resume(t));
    let user_id = auth.as_ref().map(|a| a.user.id.clone()).or_else(|| seat.as_ref().and_then(|s| s.user_id.clone()));
    if seat.is_none() && auth.is_none() {
        return Err(Error::unauthorized("missing_token", "sign in, or send X-Convene-Seat from the meeting"));
    }
    if let (None, Some(auth)) = (&seat, &auth) {
        let meeting = state.store.meeting(meeting_id).await?.ok_or_else(not_found)?;
        let actor = Actor::account(super::meetings::access(&state, &meeting, &auth.user).await?);
        authorize(&actor, &meeting.facts(&state.config), Action::ReadRecords)?;
    }
    let file = state.store.file(meeting_id, &file_id).await?.ok_or_else(not_found)?;
    let viewer = crate::store::Viewer {
        participant_id: seat.as_ref().map(|s| s.participant_id.as_str()),
        user_id: user_id.as_deref(),
    };
    if !state.store.file_visible_to(meeting_id, &file_id, &viewer).await? {
        return Err(Error::forbidden("private_file", "this file was shared privately with someone else"));
    }
    let bytes = tokio::fs::read(file_path(&state, meeting_id, &file.id)).await.map_err(|_| not_found())?;
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        url::form_urlencoded::byte_serialize(file.name.as_bytes()).collect::<String>()
    );
    Ok((
        [
            // Inert whatever the file claims to be: never rendered by the browser as a page of
            // this origin. The sniffed type stays in the file's metadata for the client.
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'".to_owned()),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

/// A minimal, strict parse of a declared Content-Type (type/subtype, no parameters).
mod mime_guess_lite {
    pub(super) struct Mime(pub(super) String);

    impl std::str::FromStr for Mime {
        type Err = ();
        fn from_str(s: &str) -> Result<Self, ()> {
            let essence = s.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            let (top, sub) = essence.split_once('/').ok_or(())?;
            let ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            // Never echo back types a browser would render inline as active content.
            if ok(top) && ok(sub) && !matches!(sub, "html" | "xhtml+xml" | "javascript" | "svg+xml") {
                Ok(Mime(essence))
            } else {
                Err(())
            }
        }
    }
}
