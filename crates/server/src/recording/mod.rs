//! Recording meetings on the server: the SFU hands a copy of every forwarded packet to the
//! [`recorder`] (its own thread, bounded queue), which writes per-track WebM chunks under
//! `<data-dir>/recordings-raw/<id>/`. When recording stops, a `compose_recording` job makes
//! one playable WebM with ffmpeg ([`compose`]), stores it ([`storage`]) and tells the people
//! allowed to watch; the raw chunks are deleted only once that worked.
//!
//! Status of a recording: `recording` → `processing` → `ready`, or `failed` with a reason
//! (composition is retried with backoff first). People fetch the media through expiring
//! signed links ([`links`]).
//!
//! Client-side ("local") recordings arrive through resumable uploads ([`uploads`]) and become
//! `ready` recordings of kind `client` in the same storage, under the same rules.

mod compose;
pub(crate) mod depacketizer;
pub mod links;
pub mod recorder;
pub mod storage;
mod track_writer;
pub mod uploads;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use convene_protocol::ServerMessage;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::live::Room;
use crate::meeting::RecordingAccess;
use crate::state::AppState;
use crate::store::{JobRow, RecordingRow};
use links::LinkSigner;
use recorder::Recorder;
use storage::Storage;

/// The job kind that composes a stopped recording.
pub const COMPOSE_JOB: &str = "compose_recording";
/// How often expired recordings are looked for.
const CLEANUP_EVERY: Duration = Duration::from_secs(60);

/// Everything recording needs at run time; cheap to clone.
#[derive(Clone)]
pub struct Recordings {
    pub recorder: Recorder,
    pub storage: Storage,
    pub links: LinkSigner,
    pub uploads: uploads::Uploads,
    raw_root: PathBuf,
}

impl Recordings {
    pub fn new(config: &crate::config::Config, link_secret: &[u8]) -> std::io::Result<Recordings> {
        let storage = match &config.recordings_s3_bucket {
            Some(bucket) => Storage::s3(&storage::S3Config {
                bucket: bucket.clone(),
                endpoint: config.recordings_s3_endpoint.clone(),
                region: config.recordings_s3_region.clone(),
            })?,
            None => Storage::Local(config.recordings_dir.clone()),
        };
        Ok(Recordings {
            recorder: Recorder::start(config.recording_queue, config.recording_chunk_ms),
            storage,
            links: LinkSigner::new(link_secret),
            uploads: uploads::Uploads::new(&config.data_dir),
            raw_root: config.data_dir.join("recordings-raw"),
        })
    }

    /// Where a recording's raw chunks are written.
    pub fn raw_dir(&self, id: &str) -> PathBuf {
        self.raw_root.join(id)
    }
}

#[derive(Serialize, Deserialize)]
struct ComposePayload {
    recording_id: String,
}

