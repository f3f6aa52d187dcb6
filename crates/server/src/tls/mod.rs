//! HTTPS served by Convene itself (rustls), so browsers on other machines get the secure
//! context camera and microphone need. Three sources of certificates: PEM files (reloaded on
//! SIGHUP or when they change), a self-signed certificate kept in the data directory, or ACME.
//! With `--https-listen`, the `--listen` port only redirects to HTTPS.

mod acme;
mod certs;
mod listener;
mod redirect;
mod self_signed;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::serve::ListenerExt;
use serde::Deserialize;
use tokio::net::TcpListener;

pub use acme::kept_certificate;
pub use certs::fingerprint;
pub use listener::{Connection, Rewound};

use crate::config::Config;
use crate::state::AppState;

/// `--tls`: where the certificate comes from (certificate files are chosen by giving them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsChoice {
    /// Plain HTTP.
    Off,
    /// A certificate made once and kept in the data directory (LAN, testing).
    SelfSigned,
    /// Certificates from an ACME CA (Let's Encrypt by default) for `--acme-domain`.
    Acme,
}

/// `--acme-challenge`: how the CA checks that this server answers for the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AcmeChallenge {
    /// On the HTTPS port (which the CA reaches as port 443).
    #[default]
    #[value(name = "tls-alpn-01")]
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    /// On the HTTP port `--listen` (which the CA reaches as port 80).
    #[value(name = "http-01")]
    #[serde(rename = "http-01")]
    Http01,
}

/// Where the certificate comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TlsMode {
    #[default]
    Off,
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    SelfSigned,
    Acme(AcmeSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    pub domains: Vec<String>,
    /// E-mail addresses the CA may write to about the certificates.
    pub contact: Vec<String>,
    /// The CA's ACME directory URL.
    pub directory: String,
    /// Trust only this CA root for the directory's HTTPS (a private or test CA).
    pub ca_root: Option<PathBuf>,
    pub http01: bool,
}

/// The resolved HTTPS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    pub mode: TlsMode,
    /// HTTPS address when plain HTTP (a redirect) stays on `--listen`.
    pub https_listen: Option<SocketAddr>,
}

/// The TLS flags as given, before checking they fit together.
#[derive(Debug, Default)]
pub struct TlsFlags {
    pub tls: Option<TlsChoice>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub https_listen: Option<SocketAddr>,
    pub acme_domains: Vec<String>,
    pub acme_email: Vec<String>,
    pub acme_directory: Option<String>,
    pub acme_ca_root: Option<PathBuf>,
    pub acme_challenge: Option<AcmeChallenge>,
}

impl TlsFlags {
    pub fn resolve(self) -> anyhow::Result<TlsConfig> {
        let files = self.cert.is_some() || self.key.is_some();
        let mode = match (self.tls, self.cert, self.key) {
            (Some(TlsChoice::SelfSigned | TlsChoice::Acme | TlsChoice::Off), _, _) if files => {
                anyhow::bail!("--tls-cert / --tls-key choose certificate files; leave --tls unset with them")
            }
            (None, Some(cert), Some(key)) => TlsMode::Files { cert, key },
            (None, _, _) if files => anyhow::bail!("--tls-cert and --tls-key go together"),
            (None | Some(TlsChoice::Off), _, _) => TlsMode::Off,
            (Some(TlsChoice::SelfSigned), _, _) => TlsMode::SelfSigned,
            (Some(TlsChoice::Acme), _, _) => {
                anyhow::ensure!(!self.acme_domains.is_empty(), "--tls acme needs --acme-domain (the name people use)");
                TlsMode::Acme(AcmeSettings {
                    domains: self.acme_domains.clone(),
                    contact: self.acme_email.clone(),
                    directory: self
                        .acme_directory
                        .clone()
                        .unwrap_or_else(|| rustls_acme::acme::LETS_ENCRYPT_PRODUCTION_DIRECTORY.into()),
                    ca_root: self.acme_ca_root.clone(),
                    http01: self.acme_challenge == Some(AcmeChallenge::Http01),
                })
            }
        };
        if !matches!(mode, TlsMode::Acme(_)) {
            anyhow::ensure!(
                self.acme_domains.is_empty() && self.acme_directory.is_none() && self.acme_challenge.is_none(),
                "the --acme-* settings need --tls acme"
            );
        }
        if mode == TlsMode::Off {
            anyhow::ensure!(self.https_listen.is_none(), "--https-listen needs TLS (--tls or --tls-cert/--tls-key)");
        }
        if matches!(&mode, TlsMode::Acme(a) if a.http01) {
            anyhow::ensure!(
                self.https_listen.is_some(),
                "--acme-challenge http-01 needs --https-listen, so that --listen stays plain HTTP for the CA"
            );
        }
        Ok(TlsConfig { mode, https_listen: self.https_listen })
    }
}

impl TlsConfig {
    pub fn is_on(&self) -> bool {
        self.mode != TlsMode::Off
    }

    /// The address HTTPS listens on.
    pub fn https_addr(&self, listen: SocketAddr) -> SocketAddr {
        self.https_listen.unwrap_or(listen)
    }

