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
use std::sync::Arc;

use tokio::net::TcpListener;

pub use crate::config::tls::{AcmeChallenge, AcmeSettings, TlsChoice, TlsConfig, TlsFlags, TlsMode};
pub use acme::kept_certificate;
pub use certs::fingerprint;
pub use listener::{Connection, HttpsListener, Rewound};

use crate::config::Config;

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

/// Serves HTTPS (and, with `--https-listen`, the redirect on `--listen`) until `shutdown`:
/// `main` serves the app on the HTTPS listener until the future it is given resolves. TURN
/// over TLS shares the port (`turn`: the embedded server's streams, when on).
pub async fn serve<Main, Served>(
    cfg: Arc<Config>,
    database: crate::store::Backend,
    turn: Option<Arc<crate::turn::Streams>>,
    tls: Tls,
    shutdown: impl Future<Output = ()> + Send + 'static,
    main: Main,
) -> anyhow::Result<()>
where
    Main: FnOnce(HttpsListener, tokio_util::sync::WaitForCancellationFutureOwned) -> Served,
    Served: Future<Output = std::io::Result<()>>,
{
    let https_addr = cfg.tls.https_addr(cfg.listen);
    let tcp = TcpListener::bind(https_addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {https_addr}: {e}"))?;
    let plain = match cfg.tls.https_listen {
        Some(_) => Some(
            TcpListener::bind(cfg.listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?,
        ),
        None => None,
    };
    let https =
        listener::HttpsListener::new(tcp, listener::Handshakes { config: tls.config, challenge: tls.challenge, turn })?;
    tracing::info!(
        https = %https_addr,
        redirect = ?plain.as_ref().and_then(|l| l.local_addr().ok()),
        public_url = %cfg.public_url,
        ?database,
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
    let main = main(https, stop.clone().cancelled_owned());
    let (main, redirect) = tokio::join!(main, redirect);
    main?;
    redirect?;
    Ok(())
}
