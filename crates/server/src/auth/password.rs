//! Password policy and argon2id hashing (run on the blocking pool: hashing is deliberately slow).

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{Error, Result};

pub const MIN_LEN: usize = 8;
/// Long enough for any passphrase, short enough that hashing cannot be used to burn CPU.
pub const MAX_LEN: usize = 256;

/// Refuses passwords that are too short, too long or the same as the account names.
pub fn check_policy(password: &str, username: &str, email: &str) -> Result<()> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(Error::invalid("weak_password", format!("password must be at least {MIN_LEN} characters")));
    }
    if password.len() > MAX_LEN {
        return Err(Error::invalid("password_too_long", format!("password must be at most {MAX_LEN} bytes")));
    }
    let lower = password.to_lowercase();
    if lower == username.to_lowercase() || lower == email.to_lowercase() {
        return Err(Error::invalid("weak_password", "password must differ from your username and e-mail"));
    }
    Ok(())
}

/// Hashes with argon2id and a random salt (PHC string).
pub async fn hash(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })
    .await
    .map_err(|e| anyhow::anyhow!("hash task: {e}"))?
    .map_err(Error::from)
}

/// Checks a password against a stored PHC hash; a malformed hash counts as a mismatch.
pub async fn verify(password: &str, stored: &str) -> Result<bool> {
    if password.len() > MAX_LEN {
        return Ok(false);
    }
    let password = password.to_owned();
    let stored = stored.to_owned();
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .map_err(|e| anyhow::anyhow!("verify task: {e}"))?;
    Ok(ok)
}

/// A hash of a random password, verified against when the account does not exist so that a
/// failed login takes as long whether or not the account is real.
pub static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(super::random_secret().as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery", &h).await.unwrap());
        assert!(!verify("wrong horse battery", &h).await.unwrap());
        assert!(!verify("anything", "not-a-hash").await.unwrap());
    }

    #[test]
    fn policy_refuses_short_long_and_name_passwords() {
        assert!(check_policy("short", "alice", "a@x.io").is_err());
        assert!(check_policy(&"x".repeat(300), "alice", "a@x.io").is_err());
        assert!(check_policy("alice123", "Alice123", "a@x.io").is_err());
        assert!(check_policy("a long passphrase", "alice", "a@x.io").is_ok());
    }
}
