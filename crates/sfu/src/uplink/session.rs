//! The RTP session of one publisher connection, without its crypto: what arrives is read,
//! routed to its layer, unwrapped if it is a retransmission and counted; what goes back is
//! RTCP — receiver reports, NACKs for the holes, transport-wide feedback for the browser's
//! estimator and keyframe requests — each on its own clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::register::Arrival;
use super::rtp::{parse, unwrap_rtx, ExtIds, ExtValues};
use super::streams::{Route, Streams, Tag};
use super::twcc::TwccReceipts;
use crate::downlink::rtcp::{
    ntp_from_unix, ntp_middle32, read_dlrr, round_trip, write_nack, write_pli, write_receiver_report, write_rrtr,
};

/// How often each stream's reception is reported.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// How often transport-wide feedback goes back while packets arrive (libwebrtc's default,
/// and str0m's).
pub const TWCC_INTERVAL: Duration = Duration::from_millis(50);

/// A layer silent this long has been paused by its sender (a browser stops the layers
/// nobody is sent, or that its bandwidth no longer carries).
pub const PAUSED_AFTER: Duration = Duration::from_millis(1_500);

/// The round trip assumed until one is measured, for spacing repeated NACKs.
const DEFAULT_RTT: Duration = Duration::from_millis(100);

/// A round trip longer than this is a clock step or a confused peer, not a path: ignored.
const MAX_RTT: Duration = Duration::from_secs(5);

const PT_SR: u8 = 200;

/// A packet of one of the publisher's layers, ready to forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    /// The stream's index in [`UplinkSession::streams`].
    pub stream: usize,
    /// The m-line.
    pub mid: Tag,
    /// The simulcast layer.
    pub rid: Option<Tag>,
    /// The media payload type (a retransmission's is mapped back).
    pub payload_type: u8,
    /// The media sequence number (a retransmission's original).
    pub sequence: u16,
    /// `sequence` extended over wraps.
    pub extended: u64,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The marker bit.
    pub marker: bool,
    /// Whether it came as a retransmission.
    pub retransmission: bool,
    /// The header extensions read.
    pub ext: ExtValues<'a>,
    /// The payload.
    pub payload: &'a [u8],
}

/// A change the room must know of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UplinkEvent {
    /// A layer stopped arriving.
    Paused {
        /// The stream.
        stream: usize,
    },
    /// A paused layer arrives again.
    Resumed {
        /// The stream.
        stream: usize,
    },
}

/// What the session dropped, by reason, and the round trip it measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UplinkStats {
    /// Not RTP, or cut short.
    pub malformed: u64,
    /// An SSRC no extension or SDP line explains.
    pub unroutable: u64,
    /// Already received.
    pub duplicates: u64,
    /// Padding only (bandwidth probes): counted for feedback, nothing to forward.
    pub padding: u64,
    /// The round trip to the publisher, smoothed; None until its first DLRR reply.
    pub round_trip: Option<Duration>,
}

/// The receive side of one publisher connection.
#[derive(Debug)]
pub struct UplinkSession {
    ids: ExtIds,
    streams: Streams,
    twcc: TwccReceipts,
    sender_ssrc: u32,
    /// The NTP clock of our reference time reports: wall time since the Unix epoch at an instant.
    wall: (Instant, Duration),
    next_report: Option<Instant>,
    next_twcc: Option<Instant>,
    /// When a NACK is next due on any stream (kept, not searched for after every packet).
    next_nack: Option<Instant>,
    keyframes: Vec<u32>,
    /// When the first keyframe request not yet sent was made.
    keyframes_asked: Option<Instant>,
    events: VecDeque<UplinkEvent>,
    stats: UplinkStats,
}

impl UplinkSession {
    /// A session reading the extension ids `ids`, sending its RTCP as `sender_ssrc`; `wall`
    /// is the wall-clock time since the Unix epoch at `now` (the session never reads a clock).
    pub fn new(now: Instant, wall: Duration, ids: ExtIds, sender_ssrc: u32) -> UplinkSession {
        UplinkSession {
            ids,
            streams: Streams::new(),
            twcc: TwccReceipts::new(now),
            sender_ssrc,
            wall: (now, wall),
            next_report: None,
            next_twcc: None,
            next_nack: None,
            keyframes: Vec::new(),
            keyframes_asked: None,
            events: VecDeque::new(),
            stats: UplinkStats::default(),
        }
    }

