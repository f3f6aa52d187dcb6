//! Downlink limits from the estimate a subscriber's browser reports (REMB).
//!
//! A browser's receive-side estimate is a weak upper bound: libwebrtc raises it slowly (a
//! packet per round trip once near what arrives) and clamps it to 1.5× what arrives, so taken
//! as a budget it would keep a new viewer on the lowest layers for a minute and a viewer moved
//! down by a dip there for good. What it says reliably is congestion: on overuse it falls to
//! 85 % of what got through. So a subscriber's layers follow the tiles alone until its browser
//! reports less than is being sent and less than before; from then on they are chosen for that
//! limit, and the SFU (which sends no padding in this mode) probes with media: after a wait
//! the layers are chosen for half as much again, for a few seconds; if the browser reports
//! congestion the probe failed (the limit falls at once and the next probe waits twice as
//! long), otherwise the limit rises to what the probe allowed.

use std::time::{Duration, Instant};

/// The wait before the first probe after congestion (doubled after each failed probe, back
/// to this after one that held).
const FIRST_WAIT: Duration = Duration::from_secs(3);
/// The longest wait between probes on a link that keeps refusing them.
const LONGEST_WAIT: Duration = Duration::from_secs(20);
/// How long a probe lasts before its allowance becomes the limit: a layer switch waits for
/// a keyframe, and the browser's overuse detector needs a second or two of the new rate.
const HOLD: Duration = Duration::from_secs(5);
/// A probe allows the limit plus half of it, and at least this much more: the step from the
/// quarter to the half layer.
const LEAST_STEP_BPS: u64 = 400_000;

/// One subscriber's congestion limit from its browser's reports, and the probes past it.
#[derive(Debug)]
pub(crate) struct ReceiverEstimate {
    last: Option<u64>,
    /// The rate the layers are held to (none: no congestion reported yet).
    limit: Option<u64>,
    /// When the limit last fell or a probe ended.
    settled_at: Option<Instant>,
    /// The running probe: until when, and the rate it allows.
    probe: Option<(Instant, u64)>,
    /// How long after the limit settled the next probe starts.
    wait: Duration,
}

impl Default for ReceiverEstimate {
    fn default() -> Self {
        ReceiverEstimate { last: None, limit: None, settled_at: None, probe: None, wait: FIRST_WAIT }
    }
}

impl ReceiverEstimate {
    /// A new report of `estimate` while the layers forwarded carry `sending` (measured): returns
    /// the rate the layers are to be chosen for (none: the tiles alone choose).
    pub(crate) fn update(&mut self, now: Instant, estimate: u64, sending: u64) -> Option<u64> {
        // Less than before is either congestion or the clamp following a lower rate that
        // arrives (a tile hidden, a layer dropped); only the first is below what is sent.
        let congested = self.last.is_some_and(|last| estimate < last) && estimate < sending;
        self.last = Some(estimate);
        if congested {
            if self.probe.take().is_some() {
                self.wait = (self.wait * 2).min(LONGEST_WAIT);
            }
            self.limit = Some(estimate);
            self.settled_at = Some(now);
            return self.limit;
        }
        let limit = self.limit?.max(estimate);
        self.limit = Some(limit);
        if let Some((until, allowed)) = self.probe {
            if now < until {
                return Some(allowed.max(limit));
            }
            // It held: what it allowed goes through.
            self.probe = None;
            self.wait = FIRST_WAIT;
            self.settled_at = Some(now);
            self.limit = Some(allowed.max(limit));
            return self.limit;
        }
        if self.settled_at.is_some_and(|at| now.duration_since(at) >= self.wait) {
            let allowed = limit + (limit / 2).max(LEAST_STEP_BPS);
            self.probe = Some((now + HOLD, allowed));
            return Some(allowed);
        }
        Some(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// A report every second from `from` on, `seconds` of them; the rates returned.
    fn reports(e: &mut ReceiverEstimate, from: Instant, seconds: u32, estimate: u64, sending: u64) -> Vec<Option<u64>> {
        (0..seconds).map(|i| e.update(from + S * i, estimate, sending)).collect()
    }

    #[test]
    fn the_tiles_choose_until_the_browser_reports_congestion() {
        let t = Instant::now();
        let mut e = ReceiverEstimate::default();
        // Warming up (Chromium starts near 150 kbit/s and rises slowly) is no limit.
        assert_eq!(e.update(t, 150_000, 0), None);
        assert_eq!(e.update(t + S, 200_000, 2_000_000), None);
        // The clamp following a lower rate that arrives is none either.
        assert_eq!(e.update(t + S * 2, 180_000, 100_000), None);
        // Less than before and less than is sent: congestion.
        assert_eq!(e.update(t + S * 3, 170_000, 500_000), Some(170_000));
    }

    #[test]
    fn after_congestion_a_probe_that_holds_raises_the_limit() {
        let t = Instant::now();
        let mut e = ReceiverEstimate::default();
        e.update(t, 600_000, 500_000);
        assert_eq!(e.update(t + S, 250_000, 500_000), Some(250_000));
        let rates = reports(&mut e, t + S * 2, 3, 255_000, 190_000);
        assert_eq!(rates, vec![Some(255_000), Some(255_000), Some(655_000)], "a probe after the wait");
        // The half layer flows; the browser's estimate creeps up; the allowance holds…
        assert_eq!(e.update(t + S * 6, 300_000, 540_000), Some(655_000));
        // …and becomes the limit.
        assert_eq!(e.update(t + S * 9, 320_000, 540_000), Some(655_000));
        assert_eq!(e.update(t + S * 10, 330_000, 540_000), Some(655_000));
    }

    #[test]
    fn a_probe_the_link_refuses_ends_at_once_and_the_next_waits_longer() {
        let t = Instant::now();
        let mut e = ReceiverEstimate::default();
        e.update(t, 600_000, 500_000);
        e.update(t + S, 250_000, 500_000);
        assert_eq!(reports(&mut e, t + S * 2, 3, 255_000, 190_000)[2], Some(655_000));
        assert_eq!(e.update(t + S * 5, 240_000, 540_000), Some(240_000), "congestion: back down at once");
        // The next probe waits 6 s.
        let rates = reports(&mut e, t + S * 6, 6, 245_000, 190_000);
        assert!(rates[..5].iter().all(|&r| r == Some(245_000)), "{rates:?}");
        assert_eq!(rates[5], Some(645_000));
    }
}