    /// `public_url` when none is given: `https://` with the ACME domain, or the listen address
    /// (the public IP when listening on every interface).
    pub fn default_public_url(&self, listen: SocketAddr, public_ip: Option<IpAddr>) -> String {
        if !self.is_on() {
            return format!("http://{listen}");
        }
        let addr = self.https_addr(listen);
        let host = match &self.mode {
            TlsMode::Acme(a) => a.domains[0].clone(),
            _ => {
                let ip = match (addr.ip(), public_ip) {
                    (ip, Some(public)) if ip.is_unspecified() => public,
                    (ip, _) => ip,
                };
                SocketAddr::new(ip, 0).to_string().trim_end_matches(":0").to_owned()
            }
        };
        match addr.port() {
            443 => format!("https://{host}"),
            port => format!("https://{host}:{port}"),
        }
    }
}

/// The certificates the HTTPS server serves, ready.
pub struct Tls {
    config: Arc<rustls::ServerConfig>,
    challenge: Option<Arc<rustls::ServerConfig>>,
    acme: Option<Arc<rustls_acme::ResolvesServerCertAcme>>,
}

impl Tls {
    /// Loads (or makes, or starts ordering) the certificate; `None` when TLS is off. A missing,
    /// unreadable or mismatched certificate file is an error that stops start-up.
    pub fn start(cfg: &Config) -> anyhow::Result<Option<Tls>> {
        let dir = cfg.data_dir.join("tls");
        let (resolver, challenge, acme): (Arc<dyn rustls::server::ResolvesServerCert>, _, _) = match &cfg.tls.mode {
            TlsMode::Off => return Ok(None),
            TlsMode::Files { cert, key } => {
                let loaded = certs::load(cert, key)?;
                log_certificate("certificate files", &loaded);
                let swappable = certs::Swappable::new(loaded);
                certs::watch(cert.clone(), key.clone(), swappable.clone());
                (swappable, None, None)
            }
            TlsMode::SelfSigned => {
                let loaded = self_signed::load_or_make(&dir, &self_signed_names(cfg))?;
                log_certificate("self-signed", &loaded);
                (certs::Swappable::new(loaded), None, None)
            }
            TlsMode::Acme(settings) => {
                let a = acme::start(settings, &dir.join("acme"))?;
                tracing::info!(domains = ?settings.domains, directory = %settings.directory, "TLS certificates by ACME");
                (a.resolver.clone(), Some(a.challenge), Some(a.resolver))
            }
        };
        let mut config = rustls::ServerConfig::builder_with_provider(certs::provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let challenge = challenge.filter(|_| matches!(&cfg.tls.mode, TlsMode::Acme(a) if !a.http01));
        Ok(Some(Tls { config: Arc::new(config), challenge, acme }))
    }
}

fn log_certificate(source: &str, key: &rustls::sign::CertifiedKey) {
    let sha256 = key.end_entity_cert().map(fingerprint).unwrap_or_default();
    tracing::info!(%sha256, "TLS certificate ({source})");
}

/// The names a self-signed certificate is made for: this host's addresses and names.
fn self_signed_names(cfg: &Config) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let mut add = |n: String| {
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    };
    for ip in [Some(cfg.listen.ip()), cfg.tls.https_listen.map(|a| a.ip()), cfg.media_public_ip].into_iter().flatten() {
        if !ip.is_unspecified() {
            add(ip.to_string());
        }
    }
    if let Some(host) = url::Url::parse(&cfg.public_url).ok().and_then(|u| u.host_str().map(str::to_owned)) {
        add(host.trim_matches(['[', ']']).to_owned());
    }
    add(std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim().to_owned());
    names
}

/// Serves HTTPS (and, with `--https-listen`, the redirect on `--listen`) until `shutdown`.
pub async fn serve(
    state: AppState,
    tls: Tls,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let cfg = state.config.clone();
    let https_addr = cfg.tls.https_addr(cfg.listen);
    let tcp = TcpListener::bind(https_addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {https_addr}: {e}"))?;
    let plain = match cfg.tls.https_listen {
        Some(_) => Some(
            TcpListener::bind(cfg.listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?,
        ),
        None => None,
    };
    let https = listener::HttpsListener::new(
        tcp,
        listener::Handshakes { config: tls.config, challenge: tls.challenge, turn: state.turn.tls_streams() },
    )?;
    tracing::info!(
        https = %https_addr,
        redirect = ?plain.as_ref().and_then(|l| l.local_addr().ok()),
        public_url = %cfg.public_url,
        database = ?state.store.backend(),
        data_dir = %cfg.data_dir.display(),
        "Convene is running"
    );
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.cancel();
        }
    });
    let redirect = async {
        let Some(plain) = plain else { return Ok(()) };
        let https_base = if cfg.public_url.starts_with("https://") {
            cfg.public_url.clone()
        } else {
            format!("https://{https_addr}")
        };
        axum::serve(plain, redirect::app(&https_base, tls.acme.clone()))
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .await
    };
    let main = crate::server::serve_on(state, https.tap_io(|_| ()), stop.clone().cancelled_owned());
    let (main, redirect) = tokio::join!(main, redirect);
    main?;
    redirect?;
    Ok(())
}
