//! What a browser hands over when it subscribes, checked before it is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::decode_b64url;
use crate::error::{Error, Result};

/// Checks a subscription endpoint's form: an `https` URL without credentials. Plain `http`
/// to a loopback host is accepted only while the server itself runs on a loopback `http` URL
/// (development and tests). Which addresses it may reach is the outbound rule's call
/// ([`crate::outbound`]), checked by the caller and again at delivery.
pub fn validate_endpoint(endpoint: &str, public_url: &str) -> Result<url::Url> {
    let bad = |why: &str| Error::invalid("invalid_endpoint", why.to_owned());
    if endpoint.len() > 2048 {
        return Err(bad("endpoint is longer than 2048 characters"));
    }
    let url = url::Url::parse(endpoint).map_err(|_| bad("endpoint is not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("endpoint must not carry credentials"));
    }
    let host = url.host().ok_or_else(|| bad("endpoint has no host"))?;
    let dev = url::Url::parse(public_url)
        .ok()
        .is_some_and(|p| p.scheme() == "http" && p.host().as_ref().is_some_and(is_loopback));
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&host) && dev => Ok(url),
        _ => Err(bad("endpoint must be an https URL")),
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Checks the subscription keys: `p256dh` a base64url uncompressed P-256 point (65 bytes,
/// starting 0x04) and `auth` base64url of 16 bytes. Returns them re-encoded canonically.
pub fn validate_keys(p256dh: &str, auth: &str) -> Result<(String, String)> {
    let key = decode_b64url(p256dh)
        .filter(|k| k.len() == 65 && k[0] == 4 && p256::PublicKey::from_sec1_bytes(k).is_ok())
        .ok_or_else(|| {
            Error::invalid("invalid_keys", "keys.p256dh must be a base64url uncompressed P-256 point (65 bytes)")
        })?;
    let secret = decode_b64url(auth)
        .filter(|a| a.len() == 16)
        .ok_or_else(|| Error::invalid("invalid_keys", "keys.auth must be 16 bytes, base64url"))?;
    Ok((URL_SAFE_NO_PAD.encode(key), URL_SAFE_NO_PAD.encode(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let prod = "https://meet.example.com";
        let dev = "http://127.0.0.1:8080";
        assert!(validate_endpoint("https://fcm.googleapis.com/fcm/send/abc", prod).is_ok());
        assert!(validate_endpoint("http://fcm.googleapis.com/fcm/send/abc", prod).is_err());
        assert!(validate_endpoint("http://127.0.0.1:9/push", prod).is_err());
        assert!(validate_endpoint("http://127.0.0.1:9/push", dev).is_ok());
        assert!(validate_endpoint("ftp://example.com/push", prod).is_err());
        assert!(validate_endpoint("not a url", prod).is_err());
    }
}
