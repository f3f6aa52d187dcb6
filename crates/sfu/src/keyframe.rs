//! Keyframe request throttling: at most one request per track per interval, coalescing the
//! rest into one that goes out when the interval ends.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How often one publisher track may be asked for a keyframe.
pub(crate) const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// Limits keyframe requests per key (a publisher track and layer).
///
/// Many subscribers losing packets at once would otherwise each make the publisher send a
/// keyframe, and keyframes are large; one keyframe serves them all.
#[derive(Debug)]
pub(crate) struct KeyframeThrottle<K> {
    interval: Duration,
    entries: HashMap<K, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    last_sent: Instant,
    pending: bool,
}

impl<K: Hash + Eq + Clone> KeyframeThrottle<K> {
    /// A throttle allowing one request per `interval` per key.
    pub(crate) fn new(interval: Duration) -> Self {
        KeyframeThrottle { interval, entries: HashMap::new() }
    }

    /// Records a request; `true` means send it now, `false` that it was folded into one
    /// that [`KeyframeThrottle::poll_due`] returns later.
    pub(crate) fn request(&mut self, key: K, now: Instant) -> bool {
        match self.entries.get_mut(&key) {
            Some(e) if now < e.last_sent + self.interval => {
                e.pending = true;
                false
            }
            _ => {
                self.entries.insert(key, Entry { last_sent: now, pending: false });
                true
            }
        }
    }

    /// The coalesced requests whose interval has ended; call on every timeout.
    pub(crate) fn poll_due(&mut self, now: Instant) -> Vec<K> {
        let interval = self.interval;
        let mut due = Vec::new();
        for (key, e) in &mut self.entries {
            if e.pending && now >= e.last_sent + interval {
                e.pending = false;
                e.last_sent = now;
                due.push(key.clone());
            }
        }
        due
    }

    /// When the next coalesced request becomes due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.entries.values().filter(|e| e.pending).map(|e| e.last_sent + self.interval).min()
    }

    /// Forgets keys that no longer exist.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.entries.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn first_request_goes_out_at_once() {
        let t0 = Instant::now();
        let mut t = KeyframeThrottle::new(500 * MS);
        assert!(t.request("cam", t0));
        assert_eq!(t.next_due(), None);
    }

    #[test]
    fn a_burst_becomes_one_now_and_one_at_the_end_of_the_interval() {
        let t0 = Instant::now();
        let mut t = KeyframeThrottle::new(500 * MS);
        assert!(t.request("cam", t0));
        for n in 1..10 {
            assert!(!t.request("cam", t0 + n * 10 * MS));
        }
        assert_eq!(t.next_due(), Some(t0 + 500 * MS));
        assert!(t.poll_due(t0 + 499 * MS).is_empty());
        assert_eq!(t.poll_due(t0 + 500 * MS), vec!["cam"]);
        assert!(t.poll_due(t0 + 2_000 * MS).is_empty(), "coalesced request is sent once");
    }

    #[test]
    fn keys_are_independent() {
        let t0 = Instant::now();
        let mut t = KeyframeThrottle::new(500 * MS);
        assert!(t.request("cam", t0));
        assert!(t.request("screen", t0));
        assert!(!t.request("cam", t0 + MS));
    }

    #[test]
    fn a_request_after_the_interval_goes_out_at_once() {
        let t0 = Instant::now();
        let mut t = KeyframeThrottle::new(500 * MS);
        assert!(t.request("cam", t0));
        assert!(t.request("cam", t0 + 500 * MS));
        assert!(!t.request("cam", t0 + 600 * MS));
    }

    #[test]
    fn retained_keys_only() {
        let t0 = Instant::now();
        let mut t = KeyframeThrottle::new(500 * MS);
        t.request("cam", t0);
        t.request("cam", t0 + MS);
        t.retain(|k| *k != "cam");
        assert_eq!(t.next_due(), None);
        assert!(t.request("cam", t0 + 2 * MS));
    }
}
