//! The DTLS certificate a connection presents (a downlink's, and every str0m `Rtc`'s), and
//! the fingerprint its SDP names.
//!
//! Each connection presents its own: a client tells a new server connection from the one it
//! holds by the offer's fingerprint (docs/protocol.md, "A new subscribing connection"), and a
//! certificate shared by every viewer of a process would let one connection's fingerprint stand
//! for another's. Making one costs ~0.3 ms (release build), so a background thread keeps a
//! few ready and a join takes one without waiting.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, OnceLock};
use std::time::Duration;

/// A self-signed certificate and its SHA-256 fingerprint.
#[derive(Clone)]
pub struct Certificate {
    pub(super) inner: Arc<dimpl::DtlsCertificate>,
    fingerprint: Vec<u8>,
}

/// How many certificates are kept ready: a burst of joins larger than this makes the rest on
/// the spot.
const READY: usize = 8;

impl Certificate {
    /// A fresh self-signed ECDSA certificate, made now.
    pub fn generate() -> Option<Certificate> {
        let cert = dimpl::certificate::generate_self_signed_certificate().ok()?;
        let fingerprint = dimpl::certificate::calculate_fingerprint(&cert.certificate);
        Some(Certificate { inner: Arc::new(cert), fingerprint })
    }

    /// A certificate no other connection presents: one made ahead if there is one (the
    /// background thread then makes another), else made now.
    pub fn fresh() -> Option<Certificate> {
        let pool = pool();
        let taken = lock(&pool.ready).pop();
        pool.wanted.notify_one();
        taken.or_else(Certificate::generate)
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

/// Certificates made ahead, and the signal that one was taken.
struct Pool {
    ready: Mutex<Vec<Certificate>>,
    wanted: Condvar,
}

/// The process's pool, its thread started on first use.
fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    static STARTED: Once = Once::new();
    let pool = POOL.get_or_init(|| Pool { ready: Mutex::new(Vec::with_capacity(READY)), wanted: Condvar::new() });
    STARTED.call_once(|| {
        // Without the thread (spawning failed) every certificate is made on the spot.
        let _ = std::thread::Builder::new().name("dtls-certificates".into()).spawn(|| refill(pool));
    });
    pool
}

/// Keeps `READY` certificates made, sleeping while there are.
fn refill(pool: &'static Pool) {
    loop {
        let mut ready = lock(&pool.ready);
        while ready.len() >= READY {
            ready = pool.wanted.wait(ready).unwrap_or_else(|e| e.into_inner());
        }
        drop(ready);
        match Certificate::generate() {
            Some(cert) => lock(&pool.ready).push(cert),
            // Not expected (the key generator failed): try again later rather than spin.
            None => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

/// The pool's lock; a panic elsewhere while holding it leaves a list that is still whole.
fn lock(ready: &Mutex<Vec<Certificate>>) -> MutexGuard<'_, Vec<Certificate>> {
    ready.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_gets_a_certificate_of_its_own() {
        let fingerprints: Vec<Vec<u8>> =
            (0..3 * READY).map(|_| Certificate::fresh().unwrap().fingerprint().to_vec()).collect();
        for (i, f) in fingerprints.iter().enumerate() {
            assert_eq!(f.len(), 32, "SHA-256");
            assert!(!fingerprints[..i].contains(f), "certificate {i} was handed out before");
        }
    }

    #[test]
    fn the_pool_is_refilled_in_the_background() {
        let _ = Certificate::fresh();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while lock(&pool().ready).len() < READY {
            assert!(std::time::Instant::now() < deadline, "the pool was not refilled");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
