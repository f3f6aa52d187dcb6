//! Login sessions and their rotating refresh tokens; password-reset tokens.
//!
//! A session is one refresh-token family. Each refresh consumes the presented token and issues
//! the next; presenting a consumed token again means it leaked, so the whole family is revoked.

use sqlx::Row as _;

use super::{Row, Store};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub revoked_at: Option<i64>,
    pub user_agent: String,
    pub ip: String,
}

fn session_from(row: &Row) -> Result<SessionRow> {
    Ok(SessionRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
        user_agent: row.try_get("user_agent")?,
        ip: row.try_get("ip")?,
    })
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// Valid: it is now consumed; issue the next one for this session.
    Rotated { session_id: String, user_id: String },
    /// Unknown or expired token, or a revoked session.
    Invalid,
    /// Already consumed once: the family has been revoked.
    Reused,
}

impl Store {
    pub async fn create_session(&self, id: &str, user_id: &str, user_agent: &str, ip: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, user_agent, ip) VALUES ($1, $2, $3, $3, $4, $5)",
        )
        .bind(id)
        .bind(user_id)
        .bind(now)
        .bind(user_agent)
        .bind(ip)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn session(&self, id: &str) -> Result<Option<SessionRow>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(session_from).transpose()
    }

    pub async fn sessions_of(&self, user_id: &str) -> Result<Vec<SessionRow>> {
        let rows = sqlx::query("SELECT * FROM sessions WHERE user_id = $1 ORDER BY created_at")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(session_from).collect()
    }

    pub async fn add_refresh_token(&self, hash: &str, session_id: &str, now: i64, expires_at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash)
        .bind(session_id)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Consumes a refresh token. The conditional UPDATE makes consumption atomic, so two
    /// concurrent uses of one token cannot both succeed.
    pub async fn consume_refresh_token(&self, hash: &str, now: i64) -> Result<RefreshOutcome> {
        let row = sqlx::query(
            "SELECT t.session_id, t.expires_at, t.used_at, s.user_id, s.revoked_at \
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(RefreshOutcome::Invalid) };
        let session_id: String = row.try_get("session_id")?;
        let user_id: String = row.try_get("user_id")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let used_at: Option<i64> = row.try_get("used_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        if revoked_at.is_some() {
            return Ok(RefreshOutcome::Invalid);
        }
        if used_at.is_some() {
            self.revoke_session(&session_id, now).await?;
            return Ok(RefreshOutcome::Reused);
        }
        if expires_at <= now {
            return Ok(RefreshOutcome::Invalid);
        }
        let consumed = sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
            .bind(now)
            .bind(hash)
            .execute(self.pool())
            .await?
            .rows_affected();
        if consumed == 0 {
            // Lost a race with another use of the same token: that is reuse too.
            self.revoke_session(&session_id, now).await?;
            return Ok(RefreshOutcome::Reused);
        }
        sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&session_id)
            .execute(self.pool())
            .await?;
        Ok(RefreshOutcome::Rotated { session_id, user_id })
    }

    pub async fn revoke_session(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Revokes every session of a user except `keep` (the caller's own, on password change).
    pub async fn revoke_sessions_of(&self, user_id: &str, keep: Option<&str>, now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3")
            .bind(now)
            .bind(user_id)
            .bind(keep.unwrap_or(""))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn add_password_reset(&self, hash: &str, user_id: &str, now: i64, expires_at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Consumes a reset token, returning whose it was if it was valid and unused.
    pub async fn consume_password_reset(&self, hash: &str, now: i64) -> Result<Option<String>> {
        let consumed = sqlx::query(
            "UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(hash)
        .execute(self.pool())
        .await?
        .rows_affected();
        if consumed == 0 {
            return Ok(None);
        }
        let user_id = sqlx::query_scalar("SELECT user_id FROM password_resets WHERE token_hash = $1")
            .bind(hash)
            .fetch_one(self.pool())
            .await?;
        Ok(Some(user_id))
    }
}
