//! What a downlink stream sent recently, to answer NACKs with RTX (RFC 4588).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One sent packet, as needed to send it again.
struct Sent {
    at: Instant,
    sequence: u16,
    timestamp: u32,
    marker: bool,
    /// How many bytes of `body` are the header extension block.
    extensions: usize,
    /// The header extensions and payload after the fixed header, as sent.
    body: Vec<u8>,
}

/// A ring of the last packets of one stream, indexed by sequence number.
///
/// Packets older than the age limit give their buffers back as later ones arrive, so a
/// stream keeps about `max_age` of media, not the ring's worth (a ring of 256 full packets
/// per camera stream tripled a subscriber's memory); a few freed buffers are kept for reuse.
pub(super) struct SendHistory {
    slots: Vec<Option<Sent>>,
    /// Sequence numbers kept, oldest first.
    order: VecDeque<u16>,
    spare: Vec<Vec<u8>>,
    max_age: Duration,
}

/// Freed buffers kept per stream for the next packets.
const SPARE_BUFFERS: usize = 4;

impl SendHistory {
    /// Keeps up to `packets` (rounded up to a power of two) for at most `max_age`.
    pub(super) fn new(packets: usize, max_age: Duration) -> SendHistory {
        let size = packets.max(1).next_power_of_two();
        SendHistory { slots: (0..size).map(|_| None).collect(), order: VecDeque::new(), spare: Vec::new(), max_age }
    }

    fn slot(&self, sequence: u16) -> usize {
        usize::from(sequence) & (self.slots.len() - 1)
    }

    /// Frees the slot of `sequence` (if it still holds that packet).
    fn forget(&mut self, sequence: u16) {
        let i = self.slot(sequence);
        if self.slots[i].as_ref().is_some_and(|s| s.sequence == sequence) {
            if let Some(sent) = self.slots[i].take() {
                if self.spare.len() < SPARE_BUFFERS {
                    self.spare.push(sent.body);
                }
            }
        }
    }

    /// Remembers a packet sent at `at`; `body` is everything after the 12-byte fixed header,
    /// of which the first `extensions` bytes are the header extension block.
    pub(super) fn remember(
        &mut self,
        at: Instant,
        sequence: u16,
        timestamp: u32,
        marker: bool,
        extensions: usize,
        body: &[u8],
    ) {
        while let Some(&oldest) = self.order.front() {
            let i = self.slot(oldest);
            let expired = match &self.slots[i] {
                Some(s) if s.sequence == oldest => at.saturating_duration_since(s.at) > self.max_age,
                // Overwritten by a later packet (the ring wrapped): nothing to free.
                _ => true,
            };
            if !expired && self.order.len() < self.slots.len() {
                break;
            }
            self.order.pop_front();
            self.forget(oldest);
        }
        self.forget(sequence);
        let i = self.slot(sequence);
        if let Some(old) = self.slots[i].take() {
            self.spare.push(old.body);
        }
        let mut buffer = self.spare.pop().unwrap_or_default();
        buffer.clear();
        buffer.extend_from_slice(body);
        self.slots[i] = Some(Sent { at, sequence, timestamp, marker, extensions, body: buffer });
        self.order.push_back(sequence);
    }

    /// The packet `sequence` if it is still kept: `(timestamp, marker, extension block, payload)`.
    pub(super) fn get(&self, now: Instant, sequence: u16) -> Option<(u32, bool, &[u8], &[u8])> {
        let sent = self.slots[self.slot(sequence)].as_ref()?;
        let fresh = now.saturating_duration_since(sent.at) <= self.max_age;
        let (extensions, payload) = sent.body.split_at(sent.extensions.min(sent.body.len()));
        (sent.sequence == sequence && fresh).then_some((sent.timestamp, sent.marker, extensions, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_packets_give_their_memory_back() {
        let start = Instant::now();
        let mut h = SendHistory::new(256, Duration::from_millis(500));
        for seq in 0..200u16 {
            h.remember(start + Duration::from_millis(u64::from(seq) * 10), seq, 0, false, 0, &[0; 1000]);
        }
        let kept = h.slots.iter().filter(|s| s.is_some()).count();
        assert!((50..=52).contains(&kept), "half a second at 100 packets/s, not the ring: {kept}");
        assert!(h.get(start + Duration::from_millis(1990), 150).is_some());
        assert!(h.get(start + Duration::from_millis(1990), 100).is_none());
        assert!(h.spare.len() <= SPARE_BUFFERS);
    }

    #[test]
    fn keeps_the_last_packets_until_they_age_out() {
        let start = Instant::now();
        let mut h = SendHistory::new(4, Duration::from_millis(500));
        for seq in 0..6u16 {
            h.remember(start, seq, u32::from(seq) * 10, seq == 5, 1, &[seq as u8; 3]);
        }
        assert!(h.get(start, 1).is_none(), "overwritten by 5");
        assert_eq!(h.get(start, 5), Some((50, true, &[5u8][..], &[5u8, 5][..])));
        assert_eq!(h.get(start, 2).map(|p| p.0), Some(20));
        assert!(h.get(start + Duration::from_millis(501), 5).is_none(), "too old to help");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let now = Instant::now();
        let mut h = SendHistory::new(8, Duration::from_secs(1));
        for seq in [65534u16, 65535, 0, 1] {
            h.remember(now, seq, 0, false, 0, &[1]);
        }
        for seq in [65534u16, 65535, 0, 1] {
            assert!(h.get(now, seq).is_some());
        }
        assert!(h.get(now, 2).is_none());
    }
}
