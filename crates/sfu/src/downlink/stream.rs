//! One outgoing stream of a downlink: its SSRCs, what it sent, and what it keeps for resends;
//! and a packet written for one before the connection was up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::history::SendHistory;
use super::rtcp;
use super::rtp::PayloadPatch;

/// Names a stream of [`super::Transport::add_stream`], for the per-packet calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamIndex(pub(super) usize);

/// One outgoing stream of a [`super::Transport`].
pub(super) struct Stream {
    pub(super) ssrc: u32,
    /// The RTX stream (SSRC, payload type) that resends go out on.
    pub(super) rtx: Option<(u32, u8)>,
    pub(super) rtx_sequence: u16,
    pub(super) history: Option<SendHistory>,
    pub(super) payload_type: u8,
    pub(super) packets: u32,
    pub(super) octets: u32,
    /// The last packet's RTP timestamp and when it was sent, for sender reports.
    pub(super) last: Option<(u32, Instant)>,
    clock_rate: u32,
}

impl Stream {
    /// A stream that has sent nothing yet; `history`: how many packets to keep for resends,
    /// and for how long.
    pub(super) fn new(
        ssrc: u32,
        clock_rate: u32,
        rtx: Option<(u32, u8)>,
        history: Option<(usize, Duration)>,
    ) -> Stream {
        Stream {
            ssrc,
            rtx,
            rtx_sequence: 0,
            history: history.map(|(packets, age)| SendHistory::new(packets, age)),
            payload_type: 0,
            packets: 0,
            octets: 0,
            last: None,
            clock_rate,
        }
    }

    /// Appends this stream's sender report and CNAME to `compound`, if it sent anything;
    /// `wall` is the wall-clock time since the Unix epoch at `now`.
    pub(super) fn write_report(&self, now: Instant, wall: Duration, cname: &str, compound: &mut Vec<u8>) {
        let Some((timestamp, at)) = self.last else { return };
        // The RTP time of "now", extrapolated from the last packet at the clock rate.
        let elapsed = now.saturating_duration_since(at);
        let ticks = (elapsed.as_micros() as u64 * u64::from(self.clock_rate) / 1_000_000) as u32;
        rtcp::write_sender_report(
            compound,
            self.ssrc,
            rtcp::ntp_from_unix(wall),
            timestamp.wrapping_add(ticks),
            self.packets,
            self.octets,
        );
        rtcp::write_sdes_cname(compound, self.ssrc, cname);
    }
}

/// A packet written before the transport was up: its plain bytes, and what its stream's
/// history keeps of it once it is really sent.
pub(super) struct Early {
    pub(super) stream: StreamIndex,
    pub(super) extensions: usize,
    /// The RTP header as written (the payload is kept shared, as sent).
    pub(super) header: Vec<u8>,
    pub(super) payload: Arc<[u8]>,
    pub(super) patch: PayloadPatch,
}

/// At most this many packets wait for the connection: a newcomer to a meeting of ten is sent
/// nine cameras' and nine microphones' worth (~1000 packets a second) while it connects, and
/// dropping the oldest — the replayed keyframes — would leave it waiting for new ones.
pub(super) const MAX_EARLY_PACKETS: usize = 2048;
