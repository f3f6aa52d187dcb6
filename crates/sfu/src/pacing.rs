//! How long forwarded video may wait in str0m's pacer before it is let through unpaced.
//!
//! str0m paces each subscriber's video at 1.1× its bandwidth estimate and only forces its
//! queue to drain within two seconds. An SFU cannot make the publisher's encoder slow down
//! for one viewer: when the estimate falls below the stream (a congestion episode, or a busy
//! server's own delay read as congestion) and recovers slowly, the pacer builds up seconds of
//! video until the room has moved the viewer to a lower layer — and a single-layer stream has
//! none. Pacing stays for what it is good at (spreading a keyframe over a few tens of
//! milliseconds); a queue whose oldest packet has waited [`MAX_QUEUE_DELAY`] is flushed as an
//! SFU without a pacer (Janus, mediasoup) would have sent it, and pacing resumes once the
//! queue is empty.

use std::time::{Duration, Instant};

/// The longest a forwarded video packet waits in the pacer: above a keyframe's spread at the
/// top layer (three frames' worth at 1.5 Mbit/s paced at 1.65: about 90 ms), well below what
/// a conversation notices as a lag.
pub(crate) const MAX_QUEUE_DELAY: Duration = Duration::from_millis(200);

/// What the pacer's last look at a stream's send queue found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueSample {
    /// When the oldest packet still queued was queued.
    pub(crate) first_unsent: Option<Instant>,
    /// Packets queued (media, resends and padding).
    pub(crate) packets: usize,
}

/// Whether the stream should now be unpaced, given whether it is (`flushing`): `Some` to
/// change it, `None` to leave it.
pub(crate) fn flush_decision(sample: QueueSample, flushing: bool, now: Instant) -> Option<bool> {
    if flushing {
        (sample.packets == 0).then_some(false)
    } else {
        let waited = sample.first_unsent.map(|t| now.saturating_duration_since(t));
        waited.is_some_and(|w| w >= MAX_QUEUE_DELAY).then_some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_older_than_the_limit_is_flushed_and_paced_again_once_empty() {
        let now = Instant::now();
        let queued = |ms: u64, packets| QueueSample { first_unsent: Some(now - Duration::from_millis(ms)), packets };
        let empty = QueueSample { first_unsent: None, packets: 0 };

        assert_eq!(flush_decision(empty, false, now), None);
        assert_eq!(flush_decision(queued(90, 14), false, now), None, "a keyframe being spread is left alone");
        assert_eq!(flush_decision(queued(200, 40), false, now), Some(true));
        assert_eq!(flush_decision(queued(250, 3), true, now), None, "flushing goes on until the queue is empty");
        assert_eq!(flush_decision(empty, true, now), Some(false));
    }
}
