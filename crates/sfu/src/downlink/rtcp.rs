//! Plain-text RTCP for the downlink's sending side: the feedback a subscriber sends about our media, and our reports.
//!
//! Everything here works on already decrypted compounds (SRTCP is `srtp`'s job). Parsing never
//! panics and never allocates per item beyond the one buffer an item needs (a NACK's sequence
//! numbers, a REMB's SSRCs, a TWCC body), because it runs for every feedback packet of every
//! subscriber. The builders append to a caller's buffer so that a compound (SR + SDES) is one
//! contiguous write, ready for SRTCP protection.

use std::time::Duration;

/// RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1).
const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
const PT_RTPFB: u8 = 205;
const PT_PSFB: u8 = 206;
/// Extended reports (RFC 3611 §2).
const PT_XR: u8 = 207;
/// XR block types: the receiver's reference time and the sender's reply to it (RFC 3611 §4.4, §4.5).
const XR_RRTR: u8 = 4;
const XR_DLRR: u8 = 5;

/// Feedback message types of RTPFB (RFC 4585 §6.2, draft-holmer-rmcat-transport-wide-cc-extensions).
const RTPFB_NACK: u8 = 1;
const RTPFB_TWCC: u8 = 15;
/// Feedback message types of PSFB (RFC 4585 §6.3, RFC 5104 §4.3.1).
const PSFB_PLI: u8 = 1;
const PSFB_FIR: u8 = 4;
const PSFB_AFB: u8 = 15;

/// SDES item type of the canonical name (RFC 3550 §6.5.1).
const SDES_CNAME: u8 = 1;

/// Bytes of one report block (RFC 3550 §6.4.1).
const REPORT_BLOCK_LEN: usize = 24;
/// Bytes of an SR's sender SSRC and sender info, before its report blocks.
const SR_PREFIX_LEN: usize = 4 + 20;
/// The count field has five bits, so one SR/RR carries at most this many report blocks.
const MAX_REPORT_BLOCKS: usize = 31;
/// REMB's SSRC count is one byte.
const MAX_REMB_SSRCS: usize = 255;
/// The length field counts 32-bit words minus one in 16 bits; a NACK spends three words on its
/// header and SSRCs, so this many PID+BLP words is the most one packet can hold.
const MAX_NACK_ENTRIES: usize = u16::MAX as usize + 1 - 3;
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970), RFC 868.
const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

/// Sequence numbers a generic NACK reports lost, expanded from its PID+BLP words in packet
/// order. One buffer per NACK packet, sized before it is filled.
pub type NackSeqs = Vec<u16>;

/// One piece of feedback from a compound RTCP packet, about a media SSRC we send.
#[derive(Debug, Clone, PartialEq)]
pub enum Feedback {
    /// Receiver report block (from an RR, or the report blocks of an SR): loss and jitter of our stream `ssrc`,
    /// with LSR/DLSR to compute round-trip time.
    ReportBlock {
        /// The SSRC of our stream the block is about.
        ssrc: u32,
        /// Fraction lost since the previous report, in 1/256.
        fraction_lost: u8,
        /// Packets lost since the start (signed 24 bits: duplicates can make it negative).
        cumulative_lost: i32,
        /// Extended highest sequence number received (cycles in the high 16 bits).
        highest_seq: u32,
        /// Interarrival jitter, in RTP timestamp units.
        jitter: u32,
        /// Middle 32 bits of the NTP time of our last SR it heard, 0 if none.
        last_sr: u32,
        /// Delay between that SR's arrival and this report, in 1/65536 s.
        delay_since_last_sr: u32,
    },
    /// Generic NACK (RFC 4585 §6.2.1): the sequence numbers lost, expanded from PID+BLP.
    Nack {
        /// The media SSRC whose packets were lost.
        ssrc: u32,
        /// The lost sequence numbers, in packet order.
        seqs: NackSeqs,
    },
    /// Picture loss indication (PSFB FMT 1).
    Pli {
        /// The media SSRC that needs a keyframe.
        ssrc: u32,
    },
    /// Full intra request (PSFB FMT 4, one per FCI entry).
    Fir {
        /// The media SSRC that needs a keyframe.
        ssrc: u32,
        /// The request's command sequence number: a repeat of the same number is the same request.
        seq_nr: u8,
    },
    /// Receiver estimated max bitrate (PSFB FMT 15, "REMB" identifier): bits per second and the SSRCs it covers.
    Remb {
        /// The estimate, in bits per second.
        bitrate_bps: u64,
        /// The media SSRCs the estimate covers together.
        ssrcs: Vec<u32>,
    },
    /// Transport-wide congestion control feedback (RTPFB FMT 15), passed through raw (body after the common header) for an estimator to parse.
    TransportCc {
        /// The media SSRC field of the packet (browsers put one of our SSRCs or 0 there).
        media_ssrc: u32,
        /// Everything after the 4-byte RTCP header, padding removed: sender SSRC, media SSRC,
        /// then the FCI. That is the layout `str0m::rtp::rtcp::Twcc::try_from` expects.
        body: Vec<u8>,
    },
}

/// The fields of one reception report block, for [`write_receiver_report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceptionReport {
    /// The SSRC of the stream reported on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Packets lost since the start; clamped to 24 signed bits when written.
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter, in RTP timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR heard, 0 if none.
    pub last_sr: u32,
    /// Delay since that SR arrived, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl From<ReceptionReport> for Feedback {
    fn from(r: ReceptionReport) -> Self {
        Feedback::ReportBlock {
            ssrc: r.ssrc,
            fraction_lost: r.fraction_lost,
            cumulative_lost: r.cumulative_lost,
            highest_seq: r.highest_seq,
            jitter: r.jitter,
            last_sr: r.last_sr,
            delay_since_last_sr: r.delay_since_last_sr,
        }
    }
}

