//! Expiring signed links to a recording's media: `?expires=<unix s>&signature=<hex>`, an
//! HMAC-SHA256 over the recording id and the expiry with a server secret. Anyone holding a
//! link may fetch until it expires (so `<video>` and download managers work without
//! credentials); the link is only handed to people allowed to watch.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Signs and checks links; cheap to clone.
#[derive(Clone)]
pub struct LinkSigner {
    key: std::sync::Arc<[u8]>,
}

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    Expired,
    BadSignature,
}

impl LinkSigner {
    pub fn new(secret: &[u8]) -> LinkSigner {
        LinkSigner { key: secret.into() }
    }

    fn mac(&self, id: &str, expires: i64) -> Hmac<Sha256> {
        // Any key length is fine for HMAC.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(id.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The signature for `id` valid until `expires` (Unix seconds).
    pub fn sign(&self, id: &str, expires: i64) -> String {
        hex::encode(self.mac(id, expires).finalize().into_bytes())
    }

    /// Checks a link at `now` (Unix seconds), in constant time.
    pub fn verify(&self, id: &str, expires: i64, signature: &str, now: i64) -> Result<(), LinkError> {
        let sig = hex::decode(signature).map_err(|_| LinkError::BadSignature)?;
        self.mac(id, expires).verify_slice(&sig).map_err(|_| LinkError::BadSignature)?;
        if expires <= now {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_expired_and_forged_links() {
        let s = LinkSigner::new(b"secret");
        let sig = s.sign("rec_1", 1_000);
        assert_eq!(s.verify("rec_1", 1_000, &sig, 999), Ok(()));
        assert_eq!(s.verify("rec_1", 1_000, &sig, 1_000), Err(LinkError::Expired));
        assert_eq!(s.verify("rec_1", 2_000, &sig, 999), Err(LinkError::BadSignature), "expiry moved");
        assert_eq!(s.verify("rec_2", 1_000, &sig, 999), Err(LinkError::BadSignature), "other recording");
        assert_eq!(s.verify("rec_1", 1_000, "zz", 999), Err(LinkError::BadSignature));
        assert_ne!(LinkSigner::new(b"other").sign("rec_1", 1_000), sig);
    }
}
