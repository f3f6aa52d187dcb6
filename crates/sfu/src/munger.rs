//! Sequence number, timestamp and VP8 picture numbering rewriting for one down track, so a
//! subscriber sees one continuous stream even when the forwarder switches between simulcast
//! layers.

use std::time::Instant;

use crate::codec::Vp8Ids;

/// The header fields of a packet after munging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Munged {
    /// Extended outgoing sequence number (str0m derives the SRTP rollover counter from it).
    pub(crate) seq: u64,
    /// Outgoing RTP timestamp.
    pub(crate) ts: u32,
    /// Outgoing VP8 PictureID and TL0PICIDX, for a VP8 packet that carries them.
    pub(crate) vp8: Option<Vp8Ids>,
}

/// Rewrites `(sequence number, timestamp)` from whichever source layer is forwarded into
/// one gap-free output sequence.
///
/// Each layer of a simulcast track has its own SSRC, sequence space and timestamp base.
/// After [`Munger::switch_source`] the next packet is rebased so that its sequence number
/// follows the last one sent by exactly one, and its timestamp advances by the wall-clock
/// time that passed since the last packet.
#[derive(Debug, Default)]
pub(crate) struct Munger {
    state: Option<State>,
    rebase: bool,
    pictures: Pictures,
    /// The mapping of the source before the last switch, for its late packets.
    previous: Option<Previous>,
}

/// How the source before a switch was mapped, and which of its packets had been sent when
/// it ended. A packet of it lost before the switch and repaired (by retransmission from the
/// publisher) after it fills the hole it left; anything of it newer than the switch would
/// collide with the new source's numbers.
#[derive(Debug, Clone, Copy)]
struct Previous {
    seq_offset: u64,
    ts_offset: u32,
    first_in_seq: u64,
    last_in_seq: u64,
    pictures: Offsets,
}

/// VP8 picture numbering across layers. Each simulcast layer numbers its pictures on its
/// own; after a switch the decoder would see PictureID and TL0PICIDX jump, which receivers
/// read as lost pictures. So numbering continues from the last picture sent, by a constant
/// offset per source (packets of one picture keep sharing a number).
#[derive(Debug, Default)]
struct Pictures {
    offsets: Offsets,
    last_pid: Option<u16>,
    last_tl0: Option<u8>,
}

/// What one source's PictureID and TL0PICIDX are shifted by.
#[derive(Debug, Default, Clone, Copy)]
struct Offsets {
    pid: u16,
    tl0: u8,
}

impl Offsets {
    fn apply(self, ids: Vp8Ids) -> Vp8Ids {
        Vp8Ids {
            // The outgoing number keeps the incoming field's size (7 or 15 bits).
            picture_id: ids
                .picture_id
                .map(|(pid, long)| (pid.wrapping_add(self.pid) & if long { 0x7fff } else { 0x7f }, long)),
            tl0: ids.tl0.map(|t| t.wrapping_add(self.tl0)),
        }
    }
}

impl Pictures {
    fn map(&mut self, ids: Vp8Ids, rebase: bool) -> Vp8Ids {
        if rebase {
            if let (Some(last), Some((pid, _))) = (self.last_pid, ids.picture_id) {
                self.offsets.pid = last.wrapping_add(1).wrapping_sub(pid) & 0x7fff;
            }
            if let (Some(last), Some(tl0)) = (self.last_tl0, ids.tl0) {
                self.offsets.tl0 = last.wrapping_add(1).wrapping_sub(tl0);
            }
        }
        let out = self.offsets.apply(ids);
        if let Some((pid, _)) = out.picture_id {
            if self.last_pid.is_none_or(|last| (pid.wrapping_sub(last) & 0x7fff) < 0x4000) {
                self.last_pid = Some(pid);
            }
        }
        if let Some(tl0) = out.tl0 {
            if self.last_tl0.is_none_or(|last| tl0.wrapping_sub(last) < 0x80) {
                self.last_tl0 = Some(tl0);
            }
        }
        out
    }
}

