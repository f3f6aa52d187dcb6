//! The peer budget: how many peer connections one participant may have the media engine create
//! in a minute by starting media over (`publish_offer` with `restart: true`).
//!
//! Each restart drops the participant's two peer connections and makes two new ones. A client
//! stuck on a network that blocks media used to do that every few seconds without end; the
//! budget stops a runaway client from churning the media engine, and the refusal tells it why.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Peer connections a participant may create per minute by restarting (eight restarts).
pub(crate) const PEERS_PER_MINUTE: usize = 16;

/// The window the budget counts over.
const WINDOW: Duration = Duration::from_secs(60);

/// When each participant's recent peer connections were made, by (meeting, participant).
#[derive(Debug, Default)]
pub(crate) struct PeerBudget {
    made: HashMap<(i64, String), VecDeque<Instant>>,
}

impl PeerBudget {
    /// Takes `peers` new peer connections from the participant's budget at `now`. When that
    /// would exceed [`PEERS_PER_MINUTE`] in the last minute, nothing is taken and the wait
    /// until it would fit is returned.
    pub(crate) fn take(&mut self, meeting: i64, participant: &str, peers: usize, now: Instant) -> Result<(), Duration> {
        let recent = |t: &Instant| now.saturating_duration_since(*t) < WINDOW;
        // Forget participants with nothing in the window, so the map stays small.
        self.made.retain(|_, times| times.back().is_some_and(recent));
        let times = self.made.entry((meeting, participant.to_owned())).or_default();
        while times.front().is_some_and(|t| !recent(t)) {
            times.pop_front();
        }
        let over = (times.len() + peers).saturating_sub(PEERS_PER_MINUTE);
        if over > 0 {
            // The `over`-th oldest must leave the window first.
            let frees = times.get(over - 1).map_or(now, |t| *t + WINDOW);
            return Err(frees.saturating_duration_since(now).max(Duration::from_secs(1)));
        }
        times.extend(std::iter::repeat_n(now, peers));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_restarts_a_minute_then_a_wait_until_the_oldest_leaves_the_window() {
        let mut budget = PeerBudget::default();
        let t0 = Instant::now();
        for i in 0..8 {
            assert_eq!(budget.take(1, "p_a", 2, t0 + Duration::from_secs(i)), Ok(()), "restart {i}");
        }
        let refused = budget.take(1, "p_a", 2, t0 + Duration::from_secs(10));
        assert_eq!(refused, Err(Duration::from_secs(50)), "the first restart leaves the window at 60 s");
        // Someone else in the same meeting, and the same id in another meeting, have their own.
        assert_eq!(budget.take(1, "p_b", 2, t0 + Duration::from_secs(10)), Ok(()));
        assert_eq!(budget.take(2, "p_a", 2, t0 + Duration::from_secs(10)), Ok(()));
        // A minute after the first restart there is room for one more, not two.
        assert_eq!(budget.take(1, "p_a", 2, t0 + Duration::from_secs(60)), Ok(()));
        assert_eq!(budget.take(1, "p_a", 2, t0 + Duration::from_secs(60)), Err(Duration::from_secs(1)));
    }

    #[test]
    fn quiet_participants_are_forgotten() {
        let mut budget = PeerBudget::default();
        let t0 = Instant::now();
        budget.take(1, "p_a", 2, t0).unwrap();
        budget.take(1, "p_b", 2, t0 + Duration::from_secs(61)).unwrap();
        assert_eq!(budget.made.len(), 1);
    }
}
