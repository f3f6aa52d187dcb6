//! The DTLS certificate a downlink presents, and the fingerprint its SDP names.

use std::sync::Arc;

/// The certificate every downlink of a process presents: the SDP names its fingerprint, and
/// making one per connection would cost a key generation per join.
#[derive(Clone)]
pub struct Certificate {
    pub(super) inner: Arc<dimpl::DtlsCertificate>,
    fingerprint: Vec<u8>,
}

impl Certificate {
    /// A fresh self-signed ECDSA certificate.
    pub fn generate() -> Option<Certificate> {
        let cert = dimpl::certificate::generate_self_signed_certificate().ok()?;
        let fingerprint = dimpl::certificate::calculate_fingerprint(&cert.certificate);
        Some(Certificate { inner: Arc::new(cert), fingerprint })
    }

    /// SHA-256 of the DER certificate, the bytes of the SDP's `a=fingerprint:sha-256`.
    pub fn fingerprint(&self) -> &[u8] {
        &self.fingerprint
    }

    /// The certificate and key as DER, for a str0m `Rtc` that writes this transport's SDP.
    pub fn der(&self) -> (&[u8], &[u8]) {
        (&self.inner.certificate, &self.inner.private_key)
    }
}
