//! The seats of one room and what is sent through them: everyone seated or waiting, their
//! connections, and the one rule for a connection too slow to take a message.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use convene_protocol::{LeaveReason, Participant, ServerMessage, Track, WaitingPerson};
use tokio::sync::mpsc;

use super::Vacated;
use crate::live::admission::Door;

/// Messages queued per connection before it counts as too slow and is dropped.
pub(super) const OUTBOX: usize = 512;

/// A participant's place in the meeting.
pub(super) struct Seat {
    pub(super) info: Participant,
    pub(super) resume_token: String,
    pub(super) attendance_id: String,
    /// `client:<id>` of a guest's device, used to keep a removed guest out.
    pub(super) client_key: Option<String>,
    /// How their media is received (asked for at join).
    pub(super) subscription: crate::media::Subscription,
    pub(super) conn: Option<mpsc::Sender<ServerMessage>>,
    /// Bumped on every (re)connection, so a stale grace timer cannot evict a resumed seat.
    pub(super) generation: u64,
}

/// Someone connected but not yet let in.
pub(super) struct Waiter {
    pub(super) seat: Seat,
    pub(super) since: DateTime<Utc>,
}

impl Seat {
    /// Queues `msg` on the seat's connection, if it has one. A connection too far behind to
    /// take it (or gone) is let go: a message silently lost (a subscribe offer) would leave
    /// the client waiting forever, while a resumed connection starts from the current state.
    pub(super) fn deliver(&mut self, msg: ServerMessage) {
        if let Some(tx) = &self.conn {
            if tx.try_send(msg).is_err() {
                tracing::warn!(participant = %self.info.participant_id, "connection too slow; dropping it");
                self.conn = None;
            }
        }
    }
}

#[derive(Default)]
pub(super) struct RoomState {
    /// In order of arrival.
    pub(super) seats: Vec<Seat>,
    pub(super) waiting: Vec<Waiter>,
    /// Ticket ids already used, with their expiry (Unix s), so a ticket opens one socket.
    pub(super) used_tickets: HashMap<String, i64>,
    pub(super) tracks: Vec<Track>,
    pub(super) locked: bool,
    pub(super) warned: bool,
    pub(super) closed: bool,
    /// The recording in progress: `Some("")` while one is being started.
    pub(super) recording: Option<String>,
}

impl RoomState {
    pub(super) fn door(&self) -> Door {
        Door {
            locked: self.locked,
            seated: self.seats.len(),
            moderator_present: self.seats.iter().any(|s| s.info.role.is_moderator()),
        }
    }

    pub(super) fn participants(&self) -> Vec<Participant> {
        self.seats.iter().map(|s| s.info.clone()).collect()
    }

    pub(super) fn waiting_list(&self) -> Vec<WaitingPerson> {
        self.waiting
            .iter()
            .map(|w| WaitingPerson {
                participant_id: w.seat.info.participant_id.clone(),
                display_name: w.seat.info.display_name.clone(),
                user_id: w.seat.info.user_id.clone(),
                since: w.since.to_rfc3339(),
            })
            .collect()
    }

    pub(super) fn tell_moderators_about_waiting(&mut self) {
        let msg = ServerMessage::WaitingRoom { waiting: self.waiting_list() };
        for seat in self.seats.iter_mut().filter(|s| s.info.role.is_moderator()) {
            seat.deliver(msg.clone());
        }
    }

    pub(super) fn remove(&mut self, idx: usize, reason: LeaveReason) -> Vacated {
        let seat = self.seats.remove(idx);
        let id = seat.info.participant_id.clone();
        self.tracks.retain(|t| t.participant_id != id);
        self.broadcast(&ServerMessage::ParticipantLeft { participant_id: id, reason }, None);
        Vacated { attendance_id: seat.attendance_id, participant: seat.info, was_seated: true }
    }

    pub(super) fn broadcast(&mut self, msg: &ServerMessage, except: Option<&str>) {
        self.broadcast_where(msg, |p| Some(p) != except);
    }

    /// Sends to everyone seated and connected whose participant id `to` accepts.
    pub(super) fn broadcast_where(&mut self, msg: &ServerMessage, to: impl Fn(&str) -> bool) {
        for seat in &mut self.seats {
            if !to(&seat.info.participant_id) {
                continue;
            }
            seat.deliver(msg.clone());
        }
    }
}
