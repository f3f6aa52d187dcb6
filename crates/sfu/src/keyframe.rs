//! Keyframe request throttling: at most one request per track per interval, coalescing the
//! rest into one that goes out when the interval ends — except that a subscriber *starting*
//! a track (a newcomer) gets its keyframe much sooner, since that wait is the join time.

use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::maps::Map;

/// How often one publisher track may be asked for a keyframe for picture loss or a layer
/// switch.
pub(crate) const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// How soon after the last request a newcomer may ask again, when the keyframe of that
/// request has already arrived (so it cannot serve the newcomer). Keyframes are large: this
/// still caps a join storm at ten per second per layer, where asking at every join would
/// let a hundred people joining in a minute make the publisher send little else.
pub(crate) const START_INTERVAL: Duration = Duration::from_millis(100);

/// Limits keyframe requests per key (a publisher track and layer).
///
/// Many subscribers losing packets at once would otherwise each make the publisher send a
/// keyframe, and keyframes are large; one keyframe serves them all.
#[derive(Debug)]
pub(crate) struct KeyframeThrottle<K> {
    interval: Duration,
    start_interval: Duration,
    entries: Map<K, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    last_sent: Instant,
    /// When the last keyframe of this key arrived.
    last_keyframe: Option<Instant>,
    /// A coalesced request goes out at this time.
    pending_at: Option<Instant>,
}

impl Entry {
    /// A request was sent and its keyframe has not arrived yet (nor should it have given up).
    fn in_flight(&self, now: Instant, interval: Duration) -> bool {
        self.last_keyframe.is_none_or(|k| k < self.last_sent) && now < self.last_sent + interval
    }

    fn defer(&mut self, at: Instant) {
        self.pending_at = Some(self.pending_at.map_or(at, |p| p.min(at)));
    }
}

impl<K: Hash + Eq + Clone> KeyframeThrottle<K> {
    /// A throttle allowing one request per `interval` per key, and newcomers one per
    /// `start_interval`.
    pub(crate) fn new(interval: Duration, start_interval: Duration) -> Self {
        KeyframeThrottle { interval, start_interval: start_interval.min(interval), entries: Map::default() }
    }

    fn send(&mut self, key: K, now: Instant) -> bool {
        let e = self.entries.entry(key).or_insert(Entry { last_sent: now, last_keyframe: None, pending_at: None });
        e.last_sent = now;
        e.pending_at = None;
        true
    }

    /// Records a request (picture loss, a layer switch); `true` means send it now, `false`
    /// that it was folded into one that [`KeyframeThrottle::poll_due`] returns later.
    pub(crate) fn request(&mut self, key: K, now: Instant) -> bool {
        let interval = self.interval;
        match self.entries.get_mut(&key) {
            Some(e) if now < e.last_sent + interval => {
                e.defer(e.last_sent + interval);
                false
            }
            _ => self.send(key, now),
        }
    }

    /// Records the request of a subscriber that has no picture of this track yet. A keyframe
    /// already on its way serves it (`false`, nothing more to send); otherwise one goes out
    /// now or once [`START_INTERVAL`] has passed since the last.
    pub(crate) fn request_start(&mut self, key: K, now: Instant) -> bool {
        let (interval, start_interval) = (self.interval, self.start_interval);
        match self.entries.get_mut(&key) {
            Some(e) if e.in_flight(now, interval) => false,
            Some(e) if now < e.last_sent + start_interval => {
                e.defer(e.last_sent + start_interval);
                false
            }
            _ => self.send(key, now),
        }
    }

    /// A keyframe of this key arrived (its first packet).
    pub(crate) fn keyframe_arrived(&mut self, key: &K, now: Instant) {
        if let Some(e) = self.entries.get_mut(key) {
            e.last_keyframe = Some(now);
        }
    }

    /// The coalesced requests that are due; call on every timeout.
    pub(crate) fn poll_due(&mut self, now: Instant) -> Vec<K> {
        let mut due = Vec::new();
        for (key, e) in &mut self.entries {
            if e.pending_at.is_some_and(|at| at <= now) {
                e.pending_at = None;
                e.last_sent = now;
                due.push(key.clone());
            }
        }
        due
    }

    /// When the next coalesced request becomes due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.entries.values().filter_map(|e| e.pending_at).min()
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
        let mut t = KeyframeThrottle::new(500 * MS, 100 * MS);
        assert!(t.request("cam", t0));
        assert_eq!(t.next_due(), None);
    }

    #[test]
    fn a_burst_becomes_one_now_and_one_at_the_end_of_the_interval() {
        let t0 = Instant::now();
        let mut t = KeyframeThrottle::new(500 * MS, 100 * MS);
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
        let mut t = KeyframeThrottle::new(500 * MS, 100 * MS);
        assert!(t.request("cam", t0));
        assert!(t.request("screen", t0));
        assert!(!t.request("cam", t0 + MS));
    }

    #[test]
    fn a_request_after_the_interval_goes_out_at_once() {
        let t0 = Instant::now();
        let mut t = KeyframeThrottle::new(500 * MS, 100 * MS);
        assert!(t.request("cam", t0));
        assert!(t.request("cam", t0 + 500 * MS));
        assert!(!t.request("cam", t0 + 600 * MS));
    }

    #[test]
    fn retained_keys_only() {
        let t0 = Instant::now();
        let mut t = KeyframeThrottle::new(500 * MS, 100 * MS);
        t.request("cam", t0);
        t.request("cam", t0 + MS);
        t.retain(|k| *k != "cam");
        assert_eq!(t.next_due(), None);
        assert!(t.request("cam", t0 + 2 * MS));
    }

    #[test]
    fn a_newcomer_is_served_by_a_keyframe_in_flight() {
        let t0 = Instant::now();
        let mut t = KeyframeThrottle::new(500 * MS, 100 * MS);
        assert!(t.request_start("cam", t0));
        assert!(!t.request_start("cam", t0 + 150 * MS), "the first one's keyframe has not come");
        assert_eq!(t.next_due(), None, "nothing to send later either");
    }

    #[test]
    fn a_newcomer_after_the_keyframe_arrived_asks_again_soon() {
        let t0 = Instant::now();
        let mut t = KeyframeThrottle::new(500 * MS, 100 * MS);
        assert!(t.request_start("cam", t0));
        t.keyframe_arrived(&"cam", t0 + 30 * MS);
        assert!(!t.request_start("cam", t0 + 50 * MS), "within the start interval");
        assert_eq!(t.next_due(), Some(t0 + 100 * MS));
        assert_eq!(t.poll_due(t0 + 100 * MS), vec!["cam"]);
        t.keyframe_arrived(&"cam", t0 + 130 * MS);
        assert!(t.request_start("cam", t0 + 250 * MS), "the start interval has passed: at once");
        assert!(!t.request("cam", t0 + 260 * MS), "picture loss still waits the full interval");
        assert_eq!(t.next_due(), Some(t0 + 750 * MS));
    }

    #[test]
    fn a_lost_keyframe_stops_counting_as_in_flight_after_the_interval() {
        let t0 = Instant::now();
        let mut t = KeyframeThrottle::new(500 * MS, 100 * MS);
        assert!(t.request_start("cam", t0));
        assert!(!t.request_start("cam", t0 + 499 * MS));
        assert!(t.request_start("cam", t0 + 500 * MS));
    }
}
