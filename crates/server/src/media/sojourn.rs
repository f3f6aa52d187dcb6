//! How long a media packet stays in the server — the latency the SFU itself adds — as the
//! histogram `media_packet_sojourn_seconds`: from the kernel's arrival stamp on the media
//! socket (or the moment another worker handed the datagram over) to the end of the send of
//! what the room made of it. A load generator's end-to-end figure also holds its own queueing
//! and the kernel's paths; this one holds only the server's.

use std::time::Instant;

/// The histogram's name.
pub(crate) const METRIC: &str = "media_packet_sojourn_seconds";

/// Its buckets, in seconds: fine around the 2 ms the SFU may add at p99 (SPEC §3), coarse
/// where a worker is past its core.
pub(crate) const BUCKETS: &[f64] =
    &[0.000_25, 0.000_5, 0.001, 0.001_5, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// The arrivals of the media packets a worker handled whose sends have not gone out yet.
pub(super) struct Sojourns {
    arrived: Vec<Instant>,
    histogram: metrics::Histogram,
}

impl Sojourns {
    pub(super) fn new() -> Sojourns {
        Sojourns { arrived: Vec::with_capacity(64), histogram: metrics::histogram!(METRIC) }
    }

    /// A media packet that arrived `at` made the room send something.
    pub(super) fn arrived(&mut self, at: Instant) {
        self.arrived.push(at);
    }

    /// Everything the packets so far made has been sent, as of `now`: each one's stay counts.
    pub(super) fn sent(&mut self, now: Instant) {
        for at in self.arrived.drain(..) {
            self.histogram.record(now.saturating_duration_since(at).as_secs_f64());
        }
    }
}
