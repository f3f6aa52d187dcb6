//! The persistent job queue: due jobs are claimed with a lease, so a crashed worker's job is
//! picked up again and two workers (or nodes) never run the same attempt.

use std::sync::LazyLock;

use sqlx::Row as _;
use tokio::sync::Notify;

use super::Store;
use crate::error::Result;

/// The queue's bell: one per process, like the runner it wakes.
static BELL: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Lets the job runner start on newly queued work at once instead of at its next poll.
pub fn wake_job_runner() {
    BELL.notify_waiters();
}

/// Resolves at the next [`wake_job_runner`]; the runner waits on it between polls.
pub fn job_queued() -> tokio::sync::futures::Notified<'static> {
    BELL.notified()
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
}

const DUE: &str = "((status = 'pending' AND run_at <= $2) OR (status = 'running' AND locked_until < $2))";

impl Store {
    /// Adds a job; with a `dedupe_key` that already exists nothing is added (returns false).
    pub async fn enqueue_job(
        &self,
        kind: &str,
        payload: &str,
        run_at: i64,
        dedupe_key: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let added = sqlx::query(
            "INSERT INTO jobs (id, kind, dedupe_key, payload, run_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(kind)
        .bind(dedupe_key)
        .bind(payload)
        .bind(run_at)
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(added == 1)
    }

    /// Claims the most overdue job for `lease_ms`, counting the attempt.
    pub async fn claim_job(&self, now: i64, lease_ms: i64) -> Result<Option<JobRow>> {
        let sql = format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $1, updated_at = $2 \
             WHERE id = (SELECT id FROM jobs WHERE {DUE} ORDER BY run_at LIMIT 1) AND {DUE} \
             RETURNING id, kind, payload, attempts, max_attempts"
        );
        let row = sqlx::query(&sql).bind(now + lease_ms).bind(now).fetch_optional(self.pool()).await?;
        row.map(|r| {
            Ok(JobRow {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
                max_attempts: r.try_get("max_attempts")?,
            })
        })
        .transpose()
    }

    pub async fn complete_job(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET status = 'done', locked_until = NULL, last_error = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or given up when `None`.
    pub async fn fail_job(&self, id: &str, error: &str, retry_at: Option<i64>, now: i64) -> Result<()> {
        let error: String = error.chars().take(1000).collect();
        let (status, run_at) = match retry_at {
            Some(at) => ("pending", at),
            None => ("failed", now),
        };
        sqlx::query(
            "UPDATE jobs SET status = $1, run_at = $2, locked_until = NULL, last_error = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(status)
        .bind(run_at)
        .bind(&error)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Counts jobs by status (for tests and metrics).
    pub async fn job_counts(&self, kind: &str) -> Result<Vec<(String, i64)>> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM jobs WHERE kind = $1 GROUP BY status ORDER BY status")
                .bind(kind)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(|r| Ok((r.try_get("status")?, r.try_get("n")?))).collect()
    }

    pub async fn reminder_minutes(&self, user_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT reminder_minutes FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?
            .unwrap_or(10))
    }

    pub async fn set_reminder_minutes(&self, user_id: &str, minutes: i64) -> Result<()> {
        sqlx::query("UPDATE users SET reminder_minutes = $1 WHERE id = $2")
            .bind(minutes)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Replaces the user's calendar feed token (one per user).
    pub async fn set_calendar_feed(&self, user_id: &str, token_hash: Option<&str>, now: i64) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM calendar_feeds WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
        if let Some(hash) = token_hash {
            sqlx::query("INSERT INTO calendar_feeds (token_hash, user_id, created_at) VALUES ($1, $2, $3)")
                .bind(hash)
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whose feed a token opens, and since when it exists.
    pub async fn calendar_feed_owner(&self, token_hash: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT user_id FROM calendar_feeds WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn calendar_feed_created(&self, user_id: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT created_at FROM calendar_feeds WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Every meeting that may still need reminders: scheduled, not personal.
    pub async fn meetings_needing_reminders(&self) -> Result<Vec<super::MeetingRow>> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM meetings WHERE status = 'scheduled' AND kind = 'scheduled'")
                .fetch_all(self.pool())
                .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(m) = self.meeting(id).await? {
                out.push(m);
            }
        }
        Ok(out)
    }
}