/// Parses a compound RTCP packet, appending every feedback item to `out`. Unknown packet types
/// (SDES, BYE, APP, XR, unknown FMTs) are skipped by their length. Returns false if the
/// compound is malformed (bad version, a length running past the end, padding inconsistent);
/// items parsed before the malformed part stay in `out`.
///
/// A compound may start with any packet type: reduced-size RTCP (RFC 5506) sends feedback
/// such as a lone NACK without the SR/RR that RFC 3550 would put first.
pub fn parse(packet: &[u8], out: &mut Vec<Feedback>) -> bool {
    // Not even one header: nothing a sender would have meant to send.
    if packet.is_empty() {
        return false;
    }
    let mut rest = packet;
    while !rest.is_empty() {
        let &[first, pt, len_hi, len_lo, ..] = rest else {
            return false;
        };
        if first >> 6 != 2 {
            return false;
        }
        let len = (usize::from(u16::from_be_bytes([len_hi, len_lo])) + 1) * 4;
        let Some((this, after)) = rest.split_at_checked(len) else {
            return false;
        };
        rest = after;
        let mut body = this.get(4..).unwrap_or_default();
        if first & 0x20 != 0 {
            // Only the last packet of a compound may be padded (RFC 3550 §6.4.1 and the validity
            // checks of A.2): padding elsewhere means the lengths do not describe this compound.
            if !rest.is_empty() {
                return false;
            }
            // The last octet counts the padding, itself included, so it cannot be 0 nor eat the header.
            let pad = usize::from(this.last().copied().unwrap_or(0));
            if pad == 0 || pad > body.len() {
                return false;
            }
            body = &body[..body.len() - pad];
        }
        let count = first & 0x1f;
        let ok = match pt {
            PT_SR => report_blocks(body, SR_PREFIX_LEN, count, out),
            PT_RR => report_blocks(body, 4, count, out),
            PT_RTPFB => transport_feedback(count, body, out),
            PT_PSFB => payload_feedback(count, body, out),
            // SDES, BYE, APP, XR and anything newer say nothing about what we send.
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Reads the `count` report blocks after the first `prefix` bytes of an SR or RR body.
fn report_blocks(body: &[u8], prefix: usize, count: u8, out: &mut Vec<Feedback>) -> bool {
    let needed = usize::from(count) * REPORT_BLOCK_LEN;
    // Anything after the blocks is a profile-specific extension (RFC 3550 §6.4.1): ignored.
    let Some(blocks) = body.get(prefix..).and_then(|b| b.get(..needed)) else {
        return false;
    };
    out.extend(blocks.chunks_exact(REPORT_BLOCK_LEN).map(|b| {
        let lost = be32(b, 4);
        Feedback::ReportBlock {
            ssrc: be32(b, 0),
            fraction_lost: (lost >> 24) as u8,
            // Sign-extend the low 24 bits: shift them to the top, then arithmetic-shift back.
            cumulative_lost: ((lost << 8) as i32) >> 8,
            highest_seq: be32(b, 8),
            jitter: be32(b, 12),
            last_sr: be32(b, 16),
            delay_since_last_sr: be32(b, 20),
        }
    }));
    true
}

/// RTPFB (PT 205): generic NACK and transport-wide feedback.
fn transport_feedback(fmt: u8, body: &[u8], out: &mut Vec<Feedback>) -> bool {
    let Some((media_ssrc, fci)) = feedback_ssrcs(body) else {
        return false;
    };
    match fmt {
        RTPFB_NACK => {
            if !fci.len().is_multiple_of(4) {
                return false;
            }
            let entries = fci.chunks_exact(4).map(|e| (be16(e, 0), be16(e, 2)));
            // Size the buffer once so that expanding the bitmasks never reallocates.
            let total: usize = entries.clone().map(|(_, blp)| 1 + blp.count_ones() as usize).sum();
            if total == 0 {
                return true;
            }
            let mut seqs = Vec::with_capacity(total);
            for (pid, blp) in entries {
                seqs.push(pid);
                // Bit i of BLP reports PID + i + 1 lost; sequence numbers wrap at 2^16.
                seqs.extend((0..16u16).filter(|i| blp & (1 << i) != 0).map(|i| pid.wrapping_add(i + 1)));
            }
            out.push(Feedback::Nack { ssrc: media_ssrc, seqs });
        }
        RTPFB_TWCC => out.push(Feedback::TransportCc { media_ssrc, body: body.to_vec() }),
        // TMMBR/TMMBN and others: not something the downlink acts on.
        _ => {}
    }
    true
}

/// PSFB (PT 206): PLI, FIR and REMB.
fn payload_feedback(fmt: u8, body: &[u8], out: &mut Vec<Feedback>) -> bool {
    let Some((media_ssrc, fci)) = feedback_ssrcs(body) else {
        return false;
    };
    match fmt {
        // A PLI has no FCI; extra bytes are harmless.
        PSFB_PLI => out.push(Feedback::Pli { ssrc: media_ssrc }),
        PSFB_FIR => {
            // RFC 5104 §4.3.1.1: the media SSRC field is unused, each FCI entry names its SSRC.
            if !fci.len().is_multiple_of(8) {
                return false;
            }
            out.extend(fci.chunks_exact(8).map(|e| Feedback::Fir { ssrc: be32(e, 0), seq_nr: e[4] }));
        }
        PSFB_AFB if fci.starts_with(b"REMB") => {
            let &[_, _, _, _, num, exp_hi, m_mid, m_lo, ..] = fci else {
                return false;
            };
            let exp = u32::from(exp_hi >> 2);
            let mantissa = u64::from(exp_hi & 0x03) << 16 | u64::from(m_mid) << 8 | u64::from(m_lo);
            // An estimate past u64 is garbage, not "unlimited": reject it as libwebrtc does.
            if mantissa != 0 && mantissa.leading_zeros() < exp {
                return false;
            }
            let Some(list) = fci.get(8..8 + 4 * usize::from(num)) else {
                return false;
            };
            let ssrcs = list.chunks_exact(4).map(|s| be32(s, 0)).collect();
            out.push(Feedback::Remb { bitrate_bps: mantissa << exp, ssrcs });
        }
        // SLI, RPSI, other application feedback: nothing the downlink acts on.
        _ => {}
    }
    true
}

/// Splits a feedback body (RFC 4585 §6.1) into its media SSRC and FCI; the sender SSRC is
/// the subscriber's own and tells us nothing the connection does not.
fn feedback_ssrcs(body: &[u8]) -> Option<(u32, &[u8])> {
    let fci = body.get(8..)?;
    Some((be32(body, 4), fci))
}

/// Big-endian u32 at `at`; callers have checked the length, and a short slice reads 0 rather than panicking.
fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).and_then(|s| s.try_into().ok()).map_or(0, u32::from_be_bytes)
}

/// Big-endian u16 at `at`, same contract as [`be32`].
fn be16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2).and_then(|s| s.try_into().ok()).map_or(0, u16::from_be_bytes)
}

