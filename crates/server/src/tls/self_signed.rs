//! `--tls self-signed`: a certificate made once and kept in the data directory, so the
//! fingerprint people accepted (or pinned) stays the same across restarts.

use std::path::Path;

use chrono::Datelike;
use rustls::sign::CertifiedKey;

/// Loads the data directory's self-signed certificate, making it the first time for `names`
/// (host names and IP addresses). Returns it with the paths of its two files.
pub(super) fn load_or_make(dir: &Path, names: &[String]) -> anyhow::Result<CertifiedKey> {
    let cert = dir.join("self-signed.crt");
    let key = dir.join("self-signed.key");
    if !cert.exists() && !key.exists() {
        make(dir, names)?;
        tracing::info!(certificate = %cert.display(), ?names, "made a self-signed TLS certificate");
    }
    super::certs::load(&cert, &key)
        .map_err(|e| anyhow::anyhow!("{e} (delete both self-signed.* files in {} to make new ones)", dir.display()))
}

fn make(dir: &Path, names: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "Convene (self-signed)");
    let year = chrono::Utc::now().year();
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    write_private(&dir.join("self-signed.key"), key.serialize_pem().as_bytes())?;
    std::fs::write(dir.join("self-signed.crt"), cert.pem())?;
    Ok(())
}

/// Writes a file only its owner may read (a private key).
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    Ok(())
}
