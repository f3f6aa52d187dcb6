//! SRTP and SRTCP protection (RFC 3711, RFC 7714) for the downlink, keyed by DTLS-SRTP (RFC 5764).
//!
//! The downlink sends SRTP and SRTCP sender reports and receives SRTCP feedback. The ciphers
//! and the HMAC are str0m-proto's provider traits backed by aws-lc-rs; this module owns what
//! the provider does not: key derivation, the packet layouts, the rollover counters and the
//! SRTCP replay window.

use std::fmt;

use str0m_proto::crypto::{AeadAes128Gcm, AeadAes128GcmCipher, AeadAes256Gcm, AeadAes256GcmCipher};
use str0m_proto::crypto::{Aes128CmSha1_80, Aes128CmSha1_80Cipher, Sha1HmacProvider, SrtpProvider};

use crate::maps::Map;

/// Key-derivation labels (encryption, authentication, salt) for SRTP and for SRTCP
/// (RFC 3711 §4.3.1, §4.3.2).
const RTP_LABELS: [u8; 3] = [0x00, 0x01, 0x02];
const RTCP_LABELS: [u8; 3] = [0x03, 0x04, 0x05];

/// An SRTCP packet keeps its first RTCP header and the sender SSRC in the clear (RFC 3711 §3.4).
const RTCP_CLEAR: usize = 8;
/// The trailer word of an SRTCP packet: the E flag and the 31-bit SRTCP index.
const RTCP_TRAILER: usize = 4;
const E_FLAG: u32 = 0x8000_0000;
const SRTCP_INDEX_MASK: u32 = 0x7fff_ffff;
/// How many SRTCP indices below the highest one the replay window remembers (RFC 3711 §3.3.2
/// asks for at least 64).
const REPLAY_WINDOW: u64 = 128;

const HMAC_TAG_LEN: usize = Aes128CmSha1_80::HMAC_TAG_LEN;
const GCM_TAG_LEN: usize = AeadAes128Gcm::TAG_LEN;
/// aws-lc-rs refuses (by assertion) GCM associated data shorter than this.
const GCM_MIN_AAD: usize = 12;

/// The SRTP protection profile DTLS-SRTP negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpProfile {
    /// SRTP_AES128_CM_HMAC_SHA1_80 (RFC 5764).
    Aes128CmSha1_80,
    /// SRTP_AEAD_AES_128_GCM (RFC 7714).
    AeadAes128Gcm,
    /// SRTP_AEAD_AES_256_GCM (RFC 7714).
    AeadAes256Gcm,
}

impl SrtpProfile {
    fn master_key_len(self) -> usize {
        match self {
            Self::Aes128CmSha1_80 => Aes128CmSha1_80::KEY_LEN,
            Self::AeadAes128Gcm => AeadAes128Gcm::KEY_LEN,
            Self::AeadAes256Gcm => AeadAes256Gcm::KEY_LEN,
        }
    }

    fn master_salt_len(self) -> usize {
        match self {
            Self::Aes128CmSha1_80 => Aes128CmSha1_80::SALT_LEN,
            Self::AeadAes128Gcm => AeadAes128Gcm::SALT_LEN,
            Self::AeadAes256Gcm => AeadAes256Gcm::SALT_LEN,
        }
    }

    fn tag_len(self) -> usize {
        match self {
            Self::Aes128CmSha1_80 => HMAC_TAG_LEN,
            Self::AeadAes128Gcm | Self::AeadAes256Gcm => GCM_TAG_LEN,
        }
    }

    /// Bytes of keying material DTLS must export for both directions (2*(key+salt)).
    pub fn keying_material_len(self) -> usize {
        2 * (self.master_key_len() + self.master_salt_len())
    }

    /// The profile dimpl negotiated, if this module implements it.
    pub fn from_dimpl(profile: dimpl::SrtpProfile) -> Option<Self> {
        match profile {
            dimpl::SrtpProfile::AES128_CM_SHA1_80 => Some(Self::Aes128CmSha1_80),
            dimpl::SrtpProfile::AEAD_AES_128_GCM => Some(Self::AeadAes128Gcm),
            dimpl::SrtpProfile::AEAD_AES_256_GCM => Some(Self::AeadAes256Gcm),
            // dimpl's enum is non-exhaustive: a profile it learns later is one we cannot run.
            _ => None,
        }
    }
}

/// One direction's SRTP+SRTCP state (master key -> session keys, per-SSRC rollover counters,
/// SRTCP index).
///
/// A context made for sending is used with the `protect_*` methods and one made for receiving
/// with the `unprotect_*` methods (the ciphers are built for that direction). The receive side
/// keeps replay windows (RFC 3711 §3.3.2) per SSRC, for SRTP and for SRTCP (by the sender SSRC
/// of the compound: browsers count SRTCP indices per sending stream).
pub struct SrtpContext {
    profile: SrtpProfile,
    rtp: Transform,
    rtcp: Transform,
    hmac: &'static dyn Sha1HmacProvider,
    /// Highest 48-bit SRTP packet index (ROC << 16 | SEQ) per SSRC: protected so far when
    /// sending, authenticated so far when receiving (RFC 3711 §3.3.1).
    highest: Map<u32, u64>,
    /// The SRTCP index the next protected RTCP packet gets.
    rtcp_next_index: u32,
    rtcp_replay: Map<u32, ReplayWindow>,
    /// Per SSRC, which RTP packet indices were authenticated.
    rtp_replay: Map<u32, ReplayWindow>,
}

impl fmt::Debug for SrtpContext {
    // Leaves the session keys out on purpose.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpContext")
            .field("profile", &self.profile)
            .field("ssrcs", &self.highest.len())
            .field("rtcp_next_index", &self.rtcp_next_index)
            .finish_non_exhaustive()
    }
}

impl SrtpContext {
    /// Splits exported DTLS-SRTP keying material (RFC 5764 §4.2: client key, server key,
    /// client salt, server salt) into (local outbound context, remote inbound context).
    /// `local_is_dtls_client` picks which half is ours.
    pub fn pair_from_keying_material(
        profile: SrtpProfile,
        material: &[u8],
        local_is_dtls_client: bool,
    ) -> Option<(SrtpContext, SrtpContext)> {
        if material.len() != profile.keying_material_len() {
            return None;
        }
        let (keys, salts) = material.split_at(2 * profile.master_key_len());
        let (client_key, server_key) = keys.split_at(profile.master_key_len());
        let (client_salt, server_salt) = salts.split_at(profile.master_salt_len());
        let client = (client_key, client_salt);
        let server = (server_key, server_salt);
        let (local, remote) = if local_is_dtls_client { (client, server) } else { (server, client) };
        Some((Self::new(profile, local.0, local.1, true), Self::new(profile, remote.0, remote.1, false)))
    }