/// Appends a common header with a placeholder length; returns where it starts for [`finish`].
fn begin(out: &mut Vec<u8>, count: u8, pt: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0x80 | (count & 0x1f), pt, 0, 0]);
    start
}

/// Writes the length of the packet that began at `start` and runs to the end of `out`.
/// Every builder writes whole words and bounds its item count, so the length fits 16 bits.
fn finish(out: &mut [u8], start: usize) {
    let words = (out.len() - start) / 4 - 1;
    let len = u16::try_from(words).unwrap_or(u16::MAX).to_be_bytes();
    out[start + 2..start + 4].copy_from_slice(&len);
}

/// Appends a sender report (RFC 3550 §6.4.1, no report blocks: the downlink receives nothing)
/// for `ssrc` with the NTP time, the RTP timestamp that corresponds to it, and the packet/octet
/// counts.
pub fn write_sender_report(out: &mut Vec<u8>, ssrc: u32, ntp: u64, rtp_time: u32, packets: u32, octets: u32) {
    let start = begin(out, 0, PT_SR);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&ntp.to_be_bytes());
    out.extend_from_slice(&rtp_time.to_be_bytes());
    out.extend_from_slice(&packets.to_be_bytes());
    out.extend_from_slice(&octets.to_be_bytes());
    finish(out, start);
}

/// Appends an SDES with one CNAME chunk for `ssrc` (padded to a 32-bit boundary, per RFC 3550 §6.5).
///
/// An item holds at most 255 octets, so a longer `cname` is cut at the last character boundary
/// that fits (a CNAME is a short random token in practice).
pub fn write_sdes_cname(out: &mut Vec<u8>, ssrc: u32, cname: &str) {
    let mut len = cname.len().min(255);
    while !cname.is_char_boundary(len) {
        len -= 1;
    }
    let text = &cname.as_bytes()[..len];
    let start = begin(out, 1, PT_SDES);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&[SDES_CNAME, len as u8]);
    out.extend_from_slice(text);
    // The item list ends with a null octet, then more nulls up to the next word: 1 to 4 in all.
    let nulls = 4 - (2 + len) % 4;
    out.extend(std::iter::repeat_n(0, nulls));
    finish(out, start);
}

/// Appends receiver reports from `sender_ssrc` with `blocks`: one RR per 31 blocks (the count
/// field's limit), and a single empty RR when there are none, as RFC 3550 §6.4.2 asks.
pub fn write_receiver_report(out: &mut Vec<u8>, sender_ssrc: u32, blocks: &[ReceptionReport]) {
    let mut chunks = blocks.chunks(MAX_REPORT_BLOCKS);
    let first = chunks.next().unwrap_or_default();
    for chunk in std::iter::once(first).chain(chunks) {
        let start = begin(out, chunk.len() as u8, PT_RR);
        out.extend_from_slice(&sender_ssrc.to_be_bytes());
        for b in chunk {
            // 24 signed bits: RFC 3550 §6.4.1 saturates rather than wraps.
            let lost = b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32 & 0x00ff_ffff;
            out.extend_from_slice(&b.ssrc.to_be_bytes());
            out.extend_from_slice(&(u32::from(b.fraction_lost) << 24 | lost).to_be_bytes());
            out.extend_from_slice(&b.highest_seq.to_be_bytes());
            out.extend_from_slice(&b.jitter.to_be_bytes());
            out.extend_from_slice(&b.last_sr.to_be_bytes());
            out.extend_from_slice(&b.delay_since_last_sr.to_be_bytes());
        }
        finish(out, start);
    }
}

/// Appends a generic NACK (RFC 4585 §6.2.1) from `sender_ssrc` about `media_ssrc` for `seqs`.
///
/// Each loss within 16 of the current entry's PID (wrapping at 2^16) goes into its BLP, any
/// other starts a new entry, so losses given in ascending order pack as tightly as the format
/// allows; repeats of a PID are dropped. Nothing is written for no losses, since a NACK needs
/// at least one entry.
pub fn write_nack(out: &mut Vec<u8>, sender_ssrc: u32, media_ssrc: u32, seqs: &[u16]) {
    let mut packet: Option<usize> = None;
    let mut entries = 0;
    // Offset of the open entry in `out`, its PID and its BLP so far.
    let mut open: Option<(usize, u16, u16)> = None;
    for &seq in seqs {
        if let Some((at, pid, blp)) = open.as_mut() {
            let d = seq.wrapping_sub(*pid);
            if d == 0 {
                continue;
            }
            if d <= 16 {
                *blp |= 1 << (d - 1);
                out[*at + 2..*at + 4].copy_from_slice(&blp.to_be_bytes());
                continue;
            }
        }
        if entries == MAX_NACK_ENTRIES {
            if let Some(start) = packet.take() {
                finish(out, start);
            }
            entries = 0;
        }
        if packet.is_none() {
            let start = begin(out, RTPFB_NACK, PT_RTPFB);
            out.extend_from_slice(&sender_ssrc.to_be_bytes());
            out.extend_from_slice(&media_ssrc.to_be_bytes());
            packet = Some(start);
        }
        open = Some((out.len(), seq, 0));
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        entries += 1;
    }
    if let Some(start) = packet {
        finish(out, start);
    }
}

