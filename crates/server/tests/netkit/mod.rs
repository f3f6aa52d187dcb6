//! Helpers for the network tests (tls.rs, turn.rs): the `convene` binary run as a person would
//! run it, TLS clients that show which certificate a server serves, a TURN client, and the
//! real third-party servers the tests talk to (Debian's `pebble` ACME server and `coturn`).
#![allow(dead_code, unreachable_pub)]

pub mod turn_client;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Whether `program` is installed. Without it a test is skipped with a notice, except under
/// CI=true, where a missing service is a failure (scripts/test installs them).
pub fn require(program: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()));
    if found {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{program} is not installed and CI=true: refusing to skip (scripts/test installs it)");
    }
    eprintln!("SKIPPED: {program} is not installed (set CI=true to make this an error)");
    false
}

/// A free TCP port on the loopback (also free for UDP, checked).
pub fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A child process whose output is collected; killed when dropped.
pub struct Process {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Process {
    pub fn spawn(mut cmd: Command) -> Process {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let output = Arc::new(Mutex::new(String::new()));
        for pipe in [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as _),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut o = output.lock().unwrap();
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        Process { child, output }
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until its output contains `text`; panics with the output if it exits or takes
    /// longer than `wait`.
    pub async fn wait_for(&mut self, text: &str, wait: Duration) {
        let until = Instant::now() + wait;
        loop {
            if self.output().contains(text) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("process exited ({status}) before printing {text:?}:\n{}", self.output());
            }
            if Instant::now() > until {
                panic!("no {text:?} within {wait:?}:\n{}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for it to exit; its status and output.
    pub async fn exit(&mut self, wait: Duration) -> (std::process::ExitStatus, String) {
        let until = Instant::now() + wait;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads take the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return (status, self.output());
            }
            assert!(Instant::now() < until, "still running after {wait:?}:\n{}", self.output());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `convene` binary of this build with `args`, a fresh database in `data_dir`, media on a
/// free loopback port, and logs at info level without colours.
pub fn convene(data_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_convene"));
    cmd.arg("--data-dir").arg(data_dir).args(["--media-listen", "127.0.0.1:0", "--media-workers", "1"]).args(args);
    cmd.env("RUST_LOG", "info,convene=debug").env("NO_COLOR", "1");
    cmd
}

/// Starts `convene` and waits until it says it is running.
pub async fn start_convene(data_dir: &Path, args: &[&str]) -> Process {
    let mut p = Process::spawn(convene(data_dir, args));
    p.wait_for("Convene is running", Duration::from_secs(60)).await;
    p
}

/// The value of `field=` in the first log line containing `marker`.
pub fn log_field(log: &str, marker: &str, field: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains(marker))?;
    let start = line.find(&format!("{field}="))? + field.len() + 1;
    Some(line[start..].split_whitespace().next()?.trim_matches('"').to_owned())
}

// ----- TLS -----

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any certificate: the tests look at which one was served.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS connection to `addr` (with `sni`, no ALPN) that accepts whatever certificate it gets.
pub async fn tls_connect(addr: SocketAddr, sni: &str) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("TLS handshake")
}

/// The certificate `addr` serves for `sni`.
pub async fn served_certificate(addr: SocketAddr, sni: &str) -> CertificateDer<'static> {
    let tls = tls_connect(addr, sni).await;
    tls.get_ref().1.peer_certificates().expect("a certificate")[0].clone().into_owned()
}

/// An HTTPS client trusting only `root` (PEM), or any certificate without one; it does not
/// follow redirects (the tests look at them).
pub fn https_client(root: Option<&[u8]>) -> reqwest::Client {
    let b = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(20));
    match root {
        Some(pem) => b.add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap()).https_only(false),
        None => b.danger_accept_invalid_certs(true),
    }
    .build()
    .unwrap()
}

/// A test CA that issues server certificates.
pub struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { pem: cert.pem(), issuer: rcgen::Issuer::new(params, key) }
    }

    /// A certificate for `names` valid between the two times: (certificate PEM, key PEM).
    pub fn issue(
        &self,
        names: &[&str],
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> (String, String) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.not_before = not_before;
        params.not_after = not_after;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A certificate for `names` valid for a year from yesterday.
    pub fn issue_now(&self, names: &[&str]) -> (String, String) {
        let now = time::OffsetDateTime::now_utc();
        self.issue(names, now - time::Duration::days(1), now + time::Duration::days(365))
    }

    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("test-ca.pem");
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

// ----- pebble (a real ACME server) -----

/// Debian's pebble ACME server on loopback, resolving every name to 127.0.0.1 through its
/// companion DNS server, validating TLS-ALPN-01 on `tls_port` and HTTP-01 on `http_port`.
pub struct Pebble {
    _dns: Process,
    server: Process,
    pub directory: String,
    /// The CA that signed pebble's own HTTPS certificate (for `--acme-ca-root`).
    pub api_root: PathBuf,
    management: String,
    _dir: tempfile::TempDir,
}

impl Pebble {
    pub async fn start(tls_port: u16, http_port: u16) -> Option<Pebble> {
        if !require("pebble") || !require("pebble-challtestsrv") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("pebble API test CA");
        let api_root = ca.write(dir.path());
        let (cert, key) = ca.issue_now(&["127.0.0.1", "localhost"]);
        std::fs::write(dir.path().join("api.crt"), cert).unwrap();
        std::fs::write(dir.path().join("api.key"), key).unwrap();
        let (api, mgmt, dns, dns_mgmt) = (free_port(), free_port(), free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{api}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": dir.path().join("api.crt"),
            "privateKey": dir.path().join("api.key"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }});
        std::fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();
        let mut dns_cmd = Command::new("pebble-challtestsrv");
        dns_cmd.args([
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
        ]);
        dns_cmd.args(["-dns01", &format!("127.0.0.1:{dns}"), "-management", &format!("127.0.0.1:{dns_mgmt}")]);
        let mut dns_p = Process::spawn(dns_cmd);
        dns_p.wait_for("Starting", Duration::from_secs(20)).await;
        let mut cmd = Command::new("pebble");
        cmd.arg("-config").arg(dir.path().join("pebble.json")).args(["-dnsserver", &format!("127.0.0.1:{dns}")]);
        // No artificial validation delays and no random nonce rejections: the test is about
        // Convene's client, not its retry luck.
        cmd.env("PEBBLE_VA_NOSLEEP", "1").env("PEBBLE_WFE_NONCEREJECT", "0");
        let mut server = Process::spawn(cmd);
        server.wait_for("ACME directory available", Duration::from_secs(30)).await;
        Some(Pebble {
            _dns: dns_p,
            server,
            directory: format!("https://127.0.0.1:{api}/dir"),
            api_root,
            management: format!("https://127.0.0.1:{mgmt}"),
            _dir: dir,
        })
    }

    /// The root pebble issues certificates under (it is new every run), PEM.
    pub async fn issuing_root(&self) -> Vec<u8> {
        let pem = std::fs::read(&self.api_root).unwrap();
        let client = https_client(Some(&pem));
        let r = client.get(format!("{}/roots/0", self.management)).send().await.unwrap();
        assert!(r.status().is_success(), "pebble roots: {}", r.status());
        r.bytes().await.unwrap().to_vec()
    }

    pub fn output(&self) -> String {
        self.server.output()
    }
}

