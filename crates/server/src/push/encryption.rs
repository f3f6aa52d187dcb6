//! Message encryption for Web Push (RFC 8291): the `aes128gcm` content coding of RFC 8188.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use sha2::Sha256;

use super::{MAX_PLAINTEXT, RECORD_SIZE};
use crate::error::Result;

/// Decodes base64url, tolerating padding and the standard alphabet.
pub fn decode_b64url(s: &str) -> Option<Vec<u8>> {
    let cleaned: String = s
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| {
            if c == '+' {
                '-'
            } else if c == '/' {
                '_'
            } else {
                c
            }
        })
        .collect();
    URL_SAFE_NO_PAD.decode(cleaned).ok()
}

/// Encrypts `plaintext` for a subscriber with public key `ua_public` (65-byte uncompressed
/// point) and authentication secret `auth` (16 bytes): the complete `aes128gcm` body.
pub fn encrypt(plaintext: &[u8], ua_public: &[u8], auth: &[u8]) -> Result<Vec<u8>> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(anyhow::anyhow!("push payload too large ({} bytes)", plaintext.len()).into());
    }
    let ua_key = p256::PublicKey::from_sec1_bytes(ua_public).map_err(|_| anyhow::anyhow!("invalid p256dh key"))?;
    let ephemeral = p256::ecdh::EphemeralSecret::random(&mut rand::rngs::OsRng);
    let as_public = ephemeral.public_key().to_encoded_point(false);
    let shared = ephemeral.diffie_hellman(&ua_key);
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
    encrypt_with(plaintext, ua_public, auth, as_public.as_bytes(), shared.raw_secret_bytes(), &salt)
}

/// The deterministic part of [`encrypt`] (RFC 8291 §3.4 and RFC 8188 §2).
fn encrypt_with(
    plaintext: &[u8],
    ua_public: &[u8],
    auth: &[u8],
    as_public: &[u8],
    ecdh_secret: &[u8],
    salt: &[u8; 16],
) -> Result<Vec<u8>> {
    let hkdf_err = |_| anyhow::anyhow!("hkdf output length");
    // IKM = HKDF(auth, ecdh_secret, "WebPush: info" || 0x00 || ua_public || as_public, 32)
    let mut key_info = Vec::with_capacity(14 + 130);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), ecdh_secret).expand(&key_info, &mut ikm).map_err(hkdf_err)?;
    // CEK and nonce from the salt (RFC 8188 §2.2, §2.3).
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).map_err(hkdf_err)?;
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).map_err(hkdf_err)?;
    // One record: plaintext, then the last-record delimiter 0x02, no padding.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(2);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| anyhow::anyhow!("aes key length"))?;
    let sealed =
        cipher.encrypt(Nonce::from_slice(&nonce), record.as_slice()).map_err(|_| anyhow::anyhow!("aes-gcm failed"))?;
    // Header: salt (16) || rs (u32 BE) || idlen (1) || keyid (the sender's public key).
    let mut body = Vec::with_capacity(21 + as_public.len() + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&sealed);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8291 §5 / Appendix A test vector.
    #[test]
    fn rfc8291_example() {
        let b = |s: &str| decode_b64url(s).unwrap();
        let plaintext = b"When I grow up, I want to be a watermelon";
        let ua_public = b("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let auth = b("BTBZMqHH6r4Tts7J_aSIgg");
        let as_private = b("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw");
        let salt: [u8; 16] = b("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let expected = b("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN");
        let secret = p256::SecretKey::from_slice(&as_private).unwrap();
        let as_public = secret.public_key().to_encoded_point(false);
        let ua_key = p256::PublicKey::from_sec1_bytes(&ua_public).unwrap();
        let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), ua_key.as_affine());
        // The RFC example uses rs = 4096 too.
        let body =
            encrypt_with(plaintext, &ua_public, &auth, as_public.as_bytes(), shared.raw_secret_bytes(), &salt).unwrap();
        assert_eq!(body, expected);
    }
}
