//! The probe: a small marker in every media payload the bench sends, so a receiver knows
//! who sent the packet, on which stream, its place in that stream and when it was sent,
//! whatever the SFU did to SSRCs, sequence numbers and timestamps on the way.
//!
//! Layout (21 bytes, big endian): `CVNB`, sender tag (u32), stream (u8: 0 audio, 1–3 video
//! layer + 1), probe sequence (u32, per sender stream, no gaps), send time (u64, ns since the
//! Unix epoch, `CLOCK_REALTIME`, so it compares with kernel receive timestamps).

use std::time::{SystemTime, UNIX_EPOCH};

const MAGIC: &[u8; 4] = b"CVNB";
/// Bytes a probe takes in a payload.
pub const LEN: usize = 21;
/// How far into a payload a probe may start (after a VP8 descriptor and keyframe header).
const SEARCH: usize = 40;

/// What a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Stream {
    Audio,
    /// A simulcast layer, 0 = lowest.
    Video(u8),
}

impl Stream {
    fn to_byte(self) -> u8 {
        match self {
            Stream::Audio => 0,
            Stream::Video(l) => l + 1,
        }
    }
    fn from_byte(b: u8) -> Option<Stream> {
        match b {
            0 => Some(Stream::Audio),
            1..=3 => Some(Stream::Video(b - 1)),
            _ => None,
        }
    }
}

/// One decoded probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub tag: u32,
    pub stream: Stream,
    pub seq: u32,
    pub sent_ns: u64,
}

impl Probe {
    /// Appends the probe to a payload being built.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.tag.to_be_bytes());
        out.push(self.stream.to_byte());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.sent_ns.to_be_bytes());
    }

    /// Finds the probe near the start of a payload.
    pub fn find(payload: &[u8]) -> Option<Probe> {
        let head = &payload[..payload.len().min(SEARCH + MAGIC.len())];
        let at = head.windows(MAGIC.len()).position(|w| w == MAGIC)?;
        let p = payload.get(at + 4..at + LEN)?;
        Some(Probe {
            tag: u32::from_be_bytes(p[0..4].try_into().ok()?),
            stream: Stream::from_byte(p[4])?,
            seq: u32::from_be_bytes(p[5..9].try_into().ok()?),
            sent_ns: u64::from_be_bytes(p[9..17].try_into().ok()?),
        })
    }
}

/// Now on the wall clock, in ns since the epoch (what kernel receive timestamps use).
pub fn wall_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_survives_a_payload_round_trip() {
        let probe = Probe { tag: 0xdead_beef, stream: Stream::Video(2), seq: 77, sent_ns: 1_700_000_000_123_456_789 };
        let mut payload = vec![0x90, 0x80, 0x81, 0x02, 0x10, 0x02, 0x00];
        probe.write(&mut payload);
        payload.resize(1_000, 0x55);
        assert_eq!(Probe::find(&payload), Some(probe));
    }

    #[test]
    fn payloads_without_a_probe_or_cut_short_give_none() {
        assert_eq!(Probe::find(&[0u8; 100]), None);
        let mut payload = vec![0xF8];
        Probe { tag: 1, stream: Stream::Audio, seq: 1, sent_ns: 1 }.write(&mut payload);
        assert_eq!(Probe::find(&payload[..10]), None);
        // An unknown stream byte is not a probe.
        payload[9] = 9;
        assert_eq!(Probe::find(&payload), None);
    }
}