    /// Reads the extension ids `ids` from now on (a renegotiation may add m-lines and theirs).
    pub fn set_ids(&mut self, ids: ExtIds) {
        self.ids = ids;
    }

    /// The streams, to tell them what the SDP negotiated.
    pub fn streams(&mut self) -> &mut Streams {
        &mut self.streams
    }

    /// What was dropped so far, and the round trip.
    pub fn stats(&self) -> UplinkStats {
        self.stats
    }

    /// Our NTP time at `now`.
    fn ntp(&self, now: Instant) -> u64 {
        let (at, wall) = self.wall;
        ntp_from_unix(wall + now.saturating_duration_since(at))
    }

    /// Takes a round-trip sample: smoothed as TCP does (RFC 6298: 7/8 of the old, 1/8 of the new).
    fn observe_round_trip(&mut self, sample: Duration) {
        if sample > MAX_RTT {
            return;
        }
        let smoothed = match self.stats.round_trip {
            Some(old) => (old * 7 + sample) / 8,
            None => sample,
        };
        self.stats.round_trip = Some(smoothed);
    }

    /// The round trip NACKs are spaced by: measured (RFC 3611 RRTR / DLRR), or the default.
    fn rtt(&self) -> Duration {
        self.stats.round_trip.unwrap_or(DEFAULT_RTT)
    }

