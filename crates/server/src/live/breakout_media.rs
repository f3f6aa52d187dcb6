//! Breakout rooms' media and messages: moving a participant between SFU rooms on the same
//! socket and seat, fanning a breakout room's media events and messages (its chat) out to its
//! members only, and the attendance of each stay.
//!
//! A move takes the participant out of the old room's SFU room (its tracks are unpublished
//! there, so the old room's members stop receiving them) and into the new one, then tells
//! the participant `breakout_moved` with the tracks of the room they are now in; the client
//! closes its two peer connections and publishes afresh. Nobody else's connections change.

use std::sync::Arc;

use convene_protocol::ServerMessage;

use super::room::Room;
use crate::media::{sfu_room, MediaEvent};
use crate::services::Services;

impl Room {
    /// The SFU room `pid`'s media lives in now: the meeting's, or their breakout room's.
    pub(crate) fn sfu_of(&self, pid: &str) -> i64 {
        sfu_room(self.meeting_id, self.breakout.room_of(pid))
    }
}

/// The rooms as they are now, to everyone.
pub(super) fn announce(room: &Room) {
    let breakouts = room.breakout.lock().view();
    room.broadcast(&ServerMessage::BreakoutState { breakouts }, None);
}

/// Moves `pid` to room `k` (0: the main room), media included, and tells everyone where
/// people are now. Nothing happens if they are there already or gone.
pub(super) async fn move_to(state: &Services, room: &Arc<Room>, pid: &str, k: u32) {
    if shift(state, room, pid, k).await {
        announce(room);
    }
}

/// A move without the announcement; whether anything moved.
async fn shift(state: &Services, room: &Arc<Room>, pid: &str, k: u32) -> bool {
    let Some(p) = room.participant(pid) else { return false };
    let (old, name, tracks, old_stay, new_stay) = {
        let mut st = room.breakout.lock();
        let old = st.placed.get(pid).copied().unwrap_or(0);
        if old == k {
            return false;
        }
        if k == 0 {
            st.placed.remove(pid);
        } else {
            st.placed.insert(pid.to_owned(), k);
        }
        let tracks = (k != 0).then(|| st.tracks.get(&k).cloned().unwrap_or_default());
        let old_stay = st.stays.remove(pid);
        let new_stay = (k != 0).then(|| format!("bs_{}", uuid::Uuid::now_v7().simple()));
        if let Some(id) = &new_stay {
            st.stays.insert(pid.to_owned(), id.clone());
        }
        (old, st.name(k), tracks, old_stay, new_stay)
    };
    let tracks = tracks.unwrap_or_else(|| room.tracks());
    let (from, to) = (sfu_room(room.meeting_id, old), sfu_room(room.meeting_id, k));
    state.media.leave(from, pid);
    // Told before the new room's media exists, so its first subscribe offer comes after.
    room.send_to(pid, ServerMessage::BreakoutMoved { room: k, name: name.clone(), tracks });
    if let Some(told) = room.speakers.for_newcomer(k) {
        room.send_to(pid, told);
    }
    state.media.join(to, pid, room.subscription_of(pid));
    state.media.set_muted(to, pid, p.muted);
    tracing::info!(meeting_id = room.meeting_id, participant = pid, from = old, to = k, "breakout move");
    let now = state.clock.now_ms();
    if let Some(id) = old_stay {
        if let Err(e) = state.store.breakout_left(&id, now).await {
            tracing::warn!(error = %e, "breakout attendance not recorded");
        }
    }
    if let (Some(id), Some(attendance)) = (new_stay, room.attendance_id_of(pid)) {
        if let Err(e) = state.store.breakout_entered(&id, &attendance, room.meeting_id, k, &name, now).await {
            tracing::warn!(error = %e, "breakout attendance not recorded");
        }
    }
    true
}

