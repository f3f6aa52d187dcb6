//! Probing a subscriber's downlink when its browser does the estimating (REMB).
//!
//! A browser's receive-side estimate only grows to 1.5× what it receives (libwebrtc's AIMD
//! clamps it so), so a viewer moved to the lowest layer by a dip would stay there: the next
//! layer up needs more than 1.5× the lowest. The SFU sends no padding in this mode, so it
//! probes with media: when the estimate has had headroom over what is sent for a while, the
//! layers are chosen for more than the estimate, for a few seconds, while the browser's
//! estimate grows with what now arrives. If the estimate falls instead, the probe failed: the
//! layers follow the estimate at once and the next probe waits twice as long.

use std::time::{Duration, Instant};

/// How long the estimate must have had headroom, at least, before a probe (doubled after each
/// failed probe, back to this after one that held).
const FIRST_WAIT: Duration = Duration::from_secs(3);
/// The longest wait between probes on a link that keeps refusing them.
const LONGEST_WAIT: Duration = Duration::from_secs(48);
/// How long a probe's allowance lasts: long enough for the browser's estimate (growing about
/// 8 % a second) to catch up with the layer it allowed.
const HOLD: Duration = Duration::from_secs(6);
/// An estimate this far above what is sent has headroom: the browser is clamping it to what
/// it receives, not reacting to congestion.
const HEADROOM: f64 = 1.2;
/// An estimate that falls below this share of the previous one reports congestion.
const FALL: f64 = 0.85;
/// A probe allows the estimate plus half of it, and at least this much more: the step from
/// the quarter to the half layer.
const LEAST_STEP_BPS: u64 = 400_000;

/// One subscriber's receiver-reported estimate and its probes.
#[derive(Debug)]
pub(crate) struct ReceiverEstimate {
    last: Option<u64>,
    /// Since when the estimate has had headroom (none: it has not).
    roomy_since: Option<Instant>,
    /// The running probe: until when, and the rate it allows.
    probe: Option<(Instant, u64)>,
    wait: Duration,
}

impl Default for ReceiverEstimate {
    fn default() -> Self {
        ReceiverEstimate { last: None, roomy_since: None, probe: None, wait: FIRST_WAIT }
    }
}

impl ReceiverEstimate {
    /// A new report of `estimate` while the layers chosen carry `sending`: returns the rate the
    /// layers may be chosen for.
    pub(crate) fn update(&mut self, now: Instant, estimate: u64, sending: u64) -> u64 {
        let fell = self.last.is_some_and(|last| (estimate as f64) < last as f64 * FALL);
        self.last = Some(estimate);
        if fell {
            if self.probe.take().is_some() {
                self.wait = (self.wait * 2).min(LONGEST_WAIT);
            }
            self.roomy_since = None;
            return estimate;
        }
        if let Some((until, allowed)) = self.probe {
            if now < until {
                return allowed.max(estimate);
            }
            // It held: the estimate grew with what was sent.
            self.probe = None;
            self.wait = FIRST_WAIT;
            self.roomy_since = None;
        }
        let roomy = estimate as f64 >= sending as f64 * HEADROOM;
        if !roomy {
            self.roomy_since = None;
            return estimate;
        }
        let since = *self.roomy_since.get_or_insert(now);
        if now.duration_since(since) < self.wait {
            return estimate;
        }
        let allowed = estimate + (estimate / 2).max(LEAST_STEP_BPS);
        self.probe = Some((now + HOLD, allowed));
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// Reports every second for `seconds`; returns the last allowance.
    fn reports(e: &mut ReceiverEstimate, start: Instant, seconds: u32, estimate: u64, sending: u64) -> Vec<u64> {
        (0..seconds).map(|i| e.update(start + S * i, estimate, sending)).collect()
    }

    #[test]
    fn an_estimate_clamped_to_what_arrives_is_probed_past_after_a_wait() {
        let t = Instant::now();
        let mut e = ReceiverEstimate::default();
        // The quarter layer and audio arrive (190 kbit/s), the browser says 280.
        let allowed = reports(&mut e, t, 4, 280_000, 190_000);
        assert_eq!(&allowed[..3], &[280_000; 3], "no probe before the wait");
        assert_eq!(allowed[3], 680_000, "then one allows the half layer");
        // The half layer flows now; the estimate climbs slowly, the allowance holds.
        assert_eq!(e.update(t + S * 5, 330_000, 540_000), 680_000);
        assert_eq!(e.update(t + S * 8, 450_000, 540_000), 680_000);
        // After the hold the estimate counts alone again.
        assert_eq!(e.update(t + S * 10, 600_000, 540_000), 600_000);
    }

    #[test]
    fn a_probe_the_link_refuses_ends_at_once_and_the_next_waits_longer() {
        let t = Instant::now();
        let mut e = ReceiverEstimate::default();
        let allowed = reports(&mut e, t, 4, 280_000, 190_000);
        assert_eq!(allowed[3], 680_000);
        assert_eq!(e.update(t + S * 5, 200_000, 540_000), 200_000, "congestion: back to the estimate");
        // Headroom again: the wait is now 6 s.
        let later = t + S * 6;
        let allowed = reports(&mut e, later, 7, 280_000, 190_000);
        assert!(allowed[..6].iter().all(|&a| a == 280_000), "{allowed:?}");
        assert_eq!(allowed[6], 680_000);
    }

    #[test]
    fn no_probe_without_headroom() {
        let t = Instant::now();
        let mut e = ReceiverEstimate::default();
        // Estimate about what is sent: the link is full.
        assert!(reports(&mut e, t, 20, 600_000, 540_000).iter().all(|&a| a == 600_000));
    }
}
