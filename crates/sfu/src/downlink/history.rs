//! What a downlink stream sent recently, to answer NACKs with RTX (RFC 4588).

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
/// The slots and their buffers are reused, so keeping history allocates nothing once the
/// ring has filled.
pub(super) struct SendHistory {
    slots: Vec<Option<Sent>>,
    max_age: Duration,
}

impl SendHistory {
    /// Keeps up to `packets` (rounded up to a power of two) for at most `max_age`.
    pub(super) fn new(packets: usize, max_age: Duration) -> SendHistory {
        let size = packets.max(1).next_power_of_two();
        SendHistory { slots: (0..size).map(|_| None).collect(), max_age }
    }

    fn slot(&self, sequence: u16) -> usize {
        usize::from(sequence) & (self.slots.len() - 1)
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
        let i = self.slot(sequence);
        match &mut self.slots[i] {
            Some(sent) => {
                sent.at = at;
                sent.sequence = sequence;
                sent.timestamp = timestamp;
                sent.marker = marker;
                sent.extensions = extensions;
                sent.body.clear();
                sent.body.extend_from_slice(body);
            }
            empty => *empty = Some(Sent { at, sequence, timestamp, marker, extensions, body: body.to_vec() }),
        }
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
