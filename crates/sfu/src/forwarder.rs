//! The per-down-track decision: forward this packet or not, and from which layer.

use std::time::Instant;

use crate::codec::Vp8Ids;
use crate::munger::{Munged, Munger};

/// One incoming packet as the forwarder sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PacketIn {
    /// Index of the simulcast layer it belongs to (0 without simulcast).
    pub(crate) layer: u8,
    /// Whether it is the first packet of a keyframe (always true for audio).
    pub(crate) keyframe_start: bool,
    /// Extended sequence number.
    pub(crate) seq: u64,
    /// RTP timestamp.
    pub(crate) ts: u32,
    /// Arrival time.
    pub(crate) at: Instant,
    /// RTP clock rate of the codec.
    pub(crate) clock_rate: u32,
    /// VP8 picture numbering, for VP8 packets that carry it.
    pub(crate) vp8: Option<Vp8Ids>,
}

/// Chooses which layer of an up track reaches one subscriber, and rewrites the headers.
///
/// The layer selector sets a *target*; the forwarder keeps sending the *current* layer
/// until the target layer produces a keyframe, then switches, so the subscriber's decoder
/// never sees a frame it cannot decode.
#[derive(Debug, Default)]
pub(crate) struct Forwarder {
    current: Option<u8>,
    target: Option<u8>,
    /// The layer forwarded before the last switch or resume, whose late packets may still
    /// fill holes the subscriber is asking for.
    previous: Option<u8>,
    munger: Munger,
}

impl Forwarder {
    /// Sets the layer to switch to; `None` pauses forwarding at once.
    pub(crate) fn set_target(&mut self, target: Option<u8>) {
        self.target = target;
        if target.is_none() {
            self.current = None;
        }
    }

    /// The layer being forwarded now.
    pub(crate) fn current(&self) -> Option<u8> {
        self.current
    }

    /// The layer the selector asked for.
    pub(crate) fn target(&self) -> Option<u8> {
        self.target
    }

    /// Whether the forwarder waits for a keyframe on the target layer.
    pub(crate) fn switch_pending(&self) -> bool {
        self.target.is_some() && self.target != self.current
    }

    /// Continues the stream after packets the room held back (an audio track that was not
    /// forwarded for a while): the next packet follows the last one sent without a gap in
    /// sequence numbers, and its timestamp by the time that passed.
    pub(crate) fn resume(&mut self) {
        self.previous = self.current;
        self.munger.switch_source();
    }

    /// Starts over at the next keyframe of the target layer, the numbering continuing without a
    /// gap: the track was held back (a camera a host stopped) and what the subscriber's decoder
    /// last had is no reference for what comes now.
    pub(crate) fn restart(&mut self) {
        self.current = None;
    }

    /// Carries another track from now on (a slot switched source): the numbering continues
    /// without a gap; audio goes on at once, video at the new track's next keyframe; nothing
    /// of the old track counts as late.
    pub(crate) fn switch_track(&mut self, audio: bool) {
        self.previous = None;
        self.munger.switch_track();
        if audio {
            self.target = Some(0);
        } else {
            self.current = None;
        }
    }

    /// Decides about one packet; `Some` carries the rewritten header fields to send.
    pub(crate) fn on_packet(&mut self, p: PacketIn) -> Option<Munged> {
        let target = self.target?;
        if p.layer == target && self.current != Some(target) {
            if !p.keyframe_start {
                return self.late(p);
            }
            self.previous = self.current;
            self.current = Some(target);
            self.munger.switch_source();
        } else if self.current != Some(p.layer) {
            return self.late(p);
        }
        self.munger.munge_vp8(p.seq, p.ts, p.at, p.clock_rate, p.vp8).or_else(|| self.late(p))
    }

