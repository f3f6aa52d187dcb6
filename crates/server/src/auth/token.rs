//! Signed JWTs: access tokens for the API and short-lived join tickets for the meeting socket.
//!
//! Expiry is checked against the server [`Clock`](crate::clock::Clock), not the system time,
//! and with no leeway: an expired token is expired.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Access tokens live an hour (`expires_in: 3600`); refresh keeps sessions going.
pub const ACCESS_TTL_SECS: i64 = 3600;
/// Refresh tokens live 30 days, renewed on each use.
pub const REFRESH_TTL_SECS: i64 = 30 * 24 * 3600;
/// Join tickets only need to survive the trip from the join call to the WebSocket.
pub const TICKET_TTL_SECS: i64 = 300;
/// Password-reset links are valid for an hour.
pub const RESET_TTL_SECS: i64 = 3600;

const ISSUER: &str = "convene";

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    /// The session (refresh family) this token belongs to; revoking it kills the token.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub aud: String,
    pub iss: String,
}

/// Claims of a join ticket: who may enter which meeting, as what.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketClaims {
    /// Participant identity: a user id, or `guest:<uuid>`.
    pub sub: String,
    /// Numeric meeting id.
    pub mid: i64,
    pub name: String,
    /// `host`, `cohost`, `participant` or `guest`.
    pub role: convene_protocol::Role,
    /// A guest's device id (`client_id` at join), to keep a removed guest out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// End-to-end encrypted meetings: the E2EE version the client announced at join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2v: Option<u32>,
    /// End-to-end encrypted meetings: the client's public identity key (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2k: Option<String>,
    /// Slot subscription: the video slots the client asked for at join (absent: one m-line
    /// per remote track). Checked against the limit when the ticket was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vsl: Option<u8>,
    /// Unique ticket id, so the socket layer can refuse a second use.
    pub jti: String,
    pub iat: i64,
    /// When it was issued, in Unix ms: a ticket from before the account's live access was
    /// revoked (disabled, password changed) is refused (`live::revocation`).
    #[serde(default)]
    pub iat_ms: i64,
    pub exp: i64,
    pub aud: String,
    pub iss: String,
}

/// Signs and checks tokens with the server's HMAC secret.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Keys {
    pub fn new(secret: &[u8]) -> Keys {
        Keys { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret) }
    }

    pub fn access_token(&self, user_id: &str, session_id: &str, now: i64) -> Result<String> {
        let claims = AccessClaims {
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            iat: now,
            exp: now + ACCESS_TTL_SECS,
            aud: "access".into(),
            iss: ISSUER.into(),
        };
        self.sign(&claims)
    }

    pub fn ticket(&self, claims: &TicketClaims) -> Result<String> {
        self.sign(claims)
    }

    fn sign<T: Serialize>(&self, claims: &T) -> Result<String> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| anyhow::anyhow!("signing token: {e}").into())
    }

    /// Verifies an access token; `now` in Unix seconds.
    pub fn verify_access(&self, token: &str, now: i64) -> Result<AccessClaims> {
        let claims: AccessClaims = self.verify(token, "access")?;
        if claims.exp <= now {
            return Err(Error::unauthorized("token_expired", "access token has expired; refresh it"));
        }
        Ok(claims)
    }

    /// Verifies a join ticket; `now` in Unix seconds.
    pub fn verify_ticket(&self, token: &str, now: i64) -> Result<TicketClaims> {
        let claims: TicketClaims = self.verify(token, "join")?;
        if claims.exp <= now {
            return Err(Error::unauthorized("ticket_expired", "join ticket has expired; join again"));
        }
        Ok(claims)
    }

    fn verify<T: serde::de::DeserializeOwned>(&self, token: &str, audience: &str) -> Result<T> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[ISSUER]);
        validation.validate_exp = false; // checked against the server clock by the caller
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        decode::<T>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| Error::unauthorized("invalid_token", "token is invalid"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_expire_and_are_bound_to_their_key_and_audience() {
        let keys = Keys::new(b"secret-one");
        let token = keys.access_token("u1", "s1", 1000).unwrap();
        assert_eq!(keys.verify_access(&token, 1000).unwrap().sub, "u1");
        assert!(keys.verify_access(&token, 1000 + ACCESS_TTL_SECS).is_err(), "expired at exp");
        assert!(Keys::new(b"other").verify_access(&token, 1000).is_err(), "other key");
        assert!(keys.verify_ticket(&token, 1000).is_err(), "an access token is no join ticket");
    }
}
