//! One live meeting: who is in it (seats), their connections, and fan-out of messages.
//!
//! A seat outlives its connection for the reconnect grace period: a participant whose socket
//! drops is shown as `reconnecting`, and a resume within the grace gets the same seat back
//! without anyone seeing a leave and a join.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use convene_protocol::{LeaveReason, Participant, ServerMessage, Track};
use tokio::sync::mpsc;

/// Messages queued per connection before it counts as too slow and is dropped.
const OUTBOX: usize = 512;

/// A participant's place in the meeting.
struct Seat {
    info: Participant,
    resume_hash: String,
    attendance_id: String,
    conn: Option<Conn>,
    /// Bumped on every (re)connection, so a stale grace timer cannot evict a resumed seat.
    generation: u64,
}

struct Conn {
    tx: mpsc::Sender<ServerMessage>,
}

/// The live state of one meeting.
pub(crate) struct Room {
    pub(crate) meeting_id: i64,
    pub(crate) started_at: DateTime<Utc>,
    state: Mutex<RoomState>,
}

#[derive(Default)]
struct RoomState {
    /// In order of arrival.
    seats: Vec<Seat>,
    /// Ticket ids already used, with their expiry (Unix s), so a ticket opens one socket.
    used_tickets: HashMap<String, i64>,
    tracks: Vec<Track>,
    warned: bool,
    closed: bool,
}

/// A new connection's end of the room.
pub(crate) struct Attached {
    pub(crate) participant: Participant,
    pub(crate) generation: u64,
    pub(crate) rx: mpsc::Receiver<ServerMessage>,
    pub(crate) resumed: bool,
    pub(crate) participants: Vec<Participant>,
    pub(crate) tracks: Vec<Track>,
}

/// A seat that was given up, for attendance.
pub(crate) struct Vacated {
    pub(crate) attendance_id: String,
    pub(crate) participant: Participant,
}

/// Why a room refused a connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    TicketUsed,
    UnknownResume,
    Closed,
}

