//! The server recording of a live room: claiming it (one at a time), opening the recorder and
//! telling everyone (`meeting_updated`), and stopping it, which queues its composition.

use std::sync::Arc;

use convene_protocol::ServerMessage;

use super::room::Room;
use crate::error::{Error, Result};
use crate::recording::queue_compose;
use crate::services::Services;
use crate::store::RecordingRow;

/// Starts recording a live meeting; `by` is the account that asked.
pub(crate) async fn start(state: &Services, room: &Arc<Room>, by: Option<&str>) -> Result<RecordingRow> {
    // The server holds only ciphertext of an end-to-end encrypted meeting (docs/e2ee.md).
    if room.settings.e2ee {
        return Err(Error::conflict(
            "e2ee_no_server_recording",
            "this meeting is end-to-end encrypted: the server cannot record it (record on your device instead)",
        ));
    }
    if !room.claim_recording() {
        return Err(Error::conflict("already_recording", "this meeting is already being recorded"));
    }
    match begin(state, room, by).await {
        Ok(row) => Ok(row),
        Err(e) => {
            room.set_recording(None);
            Err(e)
        }
    }
}

async fn begin(state: &Services, room: &Arc<Room>, by: Option<&str>) -> Result<RecordingRow> {
    let now = state.clock.now_ms();
    let row = RecordingRow {
        id: format!("rec_{}", uuid::Uuid::now_v7().simple()),
        meeting_id: room.meeting_id,
        host_id: room.host_user_id.clone(),
        started_by: by.map(str::to_owned),
        kind: "server".into(),
        status: "recording".into(),
        failure: None,
        access: room.settings.recording_access.as_str().into(),
        started_at: now,
        stopped_at: None,
        duration_ms: None,
        size_bytes: None,
        media_key: None,
        content_type: "video/webm".into(),
        ready_at: None,
        expires_at: None,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_recording(&row).await?;
    let dir = state.recordings.raw_dir(&row.id);
    if let Err(why) = state.recordings.recorder.open(room.meeting_id, dir).await {
        tracing::error!(meeting_id = room.meeting_id, error = %why, "cannot start recording");
        state.store.recording_stopped(&row.id, "failed", Some(&why), 0, now).await?;
        return Err(Error::client(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "recording_unavailable",
            "the server cannot record right now",
        ));
    }
    state.media.set_recording(room.meeting_id, true);
    room.set_recording(Some(row.id.clone()));
    room.broadcast(&ServerMessage::MeetingUpdated { locked: room.is_locked(), recording: true }, None);
    metrics::counter!("recordings_started_total").increment(1);
    tracing::info!(meeting_id = room.meeting_id, recording_id = %row.id, "recording started");
    Ok(row)
}

/// Stops the meeting's recording (if one runs) and queues its composition.
pub(crate) async fn stop(state: &Services, room: &Arc<Room>) -> Result<Option<RecordingRow>> {
    let Some(id) = room.take_recording() else { return Ok(None) };
    state.media.set_recording(room.meeting_id, false);
    if !room.is_closed() {
        room.broadcast(&ServerMessage::MeetingUpdated { locked: room.is_locked(), recording: false }, None);
    }
    let summary = state.recordings.recorder.close(room.meeting_id).await;
    let now = state.clock.now_ms();
    let (duration, failure) = match &summary {
        Some(s) => (i64::try_from(s.duration_ms).unwrap_or(i64::MAX), s.failure.clone()),
        None => (0, Some("the recorder lost this recording".to_owned())),
    };
    if let Some(why) = failure {
        state.store.recording_stopped(&id, "failed", Some(&why), duration, now).await?;
    } else {
        state.store.recording_stopped(&id, "processing", None, duration, now).await?;
        queue_compose(state, &id).await?;
    }
    tracing::info!(meeting_id = room.meeting_id, recording_id = %id, duration_ms = duration, "recording stopped");
    state.store.recording(&id).await
}