/// The end of the countdown (or the timer): everyone returns to the main room, the rooms
/// close and their SFU rooms end.
pub(super) async fn return_everyone(state: &Services, room: &Arc<Room>) {
    let (people, n) = {
        let mut st = room.breakout.lock();
        st.epoch += 1;
        st.closing_at = None;
        st.ends_at = None;
        let mut people: Vec<String> = st.placed.keys().cloned().collect();
        people.sort();
        (people, st.names.len() as u32)
    };
    for pid in people {
        shift(state, room, &pid, 0).await;
    }
    {
        let mut st = room.breakout.lock();
        st.open = false;
        st.placed.clear();
        st.tracks.clear();
    }
    announce(room);
    super::captions::breakouts_closed(state, room, n);
    for k in 1..=n {
        state.media.end_room(sfu_room(room.meeting_id, k));
    }
    tracing::info!(meeting_id = room.meeting_id, "breakout rooms closed");
}

/// Someone is gone for good: out of their room (its media and attendance). Returns the SFU
/// room they were in, for the media to let them go.
pub(super) async fn forget(state: &Services, room: &Room, pid: &str) -> i64 {
    let (k, stay, open) = {
        let mut st = room.breakout.lock();
        (st.placed.remove(pid).unwrap_or(0), st.stays.remove(pid), st.open)
    };
    if let Some(id) = stay {
        let _ = state.store.breakout_left(&id, state.clock.now_ms()).await;
    }
    if open && k != 0 {
        announce(room);
    }
    sfu_room(room.meeting_id, k)
}

/// The meeting ended: the breakout rooms' SFU rooms go with it; timers stop.
pub(super) async fn end_all(state: &Services, room: &Room) {
    let (n, was_open, stays) = {
        let mut st = room.breakout.lock();
        st.epoch += 1;
        let was_open = std::mem::replace(&mut st.open, false);
        st.placed.clear();
        (st.names.len() as u32, was_open, st.stays.drain().map(|(_, id)| id).collect::<Vec<_>>())
    };
    let now = state.clock.now_ms();
    for id in stays {
        let _ = state.store.breakout_left(&id, now).await;
    }
    if was_open {
        super::captions::breakouts_closed(state, room, n);
    }
    for k in 1..=n {
        state.media.end_room(sfu_room(room.meeting_id, k));
    }
}

/// A media event of breakout room `k`'s SFU room, to that room's members only.
pub(super) fn apply(room: &Room, k: u32, event: MediaEvent) {
    match event {
        // An offer (or slot map) of a room the participant has just left is dropped (it was
        // in flight).
        MediaEvent::SubscribeOffer { participant_id, sdp, tracks, offer_id } => {
            if room.breakout.room_of(&participant_id) == k {
                room.send_to(&participant_id, ServerMessage::SubscribeOffer { sdp, tracks, offer_id });
            }
        }
        MediaEvent::SlotMap { participant_id, slots } => {
            if room.breakout.room_of(&participant_id) == k {
                room.send_to(&participant_id, ServerMessage::SlotMap { slots });
            }
        }
        MediaEvent::TrackPublished(track) => {
            {
                let mut st = room.breakout.lock();
                if st.placed.get(&track.participant_id) != Some(&k) {
                    return; // moved on meanwhile
                }
                let list = st.tracks.entry(k).or_default();
                list.retain(|t| t.track_id != track.track_id);
                list.push(track.clone());
            }
            room.send_in(k, &ServerMessage::TrackPublished { track });
        }
        MediaEvent::TrackUnpublished { track_id } => {
            let known = {
                let mut st = room.breakout.lock();
                let list = st.tracks.entry(k).or_default();
                let before = list.len();
                list.retain(|t| t.track_id != track_id);
                before != list.len()
            };
            if known {
                room.send_in(k, &ServerMessage::TrackUnpublished { track_id });
            }
        }
        MediaEvent::ActiveSpeaker { participant_id } => {
            room.speakers.set(k, participant_id.as_deref());
            room.send_in(k, &ServerMessage::ActiveSpeaker { participant_id });
        }
    }
}
