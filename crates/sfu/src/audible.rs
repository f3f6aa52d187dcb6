//! Which microphones a large room forwards: the few loudest, as Google Meet does.
//!
//! In a 100-person meeting with every microphone open, forwarding each one to everyone is
//! ~495,000 packets a second of mostly silence and room noise. People can follow at most a
//! few voices at once, so once a room is crowded — more microphones than
//! [`DEFAULT_CROWD`] (and than the limit) — only the loudest non-silent ones (by their RFC 6464
//! levels) are forwarded; the others are dropped at the SFU. Smaller rooms are not touched:
//! every packet is forwarded, silence included, so nobody's first words are ever delayed.

use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::maps::Map;

/// The default number of microphones forwarded at once in a large room.
pub const DEFAULT_AUDIBLE_LIMIT: usize = 3;

/// A room with more microphones than this (and than the limit) is crowded. Below it
/// everything is forwarded: a few dozen audio streams cost little, and in a crowded room a
/// microphone's first words can be lost while it is offered to everyone (see `Room`).
pub const DEFAULT_CROWD: usize = 10;

/// Whether a room with `mics` microphones is crowded: it holds back all but the `limit`
/// loudest once it has more than `crowd` (and than `limit`) of them; a `limit` of 0 never does.
pub fn crowded(limit: usize, crowd: usize, mics: usize) -> bool {
    limit > 0 && mics > crowd.max(limit)
}

/// Levels quieter than this (in dBov) count as silence: the same bound as the active-speaker
/// detector, so whoever is shown as speaking is heard.
const SILENCE_DBOV: f32 = -50.0;

/// A forwarded microphone that has been silent this long gives its place up.
const RELEASE: Duration = Duration::from_millis(1500);

/// A forwarded microphone keeps its place at least this long, so a speaker is not cut off
/// mid-word by a louder cough elsewhere.
const MIN_HOLD: Duration = Duration::from_millis(1000);

/// How much louder (dB, smoothed) a newcomer must be than the quietest forwarded microphone
/// to take its place once every place is taken.
const MARGIN_DB: f32 = 6.0;

/// Weight of a new sample in the moving average (audio packets come every 20 ms). Faster
/// than the active-speaker detector's: a newcomer's first words should reach people.
const SMOOTHING: f32 = 0.3;

/// A microphone not heard from this long has its level and place forgotten (it left, or its
/// stream stopped; whether the room is crowded is the room's count of microphone tracks).
const FORGET: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
struct Mic {
    smoothed: f32,
    heard: Instant,
    loud: Option<Instant>,
    chosen: Option<Instant>,
}

/// The room's choice of microphones to forward.
#[derive(Debug)]
pub(crate) struct Audible<T> {
    limit: usize,
    /// More microphones than this make the room crowded.
    crowd: usize,
    /// The room's microphone tracks, as the room counts them: whether it is crowded does not
    /// wait for every microphone's packets to arrive (some connect later than others).
    microphones: usize,
    /// Levels and places of the microphones heard recently.
    mics: Map<T, Mic>,
    /// When silent holders and gone microphones were last swept out (a room-wide pass, so
    /// at most once per packet interval rather than once per packet).
    swept: Option<Instant>,
    /// Counts every change of who holds a place, so a caller can tell "nothing changed since"
    /// with one comparison.
    changes: u64,
}

/// How often the room-wide sweep runs.
const SWEEP: Duration = Duration::from_millis(20);

impl<T: Hash + Eq + Copy> Audible<T> {
    /// Forward at most `limit` microphones at once in a room with more than `crowd` (and
    /// `limit`) of them; a `limit` of 0 forwards all.
    pub(crate) fn new(limit: usize, crowd: usize) -> Self {
        Audible { limit, crowd, microphones: 0, mics: Map::default(), swept: None, changes: 0 }
    }

    /// Tells how many microphone tracks the room has now.
    pub(crate) fn set_microphones(&mut self, n: usize) {
        let before = self.is_crowded();
        self.microphones = n;
        self.changes += u64::from(before != self.is_crowded());
    }

    /// How many times who holds a place has changed (see [`Audible::holds_place`]).
    pub(crate) fn changes(&self) -> u64 {
        self.changes
    }

    /// Whether the room holds back all but the loudest microphones.
    pub(crate) fn is_crowded(&self) -> bool {
        crowded(self.limit, self.crowd, self.microphones)
    }

    /// Whether to forward one packet of microphone `mic` with this level (negative dBov as
    /// str0m reports it; `None` when the packet carries none, which counts as loud: we cannot
    /// tell).
    pub(crate) fn admit(&mut self, mic: T, level_dbov: Option<i8>, now: Instant) -> bool {
        if self.limit == 0 {
            return true;
        }
        let sample = level_dbov.map_or(0.0, |l| -f32::from(l.unsigned_abs()));
        let fresh = Mic { smoothed: -127.0, heard: now, loud: None, chosen: None };
        let m = self.mics.entry(mic).or_insert(fresh);
        m.smoothed += SMOOTHING * (sample - m.smoothed);
        m.heard = now;
        if sample > SILENCE_DBOV {
            m.loud = Some(now);
        }
        if self.swept.is_none_or(|t| now.saturating_duration_since(t) >= SWEEP) {
            self.swept = Some(now);
            let changes = &mut self.changes;
            self.mics.retain(|_, m| {
                let keep = now.saturating_duration_since(m.heard) < FORGET;
                *changes += u64::from(!keep && m.chosen.is_some());
                keep
            });
            self.release_silent(now);
        }
        self.choose(mic, now);

        !self.is_crowded() || self.mics.get(&mic).is_some_and(|m| m.chosen.is_some())
    }

