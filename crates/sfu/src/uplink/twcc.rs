//! Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01):
//! when each transport-wide sequence number arrived, reported back so that the browser's
//! send-side estimator (libwebrtc's GCC) can set the publisher's bitrate.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// RTCP transport-layer feedback, format 15.
const PT_RTPFB: u8 = 205;
const FMT_TWCC: u8 = 15;

/// The reference time's unit.
const REFERENCE_UNIT: Duration = Duration::from_millis(64);

/// The receive deltas' unit.
const DELTA_UNIT_MICROS: i64 = 250;

/// Statuses per feedback packet at most: about 1,200 bytes with two-byte deltas, under any
/// path MTU, and far more than a feedback interval brings at video rates.
pub const MAX_STATUSES: usize = 400;

/// Sequence numbers further behind the newest than this are forgotten unreported.
const MAX_BACKLOG: i64 = 2_000;

/// One packet's status symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Symbol {
    NotReceived = 0,
    Small = 1,
    Large = 2,
}

/// The arrivals not yet reported.
#[derive(Debug)]
pub struct TwccReceipts {
    epoch: Instant,
    /// (extended sequence number, arrival), ascending, from the first not yet reported.
    /// Packets mostly come in order, so a deque takes them at its end.
    arrivals: VecDeque<(i64, Instant)>,
    /// The next sequence number a feedback starts at (reported through the one before).
    next: Option<i64>,
    highest: Option<i64>,
    feedback_count: u8,
    /// A feedback's symbols and deltas while it is written, kept between feedbacks.
    symbols: Vec<Symbol>,
    deltas: Vec<(Symbol, i64)>,
}

impl TwccReceipts {
    /// Reference times are counted from `epoch`.
    pub fn new(epoch: Instant) -> TwccReceipts {
        TwccReceipts {
            epoch,
            arrivals: VecDeque::new(),
            next: None,
            highest: None,
            feedback_count: 0,
            symbols: Vec::new(),
            deltas: Vec::new(),
        }
    }

    /// Records that transport-wide sequence number `seq` arrived at `at`.
    pub fn record(&mut self, seq: u16, at: Instant) {
        let ext = match self.highest {
            None => i64::from(seq),
            Some(h) => h + i64::from(seq.wrapping_sub(h as u16) as i16),
        };
        if self.next.is_some_and(|n| ext < n) {
            // Already reported (as lost, or a duplicate): too late to say otherwise.
            return;
        }
        self.next.get_or_insert(ext);
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        match self.arrivals.back() {
            Some(&(last, _)) if last >= ext => {
                // Out of order: into its place, once.
                if let Err(i) = self.arrivals.binary_search_by_key(&ext, |&(seq, _)| seq) {
                    self.arrivals.insert(i, (ext, at));
                }
            }
            _ => self.arrivals.push_back((ext, at)),
        }
        let oldest = self.highest.unwrap_or(ext) - MAX_BACKLOG;
        while self.arrivals.front().is_some_and(|&(seq, _)| seq < oldest) {
            self.arrivals.pop_front();
        }
        if let (Some(n), Some(&(first, _))) = (self.next, self.arrivals.front()) {
            if n < oldest {
                self.next = Some(first);
            }
        }
    }

    /// Whether an arrival waits to be reported.
    pub fn has_unreported(&self) -> bool {
        !self.arrivals.is_empty()
    }

