//! What a downlink stream sent recently, to answer NACKs with RTX (RFC 4588).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::rtp::PayloadPatch;

/// One sent packet, as needed to send it again: the shared payload and what this
/// subscriber's copy changed in it.
struct Sent {
    at: Instant,
    sequence: u16,
    timestamp: u32,
    marker: bool,
    /// The header extension block as sent.
    extensions: Extensions,
    payload: Arc<[u8]>,
    patch: PayloadPatch,
}

/// The longest header extension block kept: a downlink writes mid (≤ 16 bytes), abs-send-time
/// and the audio level or the video orientation, at most 28 bytes with the block's own header.
const MAX_EXTENSIONS: usize = 32;

/// A header extension block kept in place: no allocation per packet remembered (slots are
/// emptied as packets age out, so a `Vec` here was one `malloc` per packet sent).
#[derive(Clone, Copy)]
struct Extensions {
    len: u8,
    bytes: [u8; MAX_EXTENSIONS],
}

impl Extensions {
    /// The block, or none if it is longer than kept: a resend then goes without extensions,
    /// which RTX allows (its receiver takes them from the original stream).
    fn new(block: &[u8]) -> Extensions {
        let mut kept = Extensions { len: 0, bytes: [0; MAX_EXTENSIONS] };
        if let (Some(to), Ok(len)) = (kept.bytes.get_mut(..block.len()), u8::try_from(block.len())) {
            to.copy_from_slice(block);
            kept.len = len;
        }
        kept
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A ring of the last packets of one stream, indexed by sequence number.
///
/// It keeps the payload every subscriber shares (an `Arc`), not a copy: a copy per
/// subscriber was ~250 KB per participant of a ten-person meeting. Packets older than the age
/// limit are let go as later ones arrive.
pub(super) struct SendHistory {
    /// Allocated at the first packet: a stream that never sends (an idle slot of a slot
    /// subscriber, of which a browser has up to 25) costs no ring.
    slots: Vec<Option<Sent>>,
    /// The ring's size once allocated (a power of two).
    size: usize,
    /// Sequence numbers kept, oldest first.
    order: VecDeque<u16>,
    max_age: Duration,
    /// When packets past their age are next let go (see [`SendHistory::remember`]).
    next_sweep: Option<Instant>,
}

impl SendHistory {
    /// Keeps up to `packets` (rounded up to a power of two) for at most `max_age`.
    pub(super) fn new(packets: usize, max_age: Duration) -> SendHistory {
        let size = packets.max(1).next_power_of_two();
        SendHistory { slots: Vec::new(), size, order: VecDeque::new(), max_age, next_sweep: None }
    }

    fn slot(&self, sequence: u16) -> usize {
        usize::from(sequence) & (self.size - 1)
    }

    /// Remembers a packet sent at `at`.
    ///
    /// Packets past their age are let go a few at a time, every quarter of the age, not one
    /// per packet: checking the oldest packet at every send read a ring slot sent half a
    /// second earlier — a cache miss per copy, in a fan-out that writes one copy for every
    /// viewer (the top of the profile of a 100-person meeting). A sweep walks adjacent slots.
    pub(super) fn remember(
        &mut self,
        at: Instant,
        (sequence, timestamp, marker): (u16, u32, bool),
        extensions: &[u8],
        payload: &Arc<[u8]>,
        patch: PayloadPatch,
    ) {
        if self.slots.is_empty() {
            self.slots = (0..self.size).map(|_| None).collect();
        }
        if self.next_sweep.is_none_or(|due| at >= due) {
            self.next_sweep = Some(at + self.max_age / 4);
            self.let_go(at);
        }
        if self.order.len() >= self.size {
            // The ring wraps onto the oldest now: its slot is overwritten below or already was.
            self.order.pop_front();
        }
        let i = self.slot(sequence);
        let extensions = Extensions::new(extensions);
        self.slots[i] = Some(Sent { at, sequence, timestamp, marker, extensions, payload: payload.clone(), patch });
        self.order.push_back(sequence);
    }

    /// Lets go of the packets older than the age limit at `now`, oldest first.
    fn let_go(&mut self, now: Instant) {
        while let Some(&oldest) = self.order.front() {
            let i = self.slot(oldest);
            let expired = match &self.slots[i] {
                Some(s) if s.sequence == oldest => now.saturating_duration_since(s.at) > self.max_age,
                // Overwritten by a later packet (the ring wrapped): nothing to let go.
                _ => true,
            };
            if !expired {
                break;
            }
            self.order.pop_front();
            if self.slots[i].as_ref().is_some_and(|s| s.sequence == oldest) {
                self.slots[i] = None;
            }
        }
    }

    /// The packet `sequence` if it is still kept.
    pub(super) fn get(&self, now: Instant, sequence: u16) -> Option<Kept<'_>> {
        let sent = self.slots.get(self.slot(sequence))?.as_ref()?;
        let fresh = now.saturating_duration_since(sent.at) <= self.max_age;
        (sent.sequence == sequence && fresh).then_some(Kept {
            timestamp: sent.timestamp,
            marker: sent.marker,
            extensions: sent.extensions.as_slice(),
            payload: &sent.payload,
            patch: sent.patch,
        })
    }
}

/// What a resend of a kept packet needs.
#[derive(Debug, PartialEq)]
pub(super) struct Kept<'a> {
    pub(super) timestamp: u32,
    pub(super) marker: bool,
    /// The header extension block as first sent.
    pub(super) extensions: &'a [u8],
    pub(super) payload: &'a Arc<[u8]>,
    pub(super) patch: PayloadPatch,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(byte: u8, len: usize) -> Arc<[u8]> {
        Arc::from(vec![byte; len])
    }

