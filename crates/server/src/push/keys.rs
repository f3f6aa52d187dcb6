//! The server's VAPID key pair (RFC 8292): one for every node, kept in the database.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;

use super::{decode_b64url, VAPID_SECRET_NAME};
use crate::error::Result;
use crate::store::Store;

/// How long a VAPID token is valid (RFC 8292 allows at most 24 hours).
const JWT_VALIDITY_SECS: i64 = 12 * 3600;

/// The server's VAPID key pair.
#[derive(Clone)]
pub struct VapidKeys {
    signing: p256::ecdsa::SigningKey,
    public: Vec<u8>,
}

impl VapidKeys {
    /// Loads the key pair from the database, creating it the first time.
    pub async fn load(store: &Store) -> Result<VapidKeys> {
        // Looked up first: making a key is not free, and it is there on every call but the first.
        let encoded = match store.find_secret(VAPID_SECRET_NAME).await? {
            Some(v) => v,
            None => store.secret(VAPID_SECRET_NAME, generate_private_key).await?,
        };
        VapidKeys::from_private(&encoded)
    }

    /// Parses base64url of the 32-byte private scalar.
    pub fn from_private(encoded: &str) -> Result<VapidKeys> {
        let bytes = decode_b64url(encoded).ok_or_else(|| anyhow::anyhow!("stored VAPID key is not base64url"))?;
        let secret =
            p256::SecretKey::from_slice(&bytes).map_err(|_| anyhow::anyhow!("stored VAPID key is not a P-256 key"))?;
        let public = secret.public_key().to_encoded_point(false).as_bytes().to_vec();
        Ok(VapidKeys { signing: p256::ecdsa::SigningKey::from(&secret), public })
    }

    /// The uncompressed public point (65 bytes) as base64url: `applicationServerKey`.
    pub fn public_key_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.public)
    }

    /// `vapid t=<jwt>, k=<key>` for a request to `endpoint`.
    pub fn authorization(&self, endpoint: &url::Url, subject: &str, now_secs: i64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": now_secs + JWT_VALIDITY_SECS,
            "sub": subject,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: p256::ecdsa::Signature = self.signing.sign(signing_input.as_bytes());
        let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        format!("vapid t={jwt}, k={}", self.public_key_b64())
    }
}

fn generate_private_key() -> String {
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    URL_SAFE_NO_PAD.encode(secret.to_bytes())
}