/// Starts recording a live meeting; `by` is the account that asked.
pub(crate) async fn start(state: &AppState, room: &Arc<Room>, by: Option<&str>) -> Result<RecordingRow> {
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

async fn begin(state: &AppState, room: &Arc<Room>, by: Option<&str>) -> Result<RecordingRow> {
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
pub(crate) async fn stop(state: &AppState, room: &Arc<Room>) -> Result<Option<RecordingRow>> {
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

async fn queue_compose(state: &AppState, id: &str) -> Result<()> {
    let payload =
        serde_json::to_string(&ComposePayload { recording_id: id.to_owned() }).map_err(anyhow::Error::from)?;
    let now = state.clock.now_ms();
    state.store.enqueue_job(COMPOSE_JOB, &payload, now, Some(&format!("compose:{id}")), now).await?;
    crate::notify::wake_jobs();
    Ok(())
}

/// The composition job: ffmpeg, then storage, then the raw chunks go and people are told.
/// On failure the recording shows the reason; the last attempt marks it `failed`.
pub async fn compose_job(state: &AppState, job: &JobRow) -> Result<()> {
    let p: ComposePayload = serde_json::from_str(&job.payload).map_err(anyhow::Error::from)?;
    let Some(row) = state.store.recording(&p.recording_id).await? else { return Ok(()) };
    if row.status == "ready" {
        return Ok(());
    }
    match compose_and_store(state, &row).await {
        Ok(()) => Ok(()),
        Err(why) => {
            let last = job.attempts >= job.max_attempts;
            let status = if last { "failed" } else { "processing" };
            state.store.recording_status(&row.id, status, Some(&why), state.clock.now_ms()).await?;
            Err(anyhow::anyhow!(why).into())
        }
    }
}

async fn compose_and_store(state: &AppState, row: &RecordingRow) -> std::result::Result<(), String> {
    let dir = state.recordings.raw_dir(&row.id);
    let duration = row.duration_ms.and_then(|d| u64::try_from(d).ok()).unwrap_or(0);
    compose::compose(&state.config.ffmpeg, &dir, duration, "composed.webm").await?;
    let key = format!("{}.webm", row.id);
    let size = state
        .recordings
        .storage
        .put_file(&key, &dir.join("composed.webm"))
        .await
        .map_err(|e| format!("cannot store the recording: {e}"))?;
    let now = state.clock.now_ms();
    let days = i64::from(state.config.recording_retention_days);
    let expires = (days > 0).then(|| now + days * 86_400_000);
    state
        .store
        .recording_ready(&row.id, &key, i64::try_from(size).unwrap_or(i64::MAX), expires, now)
        .await
        .map_err(|e| e.to_string())?;
    // Only now may the raw tracks go.
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
        tracing::warn!(recording_id = %row.id, error = %e, "raw recording files left behind");
    }
    metrics::counter!("recordings_composed_total").increment(1);
    tracing::info!(recording_id = %row.id, size, "recording ready");
    announce(state, row).await;
    Ok(())
}

/// "Recording ready": webhook event, mail and push to the people allowed to watch.
pub(crate) async fn announce(state: &AppState, row: &RecordingRow) {
    let link = format!("{}/recordings/{}", state.config.public_url, row.id);
    state.events.emit(crate::events::Event::new(
        "recording.ready",
        state.clock.now(),
        Some(row.meeting_id),
        Some(row.host_id.clone()),
        serde_json::json!({"recording_id": row.id, "meeting_id": row.meeting_id, "url": link}),
    ));
    let result: Result<()> = async {
        let Some(m) = state.store.meeting(row.meeting_id).await? else { return Ok(()) };
        let mut users = vec![row.host_id.clone()];
        if RecordingAccess::parse(&row.access) != Some(RecordingAccess::Host) {
            for a in state.store.attendance(row.meeting_id).await? {
                if let Some(u) = a.user_id.filter(|u| !users.contains(u)) {
                    users.push(u);
                }
            }
        }
        let mut emails = Vec::new();
        for u in &users {
            if let Some(user) = state.store.user_by_id(u).await? {
                emails.push(user.email);
                let push = crate::push::PushMessage::new(
                    format!("Recording ready: {}", m.title),
                    "Watch it in Convene",
                    link.clone(),
                )
                .with_tag(format!("recording-{}", row.id));
                crate::push::spawn_send_to_user(state, u, push);
            }
        }
        crate::notify::recording_ready(state, &m, &emails, &link).await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(recording_id = %row.id, error = %e, "could not announce the recording");
    }
}

/// Deletes a recording: its stored file, any raw chunks, and the row.
pub async fn delete(state: &AppState, row: &RecordingRow) -> Result<()> {
    if let Some(key) = &row.media_key {
        state.recordings.storage.delete(key).await?;
    }
    match tokio::fs::remove_dir_all(state.recordings.raw_dir(&row.id)).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    state.store.delete_recording(&row.id).await?;
    Ok(())
}

/// Background upkeep: recordings a stopped server left `recording` are composed from what
/// reached the disk; recordings past their retention are deleted.
pub fn spawn_upkeep(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = recover(&state).await {
            tracing::warn!(error = %e, "could not recover interrupted recordings");
        }
        loop {
            if let Err(e) = clean_up(&state).await {
                tracing::warn!(error = %e, "recording clean-up failed");
            }
            tokio::time::sleep(CLEANUP_EVERY).await;
        }
    })
}

async fn recover(state: &AppState) -> Result<()> {
    for row in state.store.recordings_in_progress().await? {
        // Still live on this node? Then it is not interrupted.
        if state.live.room(row.meeting_id).is_some_and(|r| r.is_recording()) {
            continue;
        }
        let dir = state.recordings.raw_dir(&row.id);
        if !dir.exists() {
            continue; // recorded by another node
        }
        let reached = track_writer::Manifest::read(&dir)
            .map(|entries| entries.iter().map(|e| e.end_ms.unwrap_or(e.start_ms)).max().unwrap_or(0))
            .unwrap_or(0);
        let now = state.clock.now_ms();
        state.store.recording_stopped(&row.id, "processing", None, i64::try_from(reached).unwrap_or(0), now).await?;
        queue_compose(state, &row.id).await?;
        tracing::info!(recording_id = %row.id, "interrupted recording queued for composition");
    }
    Ok(())
}

/// Deletes recordings whose retention ran out, and abandoned uploads.
pub async fn clean_up(state: &AppState) -> Result<usize> {
    let expired = state.store.expired_recordings(state.clock.now_ms()).await?;
    for row in &expired {
        delete(state, row).await?;
        tracing::info!(recording_id = %row.id, "recording deleted after its retention period");
    }
    let uploads = uploads::clean_up(state).await?;
    Ok(expired.len() + uploads)
}
