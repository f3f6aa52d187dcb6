//! `--tls acme`: certificates from an ACME CA (Let's Encrypt by default) through `rustls-acme`,
//! validated by TLS-ALPN-01 on the HTTPS port or HTTP-01 on the HTTP port. Certificates and the
//! account key are kept in the data directory; a renewal that fails keeps the certificate
//! served so far, logs why and tries again later (with back-off).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls_acme::{AcmeConfig, ResolvesServerCertAcme, UseChallenge};

use super::AcmeSettings;

/// A running ACME client: the resolver that serves its certificate and answers challenges.
pub(super) struct Acme {
    pub(super) resolver: Arc<ResolvesServerCertAcme>,
    /// The TLS configuration for TLS-ALPN-01 validation handshakes.
    pub(super) challenge: Arc<rustls::ServerConfig>,
}

/// Starts ordering (or loads the kept certificate and schedules its renewal).
pub(super) fn start(settings: &AcmeSettings, dir: &Path) -> anyhow::Result<Acme> {
    let mut config = AcmeConfig::new(&settings.domains)
        .contact(settings.contact.iter().map(|c| format!("mailto:{c}")))
        .directory(&settings.directory)
        .challenge_type(if settings.http01 { UseChallenge::Http01 } else { UseChallenge::TlsAlpn01 })
        .cache(Kept { dir: dir.to_owned() });
    if let Some(root) = &settings.ca_root {
        config = config.client_tls_config(client_trusting(root)?);
    }
    let mut state = config.state();
    let acme = Acme { resolver: state.resolver(), challenge: state.challenge_rustls_config() };
    let domains = settings.domains.join(",");
    tokio::spawn(async move {
        while let Some(event) = state.next().await {
            match event {
                Ok(ok) => tracing::info!(%domains, event = ?ok, "ACME"),
                Err(e) => tracing::error!(
                    %domains,
                    error = %e,
                    "ACME certificate request failed; the certificate served so far (if any) stays, retrying later"
                ),
            }
        }
    });
    Ok(acme)
}

/// A client configuration that trusts only `root` (a private or test ACME server's CA).
fn client_trusting(root: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(root)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| anyhow::anyhow!("cannot read the ACME CA root {}: {e}", root.display()))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    anyhow::ensure!(added > 0, "the ACME CA root {} holds no usable certificate", root.display());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(super::certs::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Keeps certificates and the account key as files in the data directory, named so an operator
/// can tell them apart: `<domains>@<CA host>.pem`, `account.pem`.
struct Kept {
    dir: PathBuf,
}

impl Kept {
    fn cert_file(&self, domains: &[String], directory: &str) -> PathBuf {
        let ca = url::Url::parse(directory).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        let name: String = format!("{}@{ca}", domains.join(","))
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || ".,@-_".contains(c) { c } else { '_' })
            .collect();
        self.dir.join(format!("{name}.pem"))
    }

    async fn read(path: PathBuf) -> std::io::Result<Option<Vec<u8>>> {
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes owner-only (the file holds a private key), replacing the old file atomically.
    async fn write(path: PathBuf, bytes: Vec<u8>) -> std::io::Result<()> {
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("tmp");
            let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

#[async_trait::async_trait]
impl rustls_acme::CertCache for Kept {
    type EC = std::io::Error;

    async fn load_cert(&self, domains: &[String], directory: &str) -> Result<Option<Vec<u8>>, Self::EC> {
        Self::read(self.cert_file(domains, directory)).await
    }

    async fn store_cert(&self, domains: &[String], directory: &str, cert: &[u8]) -> Result<(), Self::EC> {
        Self::write(self.cert_file(domains, directory), cert.to_vec()).await
    }
}

#[async_trait::async_trait]
impl rustls_acme::AccountCache for Kept {
    type EA = std::io::Error;

    async fn load_account(&self, _contact: &[String], _directory: &str) -> Result<Option<Vec<u8>>, Self::EA> {
        Self::read(self.dir.join("account.key")).await
    }

    async fn store_account(&self, _contact: &[String], _directory: &str, account: &[u8]) -> Result<(), Self::EA> {
        Self::write(self.dir.join("account.key"), account.to_vec()).await
    }
}

/// Where the certificate for `domains` from `directory` is kept under `dir` (tests put an old
/// one there to see a failing renewal keep it).
pub fn kept_certificate(dir: &Path, domains: &[String], directory: &str) -> PathBuf {
    Kept { dir: dir.to_owned() }.cert_file(domains, directory)
}