#[derive(Debug)]
struct State {
    seq_offset: u64,
    ts_offset: u32,
    /// Packets of the current source older than this were sent before the switch.
    first_in_seq: u64,
    highest_out_seq: u64,
    highest_out_ts: u32,
    highest_at: Instant,
}

impl Munger {
    /// Marks the next packet as the first of a new source (a layer switch or a resume); the
    /// source so far is remembered for its late packets ([`Munger::munge_previous`]).
    pub(crate) fn switch_source(&mut self) {
        if !self.rebase {
            self.previous = self.state.as_ref().map(|s| Previous {
                seq_offset: s.seq_offset,
                ts_offset: s.ts_offset,
                first_in_seq: s.first_in_seq,
                last_in_seq: s.highest_out_seq.wrapping_sub(s.seq_offset),
                pictures: self.pictures.offsets,
            });
        }
        self.rebase = true;
    }

    /// Marks the next packet as the first of another track's: like a switch, but nothing of
    /// the old track may follow (its sequence numbers say nothing about the new one's).
    pub(crate) fn switch_track(&mut self) {
        self.switch_source();
        self.previous = None;
    }

    /// Rewrites a late packet of the source before the last switch — one sent before the
    /// switch, or lost then and now repaired — with that source's mapping; `None` for one
    /// from after the switch, or when there was no source before.
    pub(crate) fn munge_previous(&self, in_seq: u64, in_ts: u32, vp8: Option<Vp8Ids>) -> Option<Munged> {
        let p = self.previous?;
        if in_seq < p.first_in_seq || in_seq > p.last_in_seq {
            return None;
        }
        let vp8 = vp8.map(|ids| p.pictures.apply(ids));
        Some(Munged { seq: in_seq.wrapping_add(p.seq_offset), ts: in_ts.wrapping_add(p.ts_offset), vp8 })
    }

    /// Rewrites one packet, or returns `None` for a late packet from before a switch.
    ///
    /// `in_seq` is the extended sequence number of the incoming stream, `at` its arrival
    /// time and `clock_rate` the codec's RTP clock rate.
    #[cfg(test)]
    pub(crate) fn munge(&mut self, in_seq: u64, in_ts: u32, at: Instant, clock_rate: u32) -> Option<Munged> {
        self.munge_vp8(in_seq, in_ts, at, clock_rate, None)
    }

    /// Like [`Munger::munge`], also renumbering the packet's VP8 pictures (`vp8`: what
    /// its descriptor carries).
    pub(crate) fn munge_vp8(
        &mut self,
        in_seq: u64,
        in_ts: u32,
        at: Instant,
        clock_rate: u32,
        vp8: Option<Vp8Ids>,
    ) -> Option<Munged> {
        let rebase = self.rebase;
        let mut munged = self.munge_header(in_seq, in_ts, at, clock_rate)?;
        munged.vp8 = vp8.map(|ids| self.pictures.map(ids, rebase));
        Some(munged)
    }