impl Room {
    pub(crate) fn new(meeting_id: i64, started_at: DateTime<Utc>) -> Room {
        Room { meeting_id, started_at, state: Mutex::new(RoomState::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RoomState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seats a new participant holding ticket `jti` (valid until `ticket_exp`).
    pub(crate) fn admit(
        &self,
        jti: &str,
        ticket_exp: i64,
        now_s: i64,
        participant: Participant,
        resume_hash: String,
        attendance_id: String,
    ) -> Result<Attached, Refusal> {
        let mut st = self.lock();
        if st.closed {
            return Err(Refusal::Closed);
        }
        st.used_tickets.retain(|_, exp| *exp > now_s);
        if st.used_tickets.insert(jti.to_owned(), ticket_exp).is_some() {
            return Err(Refusal::TicketUsed);
        }
        let (tx, rx) = mpsc::channel(OUTBOX);
        st.broadcast(&ServerMessage::ParticipantJoined { participant: participant.clone() }, None);
        st.seats.push(Seat {
            info: participant.clone(),
            resume_hash,
            attendance_id,
            conn: Some(Conn { tx }),
            generation: 1,
        });
        Ok(Attached {
            participant,
            generation: 1,
            rx,
            resumed: false,
            participants: st.participants(),
            tracks: st.tracks.clone(),
        })
    }

    /// Gives a seat back to whoever holds its resume token; an old connection still attached
    /// (a half-open socket) is dropped.
    pub(crate) fn resume(&self, resume_hash: &str) -> Result<Attached, Refusal> {
        let mut st = self.lock();
        if st.closed {
            return Err(Refusal::Closed);
        }
        let Some(seat) = st.seats.iter_mut().find(|s| s.resume_hash == resume_hash) else {
            return Err(Refusal::UnknownResume);
        };
        let (tx, rx) = mpsc::channel(OUTBOX);
        seat.conn = Some(Conn { tx });
        seat.generation += 1;
        let generation = seat.generation;
        let was_reconnecting = std::mem::replace(&mut seat.info.reconnecting, false);
        let participant = seat.info.clone();
        if was_reconnecting {
            st.broadcast(
                &ServerMessage::ParticipantUpdated { participant: participant.clone() },
                Some(&participant.participant_id),
            );
        }
        Ok(Attached {
            participant,
            generation,
            rx,
            resumed: true,
            participants: st.participants(),
            tracks: st.tracks.clone(),
        })
    }

    /// The connection of generation `generation` is gone. Returns true if the seat now waits
    /// for a resume (start the grace timer).
    pub(crate) fn connection_lost(&self, participant_id: &str, generation: u64) -> bool {
        let mut st = self.lock();
        let Some(seat) = st.seats.iter_mut().find(|s| s.info.participant_id == participant_id) else { return false };
        if seat.generation != generation {
            return false; // a newer connection already took over
        }
        seat.conn = None;
        seat.info.reconnecting = true;
        let participant = seat.info.clone();
        st.broadcast(&ServerMessage::ParticipantUpdated { participant }, Some(participant_id));
        true
    }

    /// Ends a seat whose grace ran out, unless it was resumed meanwhile.
    pub(crate) fn expire(&self, participant_id: &str, generation: u64) -> Option<Vacated> {
        let mut st = self.lock();
        let idx = st
            .seats
            .iter()
            .position(|s| s.info.participant_id == participant_id && s.generation == generation && s.conn.is_none())?;
        Some(st.remove(idx, LeaveReason::Disconnected))
    }

    /// Removes a seat for good (left, removed).
    pub(crate) fn remove(&self, participant_id: &str, reason: LeaveReason) -> Option<Vacated> {
        let mut st = self.lock();
        let idx = st.seats.iter().position(|s| s.info.participant_id == participant_id)?;
        Some(st.remove(idx, reason))
    }

    /// Applies `change` to a participant and tells everyone else.
    pub(crate) fn update(&self, participant_id: &str, change: impl FnOnce(&mut Participant)) -> Option<Participant> {
        let mut st = self.lock();
        let seat = st.seats.iter_mut().find(|s| s.info.participant_id == participant_id)?;
        change(&mut seat.info);
        let participant = seat.info.clone();
        st.broadcast(&ServerMessage::ParticipantUpdated { participant: participant.clone() }, None);
        Some(participant)
    }

    /// Sends to everyone connected (except `except`).
    pub(crate) fn broadcast(&self, msg: &ServerMessage, except: Option<&str>) {
        self.lock().broadcast(msg, except);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().seats.is_empty()
    }

    pub(crate) fn participant_count(&self) -> usize {
        self.lock().seats.len()
    }

    /// Marks the warning as given; true the first time only.
    pub(crate) fn take_warning(&self) -> bool {
        !std::mem::replace(&mut self.lock().warned, true)
    }

    /// Closes the room: everyone gets `msg` and their seats are vacated.
    pub(crate) fn close(&self, msg: &ServerMessage) -> Vec<Vacated> {
        let mut st = self.lock();
        st.closed = true;
        st.broadcast(msg, None);
        st.seats.drain(..).map(|s| Vacated { attendance_id: s.attendance_id, participant: s.info }).collect()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

impl RoomState {
    fn participants(&self) -> Vec<Participant> {
        self.seats.iter().map(|s| s.info.clone()).collect()
    }

    fn remove(&mut self, idx: usize, reason: LeaveReason) -> Vacated {
        let seat = self.seats.remove(idx);
        let id = seat.info.participant_id.clone();
        self.tracks.retain(|t| t.participant_id != id);
        self.broadcast(&ServerMessage::ParticipantLeft { participant_id: id, reason }, None);
        Vacated { attendance_id: seat.attendance_id, participant: seat.info }
    }

    fn broadcast(&mut self, msg: &ServerMessage, except: Option<&str>) {
        for seat in &mut self.seats {
            if Some(seat.info.participant_id.as_str()) == except {
                continue;
            }
            if let Some(conn) = &seat.conn {
                if conn.tx.try_send(msg.clone()).is_err() {
                    // Too slow (or gone): drop the connection; the client resumes and gets a
                    // fresh welcome with the current state.
                    tracing::warn!(participant = %seat.info.participant_id, "connection too slow; dropping it");
                    seat.conn = None;
                }
            }
        }
    }
}
