//! Client-side ("local") recordings: a participant records the meeting in the browser and
//! uploads the WebM file in chunks, resumably (a small subset of tus 1.0: `Upload-Offset`,
//! `Upload-Length`, deferred length). The upload is created when recording starts, so the
//! right to record is checked while the person is in the meeting and they may finish the
//! upload after leaving it.
//!
//! The bytes so far live in `<data-dir>/recording-uploads/<id>.part`; the database row keeps
//! the offset, and is only moved forward after the bytes reached the disk. On completion the
//! file is checked (EBML magic, size cap, ffprobe when available), moved to the recording
//! storage (directory or S3) and the upload row is swapped for a `ready` recording of kind
//! `client` in one transaction. Abandoned uploads expire and are deleted with their file.

use std::path::Path;
use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::http::StatusCode;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::services::Services;
use crate::store::{RecordingRow, UploadRow};

/// The first four bytes of every EBML document (WebM, Matroska).
pub const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];
/// Content types an upload may declare (parameters such as `codecs=` are ignored).
pub const CONTENT_TYPES: &[&str] = &["video/webm", "video/x-matroska"];
/// Unfinished uploads one account may have at a time (each holds disk space).
const MAX_OPEN_PER_USER: i64 = 4;
/// ffprobe gets this long per file.
const PROBE_TIMEOUT: Duration = Duration::from_secs(120);

/// A refused chunk's remaining bytes are read and dropped, up to this much and this long,
/// before the refusal goes out: a client still sending when the server answers and closes
/// would see a reset connection instead of the error.
const DRAIN_BYTES: u64 = 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// What the caller asked for when creating an upload.
pub struct NewUpload<'a> {
    pub content_type: &'a str,
    pub size: Option<u64>,
}

fn not_found() -> Error {
    Error::not_found("upload_not_found", "no such upload (it may have expired, been completed or aborted)")
}

fn too_large(cap: u64) -> Error {
    Error::client(
        StatusCode::PAYLOAD_TOO_LARGE,
        "recording_too_large",
        format!("recordings uploaded from a device are limited to {} MB", cap / (1024 * 1024)),
    )
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The essence of a content type (`video/webm;codecs=vp8` → `video/webm`), if accepted.
pub fn accepted_type(declared: &str) -> Option<&'static str> {
    let essence = declared.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    CONTENT_TYPES.iter().copied().find(|t| *t == essence)
}

/// Starts an upload for `user_id`, whom the caller checked may record the live meeting
/// `meeting_id` on their device.
pub(crate) async fn create(state: &Services, meeting_id: i64, user_id: &str, new: NewUpload<'_>) -> Result<UploadRow> {
    let content_type = accepted_type(new.content_type).ok_or_else(|| {
        Error::client(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_recording_type", "recordings are video/webm")
    })?;
    let cap = state.config.max_local_recording_bytes;
    if new.size.is_some_and(|s| s > cap) {
        return Err(too_large(cap));
    }
    if state.store.open_uploads(user_id).await? >= MAX_OPEN_PER_USER {
        return Err(Error::conflict(
            "too_many_uploads",
            "finish or abort your other uploads before starting another recording",
        ));
    }
    let now = state.clock.now_ms();
    let row = UploadRow {
        id: format!("up_{}", uuid::Uuid::now_v7().simple()),
        meeting_id,
        user_id: user_id.to_owned(),
        content_type: content_type.to_owned(),
        size_bytes: new.size.map(to_i64),
        received: 0,
        started_at: now,
        created_at: now,
        updated_at: now,
        expires_at: expiry(state, now),
    };
    let uploads = &state.recordings.uploads;
    tokio::fs::create_dir_all(&uploads.dir).await?;
    tokio::fs::write(uploads.part_path(&row.id), b"").await?;
    if let Err(e) = state.store.insert_upload(&row).await {
        let _ = tokio::fs::remove_file(uploads.part_path(&row.id)).await;
        return Err(e);
    }
    tracing::info!(meeting_id, upload_id = %row.id, "local recording upload started");
    Ok(row)
}

fn expiry(state: &Services, now: i64) -> i64 {
    now + to_i64(state.config.recording_upload_ttl_secs) * 1000
}

/// The upload, if it exists and belongs to `user_id` (others' uploads do not exist for them).
pub(crate) async fn find(state: &Services, id: &str, user_id: &str) -> Result<UploadRow> {
    let row = state.store.upload(id).await?.ok_or_else(not_found)?;
    if row.user_id != user_id || row.expires_at <= state.clock.now_ms() {
        return Err(not_found());
    }
    Ok(row)
}

/// Appends `body` at `offset` (which must be where the upload is). `length` declares the
/// total size if it was not declared yet. Bytes that arrived before a broken connection are
/// kept, so the client resumes from the offset the server reports. Returns the new offset.
pub(crate) async fn append(
    state: &Services,
    id: &str,
    user_id: &str,
    offset: u64,
    length: Option<u64>,
    body: Body,
) -> Result<u64> {
    let mut stream = body.into_data_stream();
    let appended = append_from(state, id, user_id, offset, length, &mut stream).await;
    if appended.is_err() {
        drain(&mut stream).await;
    }
    appended
}

/// Reads and drops what is left of a refused request's body, within [`DRAIN_BYTES`] and
/// [`DRAIN_TIME`].
async fn drain(stream: &mut BodyDataStream) {
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    let mut drained = 0u64;
    while drained < DRAIN_BYTES {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(bytes))) => drained += bytes.len() as u64,
            _ => return,
        }
    }
}

