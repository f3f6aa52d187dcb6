//! The earliest time any peer of the room wants a timeout, kept up to date as peers are
//! drained instead of found by a pass over every peer after every input.
//!
//! `Room::poll_output` ends every drain with that time; the pass over all participants was
//! ~5 % of the room's instructions per forwarded packet in a ten-person meeting, and grows
//! with the room. A datagram moves only the timeout of the one peer it was for, so the room
//! tells this cache each drained peer's timeout before and after; anything else (a timeout
//! input, joins, leaves, negotiation) forgets it and the next poll makes the full pass.

use std::time::Instant;

/// The cached minimum. It may be earlier than the truth (a peer that died keeps its time
/// here until the next full pass: one spare wake-up), never later.
#[derive(Debug, Default)]
pub(super) struct Earliest {
    /// `None`: unknown. `Some(None)`: no peer wants a timeout.
    known: Option<Option<Instant>>,
}

impl Earliest {
    /// Forgets the minimum: the next [`Earliest::get_or`] makes the full pass.
    pub(super) fn forget(&mut self) {
        self.known = None;
    }

    /// One peer's timeout moved from `before` to `after`.
    pub(super) fn moved(&mut self, before: Option<Instant>, after: Option<Instant>) {
        let Some(earliest) = self.known else { return };
        if before == after {
            return;
        }
        if let Some(a) = after {
            if earliest.is_none_or(|e| a <= e) {
                self.known = Some(Some(a));
                return;
            }
        }
        // The peer may have held the minimum alone: only a full pass knows the next one.
        if before.is_some() && before == earliest {
            self.known = None;
        }
    }

    /// The minimum, from `all` (every peer's timeout) when it is not known.
    pub(super) fn get_or(&mut self, all: impl FnOnce() -> Option<Instant>) -> Option<Instant> {
        *self.known.get_or_insert_with(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn it_follows_the_peers_and_asks_for_a_full_pass_only_when_the_earliest_moves_later() {
        let t0 = Instant::now();
        let at = |ms| Some(t0 + Duration::from_millis(ms));
        let mut e = Earliest::default();
        assert_eq!(e.get_or(|| at(10)), at(10));
        // Another peer moves earlier than the minimum: the new minimum.
        e.moved(at(30), at(5));
        assert_eq!(e.get_or(|| panic!("known")), at(5));
        // A peer other than the earliest moves later: nothing changes.
        e.moved(at(20), at(40));
        assert_eq!(e.get_or(|| panic!("known")), at(5));
        // The earliest moves later: a full pass finds the next one.
        e.moved(at(5), at(50));
        assert_eq!(e.get_or(|| at(10)), at(10));
        // The earliest dies (no timeout any more): a full pass too.
        e.moved(at(10), None);
        assert_eq!(e.get_or(|| at(40)), at(40));
        e.forget();
        assert_eq!(e.get_or(|| None), None);
        // With nobody wanting one, the first peer that does is the minimum.
        e.moved(None, at(7));
        assert_eq!(e.get_or(|| panic!("known")), at(7));
    }
}
