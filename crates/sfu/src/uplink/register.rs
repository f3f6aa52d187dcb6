//! What one incoming RTP stream delivered: extended sequence numbers, the holes to NACK, and
//! the RFC 3550 reception report (loss, jitter, LSR/DLSR) its sender learns its path from.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::downlink::rtcp::{ntp_middle32, ReceptionReport};

/// How far behind the highest sequence number a hole is still worth asking for. A jump
/// larger than this is a restarted or switched stream, not loss: the register starts over.
pub const MAX_NACK_AGE: u16 = 1_000;

/// How often one hole is asked for before it is given up (libwebrtc's `kMaxNackRetries`).
pub const MAX_NACK_TRIES: u8 = 10;

/// The shortest wait before asking for the same packet again, whatever the round trip.
pub const MIN_NACK_INTERVAL: Duration = Duration::from_millis(20);

/// Holes remembered at most; past it the oldest go first (a burst that large is not
/// repaired by retransmission anyway).
const MAX_HOLES: usize = 500;

/// How an arrival stood to what came before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The first packet, or one after a jump: the register started over.
    Started,
    /// The next packet, or a later one that left holes behind it.
    InOrder,
    /// A packet that filled a hole (a retransmission, or one that was late).
    Recovered,
    /// Already received (or older than the register remembers).
    Duplicate,
}

/// One hole in the sequence.
#[derive(Debug, Clone, Copy)]
struct Hole {
    asked: Option<Instant>,
    tries: u8,
}

/// The receive side of one SSRC.
#[derive(Debug)]
pub struct ReceiveRegister {
    ssrc: u32,
    clock_rate: u32,
    /// Extended sequence numbers (cycles × 65536 + seq) of the first packet and the highest.
    base: i64,
    highest: i64,
    /// Packets expected in the runs before the last restart.
    expected_before: i64,
    received: u64,
    holes: BTreeMap<i64, Hole>,
    /// Interarrival jitter in timestamp units, ×16 as RFC 3550 A.8 keeps it.
    jitter16: u64,
    /// The last in-order packet's transit time (arrival minus timestamp, in timestamp units).
    last_transit: Option<i64>,
    /// Arrivals are measured from here, in the stream's clock.
    epoch: Instant,
    /// At the previous report: packets expected and received, for the fraction lost.
    prior: (i64, u64),
    /// The last sender report: its NTP time's middle 32 bits, and when it arrived.
    last_sr: Option<(u32, Instant)>,
    started: bool,
}

impl ReceiveRegister {
    /// A register for `ssrc`, whose timestamps tick at `clock_rate` Hz.
    pub fn new(ssrc: u32, clock_rate: u32, now: Instant) -> ReceiveRegister {
        ReceiveRegister {
            ssrc,
            clock_rate: clock_rate.max(1),
            base: 0,
            highest: 0,
            expected_before: 0,
            received: 0,
            holes: BTreeMap::new(),
            jitter16: 0,
            last_transit: None,
            epoch: now,
            prior: (0, 0),
            last_sr: None,
            started: false,
        }
    }

    /// The SSRC reported on.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The extended highest sequence number received (RFC 3550 §6.4.1).
    pub fn highest(&self) -> u32 {
        self.highest as u32
    }

    /// `seq` extended to the cycle nearest the highest received (RFC 3550 A.1): the number
    /// a forwarder orders by, continuous across wraps.
    pub fn extended(&self, seq: u16) -> u64 {
        let delta = i64::from(seq.wrapping_sub(self.highest as u16) as i16);
        (self.highest + delta).max(0) as u64
    }

    /// Records a packet that arrived at `now` with sequence number `seq` and RTP timestamp
    /// `timestamp`. Retransmissions (unwrapped from RTX) come here with their original number.
    pub fn on_packet(&mut self, now: Instant, seq: u16, timestamp: u32, retransmitted: bool) -> Arrival {
        if !self.started {
            self.restart(now, seq, timestamp, retransmitted);
            return Arrival::Started;
        }
        let delta = i64::from(seq.wrapping_sub(self.highest as u16) as i16);
        let ext = self.highest + delta;
        if delta > 0 {
            if delta > i64::from(MAX_NACK_AGE) {
                self.restart(now, seq, timestamp, retransmitted);
                return Arrival::Started;
            }
            for missing in self.highest + 1..ext {
                self.holes.insert(missing, Hole { asked: None, tries: 0 });
            }
            while self.holes.len() > MAX_HOLES {
                self.holes.pop_first();
            }
            self.highest = ext;
            self.forget_old_holes();
            self.received += 1;
            if !retransmitted {
                self.update_jitter(now, timestamp);
            }
            return Arrival::InOrder;
        }
        if self.holes.remove(&ext).is_some() {
            self.received += 1;
            return Arrival::Recovered;
        }
        if ext < self.base && self.highest - ext < i64::from(MAX_NACK_AGE) {
            // Older than the first packet seen (reordered around the start): count it, and
            // what lies between it and the first as holes.
            for missing in ext + 1..self.base {
                self.holes.insert(missing, Hole { asked: None, tries: 0 });
            }
            while self.holes.len() > MAX_HOLES {
                self.holes.pop_first();
            }
            self.base = ext;
            self.received += 1;
            return Arrival::Recovered;
        }
        Arrival::Duplicate
    }