    /// Reads a decrypted RTP packet; the packet to forward, if it is one.
    pub fn receive_rtp<'a>(&mut self, now: Instant, packet: &'a [u8]) -> Option<Received<'a>> {
        let Some(rtp) = parse(packet, &self.ids) else {
            self.stats.malformed += 1;
            return None;
        };
        // Every packet counts for the estimator, retransmissions and probes included.
        if let Some(seq) = rtp.ext.transport_seq {
            self.twcc.record(seq, now);
            self.next_twcc.get_or_insert(now + TWCC_INTERVAL);
        }
        let Some(route) = self.streams.route(now, &rtp) else {
            self.stats.unroutable += 1;
            return None;
        };
        let (index, retransmission) = match route {
            Route::Media(i) => (i, false),
            Route::Repair(i) => (i, true),
        };
        let stream = self.streams.get_mut(index)?;
        let (sequence, payload, payload_type) = if retransmission {
            let Some((osn, payload)) = unwrap_rtx(rtp.payload).filter(|(_, p)| !p.is_empty()) else {
                self.stats.padding += 1;
                return None;
            };
            let mid = stream.mid;
            let Some(pt) = self.streams.repaired_pt(&mid, rtp.payload_type) else {
                self.stats.unroutable += 1;
                return None;
            };
            (osn, payload, pt)
        } else {
            (rtp.sequence, rtp.payload, rtp.payload_type)
        };
        let stream = self.streams.get_mut(index)?;
        let holes = stream.register.holes();
        let arrival = stream.register.on_packet(now, sequence, rtp.timestamp, retransmission);
        if stream.register.holes() > holes {
            // A new hole is asked for at the next poll.
            self.next_nack = Some(now);
        }
        if arrival == Arrival::Duplicate {
            self.stats.duplicates += 1;
            return None;
        }
        stream.last_packet = now;
        let (mid, rid) = (stream.mid, stream.rid);
        let extended = stream.register.extended(sequence);
        self.next_report.get_or_insert(now + REPORT_INTERVAL);
        if std::mem::replace(&mut stream.paused, false) {
            self.events.push_back(UplinkEvent::Resumed { stream: index });
        }
        if payload.is_empty() {
            self.stats.padding += 1;
            return None;
        }
        Some(Received {
            stream: index,
            mid,
            rid,
            payload_type,
            sequence,
            extended,
            timestamp: rtp.timestamp,
            marker: rtp.marker,
            retransmission,
            ext: rtp.ext,
            payload,
        })
    }

    /// Reads a decrypted compound RTCP packet from the publisher: its sender reports, which
    /// the receiver reports echo for the publisher's round trip, and its replies to our
    /// reference time reports, which give ours.
    pub fn receive_rtcp(&mut self, now: Instant, compound: &[u8]) -> bool {
        let mut rest = compound;
        while let &[first, pt, hi, lo, ..] = rest {
            if first >> 6 != 2 {
                return false;
            }
            let len = (usize::from(u16::from_be_bytes([hi, lo])) + 1) * 4;
            let Some((this, after)) = rest.split_at_checked(len) else { return false };
            if pt == PT_SR {
                if let Some(&[s0, s1, s2, s3, n0, n1, n2, n3, n4, n5, n6, n7, ..]) = this.get(4..) {
                    let ssrc = u32::from_be_bytes([s0, s1, s2, s3]);
                    let ntp = u64::from_be_bytes([n0, n1, n2, n3, n4, n5, n6, n7]);
                    if let Some(s) = self.streams.iter_mut().find(|s| s.ssrc == ssrc) {
                        s.register.on_sender_report(now, ntp);
                    }
                }
            } else if let Some((lrr, dlrr)) = read_dlrr(this, self.sender_ssrc) {
                if let Some(sample) = round_trip(ntp_middle32(self.ntp(now)), lrr, dlrr) {
                    self.observe_round_trip(sample);
                }
            }
            rest = after;
        }
        rest.is_empty()
    }

    /// Asks the publisher for a keyframe of (`mid`, `rid`) at the next poll; false if that
    /// layer never sent.
    pub fn request_keyframe(&mut self, now: Instant, mid: &[u8], rid: Option<&[u8]>) -> bool {
        let Some(ssrc) = self.streams.find(mid, rid).map(|s| s.ssrc) else { return false };
        self.keyframes_asked.get_or_insert(now);
        if !self.keyframes.contains(&ssrc) {
            self.keyframes.push(ssrc);
        }
        true
    }

    /// Notices layers that went silent.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (index, stream) in self.streams.iter_mut().enumerate() {
            if !stream.paused && now.saturating_duration_since(stream.last_packet) >= PAUSED_AFTER {
                stream.paused = true;
                self.events.push_back(UplinkEvent::Paused { stream: index });
            }
        }
    }

    /// Appends the RTCP due now to `out` as one compound packet (an RR first, as RFC 3550
    /// asks); false if nothing was due.
    pub fn poll_rtcp(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        let due = |at: Option<Instant>| at.is_some_and(|at| at <= now);
        if !due(self.next_report) && !due(self.next_twcc) && !due(self.next_nack) && self.keyframes.is_empty() {
            // The common case, after every packet: nothing to say.
            return false;
        }
        let start = out.len();
        let report_due = self.next_report.is_some_and(|at| at <= now);
        let blocks: Vec<_> = if report_due {
            self.next_report = Some(now + REPORT_INTERVAL);
            self.streams.iter_mut().map(|s| s.register.report(now)).collect()
        } else {
            Vec::new()
        };
        write_receiver_report(out, self.sender_ssrc, &blocks);
        if report_due {
            // The publisher answers with a DLRR block: our round trip, for spacing NACKs.
            write_rrtr(out, self.sender_ssrc, self.ntp(now));
        }
        let mut feedback = report_due;
        let rtt = self.rtt();
        if due(self.next_nack) {
            let mut next = None::<Instant>;
            for stream in self.streams.iter_mut() {
                if stream.register.next_nack_at(rtt).is_some_and(|at| at <= now) {
                    let seqs = stream.register.nacks(now, rtt);
                    if !seqs.is_empty() {
                        write_nack(out, self.sender_ssrc, stream.ssrc, &seqs);
                        feedback = true;
                    }
                }
                if let Some(at) = stream.register.next_nack_at(rtt) {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
            self.next_nack = next;
        }
        self.keyframes_asked = None;
        for ssrc in self.keyframes.drain(..) {
            write_pli(out, self.sender_ssrc, ssrc);
            feedback = true;
        }
        if self.next_twcc.is_some_and(|at| at <= now) {
            self.next_twcc = None;
            let media_ssrc = self.streams.iter().next().map_or(0, |s| s.ssrc);
            while self.twcc.write_feedback(out, self.sender_ssrc, media_ssrc) {
                feedback = true;
            }
        }
        if !feedback {
            out.truncate(start);
        }
        feedback
    }

    /// When [`UplinkSession::poll_rtcp`] or [`UplinkSession::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let silence = self.streams.iter().filter(|s| !s.paused).map(|s| s.last_packet + PAUSED_AFTER).min();
        let keyframe = self.keyframes_asked.filter(|_| !self.keyframes.is_empty());
        [self.next_report, self.next_twcc, self.next_nack, silence, keyframe].into_iter().flatten().min()
    }

    /// The next change the room must know of.
    pub fn poll_event(&mut self) -> Option<UplinkEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downlink::rtcp::{ntp_middle32, parse as parse_rtcp, Feedback};
    use crate::downlink::RtpHeader;
    use crate::uplink::rtp::test_ids;
    use crate::uplink::streams::MediaLine;

    const MS: Duration = Duration::from_millis(1);
    const US: u32 = 0x5eed;
    /// 2026-12-07, the wall time of the sessions' start.
    const WALL: Duration = Duration::from_secs(1_796_601_600);

    fn session(now: Instant) -> UplinkSession {
        let mut s = UplinkSession::new(now, WALL, test_ids(), US);
        let video = MediaLine { codecs: vec![(96, 90_000)], rtx: vec![(97, 96)] };
        s.streams().set_line(Tag::new(b"1").unwrap(), video);
        s
    }

    /// A packet of layer `rid` (a retransmission if `rtx` names the original number).
    fn packet(ssrc: u32, seq: u16, twcc: u16, rid: &[u8], rtx: Option<u16>) -> Vec<u8> {
        let twcc = twcc.to_be_bytes();
        let rid_ext = if rtx.is_some() { 11 } else { 10 };
        let extensions: &[(u8, &[u8])] = &[(4, b"1"), (rid_ext, rid), (3, &twcc)];
        let mut out = Vec::new();
        let payload_type = if rtx.is_some() { 97 } else { 96 };
        RtpHeader { payload_type, marker: false, sequence: seq, timestamp: 9_000, ssrc, extensions }.write(&mut out);
        if let Some(osn) = rtx {
            out.extend_from_slice(&osn.to_be_bytes());
        }
        out.extend_from_slice(b"frame");
        out
    }

    fn feedback(out: &[u8]) -> Vec<Feedback> {
        let mut parsed = Vec::new();
        assert!(parse_rtcp(out, &mut parsed), "a valid compound");
        parsed
    }

    #[test]
    fn a_hole_is_nacked_at_once_and_filled_by_a_retransmission() {
        let t0 = Instant::now();
        let mut s = session(t0);
        let first = packet(100, 10, 1, b"h", None);
        let got = s.receive_rtp(t0, &first).unwrap();
        assert_eq!((got.rid.unwrap().as_bytes(), got.sequence, got.payload), (&b"h"[..], 10, &b"frame"[..]));
        s.receive_rtp(t0 + MS, &packet(100, 12, 2, b"h", None)).unwrap();
        let mut out = Vec::new();
        assert!(s.poll_rtcp(t0 + MS, &mut out));
        assert!(feedback(&out).contains(&Feedback::Nack { ssrc: 100, seqs: vec![11] }));
        // The repair stream names the layer it repairs; the packet comes back as the original.
        let rtx = packet(101, 500, 3, b"h", Some(11));
        let repaired = s.receive_rtp(t0 + MS * 30, &rtx).unwrap();
        assert_eq!((repaired.sequence, repaired.payload_type, repaired.retransmission), (11, 96, true));
        assert_eq!(repaired.payload, b"frame");
        // Filled: no NACK again, and a second copy is a duplicate.
        out.clear();
        s.poll_rtcp(t0 + MS * 500, &mut out);
        assert!(!feedback(&out).iter().any(|f| matches!(f, Feedback::Nack { .. })));
        assert_eq!(s.receive_rtp(t0 + MS * 501, &packet(101, 501, 4, b"h", Some(11))), None);
        assert_eq!(s.stats().duplicates, 1);
    }

    #[test]
    fn transport_wide_feedback_goes_back_each_interval() {
        let t0 = Instant::now();
        let mut s = session(t0);
        for i in 0..5u16 {
            s.receive_rtp(t0 + MS * u32::from(i), &packet(100, i, 7 + i, b"f", None));
        }
        let mut out = Vec::new();
        assert!(!s.poll_rtcp(t0 + MS * 10, &mut out), "nothing due before the interval");
        assert_eq!(s.poll_timeout(), Some(t0 + TWCC_INTERVAL));
        assert!(s.poll_rtcp(t0 + TWCC_INTERVAL, &mut out));
        let twcc = feedback(&out).into_iter().find_map(|f| match f {
            Feedback::TransportCc { body, .. } => Some(body),
            _ => None,
        });
        let twcc = str0m::rtp::rtcp::Twcc::try_from(&twcc.expect("feedback sent")[..]).unwrap();
        assert_eq!((twcc.base_seq, twcc.status_count), (7, 5));
        out.clear();
        assert!(!s.poll_rtcp(t0 + TWCC_INTERVAL * 2, &mut out), "nothing new to report");
    }

    #[test]
    fn reports_carry_loss_and_echo_the_sender_report() {
        let t0 = Instant::now();
        let mut s = session(t0);
        for seq in [0u16, 1, 3] {
            s.receive_rtp(t0, &packet(100, seq, seq, b"h", None));
        }
        // The publisher's SR for that SSRC.
        let ntp = 0x0102_0304_0506_0708u64;
        let mut sr = vec![0x80, 200, 0, 6];
        sr.extend_from_slice(&100u32.to_be_bytes());
        sr.extend_from_slice(&ntp.to_be_bytes());
        sr.extend_from_slice(&[0; 12]);
        assert!(s.receive_rtcp(t0 + MS * 100, &sr));
        let mut out = Vec::new();
        s.poll_rtcp(t0 + REPORT_INTERVAL, &mut out);
        let block = feedback(&out).into_iter().find_map(|f| match f {
            Feedback::ReportBlock { ssrc: 100, cumulative_lost, last_sr, delay_since_last_sr, .. } => {
                Some((cumulative_lost, last_sr, delay_since_last_sr))
            }
            _ => None,
        });
        let (lost, last_sr, dlsr) = block.expect("a report block for the layer");
        assert_eq!(lost, 1);
        assert_eq!(last_sr, ntp_middle32(ntp));
        assert_eq!(dlsr, 58_982, "0.9 s in 1/65536 s");
        assert!(!s.receive_rtcp(t0, &[0x80, 200, 0, 9]), "a length past the end");
    }

    /// The NTP time of the first receiver reference time report in `out`, if any.
    fn rrtr(out: &[u8]) -> Option<u64> {
        let mut rest = out;
        while let &[_, pt, hi, lo, ..] = rest {
            let len = (usize::from(u16::from_be_bytes([hi, lo])) + 1) * 4;
            if pt == 207 && rest[8] == 4 {
                return Some(u64::from_be_bytes(rest[12..20].try_into().unwrap()));
            }
            rest = &rest[len..];
        }
        None
    }

    /// Whether `out` asks again for `seq` of SSRC 100.
    fn nacks(out: &[u8], seq: u16) -> bool {
        !out.is_empty() && feedback(out).contains(&Feedback::Nack { ssrc: 100, seqs: vec![seq] })
    }

    #[test]
    fn the_round_trip_from_the_publishers_dlrr_spaces_repeated_nacks() {
        let t0 = Instant::now();
        let mut s = session(t0);
        s.receive_rtp(t0, &packet(100, 0, 0, b"h", None));
        // Each report carries our reference time; the publisher's reply names it and how long
        // it held it: here 10 ms of a 40 ms exchange, so the path's round trip is 30 ms.
        let mut out = Vec::new();
        assert!(s.poll_rtcp(t0 + REPORT_INTERVAL, &mut out));
        let ntp = rrtr(&out).expect("a reference time report beside the receiver report");
        assert_eq!(ntp, ntp_from_unix(WALL + REPORT_INTERVAL), "our NTP clock is the wall time");
        assert_eq!(s.stats().round_trip, None, "no round trip before a reply");
        let mut xr = vec![0x80, 207, 0, 5, 0, 0, 0, 100, 5, 0, 0, 3];
        for word in [US, ntp_middle32(ntp), 655] {
            xr.extend_from_slice(&word.to_be_bytes());
        }
        assert!(s.receive_rtcp(t0 + REPORT_INTERVAL + MS * 40, &xr));
        let rtt = s.stats().round_trip.expect("measured");
        assert!(rtt.abs_diff(MS * 30) < MS, "{rtt:?}");
        // A hole is asked for at once, then again a round trip later, not the assumed 100 ms.
        let t1 = t0 + REPORT_INTERVAL + MS * 50;
        s.receive_rtp(t1, &packet(100, 1, 1, b"h", None));
        s.receive_rtp(t1, &packet(100, 3, 2, b"h", None));
        out.clear();
        s.poll_rtcp(t1, &mut out);
        assert!(nacks(&out, 2), "the first NACK at once");
        out.clear();
        s.poll_rtcp(t1 + MS * 28, &mut out);
        assert!(!nacks(&out, 2), "not again within the round trip");
        s.poll_rtcp(t1 + MS * 31, &mut out);
        assert!(nacks(&out, 2), "again once it has passed");
    }

    #[test]
    fn a_keyframe_request_becomes_a_pli_for_that_layer() {
        let t0 = Instant::now();
        let mut s = session(t0);
        s.receive_rtp(t0, &packet(100, 0, 0, b"h", None));
        s.receive_rtp(t0, &packet(200, 0, 1, b"f", None));
        assert!(!s.request_keyframe(t0, b"1", Some(b"q")), "a layer that never sent");
        assert!(s.request_keyframe(t0 + MS, b"1", Some(b"f")));
        assert_eq!(s.poll_timeout(), Some(t0 + MS));
        let mut out = Vec::new();
        assert!(s.poll_rtcp(t0 + MS, &mut out));
        assert!(feedback(&out).contains(&Feedback::Pli { ssrc: 200 }));
        assert!(!feedback(&out).contains(&Feedback::Pli { ssrc: 100 }));
    }

    #[test]
    fn a_silent_layer_is_paused_and_resumes_with_its_next_packet() {
        let t0 = Instant::now();
        let mut s = session(t0);
        s.receive_rtp(t0, &packet(100, 0, 0, b"h", None));
        s.handle_timeout(t0 + PAUSED_AFTER - MS);
        assert_eq!(s.poll_event(), None);
        s.handle_timeout(t0 + PAUSED_AFTER);
        assert_eq!(s.poll_event(), Some(UplinkEvent::Paused { stream: 0 }));
        s.handle_timeout(t0 + PAUSED_AFTER * 2);
        assert_eq!(s.poll_event(), None, "said once");
        s.receive_rtp(t0 + PAUSED_AFTER * 3, &packet(100, 1, 1, b"h", None));
        assert_eq!(s.poll_event(), Some(UplinkEvent::Resumed { stream: 0 }));
    }

    #[test]
    fn garbage_strangers_and_probes_are_counted_not_forwarded() {
        let t0 = Instant::now();
        let mut s = session(t0);
        assert_eq!(s.receive_rtp(t0, &[0x80, 96, 0]), None);
        let mut stranger = Vec::new();
        let header = RtpHeader { payload_type: 96, marker: false, sequence: 1, timestamp: 1, ssrc: 9, extensions: &[] };
        header.write(&mut stranger);
        assert_eq!(s.receive_rtp(t0, &stranger), None);
        s.receive_rtp(t0, &packet(100, 0, 0, b"h", None));
        // A probe on the repair stream: the original number and nothing else.
        let mut probe = packet(101, 0, 1, b"h", Some(0));
        probe.truncate(probe.len() - b"frame".len());
        assert_eq!(s.receive_rtp(t0, &probe), None);
        let stats = s.stats();
        assert_eq!((stats.malformed, stats.unroutable, stats.padding), (1, 1, 1));
        // The probe still counts for the estimator.
        let mut out = Vec::new();
        s.poll_rtcp(t0 + TWCC_INTERVAL, &mut out);
        let twcc = feedback(&out).into_iter().find_map(|f| match f {
            Feedback::TransportCc { body, .. } => Some(body),
            _ => None,
        });
        let twcc = str0m::rtp::rtcp::Twcc::try_from(&twcc.unwrap()[..]).unwrap();
        assert_eq!(twcc.status_count, 2);
    }
}

