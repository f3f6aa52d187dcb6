//! Persistence: one `Store` over SQLite (embedded default) or PostgreSQL (cluster).
//!
//! Both backends go through sqlx's `Any` driver with the same SQL (`$n` placeholders work in
//! both); only the migrations differ per dialect. Columns stick to the types both share:
//! BIGINT/INTEGER (timestamps in Unix ms, booleans 0/1), TEXT and BLOB/BYTEA.

mod access;
mod backgrounds;
pub mod backlog;
mod breakouts;
mod chat;
mod jobs;
mod meetings;
mod polls;
mod push;
mod recordings;
mod seats;
mod sessions;
mod transcripts;
mod users;
mod verification;
pub mod webhooks;

pub use access::AccountStanding;
pub use backlog::{Backlog, Pending};
pub use breakouts::BreakoutStay;
pub use chat::{ChatRow, FileRow, Viewer};
pub use jobs::{job_queued, wake_job_runner, JobRow};
pub use meetings::{AttendanceRow, InviteeRow, MeetingRow, NewMeeting};
pub use polls::{BallotRow, PollRow, VoteChange};
pub use push::{NewSubscription, Subscription, MAX_SUBSCRIPTIONS_PER_USER};
pub use recordings::{RecordingRow, UploadRow};
pub use seats::SeatRow;
pub use sessions::{RefreshOutcome, SessionRow};
pub use transcripts::TranscriptLine;
pub use users::{NewUser, UserRow};
pub use verification::Verification;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::error::Result;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(anyhow::anyhow!("unsupported database URL scheme (use sqlite: or postgres:)").into());
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        options = match backend {
            Backend::Sqlite => options.max_connections(8).after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                        .await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options.max_connections(16),
        };
        let pool = options.connect(url).await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Cheap round trip for readiness probes.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Returns the named secret, creating it with `generate` the first time. Safe when several
    /// nodes start at once: the first insert wins and everyone reads that value.
    pub async fn secret(&self, name: &str, generate: impl FnOnce() -> String) -> Result<String> {
        sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(generate())
            .execute(&self.pool)
            .await?;
        let value: String = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(value)
    }

    /// A server secret, if it was made.
    pub async fn find_secret(&self, name: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether a failed statement broke a UNIQUE / PRIMARY KEY constraint.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
                || db.code().as_deref() == Some("23505")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// Row type every query decodes from.
pub(crate) type Row = AnyRow;
