//! Who is speaking now in each of a meeting's rooms (the main room is 0, breakout rooms 1…),
//! as the SFU last named them: the SFU tells only changes, so someone who arrives while the
//! same person keeps talking learns it from here.

use std::collections::HashMap;
use std::sync::Mutex;

use convene_protocol::ServerMessage;

/// The active speaker per room of one meeting.
#[derive(Default)]
pub(crate) struct Speakers {
    now: Mutex<HashMap<u32, String>>,
}

impl Speakers {
    /// Records what the SFU of room `k` said: a speaker, or nobody.
    pub(crate) fn set(&self, k: u32, participant_id: Option<&str>) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        match participant_id {
            Some(p) => {
                now.insert(k, p.to_owned());
            }
            None => {
                now.remove(&k);
            }
        }
    }

    /// The active speaker of room `k`, if someone is.
    pub(crate) fn of(&self, k: u32) -> Option<String> {
        self.now.lock().unwrap_or_else(|p| p.into_inner()).get(&k).cloned()
    }

    /// What to tell someone who just arrived in room `k` (seated, resumed, or moved to or
    /// from a breakout room): who speaks there now, if anyone.
    pub(crate) fn for_newcomer(&self, k: u32) -> Option<ServerMessage> {
        self.of(k).map(|speaker| ServerMessage::ActiveSpeaker { participant_id: Some(speaker) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_room_keeps_its_own_speaker_until_nobody_is() {
        let s = Speakers::default();
        assert_eq!(s.of(0), None);
        s.set(0, Some("p_a"));
        s.set(2, Some("p_b"));
        assert_eq!(s.of(0).as_deref(), Some("p_a"));
        assert_eq!(s.of(2).as_deref(), Some("p_b"));
        s.set(0, Some("p_c"));
        assert_eq!(s.of(0).as_deref(), Some("p_c"));
        s.set(0, None);
        assert_eq!(s.of(0), None);
        assert_eq!(s.of(2).as_deref(), Some("p_b"));
    }
}
