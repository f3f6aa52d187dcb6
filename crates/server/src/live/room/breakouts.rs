//! What a room knows of its breakout rooms: which are open, who is in which, their tracks and
//! timers. The acts on it (open, move, close, …) are in live/breakout.rs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use convene_protocol::{BreakoutAssign, BreakoutRoom, Breakouts as BreakoutsView, Track};

/// The breakout rooms of one meeting.
#[derive(Default)]
pub(crate) struct Breakouts {
    inner: Mutex<State>,
}

#[derive(Default)]
pub(in crate::live) struct State {
    pub(in crate::live) open: bool,
    pub(in crate::live) assign: Option<BreakoutAssign>,
    pub(in crate::live) names: Vec<String>,
    /// Who is in which room (1-based); absent: the main room.
    pub(in crate::live) placed: HashMap<String, u32>,
    /// Tracks published in each breakout room (the main room's are the room's own).
    pub(in crate::live) tracks: HashMap<u32, Vec<Track>>,
    /// Each opening (and closing) bumps it, so an older opening's timers do nothing.
    pub(in crate::live) epoch: u64,
    pub(in crate::live) ends_at: Option<Instant>,
    pub(in crate::live) closing_at: Option<Instant>,
    /// The stay in a room each participant is in now (attendance row id).
    pub(in crate::live) stays: HashMap<String, String>,
}

impl Breakouts {
    pub(in crate::live) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The room `pid` is in (0: the main room).
    pub(crate) fn room_of(&self, pid: &str) -> u32 {
        self.lock().placed.get(pid).copied().unwrap_or(0)
    }

    /// Whether `pid` is in a breakout room (so not in the main room's media and chat).
    pub(crate) fn away(&self, pid: &str) -> bool {
        self.room_of(pid) != 0
    }

    pub(crate) fn is_open(&self) -> bool {
        self.lock().open
    }

    /// How many rooms are (or were last) open.
    pub(in crate::live) fn count(&self) -> u32 {
        u32::try_from(self.lock().names.len()).unwrap_or(0)
    }
}

impl State {
    pub(in crate::live) fn name(&self, room: u32) -> String {
        if room == 0 {
            return "Main room".into();
        }
        self.names.get(room as usize - 1).cloned().unwrap_or_else(|| format!("Room {room}"))
    }

    pub(in crate::live) fn view(&self) -> BreakoutsView {
        let now = Instant::now();
        let left = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(now).as_secs_f64().ceil() as i64);
        let mut members: Vec<(&String, &u32)> = self.placed.iter().collect();
        members.sort();
        BreakoutsView {
            open: self.open,
            assign: self.assign.unwrap_or(BreakoutAssign::Auto),
            rooms: (1..=self.names.len() as u32)
                .map(|room| BreakoutRoom {
                    room,
                    name: self.name(room),
                    participants: members.iter().filter(|(_, r)| **r == room).map(|(p, _)| (*p).clone()).collect(),
                })
                .collect(),
            seconds_left: left(self.ends_at),
            closing_in: left(self.closing_at),
        }
    }
}
