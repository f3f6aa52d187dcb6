//! Recordings: one row per server-side or uploaded recording, with its status; and the
//! uploads of client-side recordings still under way.

use sqlx::Row as _;

use super::{Row, Store};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRow {
    pub id: String,
    pub meeting_id: i64,
    pub host_id: String,
    pub started_by: Option<String>,
    /// `server` or `client`.
    pub kind: String,
    /// `recording`, `uploading`, `processing`, `ready` or `failed`.
    pub status: String,
    pub failure: Option<String>,
    /// `host`, `participants` or `organisation`.
    pub access: String,
    pub started_at: i64,
    pub stopped_at: Option<i64>,
    pub duration_ms: Option<i64>,
    pub size_bytes: Option<i64>,
    pub media_key: Option<String>,
    pub content_type: String,
    pub ready_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn recording_from(r: &Row) -> Result<RecordingRow> {
    Ok(RecordingRow {
        id: r.try_get("id")?,
        meeting_id: r.try_get("meeting_id")?,
        host_id: r.try_get("host_id")?,
        started_by: r.try_get("started_by")?,
        kind: r.try_get("kind")?,
        status: r.try_get("status")?,
        failure: r.try_get("failure")?,
        access: r.try_get("access")?,
        started_at: r.try_get("started_at")?,
        stopped_at: r.try_get("stopped_at")?,
        duration_ms: r.try_get("duration_ms")?,
        size_bytes: r.try_get("size_bytes")?,
        media_key: r.try_get("media_key")?,
        content_type: r.try_get("content_type")?,
        ready_at: r.try_get("ready_at")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

async fn insert_recording_on(conn: &mut sqlx::AnyConnection, r: &RecordingRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO recordings (id, meeting_id, host_id, started_by, kind, status, failure, access, started_at, \
         stopped_at, duration_ms, size_bytes, media_key, content_type, ready_at, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&r.id)
    .bind(r.meeting_id)
    .bind(&r.host_id)
    .bind(&r.started_by)
    .bind(&r.kind)
    .bind(&r.status)
    .bind(&r.failure)
    .bind(&r.access)
    .bind(r.started_at)
    .bind(r.stopped_at)
    .bind(r.duration_ms)
    .bind(r.size_bytes)
    .bind(&r.media_key)
    .bind(&r.content_type)
    .bind(r.ready_at)
    .bind(r.expires_at)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    pub async fn insert_recording(&self, r: &RecordingRow) -> Result<()> {
        let mut conn = self.pool().acquire().await?;
        insert_recording_on(&mut conn, r).await
    }

    pub async fn recording(&self, id: &str) -> Result<Option<RecordingRow>> {
        let row = sqlx::query("SELECT * FROM recordings WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(recording_from).transpose()
    }

    /// Recordings a signed-in user may see candidates of: of meetings they host or attended,
    /// plus every organisation-wide one. The caller applies the exact access rule.
    pub async fn recordings_for_user(&self, user_id: &str) -> Result<Vec<RecordingRow>> {
        let rows = sqlx::query(
            "SELECT * FROM recordings WHERE host_id = $1 OR started_by = $1 OR access = 'organisation' \
             OR meeting_id IN (SELECT meeting_id FROM attendance WHERE user_id = $1) \
             ORDER BY started_at DESC, id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(recording_from).collect()
    }

    /// Marks a recording stopped and waiting for composition.
    pub async fn recording_stopped(
        &self,
        id: &str,
        status: &str,
        failure: Option<&str>,
        duration_ms: i64,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE recordings SET status = $1, failure = $2, duration_ms = $3, stopped_at = $4, updated_at = $4 WHERE id = $5",
        )
        .bind(status)
        .bind(failure)
        .bind(duration_ms)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn recording_ready(
        &self,
        id: &str,
        key: &str,
        size: i64,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE recordings SET status = 'ready', failure = NULL, media_key = $1, size_bytes = $2, ready_at = $3, \
             expires_at = $4, updated_at = $3 WHERE id = $5",
        )
        .bind(key)
        .bind(size)
        .bind(now)
        .bind(expires_at)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Sets the status (`processing` while retrying, `failed` at the end) and the reason.
    pub async fn recording_status(&self, id: &str, status: &str, failure: Option<&str>, now: i64) -> Result<()> {
        sqlx::query("UPDATE recordings SET status = $1, failure = $2, updated_at = $3 WHERE id = $4")
            .bind(status)
            .bind(failure)
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_recording_access(&self, id: &str, access: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE recordings SET access = $1, updated_at = $2 WHERE id = $3")
            .bind(access)
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_recording(&self, id: &str) -> Result<bool> {
        let n =
            sqlx::query("DELETE FROM recordings WHERE id = $1").bind(id).execute(self.pool()).await?.rows_affected();
        Ok(n == 1)
    }

    /// Recordings whose retention ran out.
    pub async fn expired_recordings(&self, now: i64) -> Result<Vec<RecordingRow>> {
        let rows = sqlx::query("SELECT * FROM recordings WHERE expires_at IS NOT NULL AND expires_at <= $1")
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(recording_from).collect()
    }

    /// Recordings left `recording` by a server that stopped (they get composed from what
    /// reached the disk).
    pub async fn recordings_in_progress(&self) -> Result<Vec<RecordingRow>> {
        let rows = sqlx::query("SELECT * FROM recordings WHERE status = 'recording'").fetch_all(self.pool()).await?;
        rows.iter().map(recording_from).collect()
    }
}

/// A client-side recording being uploaded (resumable): how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub id: String,
    pub meeting_id: i64,
    pub user_id: String,
    pub content_type: String,
    /// Declared total size, once known.
    pub size_bytes: Option<i64>,
    /// Bytes received: where the next chunk starts.
    pub received: i64,
    pub started_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
}

fn upload_from(r: &Row) -> Result<UploadRow> {
    Ok(UploadRow {
        id: r.try_get("id")?,
        meeting_id: r.try_get("meeting_id")?,
        user_id: r.try_get("user_id")?,
        content_type: r.try_get("content_type")?,
        size_bytes: r.try_get("size_bytes")?,
        received: r.try_get("received")?,
        started_at: r.try_get("started_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

impl Store {
    pub async fn insert_upload(&self, u: &UploadRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO recording_uploads (id, meeting_id, user_id, content_type, size_bytes, received, started_at, \
             created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&u.id)
        .bind(u.meeting_id)
        .bind(&u.user_id)
        .bind(&u.content_type)
        .bind(u.size_bytes)
        .bind(u.received)
        .bind(u.started_at)
        .bind(u.created_at)
        .bind(u.updated_at)
        .bind(u.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn upload(&self, id: &str) -> Result<Option<UploadRow>> {
        let row =
            sqlx::query("SELECT * FROM recording_uploads WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(upload_from).transpose()
    }

    /// Records progress: `received` moves from `from` to `to` (only if it still is `from`, so
    /// a racing writer cannot move it twice), the declared size is set, expiry pushed back.
    pub async fn upload_progress(
        &self,
        id: &str,
        from: i64,
        to: i64,
        size: Option<i64>,
        now: i64,
        expires_at: i64,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE recording_uploads SET received = $1, size_bytes = $2, updated_at = $3, expires_at = $4 \
             WHERE id = $5 AND received = $6",
        )
        .bind(to)
        .bind(size)
        .bind(now)
        .bind(expires_at)
        .bind(id)
        .bind(from)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn delete_upload(&self, id: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM recording_uploads WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// The upload turns into `recording` in one step: either both happen or neither.
    pub async fn finish_upload(&self, upload_id: &str, recording: &RecordingRow) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("DELETE FROM recording_uploads WHERE id = $1")
            .bind(upload_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n != 1 {
            return Ok(false); // aborted or expired meanwhile
        }
        insert_recording_on(&mut tx, recording).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Uploads abandoned past their expiry.
    pub async fn expired_uploads(&self, now: i64) -> Result<Vec<UploadRow>> {
        let rows = sqlx::query("SELECT * FROM recording_uploads WHERE expires_at <= $1")
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(upload_from).collect()
    }

    /// Unfinished uploads of one account.
    pub async fn open_uploads(&self, user_id: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM recording_uploads WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Whether an upload with this id exists (for cleaning up files without one).
    pub async fn upload_exists(&self, id: &str) -> Result<bool> {
        Ok(sqlx::query("SELECT id FROM recording_uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .is_some())
    }
}