    #[test]
    fn old_packets_are_let_go_and_payloads_are_shared_not_copied() {
        let start = Instant::now();
        let mut h = SendHistory::new(256, Duration::from_millis(500));
        let shared = payload(0, 1000);
        for seq in 0..200u16 {
            h.remember(
                start + Duration::from_millis(u64::from(seq) * 10),
                (seq, 0, false),
                &[],
                &shared,
                PayloadPatch::default(),
            );
        }
        let kept = h.slots.iter().filter(|s| s.is_some()).count();
        // Half a second at 100 packets/s, and at most the quarter second's packets since the
        // last sweep — not the ring.
        assert!((50..=64).contains(&kept), "half a second at 100 packets/s, not the ring: {kept}");
        assert_eq!(Arc::strong_count(&shared), kept + 1, "one payload, referenced");
        assert!(h.get(start + Duration::from_millis(1990), 150).is_some());
        assert!(h.get(start + Duration::from_millis(1990), 100).is_none());
    }

    #[test]
    fn keeps_the_last_packets_until_they_age_out() {
        let start = Instant::now();
        let mut h = SendHistory::new(4, Duration::from_millis(500));
        let mut patch = PayloadPatch::default();
        patch.set(0, 9);
        for seq in 0..6u16 {
            h.remember(start, (seq, u32::from(seq) * 10, seq == 5), &[seq as u8], &payload(seq as u8, 2), patch);
        }
        assert!(h.get(start, 1).is_none(), "overwritten by 5");
        let kept = h.get(start, 5).unwrap();
        assert_eq!((kept.timestamp, kept.marker, kept.extensions), (50, true, &[5u8][..]));
        assert_eq!((&kept.payload[..], kept.patch), (&[5u8, 5][..], patch));
        assert_eq!(h.get(start, 2).map(|p| p.timestamp), Some(20));
        assert!(h.get(start + Duration::from_millis(501), 5).is_none(), "too old to help");
    }

    #[test]
    fn an_extension_block_too_long_to_keep_is_left_out_of_resends() {
        let now = Instant::now();
        let mut h = SendHistory::new(8, Duration::from_secs(1));
        let fits = [7u8; MAX_EXTENSIONS];
        let too_long = [7u8; MAX_EXTENSIONS + 4];
        h.remember(now, (1, 0, false), &fits, &payload(1, 1), PayloadPatch::default());
        h.remember(now, (2, 0, false), &too_long, &payload(1, 1), PayloadPatch::default());
        assert_eq!(h.get(now, 1).unwrap().extensions, &fits[..]);
        assert_eq!(h.get(now, 2).unwrap().extensions, &[] as &[u8]);
    }

    #[test]
    fn a_stream_that_never_sent_keeps_no_ring() {
        let h = SendHistory::new(1024, Duration::from_millis(1500));
        assert!(h.slots.is_empty(), "an idle slot's stream allocates nothing");
        assert!(h.get(Instant::now(), 7).is_none());
    }

    #[test]
    fn sequence_numbers_wrap() {
        let now = Instant::now();
        let mut h = SendHistory::new(8, Duration::from_secs(1));
        for seq in [65534u16, 65535, 0, 1] {
            h.remember(now, (seq, 0, false), &[], &payload(1, 1), PayloadPatch::default());
        }
        for seq in [65534u16, 65535, 0, 1] {
            assert!(h.get(now, seq).is_some());
        }
        assert!(h.get(now, 2).is_none());
    }
}