    /// A context from one direction's master key and salt, whose lengths the caller checked.
    fn new(profile: SrtpProfile, master_key: &[u8], master_salt: &[u8], encrypt: bool) -> Self {
        let provider = str0m_aws_lc_rs::default_provider();
        let srtp = provider.srtp_provider;
        let rtp = Transform::derive(srtp, profile, master_key, master_salt, RTP_LABELS, encrypt);
        let rtcp = Transform::derive(srtp, profile, master_key, master_salt, RTCP_LABELS, encrypt);
        Self::from_transforms(profile, rtp, rtcp)
    }

    fn from_transforms(profile: SrtpProfile, rtp: Transform, rtcp: Transform) -> Self {
        SrtpContext {
            profile,
            rtp,
            rtcp,
            hmac: str0m_aws_lc_rs::default_provider().sha1_hmac_provider,
            highest: Map::default(),
            rtcp_next_index: 0,
            rtcp_replay: Map::default(),
            rtp_replay: Map::default(),
        }
    }

    /// Protects an RTP packet (header incl. extensions + payload, plaintext) into `out`
    /// (cleared first): header copied, payload encrypted, auth tag appended. Returns false on
    /// a malformed header.
    ///
    /// The rollover counter is tracked per SSRC from the sequence numbers given: a sequence
    /// number that wraps moves it on, and an older one (a retransmission or a reordering within
    /// 2^15) is protected under the rollover counter it was first sent with.
    pub fn protect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(header_len) = rtp_header_len(packet) else {
            out.clear();
            return false;
        };
        let (header, payload) = packet.split_at(header_len);
        self.protect_rtp_parts(header, payload, out)
    }

    /// [`SrtpContext::protect_rtp`] of a packet given as its header and its payload apart, so
    /// that a payload every subscriber shares is read where it lies: the cipher writes the
    /// only copy of it, into `out`. False if `header` is not exactly one RTP header.
    pub fn protect_rtp_parts(&mut self, header: &[u8], payload: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        if rtp_header_len(header) != Some(header.len()) {
            return false;
        }
        let (seq, ssrc) = rtp_seq_ssrc(header);
        let index = match self.highest.get_mut(&ssrc) {
            Some(highest) => {
                let index = estimate_index(*highest, seq);
                *highest = (*highest).max(index);
                index
            }
            None => {
                // A new stream starts with ROC 0 (RFC 3711 §3.3.1).
                self.highest.insert(ssrc, u64::from(seq));
                u64::from(seq)
            }
        };
        let header_len = header.len();
        let len = header_len + payload.len();
        out.extend_from_slice(header);
        // Zeros the cipher overwrites: cheaper than copying the payload only to overwrite it.
        out.resize(len + self.profile.tag_len(), 0);
        let ok = match &mut self.rtp {
            Transform::Cm { cipher, auth_key, salt } => {
                let iv = Aes128CmSha1_80::rtp_iv(*salt, ssrc, index);
                let hmac = self.hmac;
                let sealed = ctr(cipher.as_mut(), true, &iv, payload, &mut out[header_len..len]);
                if sealed {
                    let sha1 = |key: &[u8], data: &[&[u8]]| hmac.sha1_hmac(key, data);
                    Aes128CmSha1_80::rtp_hmac(sha1, auth_key, out, index, len);
                }
                sealed
            }
            Transform::Gcm { cipher, salt } => {
                // RFC 7714 §8.1: the IV does not depend on the key size.
                let iv = AeadAes128Gcm::rtp_iv(*salt, ssrc, roc(index), seq);
                cipher.seal(&iv, header, payload, &mut out[header_len..])
            }
        };
        if !ok {
            out.clear();
        }
        ok
    }

    /// Authenticates and decrypts an SRTP packet; None if malformed, too short, not authentic,
    /// or replayed (or older than the replay window).
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.unprotect_rtp_into(packet, &mut out).then_some(out)
    }

    /// [`SrtpContext::unprotect_rtp`] into `out` (replaced; a publisher's every packet comes
    /// here, and a fresh zeroed buffer each was ~5 % of the uplink's instructions). False if
    /// it was rejected.
    pub fn unprotect_rtp_into(&mut self, packet: &[u8], out: &mut Vec<u8>) -> bool {
        self.unprotect_rtp_in(packet, out).is_some()
    }

    fn unprotect_rtp_in(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Option<()> {
        let header_len = rtp_header_len(packet)?;
        let body_end = packet.len().checked_sub(self.profile.tag_len())?;
        if body_end < header_len {
            return None;
        }
        let (seq, ssrc) = rtp_seq_ssrc(packet);
        let highest = self.highest.get(&ssrc).copied();
        let index = highest.map_or(u64::from(seq), |highest| estimate_index(highest, seq));
        if self.rtp_replay.get(&ssrc).is_some_and(|w| !w.is_fresh(index)) {
            return None;
        }
        out.clear();
        out.extend_from_slice(&packet[..header_len]);
        out.resize(body_end, 0);
        match &mut self.rtp {
            Transform::Cm { cipher, auth_key, salt } => {
                let hmac = self.hmac;
                let sha1 = |key: &[u8], data: &[&[u8]]| hmac.sha1_hmac(key, data);
                let tag = &packet[body_end..];
                if !Aes128CmSha1_80::rtp_verify(sha1, auth_key, &packet[..body_end], index, tag) {
                    return None;
                }
                let iv = Aes128CmSha1_80::rtp_iv(*salt, ssrc, index);
                if !ctr(cipher.as_mut(), false, &iv, &packet[header_len..body_end], &mut out[header_len..]) {
                    return None;
                }
            }
            Transform::Gcm { cipher, salt } => {
                let iv = AeadAes128Gcm::rtp_iv(*salt, ssrc, roc(index), seq);
                if !cipher.open(&iv, &[&packet[..header_len]], &packet[header_len..], &mut out[header_len..]) {
                    return None;
                }
            }
        }
        // Only an authentic packet may move the rollover state (RFC 3711 §3.3.1) or the window.
        if highest.is_none_or(|highest| index > highest) {
            self.highest.insert(ssrc, index);
        }
        self.rtp_replay.entry(ssrc).or_default().accept(index);
        Some(())
    }

    /// Protects a compound RTCP packet into `out` (cleared first): always encrypted (E flag
    /// set), with the next 31-bit SRTCP index and the auth tag. Returns false if the packet is
    /// too short to be RTCP.
    pub fn protect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        if packet.len() < RTCP_CLEAR || packet[0] >> 6 != 2 {
            return false;
        }
        let ssrc = be_u32(&packet[4..8]);
        let index = self.rtcp_next_index;
        // The index wraps modulo 2^31 (RFC 3711 §3.4); a master key must not see that many.
        self.rtcp_next_index = index.wrapping_add(1) & SRTCP_INDEX_MASK;
        let trailer = (E_FLAG | index).to_be_bytes();
        let (header, body) = packet.split_at(RTCP_CLEAR);
        out.extend_from_slice(packet);
        let ok = match &mut self.rtcp {
            // header | encrypted body | E+index | tag (RFC 3711 §3.4)
            Transform::Cm { cipher, auth_key, salt } => {
                // RFC 3711 §4.1.1: SRTCP uses the SRTP IV with the SRTCP index as packet index.
                let iv = Aes128CmSha1_80::rtp_iv(*salt, ssrc, u64::from(index));
                let sealed = ctr(cipher.as_mut(), true, &iv, body, &mut out[RTCP_CLEAR..]);
                if sealed {
                    out.extend_from_slice(&trailer);
                    let auth_end = out.len();
                    out.resize(auth_end + HMAC_TAG_LEN, 0);
                    let hmac = self.hmac;
                    let sha1 = |key: &[u8], data: &[&[u8]]| hmac.sha1_hmac(key, data);
                    Aes128CmSha1_80::rtcp_hmac(sha1, auth_key, out, auth_end);
                }
                sealed
            }
            // header | encrypted body | tag | E+index, the AAD being header + E+index
            // (RFC 7714 §9.1, §17).
            Transform::Gcm { cipher, salt } => {
                let iv = AeadAes128Gcm::rtcp_iv(*salt, ssrc, index);
                let aad = rtcp_aad(header, trailer);
                out.resize(packet.len() + GCM_TAG_LEN, 0);
                let sealed = cipher.seal(&iv, &aad, body, &mut out[RTCP_CLEAR..]);
                out.extend_from_slice(&trailer);
                sealed
            }
        };
        if !ok {
            out.clear();
        }
        ok
    }

    /// Authenticates and decrypts an SRTCP packet; None if too short, not authentic, or
    /// replayed (or older than the replay window).
    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Option<Vec<u8>> {
        let tag_len = self.profile.tag_len();
        if packet.len() < RTCP_CLEAR + RTCP_TRAILER + tag_len {
            return None;
        }
        let ssrc = be_u32(&packet[4..8]);
        let (index, plain) = match &mut self.rtcp {
            Transform::Cm { cipher, auth_key, salt } => {
                let auth_end = packet.len() - tag_len;
                let body_end = auth_end - RTCP_TRAILER;
                let (index, encrypted) = split_trailer(&packet[body_end..auth_end]);
                if self.rtcp_replay.get(&ssrc).is_some_and(|w| !w.is_fresh(u64::from(index))) {
                    return None;
                }
                let hmac = self.hmac;
                let sha1 = |key: &[u8], data: &[&[u8]]| hmac.sha1_hmac(key, data);
                if !Aes128CmSha1_80::rtcp_verify(sha1, auth_key, &packet[..auth_end], &packet[auth_end..]) {
                    return None;
                }
                let mut out = packet[..body_end].to_vec();
                let iv = Aes128CmSha1_80::rtp_iv(*salt, ssrc, u64::from(index));
                if encrypted && !ctr(cipher.as_mut(), false, &iv, &packet[RTCP_CLEAR..body_end], &mut out[RTCP_CLEAR..])
                {
                    return None;
                }
                (index, out)
            }
            Transform::Gcm { cipher, salt } => {
                let trailer_start = packet.len() - RTCP_TRAILER;
                let trailer: [u8; RTCP_TRAILER] = packet[trailer_start..].try_into().ok()?;
                let (index, encrypted) = split_trailer(&trailer);
                if self.rtcp_replay.get(&ssrc).is_some_and(|w| !w.is_fresh(u64::from(index))) {
                    return None;
                }
                let iv = AeadAes128Gcm::rtcp_iv(*salt, ssrc, index);
                let sealed = &packet[..trailer_start];
                if encrypted {
                    let aad = rtcp_aad(&packet[..RTCP_CLEAR], trailer);
                    let mut out = vec![0; trailer_start - tag_len];
                    out[..RTCP_CLEAR].copy_from_slice(&packet[..RTCP_CLEAR]);
                    if !cipher.open(&iv, &[&aad], &sealed[RTCP_CLEAR..], &mut out[RTCP_CLEAR..]) {
                        return None;
                    }
                    (index, out)
                } else {
                    // Authentication only (RFC 7714 §9.2): the whole packet is associated data
                    // and the ciphertext is just the tag.
                    let (clear, tag) = sealed.split_at(sealed.len() - tag_len);
                    if !cipher.open(&iv, &[clear, &trailer], tag, &mut []) {
                        return None;
                    }
                    (index, clear.to_vec())
                }
            }
        };
        // Only an authentic packet may move the replay window.
        self.rtcp_replay.entry(ssrc).or_default().accept(u64::from(index));
        Some(plain)
    }
}

