//! What the captioner is fed: one Opus RTP packet of a speaker's microphone, as the SFU's
//! recording tap copies it (`convene_sfu::RecordedPacket` maps onto it field by field).

use std::sync::Arc;
use std::time::Instant;

/// One Opus packet (48 kHz RTP clock) of one participant's microphone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioPacket {
    /// The participant (the server's participant id, as in the protocol).
    pub participant: Arc<str>,
    /// RTP sequence number, extended so it never wraps.
    pub seq: u64,
    /// RTP timestamp (48 kHz clock).
    pub timestamp: u32,
    /// The Opus packet (the RTP payload).
    pub payload: Vec<u8>,
    /// When it arrived at the server.
    pub arrived: Instant,
}
