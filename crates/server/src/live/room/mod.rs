//! One live meeting: who is in it (seats), who waits to be let in, their connections, and
//! fan-out of messages.
//!
//! A seat outlives its connection for the reconnect grace period: a participant whose socket
//! drops is shown as `reconnecting`, and a resume within the grace gets the same seat back
//! without anyone seeing a leave and a join.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use convene_protocol::{LeaveReason, Participant, ServerMessage, Track, WaitingPerson};
use tokio::sync::mpsc;

mod blob_budget;
mod breakouts;
mod captioning;
mod pairing;
mod seats;
mod speakers;

pub(crate) use blob_budget::BlobBudget;
pub(crate) use breakouts::Breakouts;
pub(crate) use captioning::RoomCaptions;
pub(crate) use pairing::Pairing;
pub(in crate::live) use pairing::{Pair, PairState};
pub(crate) use speakers::Speakers;

use seats::{RoomState, Seat, Waiter, OUTBOX};

use super::admission::{admission, Door, Refusal};
use crate::media::Subscription;
use crate::meeting::Settings;

/// The live state of one meeting.
pub(crate) struct Room {
    pub(crate) meeting_id: i64,
    pub(crate) title: String,
    pub(crate) host_user_id: String,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) settings: Settings,
    /// Key blobs each participant may still relay this window (live/e2ee.rs).
    pub(crate) e2ee_blobs: BlobBudget,
    /// Peer-to-peer for two (live/p2p.rs).
    pub(crate) p2p: Pairing,
    /// Live captions (live/captions.rs).
    pub(crate) captions: RoomCaptions,
    /// Breakout rooms (live/breakout.rs).
    pub(crate) breakout: Breakouts,
    /// The active speaker of each of its rooms, for newcomers (live/relay.rs).
    pub(crate) speakers: Speakers,
    state: Mutex<RoomState>,
}

/// A new connection's end of the room.
pub(crate) struct Attached {
    pub(crate) participant: Participant,
    pub(crate) generation: u64,
    pub(crate) rx: mpsc::Receiver<ServerMessage>,
    /// Held in the waiting room rather than seated.
    pub(crate) waiting: bool,
}

/// A seat that was given up, for attendance.
pub(crate) struct Vacated {
    pub(crate) attendance_id: String,
    pub(crate) participant: Participant,
    /// Whether the seat had been admitted (attendance recorded) or was only waiting.
    pub(crate) was_seated: bool,
}

/// A newcomer, as `admit` needs it.
pub(crate) struct Newcomer {
    pub(crate) participant: Participant,
    pub(crate) resume_token: String,
    pub(crate) attendance_id: String,
    pub(crate) client_key: Option<String>,
    /// How their subscribing connection receives the others' media, for their whole stay.
    pub(crate) subscription: Subscription,
}

