//! Live access of accounts: the moment before which an account's join tickets and meeting
//! seats no longer count (`users.sessions_valid_after`, Unix ms). See `live::revocation`.

use sqlx::Row as _;

use super::Store;
use crate::error::Result;

/// What the live-access rule needs to know of an account.
#[derive(Debug, Clone, Copy)]
pub struct AccountStanding {
    pub disabled: bool,
    /// Tickets issued and seats taken before this (Unix ms) are void.
    pub valid_after: i64,
}

impl Store {
    /// The account's standing; `None` when it does not exist (any more).
    pub async fn account_standing(&self, user_id: &str) -> Result<Option<AccountStanding>> {
        let row = sqlx::query("SELECT disabled, sessions_valid_after FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            let disabled: i64 = r.try_get("disabled")?;
            Ok(AccountStanding { disabled: disabled != 0, valid_after: r.try_get("sessions_valid_after")? })
        })
        .transpose()
    }

    /// Voids everything the account holds from before `now` (never moves backwards).
    pub async fn void_live_access(&self, user_id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE users SET sessions_valid_after = $1 WHERE id = $2 AND sessions_valid_after < $1")
            .bind(now)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
