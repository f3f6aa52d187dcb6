//! Short-lived TURN credentials in the TURN REST API convention (draft-uberti-behave-turn-rest,
//! what coturn's `use-auth-secret` checks): the username is `<expiry unix time>:<user>` and the
//! password is base64(HMAC-SHA1(shared secret, username)). Anyone holding the secret can mint
//! them, so Convene and an external coturn agree without talking to each other.

use std::net::SocketAddr;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// A username and password for a TURN server, valid until `expires_at` (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
    pub expires_at: i64,
}

/// Why a TURN username was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not `<expiry>:<user>` (or a bare `<expiry>`).
    Malformed,
    /// Its expiry time has passed.
    Expired,
}

/// Mints and checks credentials with one shared secret.
#[derive(Clone)]
pub struct Minter {
    secret: String,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Minter { secret: <hidden> }")
    }
}

impl Minter {
    pub fn new(secret: impl Into<String>) -> Minter {
        Minter { secret: secret.into() }
    }

    /// Credentials for `user`, valid for `ttl_secs` from `now` (unix seconds). Characters a TURN
    /// server could read as a separator (the `:` of `guest:<id>`) are replaced.
    pub fn mint(&self, user: &str, now: i64, ttl_secs: u64) -> Credential {
        let expires_at = now.saturating_add(i64::try_from(ttl_secs).unwrap_or(i64::MAX));
        let user: String = user
            .chars()
            .take(64)
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
            .collect();
        let username = format!("{expires_at}:{user}");
        Credential { password: self.password(&username), username, expires_at }
    }

    /// The password the secret gives `username`.
    pub fn password(&self, username: &str) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(self.secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(username.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    /// The password for `username` if it is well formed and not expired at `now`.
    pub fn check(&self, username: &str, now: i64) -> Result<String, Refusal> {
        let expiry = username.split(':').next().unwrap_or_default();
        let expiry: i64 = expiry.parse().map_err(|_| Refusal::Malformed)?;
        if expiry < now {
            return Err(Refusal::Expired);
        }
        Ok(self.password(username))
    }

    /// The long-term credential key (RFC 8489 §9.2.2: MD5 of `username:realm:password`) the
    /// MESSAGE-INTEGRITY of `username`'s requests is made with.
    pub fn key(&self, username: &str, realm: &str, now: i64) -> Result<Vec<u8>, Refusal> {
        let password = self.check(username, now)?;
        Ok(turn::auth::generate_auth_key(username, realm, &password))
    }
}

/// The TURN server's view of the minter: a key for every well-formed, unexpired username.
pub(super) struct Auth(pub(super) Minter);

impl turn::auth::AuthHandler for Auth {
    fn auth_handle(&self, username: &str, realm: &str, _src: SocketAddr) -> Result<Vec<u8>, turn::Error> {
        self.0
            .key(username, realm, unix_now())
            .map_err(|why| turn::Error::Other(format!("TURN username {username:?} refused: {why:?}")))
    }
}

pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_turn_rest_api_convention() {
        // The same computation coturn does for `use-auth-secret` (echo -n user | openssl dgst
        // -sha1 -hmac secret -binary | base64).
        let m = Minter::new("north");
        let c = m.mint("u_42", 1_700_000_000, 3600);
        assert_eq!(c.username, "1700003600:u_42");
        assert_eq!(c.expires_at, 1_700_003_600);
        assert_eq!(c.password, "h71pn8yiunDVvF2FbNNncR6k9iA=");
        assert_eq!(m.check(&c.username, 1_700_000_000), Ok(c.password.clone()));
    }

    #[test]
    fn expired_and_malformed_usernames_are_refused() {
        let m = Minter::new("north");
        let c = m.mint("guest:3f1c", 1_000, 10);
        assert_eq!(c.username, "1010:guest_3f1c", "no second separator in the user part");
        assert_eq!(m.check(&c.username, 1_011), Err(Refusal::Expired));
        assert_eq!(m.check("alice", 0), Err(Refusal::Malformed));
        assert_ne!(Minter::new("south").password(&c.username), c.password, "another secret, another password");
    }
}