// ----- coturn -----

/// Debian's coturn with `use-auth-secret` on a loopback port, relaying only to `allowed_peer`.
pub struct Coturn {
    process: Process,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Coturn {
    pub async fn start(secret: &str, allowed_peer: std::net::IpAddr) -> Option<Coturn> {
        if !require("turnserver") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new("turnserver");
        cmd.args(["-n", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint", "--log-file", "stdout", "--simple-log"]);
        cmd.args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", &port.to_string()]);
        cmd.args(["--use-auth-secret", "--static-auth-secret", secret, "--realm", "convene"]);
        // Not an open relay: every peer denied but the SFU (loopback peers must be allowed
        // explicitly in coturn).
        cmd.args(["--allow-loopback-peers", "--denied-peer-ip", "0.0.0.0-255.255.255.255"]);
        cmd.args(["--allowed-peer-ip", &allowed_peer.to_string()]);
        cmd.arg("--userdb").arg(dir.path().join("turndb"));
        cmd.arg("--pidfile").arg(dir.path().join("turnserver.pid"));
        let mut process = Process::spawn(cmd);
        // The last line coturn 4.6 prints while starting (the TURN client retries a lost first
        // request anyway).
        process.wait_for("DB connection success", Duration::from_secs(20)).await;
        Some(Coturn { process, addr: SocketAddr::from(([127, 0, 0, 1], port)), _dir: dir })
    }

    pub fn output(&self) -> String {
        self.process.output()
    }
}