    fn restart(&mut self, now: Instant, seq: u16, timestamp: u32, retransmitted: bool) {
        // Keep the cycle count going across a restart so the extended number never falls.
        let cycles = if self.started { (self.highest >> 16) + 1 } else { 0 };
        if self.started {
            // What the ended run expected stays in the loss figures.
            self.expected_before += self.highest - self.base + 1;
        }
        let ext = (cycles << 16) | i64::from(seq);
        self.started = true;
        self.base = ext;
        self.highest = ext;
        self.received += 1;
        self.holes.clear();
        self.last_transit = None;
        if !retransmitted {
            self.update_jitter(now, timestamp);
        }
    }

    /// Packets expected since the first one (RFC 3550 A.3), over every run.
    fn expected_total(&self) -> i64 {
        if self.started {
            self.expected_before + self.highest - self.base + 1
        } else {
            0
        }
    }

    fn forget_old_holes(&mut self) {
        let oldest = self.highest - i64::from(MAX_NACK_AGE);
        while self.holes.first_key_value().is_some_and(|(&k, _)| k < oldest) {
            self.holes.pop_first();
        }
    }

    /// RFC 3550 A.8: J += (|D| − J) / 16, with D the change in transit time.
    fn update_jitter(&mut self, now: Instant, timestamp: u32) {
        let elapsed = now.saturating_duration_since(self.epoch);
        // In 64 bits: microseconds times a clock rate stay far below 2^63 for any stream's life.
        let arrival = (elapsed.as_micros() as u64 * u64::from(self.clock_rate) / 1_000_000) as i64;
        // Timestamps wrap at 2^32: transit differences are taken modulo that.
        let transit = arrival.wrapping_sub(i64::from(timestamp)) & 0xffff_ffff;
        if let Some(last) = self.last_transit {
            let d = ((transit - last) as i32).unsigned_abs() as u64;
            self.jitter16 = self.jitter16 + d - (self.jitter16 + 8) / 16;
        }
        self.last_transit = Some(transit);
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        (self.jitter16 / 16).min(u64::from(u32::MAX)) as u32
    }

    /// The sequence numbers to ask for now, oldest first: each hole at once, then again
    /// every round trip (at least [`MIN_NACK_INTERVAL`]) up to [`MAX_NACK_TRIES`] times.
    pub fn nacks(&mut self, now: Instant, rtt: Duration) -> Vec<u16> {
        let wait = rtt.max(MIN_NACK_INTERVAL);
        let mut due = Vec::new();
        self.holes.retain(|&ext, hole| {
            if hole.tries >= MAX_NACK_TRIES {
                return false;
            }
            if hole.asked.is_none_or(|at| now.saturating_duration_since(at) >= wait) {
                hole.asked = Some(now);
                hole.tries += 1;
                due.push(ext as u16);
            }
            true
        });
        due
    }

    /// When [`ReceiveRegister::nacks`] next has something to ask for.
    pub fn next_nack_at(&self, rtt: Duration) -> Option<Instant> {
        let wait = rtt.max(MIN_NACK_INTERVAL);
        // A hole never asked for is due at once: any instant in the past says so.
        self.holes
            .values()
            .filter(|h| h.tries < MAX_NACK_TRIES)
            .map(|h| h.asked.map_or(self.epoch, |at| at + wait))
            .min()
    }

    /// Holes not yet filled nor given up.
    pub fn holes(&self) -> usize {
        self.holes.len()
    }

    /// Notes a sender report whose NTP time is `ntp`, arrived at `now`.
    pub fn on_sender_report(&mut self, now: Instant, ntp: u64) {
        self.last_sr = Some((ntp_middle32(ntp), now));
    }