    /// Appends one feedback packet about what arrived since the last one (at most
    /// [`MAX_STATUSES`]; call again while [`TwccReceipts::has_unreported`]). False if there
    /// was nothing to report.
    pub fn write_feedback(&mut self, out: &mut Vec<u8>, sender_ssrc: u32, media_ssrc: u32) -> bool {
        let (Some(base), Some(&(first_seq, first_at))) = (self.next, self.arrivals.front()) else {
            return false;
        };
        // The reference: the first arrival, rounded down to the unit; deltas run from it.
        let since = first_at.saturating_duration_since(self.epoch);
        let units = since.as_millis() / REFERENCE_UNIT.as_millis();
        let reference = self.epoch + REFERENCE_UNIT * units as u32;
        let mut symbols = std::mem::take(&mut self.symbols);
        let mut deltas = std::mem::take(&mut self.deltas);
        symbols.clear();
        deltas.clear();
        let mut last = reference;
        let mut end = base;
        let mut seq = base;
        let mut taken = 0;
        debug_assert!(first_seq >= base);
        while symbols.len() < MAX_STATUSES {
            let Some(&(next_seq, at)) = self.arrivals.get(taken) else { break };
            // Holes up to the next arrival, if they fit.
            let holes = (next_seq - seq) as usize;
            if symbols.len() + holes >= MAX_STATUSES {
                break;
            }
            let delta = signed_micros(at, last) / DELTA_UNIT_MICROS;
            let symbol = match delta {
                0..=255 => Symbol::Small,
                -32_768..=32_767 => Symbol::Large,
                // Too far from the previous to say in this packet: the next one starts here.
                _ if !symbols.is_empty() => break,
                _ => Symbol::Large,
            };
            symbols.extend(std::iter::repeat_n(Symbol::NotReceived, holes));
            symbols.push(symbol);
            let delta = delta.clamp(-32_768, 32_767);
            deltas.push((symbol, delta));
            // Deltas accumulate in whole units, so the next one is from where this one lands.
            last = offset(last, delta * DELTA_UNIT_MICROS);
            seq = next_seq + 1;
            end = seq;
            taken += 1;
        }
        if symbols.is_empty() {
            (self.symbols, self.deltas) = (symbols, deltas);
            return false;
        }
        let start = out.len();
        out.extend_from_slice(&[0x80 | FMT_TWCC, PT_RTPFB, 0, 0]);
        out.extend_from_slice(&sender_ssrc.to_be_bytes());
        out.extend_from_slice(&media_ssrc.to_be_bytes());
        out.extend_from_slice(&(base as u16).to_be_bytes());
        out.extend_from_slice(&(symbols.len() as u16).to_be_bytes());
        let reference_units = (units as u32) & 0x00ff_ffff;
        out.extend_from_slice(&reference_units.to_be_bytes()[1..]);
        out.push(self.feedback_count);
        self.feedback_count = self.feedback_count.wrapping_add(1);
        write_chunks(out, &symbols);
        for &(symbol, delta) in &deltas {
            if symbol == Symbol::Small {
                out.push(delta as u8);
            } else {
                out.extend_from_slice(&(delta as i16).to_be_bytes());
            }
        }
        // Zero padding to a whole word, the last byte counting it (and the P bit set).
        let pad = (4 - (out.len() - start) % 4) % 4;
        if pad > 0 {
            out.extend(std::iter::repeat_n(0, pad - 1));
            out.push(pad as u8);
            out[start] |= 0x20;
        }
        let words = ((out.len() - start) / 4 - 1) as u16;
        out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
        self.arrivals.drain(..taken);
        self.next = Some(end);
        (self.symbols, self.deltas) = (symbols, deltas);
        true
    }
}

/// `a − b` in microseconds, signed.
fn signed_micros(a: Instant, b: Instant) -> i64 {
    match a.checked_duration_since(b) {
        Some(d) => d.as_micros() as i64,
        None => -(b.duration_since(a).as_micros() as i64),
    }
}

fn offset(at: Instant, micros: i64) -> Instant {
    let d = Duration::from_micros(micros.unsigned_abs());
    if micros >= 0 {
        at + d
    } else {
        at.checked_sub(d).unwrap_or(at)
    }
}