/// The session's cost per packet, for callgrind (`cargo test --release -p convene-sfu --lib
/// uplink_cost -- --ignored`, under `valgrind --tool=callgrind --toggle-collect='*UplinkSession*'`):
/// three simulcast layers of a 2.15 Mbit/s camera and an Opus stream for ten seconds, one
/// packet in a hundred lost and repaired, RTCP polled after every packet as a runtime would.
#[cfg(test)]
mod cost {
    use super::*;
    use crate::downlink::RtpHeader;
    use crate::uplink::rtp::test_ids;
    use crate::uplink::streams::MediaLine;

    struct Feed {
        session: UplinkSession,
        twcc: u16,
        packet: Vec<u8>,
        out: Vec<u8>,
        forwarded: u64,
    }

    impl Feed {
        fn send(&mut self, now: Instant, header: RtpHeader<'_>, extensions: &[(u8, &[u8])], body: &[u8]) {
            self.twcc = self.twcc.wrapping_add(1);
            let tw = self.twcc.to_be_bytes();
            let mut all = extensions.to_vec();
            all.push((3, &tw));
            self.packet.clear();
            RtpHeader { extensions: &all, ..header }.write(&mut self.packet);
            self.packet.extend_from_slice(body);
            if self.session.receive_rtp(now, &self.packet).is_some() {
                self.forwarded += 1;
            }
            self.out.clear();
            self.session.poll_rtcp(now, &mut self.out);
        }
    }