/// Appends a picture loss indication (PSFB FMT 1) from `sender_ssrc` about `media_ssrc`.
pub fn write_pli(out: &mut Vec<u8>, sender_ssrc: u32, media_ssrc: u32) {
    let start = begin(out, PSFB_PLI, PT_PSFB);
    out.extend_from_slice(&sender_ssrc.to_be_bytes());
    out.extend_from_slice(&media_ssrc.to_be_bytes());
    finish(out, start);
}

/// Appends a REMB (draft-alvestrand-rmcat-remb) from `sender_ssrc` estimating `bitrate_bps`
/// for `ssrcs` (at most 255, the count field's limit; the rest are left out).
///
/// The bitrate is a 6-bit exponent and an 18-bit mantissa: the smallest exponent that fits is
/// chosen and the mantissa rounded down, so the value read back is at most `bitrate_bps` and
/// less than `2^exp` below it (exact below 2^18 bit/s).
pub fn write_remb(out: &mut Vec<u8>, sender_ssrc: u32, bitrate_bps: u64, ssrcs: &[u32]) {
    let ssrcs = &ssrcs[..ssrcs.len().min(MAX_REMB_SSRCS)];
    let exp = (64 - bitrate_bps.leading_zeros()).saturating_sub(18);
    let mantissa = (bitrate_bps >> exp) as u32;
    let start = begin(out, PSFB_AFB, PT_PSFB);
    out.extend_from_slice(&sender_ssrc.to_be_bytes());
    // RFC 4585 media SSRC: REMB names its SSRCs in the FCI, so this is 0.
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(b"REMB");
    out.extend_from_slice(&(((ssrcs.len() as u32) << 24) | (exp << 18) | mantissa).to_be_bytes());
    for ssrc in ssrcs {
        out.extend_from_slice(&ssrc.to_be_bytes());
    }
    finish(out, start);
}

/// Appends an extended report from `sender_ssrc` with one receiver reference time block
/// (RFC 3611 §4.4) at `ntp`: a receiver's way to learn its round trip, since the media's
/// sender answers it with a DLRR block ([`read_dlrr`]) as it answers an SR with a report block.
pub fn write_rrtr(out: &mut Vec<u8>, sender_ssrc: u32, ntp: u64) {
    let start = begin(out, 0, PT_XR);
    out.extend_from_slice(&sender_ssrc.to_be_bytes());
    out.extend_from_slice(&[XR_RRTR, 0, 0, 2]);
    out.extend_from_slice(&ntp.to_be_bytes());
    finish(out, start);
}

/// Reads one RTCP packet (`packet`: its header included) for a DLRR sub-block about
/// `receiver_ssrc` (RFC 3611 §4.5): the middle 32 bits of that receiver's last RRTR as heard
/// (LRR) and the delay since, in 1/65536 s — what [`round_trip`] takes. None for any other
/// packet, a block without that SSRC, or bytes cut short.
pub fn read_dlrr(packet: &[u8], receiver_ssrc: u32) -> Option<(u32, u32)> {
    if packet.get(1) != Some(&PT_XR) {
        return None;
    }
    let mut blocks = packet.get(8..)?;
    while let &[block_type, _, hi, lo, ref rest @ ..] = blocks {
        let len = usize::from(u16::from_be_bytes([hi, lo])) * 4;
        let body = rest.get(..len)?;
        if block_type == XR_DLRR {
            for item in body.chunks_exact(12) {
                let word = |i: usize| u32::from_be_bytes([item[i], item[i + 1], item[i + 2], item[i + 3]]);
                if word(0) == receiver_ssrc {
                    return Some((word(4), word(8)));
                }
            }
        }
        blocks = &rest[len..];
    }
    None
}

/// Helper: NTP 64-bit timestamp from a duration since the Unix epoch (RFC 3550 / RFC 5905: seconds since 1900 in the high 32 bits, fraction in the low).
///
/// The seconds wrap in 2036 (NTP era 1), as every RTCP peer expects: only differences of
/// the middle 32 bits are ever compared.
pub fn ntp_from_unix(since_epoch: Duration) -> u64 {
    let secs = since_epoch.as_secs().wrapping_add(NTP_UNIX_OFFSET_SECS) as u32;
    let frac = (u64::from(since_epoch.subsec_nanos()) << 32) / 1_000_000_000;
    u64::from(secs) << 32 | frac
}