    /// Whether `mic` holds one of the places now (every microphone counts in a room that is
    /// not crowded).
    pub(crate) fn holds_place(&self, mic: T) -> bool {
        !self.is_crowded() || self.mics.get(&mic).is_some_and(|m| m.chosen.is_some())
    }

    /// Forgets a microphone (its track was unpublished).
    pub(crate) fn remove(&mut self, mic: T) {
        if self.mics.remove(&mic).is_some_and(|m| m.chosen.is_some()) {
            self.changes += 1;
        }
    }

    fn release_silent(&mut self, now: Instant) {
        for m in self.mics.values_mut() {
            let quiet_since = m.loud.or(m.chosen);
            if m.chosen.is_some() && quiet_since.is_some_and(|t| now.saturating_duration_since(t) >= RELEASE) {
                m.chosen = None;
                self.changes += 1;
            }
        }
    }

    /// Gives `mic` a place if it is loud and a place is free, or if it is clearly louder than
    /// the quietest holder that has had its minimum time.
    fn choose(&mut self, mic: T, now: Instant) {
        let Some(me) = self.mics.get(&mic).copied() else { return };
        if me.chosen.is_some() || me.loud != Some(now) {
            return;
        }
        let holders = self.mics.values().filter(|m| m.chosen.is_some()).count();
        if holders < self.limit {
            if let Some(m) = self.mics.get_mut(&mic) {
                m.chosen = Some(now);
                self.changes += 1;
            }
            return;
        }
        let weakest = self
            .mics
            .iter()
            .filter(|(_, m)| m.chosen.is_some_and(|t| now.saturating_duration_since(t) >= MIN_HOLD))
            .min_by(|a, b| a.1.smoothed.total_cmp(&b.1.smoothed))
            .map(|(k, m)| (*k, m.smoothed));
        if let Some((weakest, level)) = weakest {
            if me.smoothed > level + MARGIN_DB {
                if let Some(w) = self.mics.get_mut(&weakest) {
                    w.chosen = None;
                }
                if let Some(m) = self.mics.get_mut(&mic) {
                    m.chosen = Some(now);
                }
                self.changes += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOUD: Option<i8> = Some(-20);
    const QUIET: Option<i8> = Some(-127);

    /// Sends one 20 ms round of packets, one per microphone with its level, in a room of
    /// those microphones; returns which were forwarded.
    fn round(a: &mut Audible<u32>, levels: &[(u32, Option<i8>)], now: Instant) -> Vec<bool> {
        a.set_microphones(levels.len());
        levels.iter().map(|&(mic, level)| a.admit(mic, level, now)).collect()
    }

    fn forwarded(v: &[bool]) -> usize {
        v.iter().filter(|v| **v).count()
    }

    #[test]
    fn every_change_of_who_holds_a_place_is_counted_and_nothing_else() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut a = Audible::new(1, 0);
        round(&mut a, &[(1, LOUD), (2, QUIET)], at(0));
        let taken = a.changes();
        assert!(taken > 0 && a.holds_place(1));
        for i in 1..20 {
            round(&mut a, &[(1, LOUD), (2, QUIET)], at(20 * i));
        }
        assert_eq!(a.changes(), taken, "the same holder, no change");
        for i in 20..120 {
            round(&mut a, &[(1, QUIET), (2, QUIET)], at(20 * i));
        }
        assert!(!a.holds_place(1) && a.changes() > taken, "a silent holder let its place go");
    }

    #[test]
    fn a_room_with_no_more_microphones_than_the_limit_forwards_everything_even_silence() {
        let t0 = Instant::now();
        let mut a = Audible::new(3, 0);
        for i in 0..100 {
            let v = round(&mut a, &[(1, QUIET), (2, LOUD), (3, QUIET)], t0 + Duration::from_millis(20 * i));
            assert_eq!(v, vec![true; 3]);
        }
    }

    #[test]
    fn a_crowded_room_forwards_only_the_talkers_up_to_the_limit() {
        let t0 = Instant::now();
        let mut a = Audible::new(3, 0);
        let mut levels: Vec<(u32, Option<i8>)> = (0..100).map(|i| (i, QUIET)).collect();
        for talker in [7, 42] {
            levels[talker].1 = LOUD;
        }
        let mut last = Vec::new();
        for i in 0..50 {
            last = round(&mut a, &levels, t0 + Duration::from_millis(20 * i));
        }
        assert_eq!(forwarded(&last), 2, "two people talk, 98 open microphones are held back");
        assert!(last[7] && last[42]);

        // Everybody talks at once: still at most three.
        for l in &mut levels {
            l.1 = LOUD;
        }
        for i in 50..100 {
            last = round(&mut a, &levels, t0 + Duration::from_millis(20 * i));
            assert!(forwarded(&last) <= 3, "round {i}: {} forwarded", forwarded(&last));
        }
        assert_eq!(forwarded(&last), 3);
        assert!(last[7] && last[42], "those already talking keep their place");
    }

    #[test]
    fn a_silent_holder_keeps_its_place_a_while_then_a_new_talker_takes_it_at_once() {
        let t0 = Instant::now();
        let mut a = Audible::new(1, 0);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Mic 1 talks for two seconds, mic 2 is silent: mic 2 is held.
        let mut v = Vec::new();
        for i in 0..100 {
            v = round(&mut a, &[(1, LOUD), (2, QUIET)], at(20 * i));
        }
        assert_eq!(v, vec![true, false]);
        // Mic 1 pauses: its trailing silence is forwarded for RELEASE, then held back.
        let held = (100..300).find(|&i| !round(&mut a, &[(1, QUIET), (2, QUIET)], at(20 * i))[0]).expect("released");
        let quiet_for = Duration::from_millis(20 * (held - 99));
        assert!(quiet_for >= RELEASE && quiet_for <= RELEASE + Duration::from_millis(40), "{quiet_for:?}");
        // Mic 1 talks again and gets its place back at once (nobody holds it); then mic 1
        // falls silent and mic 2 starts: mic 2 is clearly louder within a few packets and
        // mic 1 has held its place long enough, so mic 2 is heard almost at once.
        for i in held..held + 60 {
            assert!(round(&mut a, &[(1, LOUD), (2, QUIET)], at(20 * i))[0]);
        }
        let start = held + 60;
        let heard = (start..start + 100)
            .find(|&i| round(&mut a, &[(1, QUIET), (2, LOUD)], at(20 * i))[1])
            .expect("mic 2 is heard");
        assert!(heard - start <= 5, "mic 2 waited {} packets", heard - start);
        assert!(!a.admit(1, QUIET, at(20 * (heard + 1))), "mic 1 gave its place up");
        assert!(a.admit(2, LOUD, at(20 * (heard + 1))));
    }

    #[test]
    fn a_much_louder_newcomer_replaces_the_quietest_holder_after_its_minimum_time() {
        let t0 = Instant::now();
        let mut a = Audible::new(1, 0);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for i in 0..10 {
            round(&mut a, &[(1, Some(-45)), (2, QUIET)], at(20 * i));
        }
        // Mic 2 shouts 200 ms after mic 1 got its place: mic 1 keeps it for MIN_HOLD.
        let mut switched_at = None;
        for i in 10..200 {
            let v = round(&mut a, &[(1, Some(-45)), (2, Some(-10))], at(20 * i));
            if v[1] {
                assert!(v[0], "mic 1 had the place this round");
                switched_at = Some(at(20 * i));
                break;
            }
        }
        let switched_at = switched_at.expect("the louder one takes over");
        assert!(switched_at >= t0 + MIN_HOLD);
        assert!(switched_at <= t0 + MIN_HOLD + Duration::from_millis(40));
        assert!(!a.admit(1, Some(-45), switched_at + Duration::from_millis(20)));
    }

    #[test]
    fn a_room_of_up_to_the_crowd_size_forwards_everything() {
        let t0 = Instant::now();
        let mut a = Audible::new(3, 10);
        let mut levels: Vec<(u32, Option<i8>)> = (0..10).map(|i| (i, QUIET)).collect();
        levels[0].1 = LOUD;
        for i in 0..50 {
            assert_eq!(forwarded(&round(&mut a, &levels, t0 + Duration::from_millis(20 * i))), 10);
        }
        levels.push((10, QUIET));
        round(&mut a, &levels, t0 + Duration::from_secs(1));
        let v = round(&mut a, &levels, t0 + Duration::from_millis(1020));
        assert_eq!(v.iter().position(|f| *f), Some(0), "eleven: crowded, only the talker");
        assert_eq!(forwarded(&v), 1);
    }

    #[test]
    fn zero_means_no_limit_and_the_rooms_microphone_count_decides() {
        let t0 = Instant::now();
        let mut none = Audible::new(0, 0);
        let levels: Vec<(u32, Option<i8>)> = (0..10).map(|i| (i, QUIET)).collect();
        assert_eq!(forwarded(&round(&mut none, &levels, t0)), 10);

        let mut a = Audible::new(2, 0);
        a.set_microphones(3);
        assert!(!a.admit(1, QUIET, t0), "three microphones for two places, though only one has sent yet");
        a.set_microphones(2);
        assert!(a.admit(1, QUIET, t0 + Duration::from_millis(20)), "two for two");
        a.remove(1);
        assert!(a.admit(1, QUIET, t0 + FORGET), "a removed microphone starts afresh");
    }
}
