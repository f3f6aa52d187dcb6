//! E-mail verification: one-time links bound to the address they were sent to, and the
//! account changes that follow from proving (or changing) an address.

use sqlx::Row as _;

use super::{is_unique_violation, Store};
use crate::error::{Error, Result};

impl Store {
    pub async fn add_email_verification(
        &self,
        hash: &str,
        user_id: &str,
        email: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO email_verifications (token_hash, user_id, email, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash)
        .bind(user_id)
        .bind(email)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Consumes a verification link. If it was valid and unused, the address it was sent to
    /// becomes the account's verified address: the current one proven, or a new one (a change
    /// of address takes effect only once the new address is proven). Invitations follow.
    pub async fn consume_email_verification(&self, hash: &str, now: i64) -> Result<Verification> {
        let consumed = sqlx::query(
            "UPDATE email_verifications SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(hash)
        .execute(self.pool())
        .await?
        .rows_affected();
        if consumed == 0 {
            return Ok(Verification::Invalid);
        }
        let row = sqlx::query("SELECT user_id, email FROM email_verifications WHERE token_hash = $1")
            .bind(hash)
            .fetch_one(self.pool())
            .await?;
        let (user_id, email): (String, String) = (row.try_get("user_id")?, row.try_get("email")?);
        let Some(user) = self.user_by_id(&user_id).await? else { return Ok(Verification::Invalid) };
        if user.email == email {
            self.mark_email_verified(&user_id, &email, now).await?;
            return Ok(Verification::Verified(user_id));
        }
        if !self.switch_email(&user_id, &user.email, &email, now).await? {
            return Ok(Verification::Taken);
        }
        self.link_invitations(&email, &user_id).await?;
        Ok(Verification::Verified(user_id))
    }

    /// Marks `email` as proven for the account if it is still the account's address, and
    /// links the invitations sent to that address. False if the address changed meanwhile.
    pub async fn mark_email_verified(&self, user_id: &str, email: &str, now: i64) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1), updated_at = $1 \
             WHERE id = $2 AND email = $3",
        )
        .bind(now)
        .bind(user_id)
        .bind(email)
        .execute(self.pool())
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        self.link_invitations(email, user_id).await?;
        Ok(true)
    }

    /// Gives the account its new, just proven address. Invitations linked to the account
    /// through its old address go back to being addressed to that address alone: they belong
    /// to whoever has it. `Ok(false)` if another account has the new address.
    async fn switch_email(&self, user_id: &str, old: &str, new: &str, now: i64) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let result = sqlx::query("UPDATE users SET email = $1, email_verified_at = $2, updated_at = $2 WHERE id = $3")
            .bind(new)
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await;
        match result {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(Error::from(e)),
        }
        sqlx::query("UPDATE meeting_invitees SET user_id = NULL WHERE user_id = $1 AND email = $2")
            .bind(user_id)
            .bind(old)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// What opening a verification link did.
#[derive(Debug)]
pub enum Verification {
    /// The account (by id) now has the link's address, verified.
    Verified(String),
    /// Unknown, used or expired.
    Invalid,
    /// The link was for a new address that another account took meanwhile.
    Taken,
}