async fn append_from(
    state: &Services,
    id: &str,
    user_id: &str,
    offset: u64,
    length: Option<u64>,
    stream: &mut BodyDataStream,
) -> Result<u64> {
    let uploads = &state.recordings.uploads;
    let _claim = uploads.claim(id)?;
    let row = find(state, id, user_id).await?;
    let received = u64::try_from(row.received).unwrap_or(0);
    if offset != received {
        return Err(Error::conflict(
            "offset_mismatch",
            format!("the upload has {received} bytes; send the next chunk from offset {received}"),
        ));
    }
    let cap = state.config.max_local_recording_bytes;
    let declared = row.size_bytes.and_then(|s| u64::try_from(s).ok());
    let size = match (declared, length) {
        (Some(d), Some(l)) if d != l => {
            return Err(Error::conflict("length_mismatch", format!("the upload was declared as {d} bytes")))
        }
        (d, l) => d.or(l),
    };
    if size.is_some_and(|s| s > cap) {
        return Err(too_large(cap));
    }
    if size.is_some_and(|s| s < received) {
        return Err(Error::conflict("length_mismatch", format!("the upload already has {received} bytes")));
    }
    let limit = size.unwrap_or(cap);

    let path = uploads.part_path(id);
    let mut file = tokio::fs::OpenOptions::new().write(true).create(true).truncate(false).open(&path).await?;
    // Anything past the recorded offset was written by a request that died before it could
    // record its progress: drop it, the client sends it again.
    file.set_len(received).await?;
    file.seek(std::io::SeekFrom::Start(received)).await?;
    let mut written: u64 = 0;
    let mut refusal = None;
    while let Some(frame) = stream.next().await {
        let bytes = match frame {
            Ok(b) => b,
            Err(e) => {
                tracing::info!(upload_id = %id, error = %e, written, "upload chunk cut short; keeping what arrived");
                refusal =
                    Some(Error::bad_request("chunk_interrupted", "the chunk was cut short; resume from the offset"));
                break;
            }
        };
        if received + written + bytes.len() as u64 > limit {
            refusal = Some(if size.is_some_and(|s| s < cap) {
                Error::conflict("beyond_length", format!("the upload was declared as {limit} bytes"))
            } else {
                too_large(cap)
            });
            break;
        }
        file.write_all(&bytes).await?;
        written += bytes.len() as u64;
    }
    // The bytes reach the disk before the offset that counts them.
    file.flush().await?;
    file.sync_data().await?;
    let now = state.clock.now_ms();
    let to = received + written;
    let moved =
        state.store.upload_progress(id, row.received, to_i64(to), size.map(to_i64), now, expiry(state, now)).await?;
    if !moved {
        return Err(not_found()); // aborted or expired meanwhile
    }
    match refusal {
        Some(e) => Err(e),
        None => Ok(to),
    }
}