    fn munge_header(&mut self, in_seq: u64, in_ts: u32, at: Instant, clock_rate: u32) -> Option<Munged> {
        let Some(state) = &mut self.state else {
            // Start below 2^15 so the output never begins with a non-zero rollover counter.
            let out_seq = in_seq & 0x7fff;
            self.state = Some(State {
                seq_offset: out_seq.wrapping_sub(in_seq),
                ts_offset: 0,
                first_in_seq: in_seq,
                highest_out_seq: out_seq,
                highest_out_ts: in_ts,
                highest_at: at,
            });
            self.rebase = false;
            return Some(Munged { seq: out_seq, ts: in_ts, vp8: None });
        };

        if self.rebase {
            self.rebase = false;
            let out_seq = state.highest_out_seq + 1;
            let elapsed = at.saturating_duration_since(state.highest_at);
            let ticks = (elapsed.as_micros() * u128::from(clock_rate) / 1_000_000).max(1);
            let out_ts = state.highest_out_ts.wrapping_add(ticks as u32);
            state.seq_offset = out_seq.wrapping_sub(in_seq);
            state.ts_offset = out_ts.wrapping_sub(in_ts);
            state.first_in_seq = in_seq;
        } else if in_seq < state.first_in_seq {
            return None;
        }

        let seq = in_seq.wrapping_add(state.seq_offset);
        let ts = in_ts.wrapping_add(state.ts_offset);
        if seq > state.highest_out_seq || seq == state.highest_out_seq + 1 {
            state.highest_out_seq = seq;
            state.highest_out_ts = ts;
            state.highest_at = at;
        }
        Some(Munged { seq, ts, vp8: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const VIDEO: u32 = 90_000;

    #[test]
    fn passes_a_single_source_through_with_constant_offsets() {
        let t0 = Instant::now();
        let mut m = Munger::default();
        let a = m.munge(1_000, 5_000, t0, VIDEO).unwrap();
        let b = m.munge(1_001, 8_000, t0 + Duration::from_millis(33), VIDEO).unwrap();
        assert_eq!(b.seq, a.seq + 1);
        assert_eq!(b.ts.wrapping_sub(a.ts), 3_000);
    }

    #[test]
    fn output_continues_across_sequence_and_timestamp_wrap_around() {
        let t0 = Instant::now();
        let mut m = Munger::default();
        // Extended input sequence crosses 65535 → 65536; the timestamp crosses u32::MAX.
        let mut last = m.munge(65_534, u32::MAX - 2_999, t0, VIDEO).unwrap();
        for (i, in_seq) in [65_535_u64, 65_536, 65_537].into_iter().enumerate() {
            let ts = (u32::MAX - 2_999).wrapping_add(3_000 * (i as u32 + 1));
            let at = t0 + Duration::from_millis(33 * (i as u64 + 1));
            let next = m.munge(in_seq, ts, at, VIDEO).unwrap();
            assert_eq!(next.seq, last.seq + 1);
            assert_eq!(next.ts.wrapping_sub(last.ts), 3_000);
            last = next;
        }
    }

    #[test]
    fn output_sequence_keeps_counting_past_u16() {
        let t0 = Instant::now();
        let mut m = Munger::default();
        let first = m.munge(32_767, 0, t0, VIDEO).unwrap();
        let mut last = first;
        for n in 1..70_000_u64 {
            last = m.munge(32_767 + n, 0, t0, VIDEO).unwrap();
        }
        assert_eq!(last.seq, first.seq + 69_999);
    }

    #[test]
    fn switch_continues_sequence_and_advances_timestamp_by_elapsed_time() {
        let t0 = Instant::now();
        let mut m = Munger::default();
        m.munge(100, 10_000, t0, VIDEO).unwrap();
        let before = m.munge(101, 13_000, t0 + Duration::from_millis(33), VIDEO).unwrap();

        // The other layer has an unrelated sequence and timestamp base.
        m.switch_source();
        let at = t0 + Duration::from_millis(66);
        let first = m.munge(50_000, 777_000, at, VIDEO).unwrap();
        assert_eq!(first.seq, before.seq + 1);
        assert_eq!(first.ts.wrapping_sub(before.ts), 2_970);

        // The rest of that frame keeps its timestamp, the next frame advances normally.
        let same_frame = m.munge(50_001, 777_000, at, VIDEO).unwrap();
        assert_eq!((same_frame.seq, same_frame.ts), (first.seq + 1, first.ts));
        let next_frame = m.munge(50_002, 780_000, at + Duration::from_millis(33), VIDEO).unwrap();
        assert_eq!(next_frame.seq, first.seq + 2);
        assert_eq!(next_frame.ts.wrapping_sub(first.ts), 3_000);
    }

    #[test]
    fn late_packets_from_before_a_switch_are_dropped() {
        let t0 = Instant::now();
        let mut m = Munger::default();
        m.munge(10, 0, t0, VIDEO).unwrap();
        m.switch_source();
        m.munge(500, 0, t0, VIDEO).unwrap();
        assert_eq!(m.munge(499, 0, t0, VIDEO), None);
    }

    #[test]
    fn a_late_packet_of_the_source_before_a_switch_fills_its_hole_with_that_sources_mapping() {
        let t0 = Instant::now();
        let mut m = Munger::default();
        let ids = |pid: u16, tl0: u8| Some(Vp8Ids { picture_id: Some((pid, true)), tl0: Some(tl0) });
        let a = m.munge_vp8(10, 1_000, t0, VIDEO, ids(40, 3)).unwrap();
        // 11 is lost; 12 is the old layer's last packet before the switch.
        let c = m.munge_vp8(12, 4_000, t0, VIDEO, ids(41, 4)).unwrap();
        m.switch_source();
        let d = m.munge_vp8(500, 70_000, t0 + Duration::from_millis(33), VIDEO, ids(900, 60)).unwrap();
        assert_eq!(d.seq, c.seq + 1);
        // 11 comes back (retransmitted by the publisher): the hole between a and c.
        let late = m.munge_previous(11, 1_000, ids(40, 3)).unwrap();
        assert_eq!((late.seq, late.ts, late.vp8), (a.seq + 1, a.ts, ids(40, 3)));
        assert_eq!(m.munge_vp8(11, 1_000, t0, VIDEO, None), None, "not through the new source's mapping");
        // The old layer's packets after the switch would collide with the new layer's numbers.
        assert_eq!(m.munge_previous(13, 4_000, None), None);
        assert_eq!(m.munge_previous(9, 0, None), None, "from before the old source was forwarded");
        // The new source keeps counting on from d, untouched by the late packet.
        assert_eq!(m.munge_vp8(501, 70_000, t0, VIDEO, ids(900, 60)).unwrap().seq, d.seq + 1);
        assert_eq!(Munger::default().munge_previous(1, 0, None), None, "no switch yet");
    }

    #[test]
    fn switch_at_the_same_instant_still_advances_the_timestamp() {
        let t0 = Instant::now();
        let mut m = Munger::default();
        let a = m.munge(1, 90, t0, VIDEO).unwrap();
        m.switch_source();
        let b = m.munge(9_000, 123, t0, VIDEO).unwrap();
        assert_eq!(b.seq, a.seq + 1);
        assert_eq!(b.ts, a.ts + 1);
    }

    #[test]
    fn vp8_picture_numbers_continue_across_a_switch() {
        let t0 = Instant::now();
        let mut m = Munger::default();
        let ids = |pid: u16, tl0: u8| Some(Vp8Ids { picture_id: Some((pid, true)), tl0: Some(tl0) });
        let a = m.munge_vp8(1, 0, t0, VIDEO, ids(100, 7)).unwrap();
        assert_eq!(a.vp8, ids(100, 7), "the first source passes through");
        let b = m.munge_vp8(2, 3_000, t0, VIDEO, ids(101, 8)).unwrap();
        assert_eq!(b.vp8, ids(101, 8));

        // The new layer numbers its pictures from elsewhere (and wraps soon).
        m.switch_source();
        let c = m.munge_vp8(900, 50, t0, VIDEO, ids(0x7ffe, 250)).unwrap();
        assert_eq!(c.vp8, ids(102, 9));
        let c2 = m.munge_vp8(901, 50, t0, VIDEO, ids(0x7ffe, 250)).unwrap();
        assert_eq!(c2.vp8, ids(102, 9), "packets of one picture share its number");
        let d = m.munge_vp8(902, 3_050, t0, VIDEO, ids(0x7fff, 251)).unwrap();
        assert_eq!(d.vp8, ids(103, 10));
        let e = m.munge_vp8(903, 6_050, t0, VIDEO, ids(0, 252)).unwrap();
        assert_eq!(e.vp8, ids(104, 11), "across the 15-bit wrap");

        // A retransmitted older packet keeps its own (mapped) number, not the newest.
        let old = m.munge_vp8(901, 50, t0, VIDEO, ids(0x7ffe, 250)).unwrap();
        assert_eq!(old.vp8, ids(102, 9));
        let f = m.munge_vp8(904, 9_050, t0, VIDEO, ids(1, 253)).unwrap();
        assert_eq!(f.vp8, ids(105, 12));
    }
}