    #[test]
    #[ignore = "a measurement harness, run by hand under callgrind"]
    fn uplink_cost() {
        let t0 = Instant::now();
        let mut session = UplinkSession::new(t0, Duration::ZERO, test_ids(), 1);
        session.streams().set_line(Tag::new(b"0").unwrap(), MediaLine { codecs: vec![(111, 48_000)], rtx: vec![] });
        let video = MediaLine { codecs: vec![(96, 90_000)], rtx: vec![(97, 96)] };
        session.streams().set_line(Tag::new(b"1").unwrap(), video);
        let mut feed = Feed { session, twcc: 0, packet: Vec::new(), out: Vec::new(), forwarded: 0 };
        // Per 20 ms: one Opus packet, and video packets of 150, 500 and 1,500 kbit/s layers.
        let layers: [(&[u8], u32, usize); 3] = [(b"q", 10, 1), (b"h", 11, 2), (b"f", 12, 5)];
        let mut seqs = [0u16; 4];
        let payload = [0u8; 1_102];
        let header = |pt, sequence, timestamp, ssrc| RtpHeader {
            payload_type: pt,
            marker: false,
            sequence,
            timestamp,
            ssrc,
            extensions: &[],
        };
        for tick in 0..500u32 {
            let now = t0 + Duration::from_millis(20 * u64::from(tick));
            seqs[0] = seqs[0].wrapping_add(1);
            feed.send(now, header(111, seqs[0], tick * 960, 1), &[(4, b"0"), (1, &[0x90])], &payload[..80]);
            for (i, (rid, ssrc, packets)) in layers.iter().enumerate() {
                for _ in 0..*packets {
                    seqs[i + 1] = seqs[i + 1].wrapping_add(1);
                    let seq = seqs[i + 1];
                    if seq % 100 == 0 {
                        continue; // lost, repaired with the next packet
                    }
                    let ext: [(u8, &[u8]); 2] = [(4, b"1"), (10, rid)];
                    feed.send(now, header(96, seq, tick * 1_800, *ssrc), &ext, &payload[2..]);
                    if seq % 100 == 1 && seq > 1 {
                        let mut rtx = payload;
                        rtx[..2].copy_from_slice(&(seq - 1).to_be_bytes());
                        let ext: [(u8, &[u8]); 2] = [(4, b"1"), (11, rid)];
                        feed.send(now, header(97, seq, tick * 1_800, ssrc + 100), &ext, &rtx);
                    }
                }
            }
            feed.session.handle_timeout(now);
        }
        assert!(feed.forwarded > 4_000, "{}", feed.forwarded);
        assert_eq!(feed.session.stats().unroutable, 0);
    }
}