/// Turns a fully received upload into a ready recording of the meeting. `client_duration`
/// is what the browser measured, used when ffprobe cannot tell.
pub(crate) async fn complete(
    state: &Services,
    id: &str,
    user_id: &str,
    client_duration: Option<f64>,
) -> Result<RecordingRow> {
    let uploads = &state.recordings.uploads;
    let _claim = uploads.claim(id)?;
    let row = find(state, id, user_id).await?;
    let received = u64::try_from(row.received).unwrap_or(0);
    if let Some(size) = row.size_bytes.filter(|s| *s != row.received) {
        return Err(Error::conflict(
            "upload_incomplete",
            format!("{received} of {size} bytes received; send the rest first"),
        ));
    }
    if received == 0 {
        return Err(Error::invalid("empty_recording", "the recording is empty"));
    }
    let cap = state.config.max_local_recording_bytes;
    if received > cap {
        discard(state, &row).await;
        return Err(too_large(cap));
    }
    let path = uploads.part_path(id);
    let mut head = [0u8; 4];
    let mut f = tokio::fs::File::open(&path).await.map_err(|_| not_found())?;
    if f.read_exact(&mut head).await.is_err() || head != EBML_MAGIC {
        // Resuming cannot fix the start of a file: nothing of it is kept.
        discard(state, &row).await;
        return Err(Error::client(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_webm",
            "the file is not a WebM (Matroska) recording; the upload was discarded",
        ));
    }
    drop(f);
    let now = state.clock.now_ms();
    let longest = (now - row.started_at).max(0) as f64 / 1000.0 + 5.0;
    let duration = match probe_duration(&state.config.ffprobe, &path).await {
        Probe::Seconds(s) => Some(s),
        Probe::Unreadable(why) => {
            discard(state, &row).await;
            tracing::info!(upload_id = %id, %why, "uploaded recording refused by ffprobe");
            return Err(Error::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unreadable_recording",
                "the file could not be read as a video; the upload was discarded",
            ));
        }
        Probe::Unavailable => client_duration.filter(|d| d.is_finite() && *d >= 0.0).map(|d| d.min(longest)),
    };
    let duration_ms = duration.map(|d| (d * 1000.0).round() as i64);

    let meeting = state.store.meeting(row.meeting_id).await?.ok_or_else(not_found)?;
    let settings = meeting.settings(&state.config);
    let rec_id = format!("rec_{}", uuid::Uuid::now_v7().simple());
    let key = format!("{rec_id}.webm");
    let stored = state.recordings.storage.put_file(&key, &path).await?;
    let days = i64::from(state.config.recording_retention_days);
    let recording = RecordingRow {
        id: rec_id,
        meeting_id: row.meeting_id,
        host_id: meeting.host_id.clone(),
        started_by: Some(row.user_id.clone()),
        kind: "client".into(),
        status: "ready".into(),
        failure: None,
        access: settings.recording_access.as_str().into(),
        started_at: row.started_at,
        stopped_at: Some(duration_ms.map_or(now, |d| (row.started_at + d).min(now))),
        duration_ms,
        size_bytes: Some(to_i64(stored)),
        media_key: Some(key.clone()),
        content_type: row.content_type.clone(),
        ready_at: Some(now),
        expires_at: (days > 0).then(|| now + days * 86_400_000),
        created_at: now,
        updated_at: now,
    };
    match state.store.finish_upload(&row.id, &recording).await {
        Ok(true) => {}
        Ok(false) => {
            let _ = state.recordings.storage.delete(&key).await;
            return Err(not_found());
        }
        Err(e) => {
            let _ = state.recordings.storage.delete(&key).await;
            return Err(e);
        }
    }
    if let Err(e) = tokio::fs::remove_file(&path).await {
        tracing::warn!(upload_id = %id, error = %e, "uploaded part left behind");
    }
    metrics::counter!("recordings_uploaded_total").increment(1);
    tracing::info!(recording_id = %recording.id, meeting_id = recording.meeting_id, size = stored, "local recording ready");
    let (s, r) = (state.clone(), recording.clone());
    tokio::spawn(async move { super::announce(&s, &r).await });
    Ok(recording)
}

/// Aborts an upload: its row and bytes go.
pub(crate) async fn abort(state: &Services, id: &str, user_id: &str) -> Result<()> {
    let _claim = state.recordings.uploads.claim(id)?;
    let row = find(state, id, user_id).await?;
    discard(state, &row).await;
    tracing::info!(upload_id = %id, "local recording upload aborted");
    Ok(())
}

async fn discard(state: &Services, row: &UploadRow) {
    if let Err(e) = state.store.delete_upload(&row.id).await {
        tracing::warn!(upload_id = %row.id, error = %e, "could not delete an upload");
    }
    match tokio::fs::remove_file(state.recordings.uploads.part_path(&row.id)).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(upload_id = %row.id, error = %e, "could not delete an upload's bytes");
        }
        _ => {}
    }
}