/// The session keys of one half (SRTP or SRTCP) of a context, with the cipher built once.
enum Transform {
    /// AES-128 counter mode with HMAC-SHA1 truncated to 80 bits (RFC 3711 §4.1.1, §4.2.1).
    Cm { cipher: Box<dyn Aes128CmSha1_80Cipher>, auth_key: [u8; 20], salt: [u8; 14] },
    /// AES-GCM with a 16-byte tag (RFC 7714).
    Gcm { cipher: Aead, salt: [u8; 12] },
}

impl Transform {
    /// Session keys from a master key and salt with the AES-CM PRF, which RFC 7714 §11 keeps
    /// for GCM too (with an AES-256 PRF for 256-bit master keys).
    fn derive(
        srtp: &dyn SrtpProvider,
        profile: SrtpProfile,
        master_key: &[u8],
        master_salt: &[u8],
        [enc, auth, salt]: [u8; 3],
        encrypt: bool,
    ) -> Self {
        let prf = Prf { srtp, master_key, master_salt };
        match profile {
            SrtpProfile::Aes128CmSha1_80 => Self::Cm {
                cipher: srtp.aes_128_cm_sha1_80().create_cipher(prf.derive(enc), encrypt),
                auth_key: prf.derive(auth),
                salt: prf.derive(salt),
            },
            SrtpProfile::AeadAes128Gcm => Self::Gcm {
                cipher: Aead::Aes128(srtp.aead_aes_128_gcm().create_cipher(prf.derive(enc), encrypt)),
                salt: prf.derive(salt),
            },
            SrtpProfile::AeadAes256Gcm => Self::Gcm {
                cipher: Aead::Aes256(srtp.aead_aes_256_gcm().create_cipher(prf.derive(enc), encrypt)),
                salt: prf.derive(salt),
            },
        }
    }
}

