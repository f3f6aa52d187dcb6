//! What makes a valid account: its username, e-mail address and display name, and creating
//! one (for registration and the admin command alike).

use crate::error::{Error, Result};
use crate::meeting::MeetingId;
use crate::store::{NewUser, Store, UserRow};

/// A username: 3-32 of letters, digits, `_`, `.`, `-`, starting with a letter or digit;
/// compared without case.
pub fn normalize_username(raw: &str) -> Result<String> {
    let u = raw.trim().to_lowercase();
    let ok_chars = u.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    let ok_start = u.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !(3..=32).contains(&u.len()) || !ok_chars || !ok_start {
        return Err(Error::invalid(
            "invalid_username",
            "username must be 3-32 characters: letters, digits, '_', '.', '-', starting with a letter or digit",
        ));
    }
    Ok(u)
}

/// An e-mail address, lower-cased.
pub fn normalize_email(raw: &str) -> Result<String> {
    let e = raw.trim().to_lowercase();
    if e.len() > 254 || e.parse::<lettre::Address>().is_err() || !e.contains('.') {
        return Err(Error::invalid("invalid_email", format!("{:?} is not a valid e-mail address", raw.trim())));
    }
    Ok(e)
}

/// A display name of 1-64 printable characters, trimmed.
pub fn normalize_display_name(raw: &str) -> Result<String> {
    let d = raw.trim();
    if d.is_empty() || d.chars().count() > 64 || d.chars().any(char::is_control) {
        return Err(Error::invalid("invalid_display_name", "display name must be 1-64 printable characters"));
    }
    Ok(d.to_owned())
}

/// What a new account is made of (fields already normalised, password already hashed).
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub display_name: &'a str,
    /// `Some("admin")` for an administrator; the first account becomes one anyway.
    pub role: Option<&'a str>,
    /// Created by an administrator, who vouches for the address.
    pub email_verified: bool,
    pub now_ms: i64,
}

/// Inserts an account, drawing a fresh personal meeting ID if the random one collides.
pub async fn create(store: &Store, new: NewAccount<'_>) -> Result<UserRow> {
    let id = uuid::Uuid::new_v4().to_string();
    let mut attempts = 0;
    loop {
        let result = store
            .create_user(NewUser {
                id: &id,
                username: new.username,
                email: new.email,
                password_hash: new.password_hash,
                display_name: new.display_name,
                personal_meeting_id: MeetingId::new_personal().get(),
                role: new.role,
                email_verified: new.email_verified,
                now: new.now_ms,
            })
            .await;
        match result {
            Err(Error::Client { code: "retry", .. }) if attempts < 5 => attempts += 1,
            other => return other,
        }
    }
}
