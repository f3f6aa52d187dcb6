//! The TLS settings as the command line, environment and config file give them, resolved
//! into one [`TlsConfig`] (tls/ serves it).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

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