/// The key-derivation PRF of RFC 3711 §4.3.1 and §4.3.3, with a key derivation rate of 0.
struct Prf<'a> {
    srtp: &'a dyn SrtpProvider,
    master_key: &'a [u8],
    master_salt: &'a [u8],
}

impl Prf<'_> {
    fn derive<const N: usize>(&self, label: u8) -> [u8; N] {
        // x = key_id XOR master_salt, key_id = label || r (48 bits, 0 when kdr = 0), both right
        // aligned in 112 bits, so the label lands on byte 7. A 96-bit GCM salt is left aligned
        // (padded with zeros on the right), as libsrtp does. The AES-CM input is x * 2^16 plus
        // the block counter.
        let mut input = [0u8; 16];
        let salt_len = self.master_salt.len().min(14);
        input[..salt_len].copy_from_slice(&self.master_salt[..salt_len]);
        input[7] ^= label;
        let mut derived = [0u8; N];
        for (counter, chunk) in (0u16..).zip(derived.chunks_mut(16)) {
            input[14..].copy_from_slice(&counter.to_be_bytes());
            // Room for a padding block, should a provider append one.
            let mut block = [0u8; 32];
            if self.master_key.len() == 32 {
                self.srtp.srtp_aes_256_ecb_round(self.master_key, &input, &mut block);
            } else {
                self.srtp.srtp_aes_128_ecb_round(self.master_key, &input, &mut block);
            }
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        derived
    }
}

/// The two GCM key sizes behind one interface: their traits only differ in the key type.
enum Aead {
    Aes128(Box<dyn AeadAes128GcmCipher>),
    Aes256(Box<dyn AeadAes256GcmCipher>),
}

impl Aead {
    /// Encrypts `input` into `output`, the tag right after the ciphertext.
    fn seal(&mut self, iv: &[u8; 12], aad: &[u8], input: &[u8], output: &mut [u8]) -> bool {
        // The backend asserts both; checking here keeps bad input from panicking.
        if aad.len() < GCM_MIN_AAD || output.len() < input.len() + GCM_TAG_LEN {
            return false;
        }
        match self {
            Self::Aes128(cipher) => cipher.encrypt(iv, aad, input, output).is_ok(),
            Self::Aes256(cipher) => cipher.encrypt(iv, aad, input, output).is_ok(),
        }
    }

    /// Authenticates and decrypts `input` (ciphertext then tag) into `output`.
    fn open(&mut self, iv: &[u8; 12], aads: &[&[u8]], input: &[u8], output: &mut [u8]) -> bool {
        let Some(plain_len) = input.len().checked_sub(GCM_TAG_LEN) else {
            return false;
        };
        if output.len() < plain_len {
            return false;
        }
        match self {
            Self::Aes128(cipher) => cipher.decrypt(iv, aads, input, output).is_ok(),
            Self::Aes256(cipher) => cipher.decrypt(iv, aads, input, output).is_ok(),
        }
    }
}

/// AES counter mode over `input` into `output`. An empty input is left alone rather than handed
/// to a backend that may not expect it.
fn ctr(cipher: &mut dyn Aes128CmSha1_80Cipher, encrypt: bool, iv: &[u8; 16], input: &[u8], output: &mut [u8]) -> bool {
    if input.is_empty() {
        return true;
    }
    if output.len() < input.len() {
        return false;
    }
    let result = if encrypt { cipher.encrypt(iv, input, output) } else { cipher.decrypt(iv, input, output) };
    result.is_ok()
}

/// Which SRTCP indices (or one SSRC's SRTP packet indices) were authenticated: the highest
/// and a bitmap of the 127 below it.
#[derive(Default)]
struct ReplayWindow {
    highest: Option<u64>,
    /// Bit k set: index `highest - k` was accepted.
    seen: u128,
}

impl ReplayWindow {
    fn is_fresh(&self, index: u64) -> bool {
        match self.highest {
            None => true,
            Some(highest) if index > highest => true,
            Some(highest) => {
                let age = highest - index;
                age < REPLAY_WINDOW && self.seen & (1u128 << age) == 0
            }
        }
    }

    fn accept(&mut self, index: u64) {
        let shift = |by: u64| u32::try_from(by).unwrap_or(u32::MAX);
        match self.highest {
            Some(highest) if index <= highest => {
                self.seen |= 1u128.checked_shl(shift(highest - index)).unwrap_or(0);
            }
            Some(highest) => {
                self.seen = self.seen.checked_shl(shift(index - highest)).unwrap_or(0) | 1;
                self.highest = Some(index);
            }
            None => {
                self.seen = 1;
                self.highest = Some(index);
            }
        }
    }
}

/// RFC 3711 Appendix A: the packet index of `seq` is the one nearest to the highest index seen,
/// taking the rollover counter as ROC - 1, ROC or ROC + 1.
fn estimate_index(highest: u64, seq: u16) -> u64 {
    let roc = highest >> 16;
    // Truncation wanted: the low 16 bits are the highest sequence number, s_l.
    let s_l = highest as u16;
    let roc = if s_l < 0x8000 {
        if seq > s_l && seq - s_l > 0x8000 {
            // From before the last wrap; a stream's first ROC is 0, so there is none before it.
            roc.saturating_sub(1)
        } else {
            roc
        }
    } else if seq < s_l - 0x8000 {
        roc + 1
    } else {
        roc
    };
    (roc << 16) | u64::from(seq)
}

/// The rollover counter of a 48-bit packet index.
fn roc(index: u64) -> u32 {
    // Truncation wanted: the index is 48 bits.
    (index >> 16) as u32
}