/// Deletes uploads past their expiry, and `.part` files no upload owns (left by a meeting
/// that was deleted, or a crash between writing the file and the row) once they are as old
/// as an expired upload would be.
pub(crate) async fn clean_up(state: &Services) -> Result<usize> {
    let now = state.clock.now_ms();
    let expired = state.store.expired_uploads(now).await?;
    for row in &expired {
        if state.recordings.uploads.claim(&row.id).is_ok() {
            discard(state, row).await;
            tracing::info!(upload_id = %row.id, "abandoned local recording upload deleted");
        }
    }
    let mut orphans = 0;
    let ttl = Duration::from_secs(state.config.recording_upload_ttl_secs);
    let Ok(mut dir) = tokio::fs::read_dir(&state.recordings.uploads.dir).await else { return Ok(expired.len()) };
    while let Some(entry) = dir.next_entry().await? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".part") else { continue };
        let old = entry.metadata().await?.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age > ttl);
        if old && !state.store.upload_exists(id).await? {
            let _ = tokio::fs::remove_file(entry.path()).await;
            orphans += 1;
        }
    }
    Ok(expired.len() + orphans)
}

/// What ffprobe made of a file.
#[derive(Debug, PartialEq)]
enum Probe {
    Seconds(f64),
    /// ffprobe ran and could not read it as media.
    Unreadable(String),
    /// No ffprobe here (or it did not answer in time).
    Unavailable,
}

/// The file's duration. Browsers' MediaRecorder writes WebM without a duration in the
/// header, so when the container does not say, the last packet's timestamp does.
async fn probe_duration(ffprobe: &str, path: &Path) -> Probe {
    let run = |args: &'static [&'static str]| {
        let mut cmd = tokio::process::Command::new(ffprobe);
        cmd.args(args).arg(path).kill_on_drop(true);
        async move { tokio::time::timeout(PROBE_TIMEOUT, cmd.output()).await }
    };
    let format = match run(&["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(error = %e, "cannot run ffprobe");
            }
            return Probe::Unavailable;
        }
        Err(_) => return Probe::Unavailable,
    };
    if !format.status.success() {
        return Probe::Unreadable(String::from_utf8_lossy(&format.stderr).trim().to_owned());
    }
    if let Some(s) = parse_seconds(&String::from_utf8_lossy(&format.stdout)) {
        return Probe::Seconds(s);
    }
    match run(&["-v", "error", "-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0"]).await {
        Ok(Ok(out)) if out.status.success() => last_packet_end(&String::from_utf8_lossy(&out.stdout))
            .map_or_else(|| Probe::Unreadable("no packets".into()), Probe::Seconds),
        Ok(Ok(out)) => Probe::Unreadable(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        _ => Probe::Unavailable,
    }
}

/// A duration line from ffprobe (`N/A` when the container does not say).
fn parse_seconds(text: &str) -> Option<f64> {
    text.lines().next()?.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0)
}

/// The end of the latest packet in ffprobe's `pts_time,duration_time` lines.
fn last_packet_end(text: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split(',');
            let pts: f64 = parts.next()?.trim().parse().ok()?;
            let dur: f64 = parts.next().and_then(|d| d.trim().parse().ok()).unwrap_or(0.0);
            Some(pts + dur)
        })
        .filter(|s| s.is_finite())
        .reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(accepted_type("video/webm"), Some("video/webm"));
        assert_eq!(accepted_type("Video/WebM; codecs=\"vp8,opus\""), Some("video/webm"));
        assert_eq!(accepted_type("video/x-matroska"), Some("video/x-matroska"));
        assert_eq!(accepted_type("video/mp4"), None);
        assert_eq!(accepted_type(""), None);
    }

    #[test]
    fn durations_from_ffprobe() {
        assert_eq!(parse_seconds("3.021000\n"), Some(3.021));
        assert_eq!(parse_seconds("N/A\n"), None);
        assert_eq!(parse_seconds(""), None);
        assert_eq!(last_packet_end("0.000000,0.020000\n2.980000,0.020000\n1.000000,N/A\n"), Some(3.0));
        assert_eq!(last_packet_end("N/A,N/A\n"), None);
    }

    #[tokio::test]
    async fn a_missing_ffprobe_is_unavailable_not_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.webm");
        std::fs::write(&f, EBML_MAGIC).unwrap();
        assert_eq!(probe_duration("/nonexistent/ffprobe", &f).await, Probe::Unavailable);
    }
}
