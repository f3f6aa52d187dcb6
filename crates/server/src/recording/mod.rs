//! Recording meetings on the server, the workflow: the SFU hands a copy of every forwarded
//! packet to the [`recorder`](crate::recorder) (its own thread, bounded queue), which writes
//! per-track WebM chunks under `<data-dir>/recordings-raw/<id>/`. When recording stops, a
//! `compose_recording` job makes one playable WebM with ffmpeg ([`compose`]), stores it
//! ([`storage`](crate::recorder::storage)) and tells the people allowed to watch; the raw
//! chunks are deleted only once that worked.
//!
//! Status of a recording: `recording` → `processing` → `ready`, or `failed` with a reason
//! (composition is retried with backoff first). People fetch the media through expiring
//! signed links ([`links`](crate::recorder::links)).
//!
//! Client-side ("local") recordings arrive through resumable uploads ([`uploads`]) and become
//! `ready` recordings of kind `client` in the same storage, under the same rules.

mod compose;
pub mod uploads;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::meeting::RecordingAccess;
use crate::recorder::track_writer;
use crate::services::Services;
use crate::store::{JobRow, RecordingRow};

/// The job kind that composes a stopped recording.
pub const COMPOSE_JOB: &str = "compose_recording";
/// How often expired recordings are looked for.
const CLEANUP_EVERY: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize)]
struct ComposePayload {
    recording_id: String,
}

pub(crate) async fn queue_compose(state: &Services, id: &str) -> Result<()> {
    let payload =
        serde_json::to_string(&ComposePayload { recording_id: id.to_owned() }).map_err(anyhow::Error::from)?;
    let now = state.clock.now_ms();
    state.store.enqueue_job(COMPOSE_JOB, &payload, now, Some(&format!("compose:{id}")), now).await?;
    crate::store::wake_job_runner();
    Ok(())
}

/// The composition job: ffmpeg, then storage, then the raw chunks go and people are told.
/// On failure the recording shows the reason; the last attempt marks it `failed`.
pub async fn compose_job(state: &Services, job: &JobRow) -> Result<()> {
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

async fn compose_and_store(state: &Services, row: &RecordingRow) -> std::result::Result<(), String> {
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
pub(crate) async fn announce(state: &Services, row: &RecordingRow) {
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
pub async fn delete(state: &Services, row: &RecordingRow) -> Result<()> {
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
pub fn spawn_upkeep(
    state: &Services,
    recording_here: impl Fn(i64) -> bool + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = recover(&state, recording_here).await {
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

async fn recover(state: &Services, recording_here: impl Fn(i64) -> bool) -> Result<()> {
    for row in state.store.recordings_in_progress().await? {
        // Still live on this node? Then it is not interrupted.
        if recording_here(row.meeting_id) {
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
pub async fn clean_up(state: &Services) -> Result<usize> {
    let expired = state.store.expired_recordings(state.clock.now_ms()).await?;
    for row in &expired {
        delete(state, row).await?;
        tracing::info!(recording_id = %row.id, "recording deleted after its retention period");
    }
    let uploads = uploads::clean_up(state).await?;
    Ok(expired.len() + uploads)
}