/// The middle 32 bits of an NTP timestamp (16.16 fixed point seconds): what an SR's receiver
/// echoes as LSR, and what [`round_trip`] takes as the arrival time.
pub fn ntp_middle32(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Round-trip time from a report block's LSR/DLSR and the middle 32 bits of our NTP clock at arrival (RFC 3550 §6.4.1): None if LSR is 0.
///
/// All three are 16.16 fixed point seconds and wrap every 18 hours, so the difference is taken
/// modulo 2^32. Truncation of those units can make a near-zero RTT come out a unit below zero;
/// that, like any receiver delay larger than the time since our SR, reads as zero.
pub fn round_trip(arrival_ntp_middle32: u32, last_sr: u32, delay_since_last_sr: u32) -> Option<Duration> {
    if last_sr == 0 {
        return None;
    }
    let since_sr = arrival_ntp_middle32.wrapping_sub(last_sr);
    let units = u64::from(since_sr.saturating_sub(delay_since_last_sr));
    Some(Duration::from_nanos(units * 1_000_000_000 / 65_536))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8]) -> Vec<Feedback> {
        let mut out = Vec::new();
        assert!(parse(bytes, &mut out), "{bytes:02x?}");
        out
    }

    /// Deterministic pseudo-random numbers for the no-panic loops (xorshift64).
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// RR + SDES + PLI + REMB, laid out by hand from RFC 3550 §6.4.2 / §6.5, RFC 4585 §6.3.1
    /// and draft-alvestrand-rmcat-remb §2.2. Packets end at bytes 32, 48, 60 and 84.
    const COMPOUND: [u8; 84] = [
        // RR: V=2 RC=1, PT 201, length 7 (32 bytes).
        0x81, 0xc9, 0x00, 0x07, //
        0x11, 0x22, 0x33, 0x44, // sender SSRC
        0xaa, 0xbb, 0xcc, 0xdd, // SSRC of our stream
        0x40, 0xff, 0xff, 0xfe, // fraction lost 64/256, cumulative lost -2
        0x00, 0x01, 0x02, 0x03, // extended highest sequence number
        0x00, 0x00, 0x00, 0x10, // jitter
        0x12, 0x34, 0x56, 0x78, // LSR
        0x00, 0x01, 0x00, 0x00, // DLSR: 1 s
        // SDES: SC=1, PT 202, length 3 (16 bytes): CNAME "abcd" and two nulls.
        0x81, 0xca, 0x00, 0x03, //
        0x11, 0x22, 0x33, 0x44, //
        0x01, 0x04, b'a', b'b', //
        b'c', b'd', 0x00, 0x00, //
        // PLI: FMT 1, PT 206, length 2.
        0x81, 0xce, 0x00, 0x02, //
        0x11, 0x22, 0x33, 0x44, //
        0xaa, 0xbb, 0xcc, 0xdd, //
        // REMB: FMT 15, PT 206, length 5, media SSRC 0.
        0x8f, 0xce, 0x00, 0x05, //
        0x11, 0x22, 0x33, 0x44, //
        0x00, 0x00, 0x00, 0x00, //
        b'R', b'E', b'M', b'B', //
        0x01, 0x12, 0x62, 0x5a, // 1 SSRC, exp 4, mantissa 0x2625a = 156250: 2.5 Mbit/s
        0xaa, 0xbb, 0xcc, 0xdd, //
    ];

    fn compound_items() -> Vec<Feedback> {
        vec![
            Feedback::ReportBlock {
                ssrc: 0xaabb_ccdd,
                fraction_lost: 0x40,
                cumulative_lost: -2,
                highest_seq: 0x0001_0203,
                jitter: 16,
                last_sr: 0x1234_5678,
                delay_since_last_sr: 0x0001_0000,
            },
            Feedback::Pli { ssrc: 0xaabb_ccdd },
            Feedback::Remb { bitrate_bps: 2_500_000, ssrcs: vec![0xaabb_ccdd] },
        ]
    }

    #[test]
    fn a_hand_written_rr_sdes_pli_remb_compound_parses_to_its_items() {
        assert_eq!(parsed(&COMPOUND), compound_items());
    }

    #[test]
    fn every_truncation_is_rejected_except_at_packet_boundaries() {
        let boundaries = [(32, 1), (48, 1), (60, 2)];
        for n in 0..COMPOUND.len() {
            let mut out = Vec::new();
            let ok = parse(&COMPOUND[..n], &mut out);
            match boundaries.iter().find(|(end, _)| *end == n) {
                Some(&(_, items)) => {
                    assert!(ok, "{n}");
                    assert_eq!(out, compound_items()[..items], "{n}");
                }
                None => assert!(!ok, "{n}"),
            }
        }
    }

    #[test]
    fn malformed_headers_are_rejected_keeping_what_came_before() {
        let mut too_long = COMPOUND;
        too_long[51] = 0x03; // the PLI claims a word more than the REMB leaves
        too_long[3] = 0x08; // and the RR claims a word it does not have
        assert!(!parse(&too_long, &mut Vec::new()));

        let mut huge = COMPOUND;
        huge[62..64].copy_from_slice(&[0xff, 0xff]); // the REMB's length
        let mut out = Vec::new();
        assert!(!parse(&huge, &mut out));
        assert_eq!(out, compound_items()[..2]);

        let mut version1 = COMPOUND;
        version1[0] = 0x41;
        assert!(!parse(&version1, &mut Vec::new()));

        // A bad version in the third packet: the RR's block was already read.
        let mut late = COMPOUND;
        late[48] = 0x41;
        let mut out = Vec::new();
        assert!(!parse(&late, &mut out));
        assert_eq!(out, compound_items()[..1]);

        // Feedback too short for its SSRCs, report counts past the body.
        assert!(!parse(&[0x81, 0xce, 0x00, 0x01, 0, 0, 0, 1], &mut Vec::new()));
        assert!(!parse(&[0x82, 0xc9, 0x00, 0x07, 0, 0, 0, 1].repeat(4), &mut Vec::new()));
        assert!(!parse(&[0x80, 0xc9, 0x00, 0x00], &mut Vec::new()));
    }

    #[test]
    fn padding_is_only_accepted_where_rfc_3550_puts_it() {
        // A PLI padded with one word: the last octet counts 4 octets of padding.
        let padded = [0xa1, 0xce, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4];
        assert_eq!(parsed(&padded), [Feedback::Pli { ssrc: 2 }]);

        let mut zero = padded;
        zero[15] = 0;
        assert!(!parse(&zero, &mut Vec::new()));
        let mut past_header = padded;
        past_header[15] = 13;
        assert!(!parse(&past_header, &mut Vec::new()));
        // Padding that cuts into the PLI's SSRCs leaves a body too short for them.
        let mut into_ssrcs = padded;
        into_ssrcs[15] = 8;
        assert!(!parse(&into_ssrcs, &mut Vec::new()));

        // Padding on a packet that is not the last.
        let mut not_last = padded.to_vec();
        write_pli(&mut not_last, 1, 3);
        let mut out = Vec::new();
        assert!(!parse(&not_last, &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn unknown_types_and_formats_are_skipped() {
        let mut bytes = Vec::new();
        write_sdes_cname(&mut bytes, 1, "cname");
        bytes.extend_from_slice(&[0x81, 0xcb, 0x00, 0x01, 0, 0, 0, 1]); // BYE
        bytes.extend_from_slice(&[0x80, 0xcc, 0x00, 0x02, 0, 0, 0, 1, b'n', b'a', b'm', b'e']); // APP
        bytes.extend_from_slice(&[0x80, 0xcf, 0x00, 0x01, 0, 0, 0, 1]); // XR, no blocks
        bytes.extend_from_slice(&[0x83, 0xcd, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0]); // TMMBR
        bytes.extend_from_slice(&[0x82, 0xce, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0]); // SLI
        bytes.extend_from_slice(&[0x8f, 0xce, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 0, b'G', b'O', b'O', b'G']); // AFB, not REMB
        bytes.extend_from_slice(&[0x80, 0xc7, 0x00, 0x00]); // PT 199: unassigned
        write_pli(&mut bytes, 1, 7);
        assert_eq!(parsed(&bytes), [Feedback::Pli { ssrc: 7 }]);
    }

    #[test]
    fn random_bytes_and_mutated_compounds_never_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut out = Vec::new();
        for _ in 0..5000 {
            let len = (rng.next() % 160) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Most random first bytes fail the version check; force it half the time to go deeper.
            if let Some(first) = bytes.first_mut().filter(|_| rng.next() & 1 == 0) {
                *first = 0x80 | (*first & 0x3f);
            }
            out.clear();
            let _ = parse(&bytes, &mut out);
        }
        for _ in 0..5000 {
            let mut bytes = COMPOUND.to_vec();
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() % bytes.len() as u64) as usize;
                bytes[at] = rng.next() as u8;
            }
            out.clear();
            let _ = parse(&bytes, &mut out);
        }
    }

    #[test]
    fn nack_round_trips_across_the_wrap_and_past_one_bitmask() {
        let seqs = [65530, 65531, 65533, 65535, 0, 3, 9, 10, 30, 31, 46, 47, 100];
        let mut bytes = Vec::new();
        write_nack(&mut bytes, 1, 0xabcd, &seqs);
        // 65530 covers through 10 (across the wrap), 30 covers 31 and 46, 47 is 17 past 30.
        // BLP bit i is PID + i + 1: 65531, 65533, 65535, 0, 3, 9, 10 are bits 0, 2, 4, 5, 8, 14, 15.
        assert_eq!(bytes.len(), 12 + 4 * 4);
        assert_eq!(&bytes[..4], [0x81, 0xcd, 0x00, 0x06]);
        assert_eq!(&bytes[12..16], [0xff, 0xfa, 0b1100_0001, 0b0011_0101]);
        assert_eq!(parsed(&bytes), [Feedback::Nack { ssrc: 0xabcd, seqs: seqs.to_vec() }]);

        // A long run: every sequence number from 65000 through 999, 17 per entry.
        let run: Vec<u16> = (65000..=65535).chain(0..1000).collect();
        let mut bytes = Vec::new();
        write_nack(&mut bytes, 1, 2, &run);
        assert_eq!(bytes.len(), 12 + 4 * run.len().div_ceil(17));
        assert_eq!(parsed(&bytes), [Feedback::Nack { ssrc: 2, seqs: run }]);

        // More entries than one packet's 16-bit length can count: a second NACK follows.
        let spread: Vec<u16> = (0..70_000u32).map(|i| (i * 17) as u16).collect();
        let mut bytes = Vec::new();
        write_nack(&mut bytes, 1, 2, &spread);
        assert_eq!(bytes.len(), 2 * 12 + 4 * spread.len());
        let [Feedback::Nack { seqs: first, .. }, Feedback::Nack { seqs: second, .. }] = &parsed(&bytes)[..] else {
            panic!("two NACKs expected");
        };
        assert_eq!(first.len(), MAX_NACK_ENTRIES);
        assert_eq!([&first[..], &second[..]].concat(), spread);

        // Repeats are dropped; no losses, no packet.
        let mut bytes = Vec::new();
        write_nack(&mut bytes, 1, 2, &[5, 5, 6, 6]);
        assert_eq!(parsed(&bytes), [Feedback::Nack { ssrc: 2, seqs: vec![5, 6] }]);
        let mut empty = Vec::new();
        write_nack(&mut empty, 1, 2, &[]);
        assert!(empty.is_empty());
    }

    #[test]
    fn remb_round_trips_within_its_mantissa_precision() {
        for bitrate in [0, 1, 300_000, 2_500_000, 100_000_000, 5_000_000_000, u64::MAX] {
            let mut bytes = Vec::new();
            write_remb(&mut bytes, 1, bitrate, &[10, 20]);
            let [Feedback::Remb { bitrate_bps, ssrcs }] = &parsed(&bytes)[..] else {
                panic!("{bitrate}: {bytes:02x?}");
            };
            assert_eq!(ssrcs, &[10, 20]);
            // Rounded down, by less than one step of the exponent chosen.
            let exp = (64 - bitrate.leading_zeros()).saturating_sub(18);
            assert!(*bitrate_bps <= bitrate && bitrate - bitrate_bps < 1 << exp, "{bitrate} → {bitrate_bps}");
        }
        let mut bytes = Vec::new();
        write_remb(&mut bytes, 0x1122_3344, 2_500_000, &[0xaabb_ccdd]);
        assert_eq!(bytes, COMPOUND[60..]);
        let mut bytes = Vec::new();
        write_remb(&mut bytes, 1, 100_000_000, &[]);
        assert_eq!(parsed(&bytes), [Feedback::Remb { bitrate_bps: 195_312 << 9, ssrcs: vec![] }]);
    }

    #[test]
    fn remb_past_u64_or_short_of_its_ssrcs_is_malformed() {
        let remb = |exp_mantissa: [u8; 3], num: u8| {
            let mut b = vec![0x8f, 0xce, 0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 0, b'R', b'E', b'M', b'B', num];
            b.extend_from_slice(&exp_mantissa);
            b.extend_from_slice(&[0, 0, 0, 9]);
            b
        };
        // exp 63, mantissa 1: 2^63 still fits.
        assert_eq!(parsed(&remb([63 << 2, 0, 1], 1)), [Feedback::Remb { bitrate_bps: 1 << 63, ssrcs: vec![9] }]);
        assert!(!parse(&remb([63 << 2, 0, 2], 1), &mut Vec::new()));
        assert!(!parse(&remb([0, 0, 1], 2), &mut Vec::new()));
    }

    #[test]
    fn receiver_reports_round_trip_with_negative_and_clamped_losses() {
        let block = |ssrc, cumulative_lost| ReceptionReport {
            ssrc,
            fraction_lost: 3,
            cumulative_lost,
            highest_seq: 0x0002_fff0,
            jitter: 90,
            last_sr: 0xdead_beef,
            delay_since_last_sr: 655,
        };
        let blocks = [block(1, -5), block(2, 0x7f_ffff), block(3, -0x80_0000), block(4, 12)];
        let mut bytes = Vec::new();
        write_receiver_report(&mut bytes, 99, &blocks);
        assert_eq!(bytes.len(), 8 + 24 * blocks.len());
        let expected: Vec<Feedback> = blocks.iter().map(|&b| b.into()).collect();
        assert_eq!(parsed(&bytes), expected);

        // Past 24 bits a count saturates.
        let mut bytes = Vec::new();
        write_receiver_report(&mut bytes, 99, &[block(1, i32::MIN), block(2, i32::MAX)]);
        let clamped: Vec<Feedback> = [block(1, -0x80_0000), block(2, 0x7f_ffff)].map(Feedback::from).into();
        assert_eq!(parsed(&bytes), clamped);

        // No blocks: one empty RR. More than 31: a second RR.
        let mut bytes = Vec::new();
        write_receiver_report(&mut bytes, 99, &[]);
        assert_eq!(bytes, [0x80, 0xc9, 0x00, 0x01, 0, 0, 0, 99]);
        let many: Vec<ReceptionReport> = (0..40).map(|i| block(i, -1)).collect();
        let mut bytes = Vec::new();
        write_receiver_report(&mut bytes, 99, &many);
        assert_eq!(bytes[0], 0x80 | 31);
        assert_eq!(bytes[8 + 31 * 24], 0x80 | 9);
        assert_eq!(parsed(&bytes), many.iter().map(|&b| b.into()).collect::<Vec<Feedback>>());
    }

    #[test]
    fn pli_and_fir_round_trip() {
        let mut bytes = Vec::new();
        write_pli(&mut bytes, 1, 0x0102_0304);
        assert_eq!(bytes, [0x81, 0xce, 0x00, 0x02, 0, 0, 0, 1, 1, 2, 3, 4]);
        // FIR (RFC 5104 §4.3.1): media SSRC 0, two FCI entries naming their streams.
        bytes.extend_from_slice(&[0x84, 0xce, 0x00, 0x06, 0, 0, 0, 1, 0, 0, 0, 0]);
        bytes.extend_from_slice(&[0, 0, 0, 7, 42, 0, 0, 0, 0, 0, 0, 8, 43, 0, 0, 0]);
        assert_eq!(
            parsed(&bytes),
            [
                Feedback::Pli { ssrc: 0x0102_0304 },
                Feedback::Fir { ssrc: 7, seq_nr: 42 },
                Feedback::Fir { ssrc: 8, seq_nr: 43 }
            ]
        );
    }

    #[test]
    fn transport_cc_is_passed_through_in_the_layout_str0m_parses() {
        // base seq 10, 2 statuses, reference time 1, feedback count 0, one run-length chunk of
        // two "received, small delta", then the two deltas and two octets of zero padding.
        let packet =
            [0x8f, 0xcd, 0x00, 0x06, 0, 0, 0, 1, 0, 0, 0, 5, 0, 10, 0, 2, 0, 0, 1, 0, 0x20, 0x02, 4, 8, 0, 0, 0, 0];
        let [Feedback::TransportCc { media_ssrc: 5, body }] = &parsed(&packet)[..] else {
            panic!("{:?}", parsed(&packet));
        };
        assert_eq!(body[..], packet[4..]);
        let twcc = str0m::rtp::rtcp::Twcc::try_from(&body[..]).unwrap();
        assert_eq!((twcc.base_seq, twcc.status_count, twcc.reference_time), (10, 2, 1));
    }

    #[test]
    fn sender_report_fields_are_where_rfc_3550_puts_them() {
        let mut bytes = Vec::new();
        write_sender_report(&mut bytes, 0x0102_0304, 0x1122_3344_5566_7788, 0x99aa_bbcc, 7, 1000);
        assert_eq!(bytes.len(), 28);
        assert_eq!(bytes[0], 0x80, "V=2, no padding, no report blocks");
        assert_eq!(bytes[1], 200);
        assert_eq!(bytes[2..4], [0, 6], "7 words minus one");
        assert_eq!(bytes[4..8], [1, 2, 3, 4], "SSRC");
        assert_eq!(bytes[8..12], [0x11, 0x22, 0x33, 0x44], "NTP seconds");
        assert_eq!(bytes[12..16], [0x55, 0x66, 0x77, 0x88], "NTP fraction");
        assert_eq!(bytes[16..20], [0x99, 0xaa, 0xbb, 0xcc], "RTP timestamp");
        assert_eq!(bytes[20..24], 7u32.to_be_bytes(), "packet count");
        assert_eq!(bytes[24..28], 1000u32.to_be_bytes(), "octet count");
        assert!(parsed(&bytes).is_empty());

        // An SR's own report blocks are feedback too.
        bytes[0] = 0x81;
        bytes[3] = 12;
        bytes.extend_from_slice(&COMPOUND[8..32]);
        assert_eq!(parsed(&bytes), compound_items()[..1]);
    }

    #[test]
    fn sdes_cname_is_terminated_and_word_aligned() {
        let mut bytes = Vec::new();
        write_sdes_cname(&mut bytes, 0x1122_3344, "abcd");
        assert_eq!(bytes, COMPOUND[32..48]);
        for len in 0..12 {
            let cname = "x".repeat(len);
            let mut bytes = Vec::new();
            write_sdes_cname(&mut bytes, 1, &cname);
            assert_eq!(bytes.len() % 4, 0);
            assert_eq!(bytes[9], len as u8);
            assert_eq!(bytes[10 + len], 0, "null terminated");
            assert!(parsed(&bytes).is_empty());
        }
        // Cut to 255 octets on a character boundary: 127 two-octet characters.
        let mut bytes = Vec::new();
        write_sdes_cname(&mut bytes, 1, &"é".repeat(200));
        assert_eq!(bytes[9], 254);
        assert_eq!(bytes.len(), 8 + 2 + 254 + 4);
    }

    #[test]
    fn ntp_time_of_known_instants() {
        assert_eq!(ntp_from_unix(Duration::ZERO), 2_208_988_800 << 32);
        assert_eq!(ntp_from_unix(Duration::new(1, 500_000_000)), (2_208_988_801 << 32) | 0x8000_0000);
        assert_eq!(ntp_middle32(ntp_from_unix(Duration::from_millis(250))), (2_208_988_800u64 << 16 | 0x4000) as u32);
        // 2036-02-07T06:28:16Z ends NTP era 0: the seconds wrap to 0.
        assert_eq!(ntp_from_unix(Duration::from_secs((1 << 32) - 2_208_988_800)), 0);
    }

    #[test]
    fn round_trip_of_the_rfc_3550_example() {
        // RFC 3550 §6.4.1 figure: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000 → 6.125 s.
        assert_eq!(round_trip(0xb710_8000, 0xb705_2000, 0x0005_4000), Some(Duration::from_millis(6125)));
        assert_eq!(round_trip(0xb710_8000, 0, 0x0005_4000), None);
        // Across the 16.16 wrap, and a unit below zero from truncation.
        assert_eq!(round_trip(0x0000_1000, 0xffff_f000, 0), Some(Duration::from_millis(125)));
        assert_eq!(round_trip(0x0001_0000, 0x0000_8000, 0x0000_8001), Some(Duration::ZERO));
    }

    #[test]
    fn a_receiver_reference_time_is_an_xr_that_other_parsers_skip() {
        let mut out = Vec::new();
        write_rrtr(&mut out, 0x0102_0304, 0x1122_3344_5566_7788);
        assert_eq!(out, [0x80, 207, 0, 4, 1, 2, 3, 4, 4, 0, 0, 2, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
        let mut items = Vec::new();
        assert!(parse(&out, &mut items), "an XR is a well-formed packet to skip");
        assert!(items.is_empty());
    }

    #[test]
    fn the_dlrr_for_our_ssrc_is_found_among_blocks_and_sub_blocks() {
        // XR from 0x0a: an RRTR block (skipped), then a DLRR with sub-blocks for 0x0b and 0x0c.
        let mut xr = vec![0x80, 207, 0, 0, 0, 0, 0, 0x0a, 4, 0, 0, 2, 9, 9, 9, 9, 9, 9, 9, 9, 5, 0, 0, 6];
        for (ssrc, lrr, dlrr) in [(0x0bu32, 0x1111_2222u32, 0x0000_1000u32), (0x0c, 0x3333_4444, 0x0000_2000)] {
            for w in [ssrc, lrr, dlrr] {
                xr.extend_from_slice(&w.to_be_bytes());
            }
        }
        let words = (xr.len() / 4 - 1) as u16;
        xr[2..4].copy_from_slice(&words.to_be_bytes());
        assert_eq!(read_dlrr(&xr, 0x0c), Some((0x3333_4444, 0x0000_2000)));
        assert_eq!(read_dlrr(&xr, 0x0b), Some((0x1111_2222, 0x0000_1000)));
        assert_eq!(read_dlrr(&xr, 0x0d), None, "no sub-block about that receiver");
        assert_eq!(read_dlrr(&xr[..xr.len() - 4], 0x0c), None, "a block cut short");
        let mut rr = Vec::new();
        write_receiver_report(&mut rr, 0x0c, &[]);
        assert_eq!(read_dlrr(&rr, 0x0c), None, "not an XR");
    }
}