    /// The reception report block for now; the fraction lost is since the previous call.
    pub fn report(&mut self, now: Instant) -> ReceptionReport {
        let expected = self.expected_total();
        let (expected_prior, received_prior) = self.prior;
        let expected_interval = expected - expected_prior;
        let received_interval = self.received as i64 - received_prior as i64;
        let lost_interval = expected_interval - received_interval;
        let fraction_lost = if expected_interval <= 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval).min(255) as u8
        };
        self.prior = (expected, self.received);
        let lost = expected - self.received as i64;
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((middle, at)) => {
                let delay = now.saturating_duration_since(at);
                (middle, (delay.as_nanos() * 65_536 / 1_000_000_000).min(u128::from(u32::MAX)) as u32)
            }
            None => (0, 0),
        };
        ReceptionReport {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: lost.clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_seq: self.highest(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A 90 kHz stream starting at `seq`, one packet every 10 ms with timestamps to match.
    fn stream(first: u16) -> (ReceiveRegister, Instant, u16) {
        let t0 = Instant::now();
        (ReceiveRegister::new(0x1234, 90_000, t0), t0, first)
    }

    fn ts(i: u32) -> u32 {
        5_000 + i * 900
    }

    #[test]
    fn an_unbroken_stream_has_no_holes_and_no_loss() {
        let (mut r, t0, first) = stream(100);
        for i in 0..50u16 {
            let arrival = r.on_packet(t0 + MS * 10 * u32::from(i), first + i, ts(i.into()), false);
            assert_eq!(arrival, if i == 0 { Arrival::Started } else { Arrival::InOrder });
        }
        assert!(r.nacks(t0 + MS * 500, 50 * MS).is_empty());
        let report = r.report(t0 + MS * 500);
        assert_eq!((report.fraction_lost, report.cumulative_lost), (0, 0));
        assert_eq!(report.highest_seq, 149);
        assert_eq!(report.jitter, 0, "packets exactly on their timestamps' schedule");
        assert_eq!(report.ssrc, 0x1234);
    }

    #[test]
    fn a_hole_is_asked_for_at_once_then_each_round_trip_until_given_up() {
        let (mut r, t0, _) = stream(10);
        r.on_packet(t0, 10, ts(0), false);
        r.on_packet(t0 + MS * 10, 13, ts(3), false);
        assert_eq!(r.holes(), 2);
        assert_eq!(r.nacks(t0 + MS * 10, 40 * MS), vec![11, 12]);
        assert!(r.nacks(t0 + MS * 30, 40 * MS).is_empty(), "not again within the round trip");
        assert_eq!(r.next_nack_at(40 * MS), Some(t0 + MS * 50));
        assert_eq!(r.nacks(t0 + MS * 50, 40 * MS), vec![11, 12]);
        // 12 comes back as a retransmission: only 11 is left to ask for.
        assert_eq!(r.on_packet(t0 + MS * 60, 12, ts(2), true), Arrival::Recovered);
        assert_eq!(r.on_packet(t0 + MS * 61, 12, ts(2), true), Arrival::Duplicate);
        let mut asked = 2;
        let mut at = t0 + MS * 90;
        while !r.nacks(at, 40 * MS).is_empty() {
            asked += 1;
            at += MS * 40;
        }
        assert_eq!(asked, MAX_NACK_TRIES, "given up after the last try");
        assert_eq!(r.holes(), 0, "and forgotten at the next look");
        assert_eq!(r.next_nack_at(40 * MS), None);
    }

    #[test]
    fn a_short_round_trip_still_waits_the_minimum_between_asks() {
        let (mut r, t0, _) = stream(0);
        r.on_packet(t0, 0, ts(0), false);
        r.on_packet(t0, 2, ts(2), false);
        assert_eq!(r.nacks(t0, MS), vec![1]);
        assert!(r.nacks(t0 + MS * 19, MS).is_empty());
        assert_eq!(r.nacks(t0 + MS * 20, MS), vec![1]);
    }

    #[test]
    fn sequence_numbers_wrap_into_the_next_cycle() {
        let (mut r, t0, _) = stream(65_534);
        r.on_packet(t0, 65_534, ts(0), false);
        r.on_packet(t0 + MS * 10, 65_535, ts(1), false);
        r.on_packet(t0 + MS * 30, 1, ts(3), false);
        assert_eq!(r.nacks(t0 + MS * 30, 40 * MS), vec![0], "the hole across the wrap");
        assert_eq!(r.report(t0 + MS * 30).highest_seq, 65_536 + 1);
        assert_eq!(r.on_packet(t0 + MS * 31, 0, ts(2), true), Arrival::Recovered);
        assert_eq!(r.report(t0 + MS * 31).cumulative_lost, 0);
    }

    #[test]
    fn a_jump_is_a_new_run_not_a_thousand_holes() {
        let (mut r, t0, _) = stream(100);
        r.on_packet(t0, 100, ts(0), false);
        r.on_packet(t0 + MS * 10, 101, ts(1), false);
        assert_eq!(r.on_packet(t0 + MS * 20, 30_000, ts(2), false), Arrival::Started);
        assert_eq!(r.holes(), 0);
        assert!(r.highest() > 65_535, "the extended number never goes back");
        r.on_packet(t0 + MS * 30, 30_001, ts(3), false);
        assert_eq!(r.report(t0 + MS * 30).cumulative_lost, 0, "nothing was lost in either run");
    }

    #[test]
    fn the_fraction_lost_is_since_the_last_report_and_the_total_since_the_start() {
        let (mut r, t0, _) = stream(0);
        // 0..=9 with 3 and 7 missing: 2 of 10 lost.
        for seq in (0..10u16).filter(|s| *s != 3 && *s != 7) {
            r.on_packet(t0 + MS * 10 * u32::from(seq), seq, ts(seq.into()), false);
        }
        let first = r.report(t0 + MS * 100);
        assert_eq!(first.fraction_lost, (2 * 256 / 10) as u8);
        assert_eq!(first.cumulative_lost, 2);
        // 10..=19 all there: nothing lost in this interval, still 2 in all.
        for seq in 10..20u16 {
            r.on_packet(t0 + MS * 10 * u32::from(seq), seq, ts(seq.into()), false);
        }
        let second = r.report(t0 + MS * 200);
        assert_eq!((second.fraction_lost, second.cumulative_lost), (0, 2));
        // A late arrival of 3 lowers the total.
        r.on_packet(t0 + MS * 201, 3, ts(3), true);
        assert_eq!(r.report(t0 + MS * 201).cumulative_lost, 1);
    }

    #[test]
    fn a_packet_from_before_the_first_is_counted_and_what_lies_between_is_a_hole() {
        let (mut r, t0, _) = stream(50);
        r.on_packet(t0, 50, ts(3), false);
        assert_eq!(r.on_packet(t0 + MS, 47, ts(0), false), Arrival::Recovered);
        assert_eq!(r.nacks(t0 + MS, 40 * MS), vec![48, 49]);
        assert_eq!(r.report(t0 + MS).cumulative_lost, 2);
    }

    #[test]
    fn jitter_follows_the_variation_in_transit_time() {
        let (mut r, t0, _) = stream(0);
        // Every other packet 4 ms late: |D| = 360 ticks at 90 kHz each time.
        for i in 0..200u32 {
            let late = if i % 2 == 1 { MS * 4 } else { Duration::ZERO };
            r.on_packet(t0 + MS * 10 * i + late, i as u16, ts(i), false);
        }
        let jitter = r.report(t0 + MS * 2_000).jitter;
        assert!((340..=360).contains(&jitter), "J converges on |D| = 360, got {jitter}");
        // Retransmissions do not count: they are late by design.
        let before = r.jitter();
        r.on_packet(t0 + MS * 3_000, 200, ts(200), true);
        assert_eq!(r.jitter(), before);
    }

    #[test]
    fn the_report_echoes_the_last_sender_report() {
        let (mut r, t0, _) = stream(0);
        r.on_packet(t0, 0, ts(0), false);
        assert_eq!((r.report(t0).last_sr, r.report(t0).delay_since_last_sr), (0, 0));
        let ntp = 0x1122_3344_5566_7788u64;
        r.on_sender_report(t0, ntp);
        let report = r.report(t0 + MS * 500);
        assert_eq!(report.last_sr, 0x3344_5566);
        assert_eq!(report.delay_since_last_sr, 32_768, "half a second in 1/65536 s");
    }

    #[test]
    fn a_flood_of_holes_keeps_the_newest() {
        let (mut r, t0, _) = stream(0);
        r.on_packet(t0, 0, ts(0), false);
        r.on_packet(t0, 900, ts(1), false);
        assert_eq!(r.holes(), MAX_HOLES);
        let asked = r.nacks(t0, 40 * MS);
        assert_eq!(asked.first(), Some(&(900 - MAX_HOLES as u16)));
        assert_eq!(asked.last(), Some(&899));
    }
}
