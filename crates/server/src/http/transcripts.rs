//! Live captions' transcripts over REST: a meeting's (for the people who may read its chat:
//! host, co-hosts, those who attended) and a recording's part of it (for those who may watch
//! the recording), as JSON, WebVTT (`text/vtt`, a download) or plain text.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use convene_captions::{Caption, Transcript};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AuthUser, Query};
use super::meetings::{access, load};
use crate::clock::from_ms;
use crate::error::{Error, ErrorBody, Result};
use crate::meeting::{authorize, Action, Actor};
use crate::state::AppState;
use crate::store::TranscriptLine;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(meeting_transcript)).routes(routes!(recording_transcript))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FormatQuery {
    /// `json` (default), `vtt` (WebVTT, `text/vtt`, as a download) or `txt`.
    format: Option<String>,
}

/// A transcript: what was said, by whom, when.
#[derive(Serialize, ToSchema)]
pub(crate) struct TranscriptView {
    pub meeting_id: i64,
    /// The recording this is the part of (recording transcripts only).
    pub recording_id: Option<String>,
    pub lines: Vec<TranscriptLineView>,
}

/// One final caption.
#[derive(Serialize, ToSchema)]
pub(crate) struct TranscriptLineView {
    pub participant_id: String,
    pub user_id: Option<String>,
    /// The speaker's display name when they spoke.
    pub speaker: String,
    /// Milliseconds from the start of the transcript (of the recording, for a recording's).
    pub start_ms: i64,
    pub end_ms: i64,
    /// When it was said.
    pub spoken_at: DateTime<Utc>,
    pub text: String,
    /// Said in this breakout room (1-based); absent: the main room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<u32>,
}

/// The meeting's live-captions transcript (404 `no_transcript` when captions never said anything).
#[utoipa::path(get, path = "/api/v1/meetings/{id}/transcript", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID"), FormatQuery),
    responses((status = 200, body = TranscriptView, description = "JSON, or text/vtt / text/plain with `format`"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn meeting_transcript(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<FormatQuery>,
) -> Result<Response> {
    let format = Format::parse(q.format.as_deref())?;
    let m = load(&state, &id).await?;
    let actor = Actor::account(access(&state, &m, &auth.user).await?);
    authorize(&actor, &m.facts(&state.config), Action::ReadRecords)?;
    let lines = state.store.transcript(m.id, 0, i64::MAX).await?;
    let base = lines.first().map_or(0, |l| l.start_at);
    respond(format, m.id, None, base, lines, &format!("meeting-{}-transcript", m.id))
}

/// The part of its meeting's transcript said while the recording ran, timed from the
/// recording's start (the recording player's captions track).
#[utoipa::path(get, path = "/api/v1/recordings/{id}/transcript", tag = "recordings", security(("bearer" = [])),
    params(("id" = String, Path, description = "recording ID"), FormatQuery),
    responses((status = 200, body = TranscriptView, description = "JSON, or text/vtt / text/plain with `format`"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn recording_transcript(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<FormatQuery>,
) -> Result<Response> {
    let format = Format::parse(q.format.as_deref())?;
    let r = super::recordings::visible(&state, &id, &auth.user).await?;
    let to = r.stopped_at.unwrap_or(i64::MAX);
    // The recording is of the main room: what was said in breakout rooms is not part of it.
    let mut lines = state.store.transcript(r.meeting_id, r.started_at, to).await?;
    lines.retain(|l| l.breakout_room.is_none());
    respond(format, r.meeting_id, Some(r.id.clone()), r.started_at, lines, &format!("recording-{}-transcript", r.id))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Vtt,
    Text,
}

impl Format {
    fn parse(s: Option<&str>) -> Result<Format> {
        match s.unwrap_or("json") {
            "json" => Ok(Format::Json),
            "vtt" => Ok(Format::Vtt),
            "txt" => Ok(Format::Text),
            other => Err(Error::bad_request("invalid_format", format!("format {other:?}: use json, vtt or txt"))),
        }
    }
}

fn respond(
    format: Format,
    meeting_id: i64,
    recording_id: Option<String>,
    base: i64,
    lines: Vec<TranscriptLine>,
    file: &str,
) -> Result<Response> {
    if lines.is_empty() {
        return Err(Error::not_found("no_transcript", "nothing was captioned in this meeting"));
    }
    let rel = |at: i64| at.saturating_sub(base).max(0);
    if format == Format::Json {
        let lines = lines
            .into_iter()
            .map(|l| TranscriptLineView {
                start_ms: rel(l.start_at),
                end_ms: rel(l.end_at),
                spoken_at: from_ms(l.start_at),
                participant_id: l.participant_id,
                user_id: l.user_id,
                speaker: l.speaker,
                text: l.text,
                room: l.breakout_room.and_then(|k| u32::try_from(k).ok()),
            })
            .collect();
        return Ok(axum::Json(TranscriptView { meeting_id, recording_id, lines }).into_response());
    }
    let mut t = Transcript::new();
    for (i, l) in lines.iter().enumerate() {
        let caption = Caption {
            utterance: i as u64,
            participant_id: l.participant_id.clone(),
            start_ms: u64::try_from(rel(l.start_at)).unwrap_or(0),
            end_ms: u64::try_from(rel(l.end_at)).unwrap_or(0),
            text: l.text.clone(),
            is_final: true,
        };
        let speaker = match l.breakout_room {
            Some(k) => format!("{} (breakout room {k})", l.speaker),
            None => l.speaker.clone(),
        };
        t.push(&caption, &speaker);
    }
    let (body, mime, ext) = match format {
        Format::Vtt => (t.to_vtt(), "text/vtt; charset=utf-8", "vtt"),
        _ => (t.to_text(), "text/plain; charset=utf-8", "txt"),
    };
    let disposition = format!("attachment; filename=\"{file}.{ext}\"");
    Ok(([(header::CONTENT_TYPE, mime.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body).into_response())
}
