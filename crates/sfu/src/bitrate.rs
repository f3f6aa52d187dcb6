//! What each simulcast layer of an up track actually carries, measured over one-second windows.
//!
//! The room tells every subscriber's bandwidth estimator how much it would like to send
//! (str0m's `desired` bitrate), and str0m sizes its probes from that figure and accepts a
//! probe's result even when it is below the estimate. A figure under what is really forwarded
//! — a single-layer screen share or camera counted as a 150 kbit/s thumbnail — probes the
//! estimate down to a fraction of the stream, and the pacer then holds the stream back. So the
//! room counts what each layer brings in and never asks for less.

use std::time::{Duration, Instant};

/// Length of one measuring window.
const WINDOW: Duration = Duration::from_secs(1);
/// Bytes a packet costs on the wire beyond its payload (RTP header and extensions, SRTP tag,
/// UDP and IP headers), so the figure compares with the estimator's.
const PACKET_OVERHEAD: u64 = 60;

/// Per-layer bit rates of one up track.
#[derive(Debug, Default)]
pub(crate) struct LayerBitrates {
    window_start: Option<Instant>,
    bytes: [u64; 3],
    /// The rate of each layer in the last complete window, bit/s; `None` before the first.
    last: Option<[u64; 3]>,
}

impl LayerBitrates {
    /// Counts one packet of `payload` bytes on `layer` (0–2) arriving at `now`.
    pub(crate) fn observe(&mut self, layer: u8, payload: usize, now: Instant) {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= WINDOW {
            // A window with no packet at all (a long pause) counts as that much silence.
            let micros = elapsed.as_micros().max(1) as u64;
            self.last = Some(self.bytes.map(|bytes| bytes * 8 * 1_000_000 / micros));
            self.bytes = [0; 3];
            self.window_start = Some(now);
        }
        let layer = usize::from(layer.min(2));
        self.bytes[layer] += payload as u64 + PACKET_OVERHEAD;
    }

    /// The layer's rate over the last complete window, bit/s; `None` until one has passed.
    pub(crate) fn of(&self, layer: u8) -> Option<u64> {
        self.last.map(|last| last[usize::from(layer.min(2))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_each_layer_over_a_window() {
        let start = Instant::now();
        let mut rates = LayerBitrates::default();
        // 100 packets of 1,190 bytes in a second on layer 2, 10 of 190 on layer 0.
        for i in 0..100u32 {
            let at = start + Duration::from_millis(u64::from(i) * 10);
            rates.observe(2, 1_190, at);
            if i % 10 == 0 {
                rates.observe(0, 190, at);
            }
        }
        assert_eq!(rates.of(2), None, "nothing is known before a window completes");
        rates.observe(1, 100, start + Duration::from_secs(1));
        assert_eq!(rates.of(2), Some(100 * 1_250 * 8));
        assert_eq!(rates.of(0), Some(10 * 250 * 8));
        assert_eq!(rates.of(1), Some(0));
    }

    #[test]
    fn a_pause_lowers_the_rate_instead_of_keeping_the_old_one() {
        let start = Instant::now();
        let mut rates = LayerBitrates::default();
        for i in 0..=100u64 {
            rates.observe(0, 940, start + Duration::from_millis(i * 10));
        }
        let steady = rates.of(0).unwrap();
        assert_eq!(steady, 100 * 1_000 * 8);
        // Nothing for 4 s, then one packet: that window averaged a fifth of the rate.
        rates.observe(0, 940, start + Duration::from_secs(5));
        let after = rates.of(0).unwrap();
        assert!(after < steady / 4, "{after}");
    }
}