    /// A packet of the layer before the last switch: forwarded only if it belongs before the
    /// switch (a repaired loss the subscriber's NACKs ask for, in vain otherwise: the SFU
    /// never sent it, so it has nothing to resend).
    fn late(&self, p: PacketIn) -> Option<Munged> {
        if self.current.is_none() || self.previous != Some(p.layer) {
            return None;
        }
        self.munger.munge_previous(p.seq, p.ts, p.vp8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn packet(layer: u8, seq: u64, keyframe_start: bool, at: Instant) -> PacketIn {
        PacketIn { layer, keyframe_start, seq, ts: seq as u32 * 100, at, clock_rate: 90_000, vp8: None }
    }

    #[test]
    fn waits_for_a_keyframe_before_starting() {
        let t0 = Instant::now();
        let mut f = Forwarder::default();
        f.set_target(Some(0));
        assert!(f.on_packet(packet(0, 1, false, t0)).is_none());
        assert!(f.switch_pending());
        assert!(f.on_packet(packet(0, 2, true, t0)).is_some());
        assert!(f.on_packet(packet(0, 3, false, t0)).is_some());
        assert!(!f.switch_pending());
    }

    #[test]
    fn keeps_the_old_layer_until_the_new_one_has_a_keyframe_then_continues_the_sequence() {
        let t0 = Instant::now();
        let mut f = Forwarder::default();
        f.set_target(Some(0));
        let mut last = f.on_packet(packet(0, 10, true, t0)).unwrap();
        f.set_target(Some(2));

        for n in 1..5 {
            let at = t0 + Duration::from_millis(10 * n);
            assert!(f.on_packet(packet(2, 900 + n, false, at)).is_none());
            let next = f.on_packet(packet(0, 10 + n, false, at)).unwrap();
            assert_eq!(next.seq, last.seq + 1);
            last = next;
        }

        let at = t0 + Duration::from_millis(60);
        let switched = f.on_packet(packet(2, 905, true, at)).unwrap();
        assert_eq!(switched.seq, last.seq + 1);
        assert_eq!(f.current(), Some(2));
        assert!(f.on_packet(packet(0, 15, true, at)).is_none(), "old layer is no longer sent");
        assert_eq!(f.on_packet(packet(2, 906, false, at)).unwrap().seq, last.seq + 2);
    }

    #[test]
    fn a_repaired_loss_of_the_old_layer_after_a_switch_fills_its_hole() {
        let t0 = Instant::now();
        let mut f = Forwarder::default();
        f.set_target(Some(0));
        let first = f.on_packet(packet(0, 10, true, t0)).unwrap();
        // 11 is lost on the way in; 12 goes out with a hole before it.
        let third = f.on_packet(packet(0, 12, false, t0)).unwrap();
        assert_eq!(third.seq, first.seq + 2);
        f.set_target(Some(1));
        let switched = f.on_packet(packet(1, 700, true, t0)).unwrap();
        assert_eq!(switched.seq, third.seq + 1);
        // The publisher's retransmission of 11 arrives after the switch.
        assert_eq!(f.on_packet(packet(0, 11, false, t0)).unwrap().seq, first.seq + 1);
        assert!(f.on_packet(packet(0, 13, false, t0)).is_none(), "newer old-layer packets stay out");
        assert!(f.on_packet(packet(2, 11, false, t0)).is_none(), "another layer's numbers are not the old layer's");
        assert_eq!(f.current(), Some(1), "a late packet is no switch");
        // Paused, nothing goes out, late or not.
        f.set_target(None);
        f.set_target(Some(1));
        assert!(f.on_packet(packet(0, 11, false, t0)).is_none());
    }

    #[test]
    fn pausing_drops_everything_and_resuming_continues_the_sequence() {
        let t0 = Instant::now();
        let mut f = Forwarder::default();
        f.set_target(Some(1));
        let before = f.on_packet(packet(1, 1, true, t0)).unwrap();
        f.set_target(None);
        assert!(f.on_packet(packet(1, 2, true, t0)).is_none());
        f.set_target(Some(1));
        let after = f.on_packet(packet(1, 3, true, t0 + Duration::from_secs(1))).unwrap();
        assert_eq!(after.seq, before.seq + 1);
        assert_eq!(after.ts.wrapping_sub(before.ts), 90_000);
    }
}