impl Room {
    pub(crate) fn new(
        meeting_id: i64,
        title: String,
        host_user_id: String,
        started_at: DateTime<Utc>,
        settings: Settings,
    ) -> Room {
        Room {
            meeting_id,
            title,
            host_user_id,
            started_at,
            settings,
            e2ee_blobs: Default::default(),
            p2p: Default::default(),
            captions: Default::default(),
            breakout: Default::default(),
            speakers: Default::default(),
            state: Mutex::new(RoomState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RoomState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seats (or, with a waiting room, holds) a newcomer holding ticket `jti`.
    pub(crate) fn admit(
        &self,
        jti: &str,
        ticket_exp: i64,
        now: DateTime<Utc>,
        new: Newcomer,
    ) -> Result<Attached, Refusal> {
        let mut st = self.lock();
        if st.closed {
            return Err(Refusal::Closed);
        }
        let moderator = new.participant.role.is_moderator();
        admission(new.participant.role, &self.settings, st.door())?;
        st.used_tickets.retain(|_, exp| *exp > now.timestamp());
        if st.used_tickets.insert(jti.to_owned(), ticket_exp).is_some() {
            return Err(Refusal::TicketUsed);
        }
        let (tx, rx) = mpsc::channel(OUTBOX);
        let seat = Seat {
            info: new.participant.clone(),
            resume_token: new.resume_token,
            attendance_id: new.attendance_id,
            client_key: new.client_key,
            subscription: new.subscription,
            conn: Some(tx),
            generation: 1,
        };
        let waiting = self.settings.waiting_room && !moderator;
        if waiting {
            st.waiting.push(Waiter { seat, since: now });
            st.tell_moderators_about_waiting();
        } else {
            st.broadcast(&ServerMessage::ParticipantJoined { participant: new.participant.clone() }, None);
            st.seats.push(seat);
        }
        Ok(Attached { participant: new.participant, generation: 1, rx, waiting })
    }

    /// Gives a seat (or a waiting place) back to whoever holds its resume token; an old
    /// connection still attached (a half-open socket) is dropped.
    pub(crate) fn resume(&self, resume_token: &str) -> Result<Attached, Refusal> {
        let mut st = self.lock();
        if st.closed {
            return Err(Refusal::Closed);
        }
        let (tx, rx) = mpsc::channel(OUTBOX);
        if let Some(w) = st.waiting.iter_mut().find(|w| w.seat.resume_token == resume_token) {
            w.seat.conn = Some(tx);
            w.seat.generation += 1;
            let (participant, generation) = (w.seat.info.clone(), w.seat.generation);
            return Ok(Attached { participant, generation, rx, waiting: true });
        }
        let Some(seat) = st.seats.iter_mut().find(|s| s.resume_token == resume_token) else {
            return Err(Refusal::UnknownResume);
        };
        seat.conn = Some(tx);
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
        Ok(Attached { participant, generation, rx, waiting: false })
    }

    /// Seats someone whose meeting was rebuilt here after its node died (cluster mode): the
    /// same participant, role and resume token, announced to whoever is back already.
    pub(crate) fn restore(&self, new: Newcomer) -> Result<Attached, Refusal> {
        let mut st = self.lock();
        if st.closed {
            return Err(Refusal::Closed);
        }
        if st.seats.iter().any(|s| s.info.participant_id == new.participant.participant_id) {
            drop(st);
            return self.resume(&new.resume_token);
        }
        let (tx, rx) = mpsc::channel(OUTBOX);
        let mut info = new.participant;
        info.reconnecting = false;
        st.broadcast(&ServerMessage::ParticipantJoined { participant: info.clone() }, None);
        st.seats.push(Seat {
            info: info.clone(),
            resume_token: new.resume_token,
            attendance_id: new.attendance_id,
            client_key: new.client_key,
            subscription: new.subscription,
            conn: Some(tx),
            generation: 1,
        });
        Ok(Attached { participant: info, generation: 1, rx, waiting: false })
    }

    /// Whether connection `generation` is still the newest for this seat or waiting place:
    /// false once a resume has replaced it (or the person is gone).
    pub(crate) fn is_current(&self, participant_id: &str, generation: u64) -> bool {
        let st = self.lock();
        let waiting = st.waiting.iter().map(|w| &w.seat);
        let mut all = st.seats.iter().chain(waiting);
        all.any(|s| s.info.participant_id == participant_id && s.generation == generation)
    }

    /// The connection of generation `generation` is gone. Returns true if the seat now waits
    /// for a resume (start the grace timer).
    pub(crate) fn connection_lost(&self, participant_id: &str, generation: u64) -> bool {
        let mut st = self.lock();
        if let Some(w) = st.waiting.iter_mut().find(|w| w.seat.info.participant_id == participant_id) {
            if w.seat.generation == generation {
                w.seat.conn = None;
                return true;
            }
            return false;
        }
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
        if let Some(idx) = st.waiting.iter().position(|w| {
            w.seat.info.participant_id == participant_id && w.seat.generation == generation && w.seat.conn.is_none()
        }) {
            let w = st.waiting.remove(idx);
            st.tell_moderators_about_waiting();
            return Some(Vacated { attendance_id: w.seat.attendance_id, participant: w.seat.info, was_seated: false });
        }
        let idx = st
            .seats
            .iter()
            .position(|s| s.info.participant_id == participant_id && s.generation == generation && s.conn.is_none())?;
        Some(st.remove(idx, LeaveReason::Disconnected))
    }

    /// Removes a seat or a waiting place for good (left, removed, denied). The person is sent
    /// `farewell` first, if given, and their connection is let go.
    pub(crate) fn remove(
        &self,
        participant_id: &str,
        reason: LeaveReason,
        farewell: Option<ServerMessage>,
    ) -> Option<(Vacated, Option<String>)> {
        let mut st = self.lock();
        if let Some(idx) = st.waiting.iter().position(|w| w.seat.info.participant_id == participant_id) {
            let w = st.waiting.remove(idx);
            if let (Some(tx), Some(msg)) = (&w.seat.conn, farewell) {
                let _ = tx.try_send(msg);
            }
            st.tell_moderators_about_waiting();
            let key = w.seat.client_key.clone();
            return Some((
                Vacated { attendance_id: w.seat.attendance_id, participant: w.seat.info, was_seated: false },
                key,
            ));
        }
        let idx = st.seats.iter().position(|s| s.info.participant_id == participant_id)?;
        if let (Some(tx), Some(msg)) = (&st.seats[idx].conn, farewell) {
            let _ = tx.try_send(msg);
        }
        let key = st.seats[idx].client_key.clone();
        Some((st.remove(idx, reason), key))
    }

    /// Moves someone from the waiting room to a seat. Returns them if they were waiting.
    pub(crate) fn admit_waiting(&self, participant_id: &str) -> Option<Participant> {
        let mut st = self.lock();
        let idx = st.waiting.iter().position(|w| w.seat.info.participant_id == participant_id)?;
        let w = st.waiting.remove(idx);
        let participant = w.seat.info.clone();
        st.broadcast(&ServerMessage::ParticipantJoined { participant: participant.clone() }, None);
        st.seats.push(w.seat);
        st.tell_moderators_about_waiting();
        Some(participant)
    }

    pub(crate) fn resume_token_of(&self, participant_id: &str) -> Option<String> {
        self.lock().seats.iter().find(|s| s.info.participant_id == participant_id).map(|s| s.resume_token.clone())
    }

    pub(crate) fn attendance_id_of(&self, participant_id: &str) -> Option<String> {
        self.lock().seats.iter().find(|s| s.info.participant_id == participant_id).map(|s| s.attendance_id.clone())
    }

    /// How `participant_id` receives media (seated or waiting; per track if gone).
    pub(crate) fn subscription_of(&self, participant_id: &str) -> Subscription {
        let st = self.lock();
        let mut seats = st.seats.iter().chain(st.waiting.iter().map(|w| &w.seat));
        seats.find(|s| s.info.participant_id == participant_id).map_or_else(Subscription::default, |s| s.subscription)
    }

    pub(crate) fn waiting_ids(&self) -> Vec<String> {
        self.lock().waiting.iter().map(|w| w.seat.info.participant_id.clone()).collect()
    }

    pub(crate) fn waiting_list(&self) -> Vec<WaitingPerson> {
        self.lock().waiting_list()
    }

    /// Applies `change` to a seated participant and tells everyone.
    pub(crate) fn update(&self, participant_id: &str, change: impl FnOnce(&mut Participant)) -> Option<Participant> {
        let mut st = self.lock();
        let seat = st.seats.iter_mut().find(|s| s.info.participant_id == participant_id)?;
        let before = seat.info.clone();
        change(&mut seat.info);
        let participant = seat.info.clone();
        if participant != before {
            st.broadcast(&ServerMessage::ParticipantUpdated { participant: participant.clone() }, None);
        }
        Some(participant)
    }

    /// Applies `change` to every seated participant matching `which`; returns those changed.
    pub(crate) fn update_all(
        &self,
        which: impl Fn(&Participant) -> bool,
        change: impl Fn(&mut Participant),
    ) -> Vec<Participant> {
        let mut st = self.lock();
        let mut changed = Vec::new();
        for seat in st.seats.iter_mut().filter(|s| which(&s.info)) {
            let before = seat.info.clone();
            change(&mut seat.info);
            if seat.info != before {
                changed.push(seat.info.clone());
            }
        }
        for p in &changed {
            st.broadcast(&ServerMessage::ParticipantUpdated { participant: p.clone() }, None);
        }
        changed
    }

    /// A seated participant.
    pub(crate) fn participant(&self, participant_id: &str) -> Option<Participant> {
        self.lock().seats.iter().find(|s| s.info.participant_id == participant_id).map(|s| s.info.clone())
    }

    /// A seated participant found by their resume token (their proof of seat for uploads).
    pub(crate) fn participant_by_resume(&self, resume_token: &str) -> Option<Participant> {
        self.lock().seats.iter().find(|s| s.resume_token == resume_token).map(|s| s.info.clone())
    }

    pub(crate) fn participants(&self) -> Vec<Participant> {
        self.lock().participants()
    }

    /// Records a published track and tells everyone.
    pub(crate) fn add_track(&self, track: Track) {
        let mut st = self.lock();
        if !st.seats.iter().any(|s| s.info.participant_id == track.participant_id) {
            return;
        }
        st.tracks.retain(|t| t.track_id != track.track_id);
        st.tracks.push(track.clone());
        // The main room's media: not to those in a breakout room.
        st.broadcast_where(&ServerMessage::TrackPublished { track }, |p| !self.breakout.away(p));
    }

    pub(crate) fn remove_track(&self, track_id: &str) {
        let mut st = self.lock();
        let before = st.tracks.len();
        st.tracks.retain(|t| t.track_id != track_id);
        if st.tracks.len() != before {
            st.broadcast_where(&ServerMessage::TrackUnpublished { track_id: track_id.to_owned() }, |p| {
                !self.breakout.away(p)
            });
        }
    }

    pub(crate) fn tracks(&self) -> Vec<Track> {
        self.lock().tracks.clone()
    }

    /// Sends to everyone seated and connected (except `except`).
    pub(crate) fn broadcast(&self, msg: &ServerMessage, except: Option<&str>) {
        self.lock().broadcast(msg, except);
    }

    /// Sends to everyone seated and connected whose participant id `to` accepts.
    pub(crate) fn send_where(&self, msg: &ServerMessage, to: impl Fn(&str) -> bool) {
        self.lock().broadcast_where(msg, to);
    }

    /// Sends to everyone connected in room `k`: 0 the main room, else that breakout room.
    pub(crate) fn send_in(&self, k: u32, msg: &ServerMessage) {
        self.send_where(msg, |p| self.breakout.room_of(p) == k);
    }

    /// Sends to one person, seated or waiting. A connection too far behind to take it is
    /// let go, as for a broadcast: a message silently lost (a subscribe offer) would leave the
    /// client waiting forever, while a resumed connection starts from the current state.
    pub(crate) fn send_to(&self, participant_id: &str, msg: ServerMessage) {
        let mut st = self.lock();
        let RoomState { seats, waiting, .. } = &mut *st;
        let seat = seats
            .iter_mut()
            .find(|s| s.info.participant_id == participant_id)
            .or_else(|| waiting.iter_mut().map(|w| &mut w.seat).find(|s| s.info.participant_id == participant_id));
        if let Some(seat) = seat {
            seat.deliver(msg);
        }
    }

    pub(crate) fn set_locked(&self, locked: bool) -> bool {
        let mut st = self.lock();
        let changed = st.locked != locked;
        st.locked = locked;
        changed
    }

    pub(crate) fn is_locked(&self) -> bool {
        self.lock().locked
    }

    /// Reserves the room for a recording about to start; false if one runs or is starting.
    pub(crate) fn claim_recording(&self) -> bool {
        let mut st = self.lock();
        if st.recording.is_some() || st.closed {
            return false;
        }
        st.recording = Some(String::new());
        true
    }

    /// Completes (`Some(id)`) or gives up (`None`) a claim from [`Room::claim_recording`].
    pub(crate) fn set_recording(&self, id: Option<String>) {
        self.lock().recording = id;
    }

    /// Takes the running recording's id (recording stops); `None` if none runs.
    pub(crate) fn take_recording(&self) -> Option<String> {
        let mut st = self.lock();
        match st.recording.as_deref() {
            Some(id) if !id.is_empty() => st.recording.take(),
            _ => None,
        }
    }

    /// Whether a recording runs (as participants are told).
    pub(crate) fn is_recording(&self) -> bool {
        self.lock().recording.as_deref().is_some_and(|id| !id.is_empty())
    }

    /// No one seated (people still waiting do not keep a meeting going).
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().seats.is_empty()
    }

    /// The room as admission sees it.
    pub(crate) fn door(&self) -> Door {
        self.lock().door()
    }

    pub(crate) fn participant_count(&self) -> usize {
        self.lock().seats.len()
    }

    /// Marks the warning as given; true the first time only.
    pub(crate) fn take_warning(&self) -> bool {
        !std::mem::replace(&mut self.lock().warned, true)
    }

    /// Closes the room: everyone (waiting too) gets `msg` and their places are vacated.
    pub(crate) fn close(&self, msg: &ServerMessage) -> Vec<Vacated> {
        let mut st = self.lock();
        st.closed = true;
        st.broadcast(msg, None);
        for w in &st.waiting {
            if let Some(tx) = &w.seat.conn {
                let _ = tx.try_send(msg.clone());
            }
        }
        let mut out: Vec<Vacated> = st
            .seats
            .drain(..)
            .map(|s| Vacated { attendance_id: s.attendance_id, participant: s.info, was_seated: true })
            .collect();
        out.extend(st.waiting.drain(..).map(|w| Vacated {
            attendance_id: w.seat.attendance_id,
            participant: w.seat.info,
            was_seated: false,
        }));
        out
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str) -> Newcomer {
        Newcomer {
            participant: Participant {
                participant_id: id.to_owned(),
                user_id: None,
                display_name: id.to_owned(),
                avatar_url: None,
                role: convene_protocol::Role::Host,
                joined_at: String::new(),
                muted: false,
                camera_on: false,
                hand_raised: false,
                presenting: false,
                reconnecting: false,
                local_recording_allowed: false,
                recording_locally: false,
                e2ee_identity: None,
            },
            resume_token: format!("resume-{id}"),
            attendance_id: format!("attendance-{id}"),
            client_key: None,
            subscription: Subscription::PerTrack,
        }
    }

    /// A connection that falls behind is let go but keeps its seat (the socket tells the
    /// client to resume); one that a resume replaced is no longer current (the socket tells
    /// it not to come back).
    #[tokio::test]
    async fn a_slow_connection_is_dropped_but_stays_current_until_resumed() {
        let settings = Settings {
            waiting_room: false,
            join_before_host: true,
            mute_on_entry: false,
            allow_guests: true,
            max_participants: 10,
            duration_limit_minutes: 60,
            auto_record: false,
            e2ee: false,
            recording_access: crate::meeting::RecordingAccess::Participants,
            peer_to_peer: true,
            captions: false,
        };
        let room = Room::new(1, "t".into(), "u".into(), Utc::now(), settings);
        let now = Utc::now();
        let mut slow = room.admit("j1", i64::MAX, now, person("p_slow")).unwrap();
        let _other = room.admit("j2", i64::MAX, now, person("p_other")).unwrap();
        for _ in 0..=OUTBOX {
            room.broadcast(&ServerMessage::ActiveSpeaker { participant_id: None }, Some("p_other"));
        }
        let mut queued = 0;
        while slow.rx.recv().await.is_some() {
            queued += 1;
        }
        assert_eq!(queued, OUTBOX, "the full queue is delivered, then the connection ends");
        assert!(room.is_current("p_slow", slow.generation), "its seat still belongs to that connection");
        assert!(room.participant("p_slow").is_some());

        let resumed = room.resume("resume-p_slow").unwrap();
        assert!(!room.is_current("p_slow", slow.generation), "a resume replaced the old connection");
        assert!(room.is_current("p_slow", resumed.generation));
        assert!(!room.is_current("p_gone", 1));
    }
}
