//! Active speaker detection from RTP audio levels, with hysteresis.

use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::maps::Map;

/// How long someone must be the loudest before they replace the current speaker.
pub(crate) const SPEAKER_HOLD: Duration = Duration::from_secs(1);

/// Levels quieter than this (in dBov) count as silence.
const SILENCE_DBOV: f32 = -50.0;

/// A participant that sent no level for this long counts as silent.
const STALE: Duration = Duration::from_millis(500);

/// Weight of a new sample in the moving average (audio packets come every 20 ms).
const SMOOTHING: f32 = 0.1;

/// Decides who the active speaker is.
///
/// Each participant's level (RFC 6464, 0 dBov loudest, −127 silence) is smoothed. The
/// loudest non-silent participant must stay loudest for [`SPEAKER_HOLD`] before replacing
/// the current speaker; when everybody is silent the current speaker stays.
#[derive(Debug)]
pub(crate) struct SpeakerDetector<P> {
    hold: Duration,
    levels: Map<P, Level>,
    current: Option<P>,
    candidate: Option<(P, Instant)>,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    smoothed: f32,
    at: Instant,
}

impl<P: Hash + Eq + Copy> SpeakerDetector<P> {
    /// A detector with the given hold time.
    pub(crate) fn new(hold: Duration) -> Self {
        SpeakerDetector { hold, levels: Map::default(), current: None, candidate: None }
    }

    /// Records one audio level sample (negative dBov, as str0m reports it).
    pub(crate) fn observe(&mut self, who: P, level_dbov: i8, now: Instant) {
        let sample = -f32::from(level_dbov.unsigned_abs());
        let entry = self.levels.entry(who).or_insert(Level { smoothed: -127.0, at: now });
        let previous = if now.saturating_duration_since(entry.at) > STALE { -127.0 } else { entry.smoothed };
        entry.smoothed = previous + SMOOTHING * (sample - previous);
        entry.at = now;
    }

    /// Re-evaluates; returns the new speaker when it changed.
    pub(crate) fn update(&mut self, now: Instant) -> Option<P> {
        let loudest = self
            .levels
            .iter()
            .filter(|(_, l)| now.saturating_duration_since(l.at) <= STALE && l.smoothed > SILENCE_DBOV)
            .max_by(|a, b| a.1.smoothed.total_cmp(&b.1.smoothed))
            .map(|(p, _)| *p);

        let Some(loudest) = loudest else {
            self.candidate = None;
            return None;
        };
        if self.current.is_none() {
            self.current = Some(loudest);
            self.candidate = None;
            return Some(loudest);
        }
        if self.current == Some(loudest) {
            self.candidate = None;
            return None;
        }
        match self.candidate {
            Some((p, since)) if p == loudest => {
                if now.saturating_duration_since(since) >= self.hold {
                    self.current = Some(loudest);
                    self.candidate = None;
                    return Some(loudest);
                }
                None
            }
            _ => {
                self.candidate = Some((loudest, now));
                None
            }
        }
    }

    /// The current speaker, if any.
    pub(crate) fn current(&self) -> Option<P> {
        self.current
    }

    /// Forgets a participant who left; returns true if they were the current speaker.
    pub(crate) fn remove(&mut self, who: P) -> bool {
        self.levels.remove(&who);
        if self.candidate.is_some_and(|(p, _)| p == who) {
            self.candidate = None;
        }
        if self.current == Some(who) {
            self.current = None;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(20);

    /// Feeds 20 ms samples for `duration`; returns every change with its time offset.
    fn talk(
        d: &mut SpeakerDetector<u8>,
        start: Instant,
        duration: Duration,
        levels: &[(u8, i8)],
    ) -> Vec<(Duration, u8)> {
        let mut changes = vec![];
        let mut at = start;
        while at < start + duration {
            for &(who, level) in levels {
                d.observe(who, level, at);
            }
            if let Some(p) = d.update(at) {
                changes.push((at - start, p));
            }
            at += TICK;
        }
        changes
    }

    #[test]
    fn the_first_voice_becomes_speaker_without_waiting() {
        let t0 = Instant::now();
        let mut d = SpeakerDetector::new(SPEAKER_HOLD);
        let changes = talk(&mut d, t0, Duration::from_secs(1), &[(1, -20), (2, -127)]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].1, 1);
        assert!(changes[0].0 < Duration::from_millis(300));
    }

    #[test]
    fn a_louder_voice_takes_over_only_after_the_hold_time() {
        let t0 = Instant::now();
        let mut d = SpeakerDetector::new(SPEAKER_HOLD);
        talk(&mut d, t0, Duration::from_secs(2), &[(1, -30), (2, -127)]);
        let t1 = t0 + Duration::from_secs(2);
        let changes = talk(&mut d, t1, Duration::from_secs(3), &[(1, -30), (2, -10)]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].1, 2);
        assert!(changes[0].0 >= SPEAKER_HOLD, "switched after {:?}", changes[0].0);
    }

    #[test]
    fn a_short_interjection_does_not_switch() {
        let t0 = Instant::now();
        let mut d = SpeakerDetector::new(SPEAKER_HOLD);
        talk(&mut d, t0, Duration::from_secs(2), &[(1, -30), (2, -127)]);
        let t1 = t0 + Duration::from_secs(2);
        let changes = talk(&mut d, t1, Duration::from_millis(600), &[(1, -30), (2, -5)]);
        let t2 = t1 + Duration::from_millis(600);
        let later = talk(&mut d, t2, Duration::from_secs(3), &[(1, -30), (2, -127)]);
        assert!(changes.is_empty() && later.is_empty());
    }

    #[test]
    fn silence_keeps_the_last_speaker() {
        let t0 = Instant::now();
        let mut d = SpeakerDetector::new(SPEAKER_HOLD);
        talk(&mut d, t0, Duration::from_secs(1), &[(1, -20)]);
        let t1 = t0 + Duration::from_secs(1);
        let changes = talk(&mut d, t1, Duration::from_secs(5), &[(1, -127), (2, -127)]);
        assert!(changes.is_empty());
        assert_eq!(d.current, Some(1));
    }

    #[test]
    fn removing_the_speaker_clears_it() {
        let t0 = Instant::now();
        let mut d = SpeakerDetector::new(SPEAKER_HOLD);
        talk(&mut d, t0, Duration::from_secs(1), &[(1, -20)]);
        assert!(d.remove(1));
        assert!(!d.remove(2));
    }
}
