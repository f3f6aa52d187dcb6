//! A subscriber that estimates its downlink itself, as a browser does when the SFU offers no
//! transport-wide sequence numbers (Convene's `--downlink-estimate remb`): it reports its
//! estimate in a REMB about once a second.
//!
//! The bench's network is loopback and never congested, so the estimate is a fixed, generous
//! one ([`ESTIMATE_BPS`]): every viewer gets the layer its tiles ask for, as in the default
//! mode, and the two modes forward the same packets — what differs is the SFU's work. A
//! scenario may have the reports fall to a lower figure after the first, as a browser's do
//! when its link congests (a receive-side estimate says congestion by falling, and Convene
//! takes only that as a limit).

use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::rtp::Ssrc;
use str0m::Rtc;

use crate::scenario::{Scenario, REMB_ESTIMATE_BPS as ESTIMATE_BPS};

/// The REMB schedule of one subscriber connection.
#[derive(Debug)]
pub(crate) struct Remb {
    /// A video stream the connection receives. One REMB covers everything a browser
    /// receives; str0m addresses it to one SSRC and the SFU's str0m routes it by the first,
    /// so one is enough. The latest seen: a stream whose publisher left is replaced at once.
    ssrc: Option<Ssrc>,
    /// When the next report is due.
    next: Instant,
    /// The estimate reported first, then in every later report, and how often.
    first_bps: u64,
    bps: u64,
    every: Duration,
    /// Reports handed to str0m.
    pub(crate) sent: u64,
}

impl Remb {
    /// Reports every `every` from the first video packet on (the first one at once): the
    /// generous [`ESTIMATE_BPS`] (or `bps` if higher), then `bps`.
    pub(crate) fn new(now: Instant, bps: u64, every: Duration) -> Remb {
        Remb { ssrc: None, next: now, first_bps: bps.max(ESTIMATE_BPS), bps, every, sent: 0 }
    }

    /// The reports of a subscriber in scenario `s`, created at `now`: none unless Convene
    /// takes its estimates from the subscribers.
    pub(crate) fn of(s: &Scenario, now: Instant) -> Option<Remb> {
        let every = Duration::from_millis(s.remb_every_ms);
        (s.downlink_estimate.sfu() == convene_sfu::DownlinkEstimate::Receiver)
            .then(|| Remb::new(now, s.remb_bps, every))
    }

    /// A video packet of stream `ssrc` arrived (str0m gives repairs their main SSRC).
    pub(crate) fn saw(&mut self, ssrc: Ssrc) {
        self.ssrc = Some(ssrc);
    }

    /// When [`Remb::send_due`] has something to do: never before video arrives.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.ssrc.map(|_| self.next)
    }

    /// Queues the report in `rtc` if one is due at `now`. Returns whether it did: then str0m
    /// wants its timeout handled now (that is where it puts the REMB into its feedback).
    pub(crate) fn send_due(&mut self, now: Instant, rtc: &mut Rtc) -> bool {
        let Some(ssrc) = self.ssrc else { return false };
        if now < self.next {
            return false;
        }
        self.next += self.every;
        if self.next <= now {
            // A generator that fell behind reports once, not in a burst.
            self.next = now + self.every;
        }
        match rtc.direct_api().stream_rx(&ssrc) {
            Some(stream) => {
                let bps = if self.sent == 0 { self.first_bps } else { self.bps };
                stream.request_remb(Bitrate::bps(bps));
                self.sent += 1;
                true
            }
            None => {
                self.ssrc = None;
                false
            }
        }
    }
}
