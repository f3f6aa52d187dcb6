//! Accounts: the `users` table.

use sqlx::Row as _;

use super::{is_unique_violation, Row, Store};
use crate::error::{Error, Result};

/// One account as stored.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub role: String,
    pub disabled: bool,
    pub default_background: String,
    pub personal_meeting_id: i64,
    pub avatar_etag: Option<String>,
    /// Meetings this account schedules are end-to-end encrypted unless it says otherwise.
    pub e2ee_default: bool,
    /// When the owner proved the address by opening the link mailed to it; `None` until then.
    pub email_verified_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRow {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }

    /// Whether the account's address is proven: only then do invitations to it count.
    pub fn email_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }
}

const USER_COLUMNS: &str = "id, username, email, password_hash, display_name, role, disabled, \
     default_background, personal_meeting_id, avatar_etag, e2ee_default, email_verified_at, created_at, updated_at";

fn user_from(row: &Row) -> Result<UserRow> {
    Ok(UserRow {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        display_name: row.try_get("display_name")?,
        role: row.try_get("role")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        default_background: row.try_get("default_background")?,
        personal_meeting_id: row.try_get("personal_meeting_id")?,
        avatar_etag: row.try_get("avatar_etag")?,
        e2ee_default: row.try_get::<i64, _>("e2ee_default")? != 0,
        email_verified_at: row.try_get("email_verified_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// What registration stores.
pub struct NewUser<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub display_name: &'a str,
    pub personal_meeting_id: i64,
    /// Force this role; `None` makes the very first account admin and the rest users.
    pub role: Option<&'a str>,
    /// The address is vouched for (an administrator created the account); the first
    /// account of a server is verified too.
    pub email_verified: bool,
    pub now: i64,
}

impl Store {
    /// Inserts an account. The first account ever becomes admin: whoever claims the
    /// `first_admin` marker row wins, which is atomic on both backends.
    pub async fn create_user(&self, new: NewUser<'_>) -> Result<UserRow> {
        // An account that already exists (e.g. an administrator created with `convene admin
        // create`, which forces its role) means this one is not the first.
        let claimed = if self.count_users().await? > 0 {
            false
        } else {
            sqlx::query(
                "INSERT INTO server_secrets (name, value) VALUES ('first_admin', $1) ON CONFLICT (name) DO NOTHING",
            )
            .bind(new.id)
            .execute(self.pool())
            .await?
            .rows_affected()
                == 1
        };
        let role = match new.role {
            Some(role) => role.to_owned(),
            None => if claimed { "admin" } else { "user" }.to_owned(),
        };
        // Whoever sets up the server proves nothing by clicking a link mailed to themselves
        // (mail may not even be configured yet): the first account and forced admins are
        // verified.
        let verified_at = (new.email_verified || claimed || role == "admin").then_some(new.now);
        let result = sqlx::query(
            "INSERT INTO users (id, username, email, password_hash, display_name, role, disabled, \
             default_background, personal_meeting_id, created_at, updated_at, email_verified_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, 'none', $7, $8, $8, $9)",
        )
        .bind(new.id)
        .bind(new.username)
        .bind(new.email)
        .bind(new.password_hash)
        .bind(new.display_name)
        .bind(&role)
        .bind(new.personal_meeting_id)
        .bind(new.now)
        .bind(verified_at)
        .execute(self.pool())
        .await;
        match result {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                if claimed {
                    // Give the admin claim back so the next successful registration gets it.
                    sqlx::query("DELETE FROM server_secrets WHERE name = 'first_admin' AND value = $1")
                        .bind(new.id)
                        .execute(self.pool())
                        .await?;
                }
                return Err(self.which_duplicate(new.username, new.email, new.personal_meeting_id).await?);
            }
            Err(e) => return Err(e.into()),
        }
        self.user_by_id(new.id).await?.ok_or_else(|| anyhow::anyhow!("user vanished after insert").into())
    }

    async fn which_duplicate(&self, username: &str, email: &str, pmi: i64) -> Result<Error> {
        if self.user_by_username(username).await?.is_some() {
            return Ok(Error::conflict("username_taken", "that username is already taken"));
        }
        if self.user_by_email(email).await?.is_some() {
            return Ok(Error::conflict("email_taken", "an account with that e-mail already exists"));
        }
        Ok(Error::conflict("retry", format!("identifier collision ({pmi}); please retry")))
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>> {
        self.user_where("id = $1", id).await
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRow>> {
        self.user_where("username = $1", &username.to_lowercase()).await
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        self.user_where("email = $1", &email.to_lowercase()).await
    }

    async fn user_where(&self, condition: &str, value: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {condition}");
        let row = sqlx::query(&sql).bind(value).fetch_optional(self.pool()).await?;
        row.as_ref().map(user_from).transpose()
    }

    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(self.pool()).await?)
    }

    /// A page of accounts, optionally filtered by a substring of username / e-mail / name.
    pub async fn list_users(&self, query: Option<&str>, limit: i64, offset: i64) -> Result<(Vec<UserRow>, i64)> {
        // The search text is matched literally: escape LIKE's wildcards and its escape character.
        let literal = query.unwrap_or("").to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let pattern = format!("%{literal}%");
        let filter = "WHERE username LIKE $1 ESCAPE '\\' OR email LIKE $1 ESCAPE '\\' \
             OR LOWER(display_name) LIKE $1 ESCAPE '\\'";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM users {filter}"))
            .bind(&pattern)
            .fetch_one(self.pool())
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users {filter} ORDER BY created_at, id LIMIT $2 OFFSET $3"
        ))
        .bind(&pattern)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        Ok((rows.iter().map(user_from).collect::<Result<_>>()?, total))
    }

    pub async fn update_profile(&self, id: &str, display_name: &str, background: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE users SET display_name = $1, default_background = $2, updated_at = $3 WHERE id = $4")
            .bind(display_name)
            .bind(background)
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Whether meetings this account schedules are end-to-end encrypted by default.
    pub async fn set_e2ee_default(&self, id: &str, on: bool, now: i64) -> Result<()> {
        sqlx::query("UPDATE users SET e2ee_default = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(on))
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_password_hash(&self, id: &str, hash: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_role(&self, id: &str, role: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
            .bind(role)
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_disabled(&self, id: &str, disabled: bool, now: i64) -> Result<()> {
        sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
            .bind(disabled as i64)
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_avatar(&self, id: &str, png: Option<(&[u8], &str)>, now: i64) -> Result<()> {
        let (bytes, etag) = match png {
            Some((bytes, etag)) => (Some(bytes.to_vec()), Some(etag.to_owned())),
            None => (None, None),
        };
        sqlx::query("UPDATE users SET avatar = $1, avatar_etag = $2, updated_at = $3 WHERE id = $4")
            .bind(bytes)
            .bind(etag)
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The stored avatar image and its ETag.
    pub async fn avatar(&self, id: &str) -> Result<Option<(Vec<u8>, String)>> {
        let row = sqlx::query("SELECT avatar, avatar_etag FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let bytes: Option<Vec<u8>> = row.try_get("avatar")?;
        let etag: Option<String> = row.try_get("avatar_etag")?;
        Ok(bytes.zip(etag))
    }

    /// Erases an account: sessions, tokens, invitations and attendance go with it; meetings it
    /// hosts are cancelled (invitees keep seeing that they were cancelled) and its personal
    /// room is deleted. One transaction, so it happens whole or not at all.
    pub async fn delete_user(&self, user: &UserRow, now: i64) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE meetings SET status = 'cancelled', sequence = sequence + 1, updated_at = $1 \
             WHERE host_id = $2 AND status IN ('scheduled', 'live') AND kind <> 'personal'",
        )
        .bind(now)
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM meetings WHERE host_id = $1 AND kind = 'personal'")
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM meeting_invitees WHERE user_id = $1 OR email = $2")
            .bind(&user.id)
            .bind(&user.email)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM meeting_cohosts WHERE user_id = $1").bind(&user.id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM attendance WHERE user_id = $1").bind(&user.id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM users WHERE id = $1").bind(&user.id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    pub async fn count_admins(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
            .fetch_one(self.pool())
            .await?)
    }
}
