//! Certificates from PEM files: loading with errors that name the file and what is wrong with
//! it, a resolver whose certificate can be swapped while the server runs, and reloading on
//! SIGHUP or when a file changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

/// How often the certificate files are checked for changes.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The crypto the HTTPS server uses (the one reqwest and lettre already bring).
pub(super) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a certificate chain and its private key; the error says which file and why.
pub(super) fn load(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain = read_chain(cert)?;
    let key_der = read_key(key)?;
    CertifiedKey::from_der(chain, key_der, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            anyhow::anyhow!("the private key {} does not belong to the certificate {}", key.display(), cert.display())
        }
        e => anyhow::anyhow!("the private key {} cannot be used: {e}", key.display()),
    })
}

fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read the certificate {}: {e}", path.display()))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("the certificate {} is not valid PEM: {e}", path.display()))?;
    anyhow::ensure!(!chain.is_empty(), "the certificate file {} holds no CERTIFICATE block", path.display());
    Ok(chain)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read the private key {}: {e}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("the private key file {} holds no usable PEM private key: {e}", path.display()))
}

/// The SHA-256 fingerprint of a certificate, as browsers show it (`AB:CD:…`).
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Serves one certificate for every name, replaceable at run time.
#[derive(Debug)]
pub(super) struct Swappable(RwLock<Arc<CertifiedKey>>);

impl Swappable {
    pub(super) fn new(key: CertifiedKey) -> Arc<Swappable> {
        Arc::new(Swappable(RwLock::new(Arc::new(key))))
    }

    fn set(&self, key: CertifiedKey) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
    }
}

impl ResolvesServerCert for Swappable {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// Reloads `cert` and `key` into `target` on SIGHUP and whenever either file changes. A file
/// that cannot be used keeps the certificate served so far and logs why.
pub(super) fn watch(cert: PathBuf, key: PathBuf, target: Arc<Swappable>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let stamp = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut seen: (Option<SystemTime>, Option<SystemTime>) = (stamp(&cert), stamp(&key));
        let mut tick = tokio::time::interval(WATCH_EVERY);
        loop {
            let why = tokio::select! {
                _ = tick.tick() => {
                    let now = (stamp(&cert), stamp(&key));
                    if now == seen { continue }
                    seen = now;
                    "the files changed"
                }
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => "SIGHUP",
            };
            match load(&cert, &key) {
                Ok(k) => {
                    let fp = k.end_entity_cert().map(fingerprint).unwrap_or_default();
                    target.set(k);
                    tracing::info!(certificate = %cert.display(), sha256 = %fp, reason = why, "TLS certificate reloaded");
                }
                Err(e) => {
                    tracing::error!(error = %e, reason = why, "TLS certificate not reloaded; still serving the previous one")
                }
            }
        }
    })
}