/// Length of the RTP header: 12 + 4*CC + (if X: 4 + 4*extension words); None if the packet is
/// not RTP version 2 or is shorter than its header.
fn rtp_header_len(packet: &[u8]) -> Option<usize> {
    let first = *packet.first()?;
    if first >> 6 != 2 {
        return None;
    }
    let mut len = 12 + 4 * usize::from(first & 0x0f);
    if first & 0x10 != 0 {
        let words = packet.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    (len <= packet.len()).then_some(len)
}

/// Sequence number and SSRC of a packet `rtp_header_len` accepted.
fn rtp_seq_ssrc(packet: &[u8]) -> (u16, u32) {
    (u16::from_be_bytes([packet[2], packet[3]]), be_u32(&packet[8..12]))
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The SRTCP index and E flag of the trailer word.
fn split_trailer(trailer: &[u8]) -> (u32, bool) {
    let word = be_u32(trailer);
    (word & SRTCP_INDEX_MASK, word & E_FLAG != 0)
}

/// The associated data of an encrypted AEAD SRTCP packet: the clear 8 bytes, then E+index.
fn rtcp_aad(header: &[u8], trailer: [u8; RTCP_TRAILER]) -> [u8; RTCP_CLEAR + RTCP_TRAILER] {
    let mut aad = [0u8; RTCP_CLEAR + RTCP_TRAILER];
    aad[..RTCP_CLEAR].copy_from_slice(&header[..RTCP_CLEAR]);
    aad[RTCP_CLEAR..].copy_from_slice(&trailer);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILES: [SrtpProfile; 3] =
        [SrtpProfile::Aes128CmSha1_80, SrtpProfile::AeadAes128Gcm, SrtpProfile::AeadAes256Gcm];

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
    }

    /// Keying material with distinct bytes, so that a mixed-up split cannot go unnoticed.
    fn material(profile: SrtpProfile) -> Vec<u8> {
        (0..profile.keying_material_len()).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// (A's outbound, B's inbound) for A the DTLS client and B the server, and (B's outbound,
    /// A's inbound).
    fn pairs(profile: SrtpProfile) -> ((SrtpContext, SrtpContext), (SrtpContext, SrtpContext)) {
        let material = material(profile);
        let (a_out, a_in) = SrtpContext::pair_from_keying_material(profile, &material, true).unwrap();
        let (b_out, b_in) = SrtpContext::pair_from_keying_material(profile, &material, false).unwrap();
        ((a_out, b_in), (b_out, a_in))
    }

    fn rtp(seq: u16, ssrc: u32, csrcs: &[u32], extension: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
        let mut packet = vec![0x80 | csrcs.len() as u8, 96];
        if extension.is_some() {
            packet[0] |= 0x10;
        }
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        packet.extend_from_slice(&ssrc.to_be_bytes());
        for csrc in csrcs {
            packet.extend_from_slice(&csrc.to_be_bytes());
        }
        if let Some(extension) = extension {
            assert_eq!(extension.len() % 4, 0);
            packet.extend_from_slice(&[0xbe, 0xde]);
            packet.extend_from_slice(&((extension.len() / 4) as u16).to_be_bytes());
            packet.extend_from_slice(extension);
        }
        packet.extend_from_slice(payload);
        packet
    }

    /// A compound RTCP packet: a receiver report with one block, then a PLI.
    fn rtcp() -> Vec<u8> {
        let mut packet = hex("81c90007 11223344 55667788 00000001 0000ffff 00000010 00000000 00000000");
        packet.extend_from_slice(&hex("81ce0002 11223344 55667788"));
        packet
    }

    fn protect_rtp(ctx: &mut SrtpContext, packet: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(ctx.protect_rtp(packet, &mut out));
        out
    }

    fn protect_rtcp(ctx: &mut SrtpContext, packet: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(ctx.protect_rtcp(packet, &mut out));
        out
    }

    #[test]
    fn rfc3711_b3_key_derivation() {
        let master_key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
        let master_salt = hex("0EC675AD498AFEEBB6960B3AABE6");
        let prf = Prf {
            srtp: str0m_aws_lc_rs::default_provider().srtp_provider,
            master_key: &master_key,
            master_salt: &master_salt,
        };
        assert_eq!(prf.derive::<16>(0x00).to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        assert_eq!(prf.derive::<14>(0x02).to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        assert_eq!(prf.derive::<20>(0x01).to_vec(), hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"));
    }

    /// RFC 6188 §7.2: the AES-256 PRF, which AEAD_AES_256_GCM derives its session keys with.
    #[test]
    fn rfc6188_aes_256_key_derivation() {
        let master_key = hex("f0f04914b513f2763a1b1fa130f10e29 98f6f6e43e4309d1e622a0e332b9f1b6");
        let master_salt = hex("3b04803de51ee7c96423ab5b78d2");
        let srtp = str0m_aws_lc_rs::default_provider().srtp_provider;
        let prf = Prf { srtp, master_key: &master_key, master_salt: &master_salt };
        let cipher_key = hex("5ba1064e30ec51613cad926c5a28ef73 1ec7fb397f70a960653caf06554cd8c4");
        assert_eq!(prf.derive::<32>(0x00).to_vec(), cipher_key);
        assert_eq!(prf.derive::<14>(0x02).to_vec(), hex("fa31791685ca444a9e07c6c64e93"));
        assert_eq!(prf.derive::<20>(0x01).to_vec(), hex("fd9c32d39ed5fbb5a9dc96b30818454d1313dc05"));
    }

    #[test]
    fn keying_material_lengths_and_dimpl_profiles() {
        assert_eq!(SrtpProfile::Aes128CmSha1_80.keying_material_len(), 60);
        assert_eq!(SrtpProfile::AeadAes128Gcm.keying_material_len(), 56);
        assert_eq!(SrtpProfile::AeadAes256Gcm.keying_material_len(), 88);
        for profile in dimpl::SrtpProfile::ALL {
            let ours = SrtpProfile::from_dimpl(*profile).unwrap();
            assert_eq!(ours.keying_material_len(), profile.keying_material_len());
        }
        for profile in PROFILES {
            let short = &material(profile)[1..];
            assert!(SrtpContext::pair_from_keying_material(profile, short, true).is_none());
            assert!(SrtpContext::pair_from_keying_material(profile, &[], false).is_none());
        }
    }

    #[test]
    fn round_trip_rtp_all_profiles() {
        let packets = [
            rtp(1000, 0xcafe_babe, &[], None, b"plain payload"),
            rtp(1001, 0xcafe_babe, &[], Some(&[0x10, 0xaa, 0x21, 0xbb, 0xcc, 0x00, 0x00, 0x00]), &[7; 1000]),
            rtp(1002, 0xcafe_babe, &[1, 2, 3], Some(&[0x10, 0xaa, 0, 0]), b"csrcs and extension"),
            rtp(1003, 0xcafe_babe, &[0xdead_beef], None, b"csrc"),
            rtp(7, 0x0102_0304, &[], None, b""),
        ];
        for profile in PROFILES {
            let ((mut a_out, mut b_in), (mut b_out, mut a_in)) = pairs(profile);
            for packet in &packets {
                let protected = protect_rtp(&mut a_out, packet);
                assert_eq!(protected.len(), packet.len() + profile.tag_len());
                let header_len = rtp_header_len(packet).unwrap();
                assert_eq!(protected[..header_len], packet[..header_len], "{profile:?}: header stays clear");
                if header_len < packet.len() {
                    assert_ne!(protected[header_len..packet.len()], packet[header_len..], "{profile:?}");
                }
                assert_eq!(b_in.unprotect_rtp(&protected).as_deref(), Some(&packet[..]), "{profile:?}");
                // The other direction has its own keys.
                assert!(a_in.unprotect_rtp(&protected).is_none(), "{profile:?}");
                let back = protect_rtp(&mut b_out, packet);
                assert_eq!(a_in.unprotect_rtp(&back).as_deref(), Some(&packet[..]), "{profile:?}");
            }
        }
    }

    #[test]
    fn a_packet_given_in_parts_is_protected_as_the_whole() {
        let packet = rtp(4242, 0xcafe_babe, &[9], Some(&[0x10, 0xaa, 0, 0]), &[5; 600]);
        let header_len = rtp_header_len(&packet).unwrap();
        for profile in PROFILES {
            let ((mut whole, mut receiver), _) = pairs(profile);
            let ((mut parts, _), _) = pairs(profile);
            let mut out = Vec::new();
            assert!(parts.protect_rtp_parts(&packet[..header_len], &packet[header_len..], &mut out));
            assert_eq!(out, protect_rtp(&mut whole, &packet), "{profile:?}");
            assert_eq!(receiver.unprotect_rtp(&out), Some(packet.clone()), "{profile:?}");
            // A header cut short, or with payload bytes in it, is refused and writes nothing.
            assert!(!parts.protect_rtp_parts(&packet[..header_len - 1], &packet[header_len - 1..], &mut out));
            assert!(out.is_empty(), "{profile:?}");
            assert!(!parts.protect_rtp_parts(&packet[..header_len + 1], &packet[header_len + 1..], &mut out));
        }
    }

    #[test]
    fn round_trip_rtcp_all_profiles() {
        for profile in PROFILES {
            let ((mut a_out, mut b_in), (mut b_out, mut a_in)) = pairs(profile);
            let packet = rtcp();
            for index in 0..3u32 {
                let protected = protect_rtcp(&mut a_out, &packet);
                assert_eq!(protected.len(), packet.len() + RTCP_TRAILER + profile.tag_len());
                assert_eq!(protected[..RTCP_CLEAR], packet[..RTCP_CLEAR]);
                let trailer_at = match profile {
                    SrtpProfile::Aes128CmSha1_80 => packet.len(),
                    _ => protected.len() - RTCP_TRAILER,
                };
                assert_eq!(be_u32(&protected[trailer_at..]), E_FLAG | index, "{profile:?}");
                assert_eq!(b_in.unprotect_rtcp(&protected), Some(packet.clone()), "{profile:?}");
                assert!(a_in.unprotect_rtcp(&protected).is_none(), "{profile:?}: wrong direction");
            }
            let back = protect_rtcp(&mut b_out, &packet);
            assert_eq!(a_in.unprotect_rtcp(&back), Some(packet.clone()), "{profile:?}");
        }
    }

    #[test]
    fn tampering_any_byte_is_rejected() {
        for profile in PROFILES {
            let ((mut a_out, mut b_in), _) = pairs(profile);
            let packet = rtp(4242, 0x1111_2222, &[9], Some(&[0x10, 0xaa, 0, 0]), b"some media");
            let protected = protect_rtp(&mut a_out, &packet);
            for i in 0..protected.len() {
                let mut tampered = protected.clone();
                tampered[i] ^= 0x01;
                assert!(b_in.unprotect_rtp(&tampered).is_none(), "{profile:?}: RTP byte {i}");
            }
            assert_eq!(b_in.unprotect_rtp(&protected), Some(packet));

            let packet = rtcp();
            let protected = protect_rtcp(&mut a_out, &packet);
            for i in 0..protected.len() {
                let mut tampered = protected.clone();
                tampered[i] ^= 0x80;
                assert!(b_in.unprotect_rtcp(&tampered).is_none(), "{profile:?}: RTCP byte {i}");
            }
            assert_eq!(b_in.unprotect_rtcp(&protected), Some(packet));
        }
    }

    #[test]
    fn replayed_and_too_old_srtp_is_rejected_per_ssrc() {
        for profile in PROFILES {
            let ((mut a_out, mut b_in), _) = pairs(profile);
            let sent: Vec<Vec<u8>> =
                (0..200u16).map(|seq| protect_rtp(&mut a_out, &rtp(seq, 7, &[], None, b"m"))).collect();
            // 0 and 50 held back (late, reordered), the rest in order.
            for (seq, packet) in sent.iter().enumerate().filter(|(seq, _)| *seq != 0 && *seq != 50) {
                assert!(b_in.unprotect_rtp(packet).is_some(), "{profile:?}: {seq}");
            }
            assert!(b_in.unprotect_rtp(&sent[199]).is_none(), "{profile:?}: the newest again");
            assert!(b_in.unprotect_rtp(&sent[120]).is_none(), "{profile:?}: one inside the window again");
            assert!(b_in.unprotect_rtp(&sent[50]).is_none(), "{profile:?}: late beyond the 128-packet window");
            assert!(b_in.unprotect_rtp(&sent[0]).is_none(), "{profile:?}");
            // Another SSRC has its own window: its sequence 5 is new.
            let other = protect_rtp(&mut a_out, &rtp(5, 8, &[], None, b"m"));
            assert!(b_in.unprotect_rtp(&other).is_some(), "{profile:?}");
            // A forged packet fails authentication and moves nothing: the real one still passes.
            let real = protect_rtp(&mut a_out, &rtp(200, 7, &[], None, b"m"));
            let mut forged = real.clone();
            *forged.last_mut().unwrap() ^= 1;
            assert!(b_in.unprotect_rtp(&forged).is_none());
            assert!(b_in.unprotect_rtp(&real).is_some(), "{profile:?}");
        }
    }

    #[test]
    fn each_rtcp_sender_has_its_own_srtcp_index() {
        // libwebrtc keeps an SRTCP index per sending SSRC: a browser's camera and microphone
        // both start at index 1 on one connection, and neither is a replay of the other.
        for profile in PROFILES {
            let material = material(profile);
            let (mut camera, _) = SrtpContext::pair_from_keying_material(profile, &material, true).unwrap();
            let (mut mic, _) = SrtpContext::pair_from_keying_material(profile, &material, true).unwrap();
            let (_, mut server) = SrtpContext::pair_from_keying_material(profile, &material, false).unwrap();
            let mut from_mic = rtcp();
            from_mic[4..8].copy_from_slice(&0x0bad_cafeu32.to_be_bytes());
            // Two fresh senders: both packets carry the first index.
            let (a, b) = (protect_rtcp(&mut camera, &rtcp()), protect_rtcp(&mut mic, &from_mic));
            assert!(server.unprotect_rtcp(&a).is_some(), "{profile:?}");
            assert!(server.unprotect_rtcp(&b).is_some(), "{profile:?}: another sender's first packet");
            assert!(server.unprotect_rtcp(&b).is_none(), "{profile:?}: but not twice");
        }
    }

    #[test]
    fn replayed_and_too_old_srtcp_is_rejected() {
        for profile in PROFILES {
            let ((mut a_out, mut b_in), _) = pairs(profile);
            let packet = rtcp();
            let protected: Vec<Vec<u8>> = (0..200).map(|_| protect_rtcp(&mut a_out, &packet)).collect();
            assert!(b_in.unprotect_rtcp(&protected[0]).is_some());
            assert!(b_in.unprotect_rtcp(&protected[0]).is_none(), "{profile:?}: replay");
            // Out of order within the window is fine, once.
            assert!(b_in.unprotect_rtcp(&protected[150]).is_some());
            assert!(b_in.unprotect_rtcp(&protected[100]).is_some());
            assert!(b_in.unprotect_rtcp(&protected[100]).is_none(), "{profile:?}: replay");
            assert!(b_in.unprotect_rtcp(&protected[150]).is_none(), "{profile:?}: replay");
            // 150 - 10 is beyond the 128 the window remembers.
            assert!(b_in.unprotect_rtcp(&protected[10]).is_none(), "{profile:?}: too old");
            assert!(b_in.unprotect_rtcp(&protected[199]).is_some());
        }
    }

    #[test]
    fn truncated_and_malformed_input_never_panics() {
        for profile in PROFILES {
            let ((mut a_out, mut b_in), _) = pairs(profile);
            let packet = rtp(1, 2, &[3, 4], Some(&[0x10, 0xaa, 0, 0]), b"payload");
            let protected = protect_rtp(&mut a_out, &packet);
            let mut out = Vec::new();
            for len in 0..protected.len() {
                assert!(b_in.unprotect_rtp(&protected[..len]).is_none(), "{profile:?}: {len}");
                assert!(b_in.unprotect_rtcp(&protected[..len]).is_none(), "{profile:?}: {len}");
            }
            for len in 0..=packet.len() {
                // The header its CC and X bits announce is 12 + 8 + 4 + 4 bytes.
                assert_eq!(a_out.protect_rtp(&packet[..len], &mut out), len >= 28, "{profile:?}: {len}");
                assert_eq!(out.is_empty(), len < 28);
            }
            let packet = rtcp();
            let protected = protect_rtcp(&mut a_out, &packet);
            for len in 0..protected.len() {
                assert!(b_in.unprotect_rtcp(&protected[..len]).is_none(), "{profile:?}: {len}");
                assert_eq!(a_out.protect_rtcp(&packet[..len.min(packet.len())], &mut out), len >= RTCP_CLEAR);
            }
            // Not version 2, and an extension length pointing past the end.
            let mut bad = rtp(5, 6, &[], Some(&[0, 0, 0, 0]), b"x");
            bad[0] &= 0x3f;
            assert!(!a_out.protect_rtp(&bad, &mut out));
            let mut bad = rtp(5, 6, &[], Some(&[0, 0, 0, 0]), b"x");
            bad[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
            assert!(!a_out.protect_rtp(&bad, &mut out));
            assert!(b_in.unprotect_rtp(&bad).is_none());
            assert!(!a_out.protect_rtcp(&[0x00; 12], &mut out));
        }
    }

    #[test]
    fn rollover_counter_follows_the_sequence_numbers() {
        for profile in PROFILES {
            let ((mut a_out, mut b_in), _) = pairs(profile);
            let ssrc = 0x5555_aaaa;
            let mut sent = Vec::new();
            for seq in [65534, 65535, 0, 1] {
                let packet = rtp(seq, ssrc, &[], None, &seq.to_be_bytes());
                let protected = protect_rtp(&mut a_out, &packet);
                assert_eq!(b_in.unprotect_rtp(&protected), Some(packet), "{profile:?}: seq {seq}");
                sent.push(protected);
            }
            assert_eq!(a_out.highest[&ssrc], 0x1_0001, "{profile:?}: ROC 1 after the wrap");
            // A retransmission of 65535 keeps ROC 0: the same packet protects the same way.
            let retransmission = protect_rtp(&mut a_out, &rtp(65535, ssrc, &[], None, &65535u16.to_be_bytes()));
            assert_eq!(retransmission, sent[1], "{profile:?}");
            assert_eq!(a_out.highest[&ssrc], 0x1_0001);
            assert!(b_in.unprotect_rtp(&retransmission).is_none(), "{profile:?}: the same packet again is a replay");
            assert_eq!(b_in.highest[&ssrc], 0x1_0001);

            // Reordered across the wrap, on another SSRC.
            let (mut c_out, mut d_in) = pairs(profile).0;
            let protected: Vec<(u16, Vec<u8>)> = [65533, 65534, 65535, 0, 1]
                .map(|seq| (seq, protect_rtp(&mut c_out, &rtp(seq, 9, &[], None, b"r"))))
                .into();
            for &i in &[0, 3, 1, 4, 2] {
                let (seq, packet) = &protected[i];
                assert_eq!(d_in.unprotect_rtp(packet), Some(rtp(*seq, 9, &[], None, b"r")), "{profile:?}: {seq}");
            }
            assert_eq!(d_in.highest[&9], 0x1_0001);
        }
    }

    #[test]
    fn index_estimation() {
        assert_eq!(estimate_index(100, 101), 101);
        assert_eq!(estimate_index(100, 90), 90);
        // Before the stream's first packet there is no earlier rollover.
        assert_eq!(estimate_index(100, 60000), 60000);
        assert_eq!(estimate_index(0x2_0064, 60000), 0x1_0000 | 60000);
        assert_eq!(estimate_index(65535, 0), 0x1_0000);
        assert_eq!(estimate_index(0x1_0001, 65535), 65535);
        assert_eq!(estimate_index(0x1_8000, 0), 0x1_0000);
        assert_eq!(estimate_index(0x1_8001, 0), 0x2_0000);
    }

    /// Protects with one context and unprotects with a fresh one, checking both against
    /// reference packets from an independent implementation.
    fn check_vectors(
        profile: SrtpProfile,
        master_key: &str,
        master_salt: &str,
        [rtp_plain, srtp, rtcp_plain, srtcp]: [&str; 4],
        srtcp_index: u32,
    ) {
        let (key, salt) = (hex(master_key), hex(master_salt));
        let mut tx = SrtpContext::new(profile, &key, &salt, true);
        let mut rx = SrtpContext::new(profile, &key, &salt, false);
        let (rtp_plain, srtp, rtcp_plain, srtcp) = (hex(rtp_plain), hex(srtp), hex(rtcp_plain), hex(srtcp));
        assert_eq!(protect_rtp(&mut tx, &rtp_plain), srtp, "{profile:?} SRTP");
        assert_eq!(rx.unprotect_rtp(&srtp), Some(rtp_plain), "{profile:?} SRTP");
        tx.rtcp_next_index = srtcp_index;
        assert_eq!(protect_rtcp(&mut tx, &rtcp_plain), srtcp, "{profile:?} SRTCP");
        assert_eq!(rx.unprotect_rtcp(&srtcp), Some(rtcp_plain), "{profile:?} SRTCP");
    }

    /// libSRTP's `srtp_validate`: the RFC 3711 B.3 master key, SSRC 0xcafebabe, SRTCP index 1
    /// (libSRTP starts counting at 1).
    #[test]
    fn libsrtp_aes_cm_vectors() {
        let rtp_plain = "800f1234 decafbad cafebabe abababab abababab abababab abababab";
        let srtp = "800f1234 decafbad cafebabe 4e55dc4c e79978d8 8ca4d215 949d2402 b78d6acc 99ea179b 8dbb";
        let rtcp_plain = "81c8000b cafebabe abababab abababab abababab abababab";
        let srtcp = "81c8000b cafebabe 7128035b e487b9bd bef89041 f977a5a8 80000001 993e08cd 54d6c123 0798";
        let (key, salt) = ("e1f97a0d3e018be0d64fa32c06de4139", "0ec675ad498afeebb6960b3aabe6");
        check_vectors(SrtpProfile::Aes128CmSha1_80, key, salt, [rtp_plain, srtp, rtcp_plain, srtcp], 1);
    }

    /// libSRTP's `srtp_validate_gcm`: AES-128-GCM from a master key and a 12-byte master salt,
    /// which checks the GCM key derivation.
    #[test]
    fn libsrtp_aes_128_gcm_vectors() {
        let rtp_plain = "800f1234 decafbad cafebabe abababab abababab abababab abababab";
        let srtp = "800f1234 decafbad cafebabe c5002ede 04cfdd2e b91159e0 880aa06e
                    d2976826 f796b201 df3131a1 27e8a392";
        let rtcp_plain = "81c8000b cafebabe abababab abababab abababab abababab";
        let srtcp = "81c8000b cafebabe c98b8b5d f0392a55 852b6c21 ac8e7025
                     c52c6fbe a2b3b446 ea31123b a88ce61e 80000001";
        let (key, salt) = ("000102030405060708090a0b0c0d0e0f", "a0a1a2a3a4a5a6a7a8a9aaab");
        check_vectors(SrtpProfile::AeadAes128Gcm, key, salt, [rtp_plain, srtp, rtcp_plain, srtcp], 1);
    }

    /// RFC 7714 §16 and §17 give session keys (no key derivation) and SRTCP index 0x5d4.
    fn check_rfc7714(profile: SrtpProfile, session_key: &[u8], protected_rtp: &str, protected_rtcp: &str) {
        let salt: [u8; 12] = hex("517569642070726f2071756f").try_into().unwrap();
        let srtp = str0m_aws_lc_rs::default_provider().srtp_provider;
        let transform = |encrypt| {
            let cipher = match profile {
                SrtpProfile::AeadAes128Gcm => {
                    Aead::Aes128(srtp.aead_aes_128_gcm().create_cipher(session_key.try_into().unwrap(), encrypt))
                }
                _ => Aead::Aes256(srtp.aead_aes_256_gcm().create_cipher(session_key.try_into().unwrap(), encrypt)),
            };
            Transform::Gcm { cipher, salt }
        };
        let mut tx = SrtpContext::from_transforms(profile, transform(true), transform(true));
        let mut rx = SrtpContext::from_transforms(profile, transform(false), transform(false));

        let mut rtp_plain = hex("8040f17b 8041f8d3 5501a0b2");
        rtp_plain.extend_from_slice(b"Gallia est omnis divisa in partes tres");
        let protected_rtp = hex(protected_rtp);
        assert_eq!(protect_rtp(&mut tx, &rtp_plain), protected_rtp, "{profile:?}");
        assert_eq!(rx.unprotect_rtp(&protected_rtp), Some(rtp_plain), "{profile:?}");

        let rtcp_plain = hex("81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
             deadbeef deadbeef deadbeef deadbeef deadbeef");
        let protected_rtcp = hex(protected_rtcp);
        tx.rtcp_next_index = 0x5d4;
        assert_eq!(protect_rtcp(&mut tx, &rtcp_plain), protected_rtcp, "{profile:?}");
        assert_eq!(rx.unprotect_rtcp(&protected_rtcp), Some(rtcp_plain), "{profile:?}");
    }

    #[test]
    fn rfc7714_aes_128_gcm_vectors() {
        check_rfc7714(
            SrtpProfile::AeadAes128Gcm,
            &hex("000102030405060708090a0b0c0d0e0f"),
            "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a
             51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce",
            "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1 730d6fda
             4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4",
        );
    }

    #[test]
    fn rfc7714_aes_256_gcm_vectors() {
        check_rfc7714(
            SrtpProfile::AeadAes256Gcm,
            &hex("000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f"),
            "8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa b1801238 9a58e2f3 b50b2a02
             76ffae0f 1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13",
            "81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50 a2eaa5c1 110555be
             8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c b26ac3be 800005d4",
        );
    }
}
