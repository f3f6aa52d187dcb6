//! Numbers from arrivals: percentiles, and per received stream the loss (gaps in the probe
//! sequence) and the interarrival jitter of RFC 3550 §6.4.1.

/// The `q`-quantile (0.0–1.0) of sorted samples by nearest rank; `None` when empty.
pub fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// p50 / p95 / p99 / max of a set of samples, in the samples' unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Spread {
    pub n: usize,
    pub p50: Option<u64>,
    pub p95: Option<u64>,
    pub p99: Option<u64>,
    pub max: Option<u64>,
}

impl Spread {
    pub fn of(mut samples: Vec<u64>) -> Spread {
        samples.sort_unstable();
        Spread {
            n: samples.len(),
            p50: percentile(&samples, 0.50),
            p95: percentile(&samples, 0.95),
            p99: percentile(&samples, 0.99),
            max: samples.last().copied(),
        }
    }
}

/// One received stream (one sender's audio, or one simulcast layer of its video) as a
/// receiver saw it. A layer switch by the SFU ends a segment: the sequence gap between two
/// segments is not loss, because the other layer's packets were never meant for us.
#[derive(Debug, Clone, Default)]
pub struct StreamTracker {
    /// Probe sequence range of the open segment: first, highest.
    segment: Option<(u32, u32)>,
    /// Packets counted in the open segment.
    segment_received: u64,
    /// Expected and received packets of closed segments.
    closed_expected: u64,
    closed_received: u64,
    /// RFC 3550 jitter estimate, ns.
    jitter_ns: f64,
    last_transit: Option<i64>,
    pub packets: u64,
    pub bytes: u64,
}

impl StreamTracker {
    /// Counts a packet with probe sequence `seq`, sent at `sent_ns` and received at `recv_ns`.
    pub fn record(&mut self, seq: u32, sent_ns: u64, recv_ns: u64, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
        match &mut self.segment {
            None => self.segment = Some((seq, seq)),
            Some((first, high)) => {
                if seq < *first {
                    // Reordered past the start of what we saw: widen the segment.
                    *first = seq;
                }
                if seq > *high {
                    *high = seq;
                }
            }
        }
        self.segment_received += 1;
        let transit = recv_ns as i64 - sent_ns as i64;
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs() as f64;
            self.jitter_ns += (d - self.jitter_ns) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// The SFU moved us to another layer: what came so far is one finished segment.
    pub fn close_segment(&mut self) {
        if let Some((first, high)) = self.segment.take() {
            self.closed_expected += u64::from(high - first) + 1;
            self.closed_received += self.segment_received;
        }
        self.segment_received = 0;
        self.last_transit = None;
    }

    /// Expected and received packets (received may exceed expected with duplicates).
    pub fn expected_received(&self) -> (u64, u64) {
        let (e, r) = self.segment.map_or((0, 0), |(f, h)| (u64::from(h - f) + 1, self.segment_received));
        (self.closed_expected + e, self.closed_received + r)
    }

    /// Current jitter estimate in ns.
    pub fn jitter_ns(&self) -> f64 {
        self.jitter_ns
    }
}

/// Loss in percent of expected packets (never negative: duplicates do not make up for loss).
pub fn loss_pct(expected: u64, received: u64) -> f64 {
    if expected == 0 {
        return 0.0;
    }
    expected.saturating_sub(received) as f64 * 100.0 / expected as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), Some(50));
        assert_eq!(percentile(&v, 0.99), Some(99));
        assert_eq!(percentile(&v, 1.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7], 0.99), Some(7));
        let s = Spread::of(vec![5, 1, 3, 2, 4]);
        assert_eq!((s.n, s.p50, s.p99, s.max), (5, Some(3), Some(5), Some(5)));
    }

    #[test]
    fn gaps_in_the_sequence_are_loss() {
        let mut t = StreamTracker::default();
        for seq in (10..110).filter(|s| s % 10 != 0) {
            t.record(seq, 0, 1_000, 100);
        }
        // 10..=109 expected (100), every tenth missing (10 of them) but 10 itself: the
        // segment starts at the first packet seen (11), so 99 expected, 90 received.
        assert_eq!(t.expected_received(), (99, 90));
        assert!((loss_pct(99, 90) - 9.0909).abs() < 0.001);
        assert_eq!(t.packets, 90);
        assert_eq!(t.bytes, 9_000);
    }

    #[test]
    fn a_layer_switch_is_not_loss_and_reordering_is_not_either() {
        let mut t = StreamTracker::default();
        for seq in [1, 2, 4, 3, 5] {
            t.record(seq, 0, 0, 1);
        }
        t.close_segment();
        // The SFU switched away and back: the sequence jumped by 1,000.
        for seq in 1_005..1_010 {
            t.record(seq, 0, 0, 1);
        }
        assert_eq!(t.expected_received(), (10, 10));
        assert_eq!(loss_pct(10, 10), 0.0);
        assert_eq!(loss_pct(10, 12), 0.0, "duplicates never give negative loss");
        assert_eq!(loss_pct(0, 0), 0.0);
    }

    #[test]
    fn jitter_follows_rfc_3550() {
        let mut t = StreamTracker::default();
        // Constant transit: no jitter.
        for i in 0..50u64 {
            t.record(i as u32, i * 20_000_000, i * 20_000_000 + 500_000, 1);
        }
        assert!(t.jitter_ns() < 1.0);
        // Transit alternating by 1 ms: J converges towards 1 ms.
        for i in 50..1_000u64 {
            let extra = if i % 2 == 0 { 1_000_000 } else { 0 };
            t.record(i as u32, i * 20_000_000, i * 20_000_000 + 500_000 + extra, 1);
        }
        assert!((t.jitter_ns() - 1_000_000.0).abs() < 10_000.0, "{}", t.jitter_ns());
    }
}
