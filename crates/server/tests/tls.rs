//! HTTPS as an operator meets it, with the `convene` binary: a self-signed certificate made
//! once with its SHA-256 printed; certificate files reloaded on SIGHUP and on change (a broken
//! file keeps the old one); a missing or unusable file stops start-up with a clear message;
//! HTTP redirected to HTTPS; TURN over TLS on the HTTPS port; certificates from Debian's pebble
//! ACME server (TLS-ALPN-01 and HTTP-01), and a failing ACME CA keeping the certificate kept.

mod netkit;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use convene::tls::{fingerprint, kept_certificate};
use convene::turn::Minter;
use netkit::turn_client::TurnClient;
use netkit::{free_port, https_client, log_field, served_certificate, start_convene, Ca, Pebble};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The SHA-256 fingerprint of the first certificate of a PEM file's contents.
fn pem_fingerprint(pem: &str) -> String {
    fingerprint(&CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
}

/// Completes a TLS handshake with `addr` for `name`, trusting only `root` (PEM): whether the
/// certificate served is one a browser trusting that root accepts.
async fn verified_handshake(addr: SocketAddr, name: &str, root: &[u8]) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(root) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(netkit::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let server = ServerName::try_from(name.to_owned()).unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(server, tcp).await.map(|_| ()).map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_self_signed_certificate_is_made_once_printed_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = ["--listen", &listen, "--tls", "self-signed"];
    let mut first = start_convene(dir.path(), &args).await;
    let printed =
        log_field(&first.output(), "TLS certificate (self-signed)", "sha256").expect("the SHA-256 is printed");
    assert_eq!(fingerprint(&served_certificate(loopback(port), "localhost").await), printed);

    // Someone who accepted (pinned) that certificate reaches the app by the server's address.
    let pem = std::fs::read(dir.path().join("tls/self-signed.crt")).unwrap();
    let r = https_client(Some(&pem)).get(format!("https://127.0.0.1:{port}/healthz")).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // Join links (mails, calendar invitations) follow.
    let public_url = log_field(&first.output(), "Convene is running", "public_url");
    assert_eq!(public_url, Some(format!("https://127.0.0.1:{port}")));

    // A restart keeps it: the fingerprint people accepted stays the same.
    first.signal(libc::SIGTERM);
    first.exit(Duration::from_secs(20)).await;
    let second = start_convene(dir.path(), &args).await;
    assert_eq!(log_field(&second.output(), "TLS certificate (self-signed)", "sha256").as_deref(), Some(&*printed));
    assert_eq!(fingerprint(&served_certificate(loopback(port), "localhost").await), printed);
}

/// Replaces `path` with `contents` without changing its modification time, so that only a
/// SIGHUP (not the change watcher) can notice.
fn replace_quietly(path: &Path, contents: &str) {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::File::options().write(true).open(&tmp).unwrap().set_modified(mtime).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn certificate_files_are_reloaded_on_sighup_and_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ca = Ca::new("Convene test CA");
    let (c1, k1) = ca.issue_now(&["localhost"]);
    std::fs::write(&cert, &c1).unwrap();
    std::fs::write(&key, &k1).unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut p = start_convene(
        dir.path(),
        &["--listen", &listen, "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    )
    .await;
    let served = || async { fingerprint(&served_certificate(loopback(port), "localhost").await) };
    assert_eq!(served().await, pem_fingerprint(&c1));

    // A broken file is not served: the old certificate stays, and the log says why.
    replace_quietly(&cert, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
    p.signal(libc::SIGHUP);
    p.wait_for("TLS certificate not reloaded", Duration::from_secs(10)).await;
    assert_eq!(served().await, pem_fingerprint(&c1), "the previous certificate is still served");

    // SIGHUP (the files' times unchanged, so nothing else could have noticed).
    let (c2, k2) = ca.issue_now(&["localhost"]);
    replace_quietly(&key, &k2);
    replace_quietly(&cert, &c2);
    p.signal(libc::SIGHUP);
    p.wait_for(&format!("sha256={}", pem_fingerprint(&c2)), Duration::from_secs(10)).await;
    assert!(p.output().contains("reason=\"SIGHUP\"") || p.output().contains("reason=SIGHUP"), "{}", p.output());
    assert_eq!(served().await, pem_fingerprint(&c2));

    // Renewed files (certbot, an ACME client elsewhere) are picked up without a signal.
    let (c3, k3) = ca.issue_now(&["localhost"]);
    tokio::time::sleep(Duration::from_millis(20)).await; // a later modification time
    std::fs::write(&key, &k3).unwrap();
    std::fs::write(&cert, &c3).unwrap();
    p.wait_for(&format!("sha256={}", pem_fingerprint(&c3)), Duration::from_secs(15)).await;
    assert_eq!(served().await, pem_fingerprint(&c3));
}

/// Runs `convene` with `args` expecting it to refuse to start; its output.
async fn refused_start(dir: &Path, args: &[&str]) -> String {
    let mut p = netkit::Process::spawn(netkit::convene(dir, args));
    let (status, output) = p.exit(Duration::from_secs(30)).await;
    assert!(!status.success(), "it started anyway:\n{output}");
    assert!(!output.contains("Convene is running"), "{output}");
    output
}

#[tokio::test]
async fn a_missing_or_unusable_certificate_stops_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Convene test CA");
    let (c, k) = ca.issue_now(&["localhost"]);
    let (_, other_key) = ca.issue_now(&["localhost"]);
    let write = |name: &str, contents: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let (cert, key, wrong_key, not_pem) =
        (write("cert.pem", &c), write("key.pem", &k), write("other.key", &other_key), write("notes.txt", "hello"));
    let missing = dir.path().join("missing.pem").to_str().unwrap().to_owned();
    let a_directory = dir.path().to_str().unwrap().to_owned();
    let listen = format!("127.0.0.1:{}", free_port());
    let cases = [
        (&missing, &key, format!("cannot read the certificate {missing}")),
        (&a_directory, &key, format!("cannot read the certificate {a_directory}")),
        (&cert, &missing, format!("cannot read the private key {missing}")),
        (&not_pem, &key, format!("the certificate file {not_pem} holds no CERTIFICATE block")),
        (&cert, &not_pem, format!("the private key file {not_pem} holds no usable PEM private key")),
        (&cert, &wrong_key, format!("the private key {wrong_key} does not belong to the certificate {cert}")),
    ];
    for (cert, key, message) in cases {
        let out = refused_start(dir.path(), &["--listen", &listen, "--tls-cert", cert, "--tls-key", key]).await;
        assert!(out.contains(&message), "expected {message:?} in:\n{out}");
    }
}

#[tokio::test]
async fn http_is_redirected_to_https_when_both_listen() {
    let dir = tempfile::tempdir().unwrap();
    let (http, https) = (free_port(), free_port());
    let (listen, https_listen) = (format!("127.0.0.1:{http}"), format!("127.0.0.1:{https}"));
    let _p = start_convene(dir.path(), &["--listen", &listen, "--https-listen", &https_listen, "--tls", "self-signed"])
        .await;
    let client = https_client(None);
    let r = client.post(format!("http://127.0.0.1:{http}/api/v1/users/login?next=%2Fm%2F1")).send().await.unwrap();
    assert_eq!(r.status(), 308, "the method survives the redirect");
    assert_eq!(r.headers()["location"], format!("https://127.0.0.1:{https}/api/v1/users/login?next=%2Fm%2F1"));
    let r = client.get(format!("https://127.0.0.1:{https}/healthz")).send().await.unwrap();
    assert!(r.status().is_success());
    // No HTTPS on the HTTP port.
    assert!(client.get(format!("https://127.0.0.1:{http}/healthz")).send().await.is_err());
}

#[tokio::test]
async fn turn_over_tls_shares_the_https_port() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let secret = "tls-turn-secret";
    let p = start_convene(
        dir.path(),
        &[
            "--listen",
            &listen,
            "--tls",
            "self-signed",
            "--turn",
            "--turn-listen",
            "127.0.0.1:0",
            "--turn-secret",
            secret,
        ],
    )
    .await;
    let c = Minter::new(secret).mint("alice", chrono::Utc::now().timestamp(), 600);
    let tls = netkit::tls_connect(loopback(port), "localhost").await;
    let mut turn = TurnClient::stream(Box::new(tls), &c.username, &c.password);
    let relayed =
        turn.allocate().await.unwrap_or_else(|code| panic!("TURN over TLS refused ({code}):\n{}", p.output()));
    assert!(relayed.ip().is_loopback(), "{relayed}");
    assert_eq!(turn.create_permission("127.0.0.2:9".parse().unwrap()).await, Err(403), "not an open relay");
    // The same port still serves the web app.
    let r = https_client(None).get(format!("https://127.0.0.1:{port}/healthz")).send().await.unwrap();
    assert!(r.status().is_success());
}

#[tokio::test]
async fn a_failing_acme_ca_keeps_the_kept_certificate_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let domain = "kept.convene.test";
    // Nothing listens there: every order fails.
    let directory = format!("https://127.0.0.1:{}/dir", free_port());
    // A kept certificate near its end, so a renewal is due at once.
    let ca = Ca::new("an earlier ACME CA");
    let now = time::OffsetDateTime::now_utc();
    let (cert, key) = ca.issue(&[domain], now - time::Duration::days(80), now + time::Duration::days(2));
    let kept = kept_certificate(&dir.path().join("tls/acme"), &[domain.to_owned()], &directory);
    std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
    std::fs::write(&kept, format!("{key}\n{cert}")).unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut p = start_convene(
        dir.path(),
        &["--listen", &listen, "--tls", "acme", "--acme-domain", domain, "--acme-directory", &directory],
    )
    .await;
    p.wait_for("ACME certificate request failed", Duration::from_secs(30)).await;
    assert_eq!(fingerprint(&served_certificate(loopback(port), domain).await), pem_fingerprint(&cert));
    assert!(verified_handshake(loopback(port), domain, ca.pem.as_bytes()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_come_from_a_real_acme_server_by_tls_alpn_01_and_http_01() {
    let (tls_port, http_port) = (free_port(), free_port());
    let Some(pebble) = Pebble::start(tls_port, http_port).await else { return };
    let root_args = ["--acme-directory", &pebble.directory, "--acme-ca-root", pebble.api_root.to_str().unwrap()];

    // TLS-ALPN-01: pebble validates on the HTTPS port.
    let alpn_dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{tls_port}");
    let mut args = vec!["--listen", &listen, "--tls", "acme", "--acme-domain", "alpn.convene.test"];
    args.extend(root_args);
    let mut alpn = start_convene(alpn_dir.path(), &args).await;

    // HTTP-01: pebble validates on the plain HTTP port, which redirects everything else.
    let http_dir = tempfile::tempdir().unwrap();
    let https_port = free_port();
    let (listen, https_listen) = (format!("127.0.0.1:{http_port}"), format!("127.0.0.1:{https_port}"));
    let mut args = vec!["--listen", &listen, "--https-listen", &https_listen, "--tls", "acme"];
    args.extend(["--acme-domain", "http.convene.test", "--acme-challenge", "http-01"]);
    args.extend(root_args);
    let mut http = start_convene(http_dir.path(), &args).await;

    for p in [&mut alpn, &mut http] {
        if !p.output().contains("DeployedNewCert") {
            let wait = p.wait_for("DeployedNewCert", Duration::from_secs(90));
            if tokio::time::timeout(Duration::from_secs(91), wait).await.is_err() {
                panic!("no certificate; pebble said:\n{}", pebble.output());
            }
        }
    }
    let root = pebble.issuing_root().await;
    verified_handshake(loopback(tls_port), "alpn.convene.test", &root).await.expect("TLS-ALPN-01 certificate");
    verified_handshake(loopback(https_port), "http.convene.test", &root).await.expect("HTTP-01 certificate");
    // The certificate is kept for the next start.
    assert!(std::fs::read_dir(alpn_dir.path().join("tls/acme")).unwrap().any(|e| {
        let name = e.unwrap().file_name().into_string().unwrap();
        name.starts_with("alpn.convene.test@") && name.ends_with(".pem")
    }));
}
