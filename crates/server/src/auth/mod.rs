//! Who is calling: password hashing, signed tokens and attempt limits.

pub mod password;
pub mod ratelimit;
pub mod token;

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A random secret suitable for refresh / reset tokens: 32 bytes, URL-safe base64.
pub fn random_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Tokens are stored only as their SHA-256, so a database leak does not leak live tokens.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