/// Packet status chunks: a run-length chunk where a symbol repeats at least seven times,
/// else a status vector (fourteen one-bit symbols when none is large, seven two-bit ones).
fn write_chunks(out: &mut Vec<u8>, symbols: &[Symbol]) {
    let mut i = 0;
    while i < symbols.len() {
        let run = symbols[i..].iter().take_while(|s| **s == symbols[i]).count().min(0x1fff);
        if run >= 7 {
            let chunk = (symbols[i] as u16) << 13 | run as u16;
            out.extend_from_slice(&chunk.to_be_bytes());
            i += run;
            continue;
        }
        let next14 = &symbols[i..symbols.len().min(i + 14)];
        let chunk = if next14.iter().all(|s| *s != Symbol::Large) {
            let bits = next14.iter().enumerate().fold(0u16, |v, (k, s)| v | ((*s as u16) << (13 - k)));
            i += 14;
            0x8000 | bits
        } else {
            let next7 = &symbols[i..symbols.len().min(i + 7)];
            let bits = next7.iter().enumerate().fold(0u16, |v, (k, s)| v | ((*s as u16) << (12 - 2 * k)));
            i += 7;
            0xc000 | bits
        };
        out.extend_from_slice(&chunk.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downlink::rtcp::{parse, Feedback};
    use str0m::rtp::rtcp::Twcc;

    const MS: Duration = Duration::from_millis(1);

    /// Reads a feedback packet back with str0m's parser (an independent implementation):
    /// (sequence number, arrival) for every status it reports.
    fn read_back(packet: &[u8], epoch: Instant) -> Vec<(u16, Option<Instant>)> {
        let mut feedback = Vec::new();
        assert!(parse(packet, &mut feedback), "a valid RTCP packet");
        let [Feedback::TransportCc { body, media_ssrc }] = &feedback[..] else { panic!("one TWCC: {feedback:?}") };
        assert_eq!(*media_ssrc, 0xbeef);
        let twcc = Twcc::try_from(&body[..]).expect("str0m reads it");
        // Extended from far into the sequence space, so that a number just below a wrap reads
        // as itself; the 16 bits are what was sent.
        twcc.into_iter(epoch, (1u64 << 20).into()).map(|(seq, _, at)| (*seq as u16, at)).collect()
    }

    fn assert_near(at: Option<Instant>, want: Instant) {
        let at = at.expect("reported as received");
        let off = signed_micros(at, want).abs();
        assert!(off <= 250, "within the 250 µs unit: {off} µs off");
    }

    #[test]
    fn arrivals_and_a_hole_read_back_as_sent() {
        let epoch = Instant::now();
        let mut r = TwccReceipts::new(epoch);
        let t = epoch + MS * 1_000;
        r.record(10, t);
        r.record(11, t + MS * 5);
        r.record(13, t + MS * 9);
        let mut out = Vec::new();
        assert!(r.write_feedback(&mut out, 1, 0xbeef));
        assert_eq!(out.len() % 4, 0);
        let back = read_back(&out, epoch);
        assert_eq!(back.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![10, 11, 12, 13]);
        assert_near(back[0].1, t);
        assert_near(back[1].1, t + MS * 5);
        assert_eq!(back[2].1, None, "12 never came");
        assert_near(back[3].1, t + MS * 9);
        assert!(!r.has_unreported());
        assert!(!r.write_feedback(&mut out, 1, 0xbeef), "nothing new");
    }

    #[test]
    fn the_next_feedback_starts_where_the_last_ended_and_counts_up() {
        let epoch = Instant::now();
        let mut r = TwccReceipts::new(epoch);
        r.record(1, epoch + MS);
        let mut first = Vec::new();
        r.write_feedback(&mut first, 1, 0xbeef);
        r.record(3, epoch + MS * 60);
        r.record(0, epoch + MS * 61); // reported as lost already: ignored
        let mut second = Vec::new();
        r.write_feedback(&mut second, 1, 0xbeef);
        let back = read_back(&second, epoch);
        assert_eq!(back.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!((first[19], second[19]), (0, 1), "feedback packet count");
    }

    #[test]
    fn late_and_long_gaps_take_large_deltas_and_long_runs_a_run_chunk() {
        let epoch = Instant::now();
        let mut r = TwccReceipts::new(epoch);
        let t = epoch + MS * 200;
        r.record(100, t + MS * 30);
        r.record(101, t); // earlier than its predecessor: a negative delta
        r.record(140, t + MS * 500); // 38 lost in between, then 125 ms: a large delta
        let mut out = Vec::new();
        r.write_feedback(&mut out, 1, 0xbeef);
        let back = read_back(&out, epoch);
        assert_eq!(back.len(), 41);
        assert_near(back[0].1, t + MS * 30);
        assert_near(back[1].1, t);
        assert!(back[2..40].iter().all(|(_, at)| at.is_none()));
        assert_near(back[40].1, t + MS * 500);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let epoch = Instant::now();
        let mut r = TwccReceipts::new(epoch);
        r.record(65_535, epoch + MS);
        r.record(1, epoch + MS * 2);
        let mut out = Vec::new();
        r.write_feedback(&mut out, 1, 0xbeef);
        let back = read_back(&out, epoch);
        let seqs: Vec<u16> = back.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![65_535, 0, 1]);
        assert_eq!(back[1].1, None);
    }

    #[test]
    fn a_busy_interval_is_reported_in_several_packets() {
        let epoch = Instant::now();
        let mut r = TwccReceipts::new(epoch);
        for i in 0..1_000u16 {
            r.record(i, epoch + Duration::from_micros(300 * u64::from(i)));
        }
        let mut seen = 0;
        let mut packets = 0;
        while r.has_unreported() {
            let mut out = Vec::new();
            assert!(r.write_feedback(&mut out, 1, 0xbeef));
            assert!(out.len() <= 1_200, "fits a datagram: {}", out.len());
            let back = read_back(&out, epoch);
            assert_eq!(back[0].0 as usize, seen, "continues where the last ended");
            seen += back.len();
            packets += 1;
        }
        assert_eq!((seen, packets), (1_000, 3));
    }

    #[test]
    fn an_arrival_too_far_from_the_last_goes_in_the_next_packet() {
        let epoch = Instant::now();
        let mut r = TwccReceipts::new(epoch);
        r.record(0, epoch + MS);
        r.record(1, epoch + MS * 9_000); // 9 s later: beyond a two-byte delta (8.19 s)
        let mut out = Vec::new();
        r.write_feedback(&mut out, 1, 0xbeef);
        assert_eq!(read_back(&out, epoch).len(), 1);
        out.clear();
        r.write_feedback(&mut out, 1, 0xbeef);
        let back = read_back(&out, epoch);
        assert_eq!(back[0].0, 1);
        assert_near(back[0].1, epoch + MS * 9_000);
    }
}
