//! Live meetings: the registry of rooms on this node and the rules for entering, leaving,
//! reconnecting and ending — everything around the media itself.

mod room;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use convene_protocol::{EndReason, LeaveReason, MeetingInfo, Participant, Role, ServerMessage, PROTOCOL_VERSION};
use serde_json::json;

pub(crate) use room::{Attached, Refusal, Room};

use crate::auth::{random_secret, token::TicketClaims, token_hash};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::meeting::Settings;
use crate::state::AppState;
use crate::store::{AttendanceRow, MeetingRow};

/// Warn this long before the duration limit ends a meeting.
const WARNING_SECONDS: i64 = 300;

/// The rooms live on this node.
#[derive(Clone, Default)]
pub struct Live {
    rooms: Arc<Mutex<HashMap<i64, Arc<Room>>>>,
}

/// A connection that made it into a room.
pub(crate) struct Entered {
    pub(crate) room: Arc<Room>,
    pub(crate) attached: Attached,
    pub(crate) welcome: ServerMessage,
}

impl Live {
    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Room>>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many rooms and participants this node holds (for metrics and placement).
    pub fn load(&self) -> (usize, usize) {
        let rooms = self.rooms();
        (rooms.len(), rooms.values().map(|r| r.participant_count()).sum())
    }

    /// Seats the bearer of a verified join ticket.
    pub(crate) async fn enter(&self, state: &AppState, claims: &TicketClaims) -> Result<Entered> {
        let meeting = joinable(state, claims.mid).await?;
        let role = Role::parse(&claims.role)
            .ok_or_else(|| Error::unauthorized("invalid_token", "ticket has no valid role"))?;
        let now = state.clock.now();
        let participant = Participant {
            participant_id: format!("p_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            user_id: (!claims.sub.starts_with("guest:")).then(|| claims.sub.clone()),
            display_name: claims.name.clone(),
            role,
            joined_at: now.to_rfc3339(),
            muted: Settings::from_stored(&meeting.settings, &state.config).mute_on_entry,
            camera_on: false,
            hand_raised: false,
            presenting: false,
            reconnecting: false,
        };
        let resume_token = random_secret();
        let attendance_id = uuid::Uuid::new_v4().to_string();
        // A room that is closing as we arrive is replaced by a fresh one (once).
        let mut tries = 0;
        let (room, attached) = loop {
            let room = self.room_for(state, &meeting).await?;
            match room.admit(
                &claims.jti,
                claims.exp,
                now.timestamp(),
                participant.clone(),
                token_hash(&resume_token),
                attendance_id.clone(),
            ) {
                Ok(a) => break (room, a),
                Err(Refusal::Closed) if tries == 0 => {
                    self.forget(&room);
                    tries += 1;
                }
                Err(Refusal::TicketUsed) => {
                    return Err(Error::conflict(
                        "ticket_used",
                        "this join ticket was already used; join again for a new one",
                    ));
                }
                Err(_) => return Err(Error::gone("meeting_ended", "this meeting has ended")),
            }
        };
        state
            .store
            .record_join(&AttendanceRow {
                id: attendance_id,
                meeting_id: meeting.id,
                user_id: participant.user_id.clone(),
                display_name: participant.display_name.clone(),
                role: claims.role.clone(),
                joined_at: now.timestamp_millis(),
                left_at: None,
            })
            .await?;
        emit_participant(state, &meeting, "participant.joined", &participant);
        let welcome = welcome(state, &meeting, &room, &attached, resume_token);
        Ok(Entered { room, attached, welcome })
    }

    /// Gives a seat back to the holder of its resume token.
    pub(crate) async fn resume(&self, state: &AppState, meeting_id: i64, resume_token: &str) -> Result<Entered> {
        let room = self.rooms().get(&meeting_id).cloned();
        let unknown = || Error::unauthorized("resume_expired", "that seat is gone; join the meeting again");
        let room = room.ok_or_else(unknown)?;
        let attached = room.resume(&token_hash(resume_token)).map_err(|_| unknown())?;
        let meeting = state.store.meeting(meeting_id).await?.ok_or_else(unknown)?;
        let welcome = welcome(state, &meeting, &room, &attached, resume_token.to_owned());
        Ok(Entered { room, attached, welcome })
    }

    /// A connection dropped without `leave`: keep the seat for the grace period.
    pub(crate) fn connection_lost(&self, state: &AppState, room: &Arc<Room>, participant_id: &str, generation: u64) {
        if !room.connection_lost(participant_id, generation) {
            return;
        }
        let (live, state, room, pid) = (self.clone(), state.clone(), room.clone(), participant_id.to_owned());
        let grace = Duration::from_millis(state.config.reconnect_grace_ms);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if let Some(v) = room.expire(&pid, generation) {
                live.vacated(&state, &room, v).await;
            }
        });
    }

    /// The participant left (or was removed) for good.
    pub(crate) async fn leave(&self, state: &AppState, room: &Arc<Room>, participant_id: &str, reason: LeaveReason) {
        if let Some(v) = room.remove(participant_id, reason) {
            self.vacated(state, room, v).await;
        }
    }

    /// Ends a live meeting for everyone (host action, duration limit, cancellation).
    pub async fn end_meeting(&self, state: &AppState, meeting_id: i64, reason: EndReason) {
        let room = self.rooms().get(&meeting_id).cloned();
        if let Some(room) = room {
            self.end(state, &room, reason).await;
        }
    }

    async fn end(&self, state: &AppState, room: &Arc<Room>, reason: EndReason) {
        let now = state.clock.now_ms();
        // Persist first, so anyone who hears "ended" and asks the API sees it ended.
        if let Err(e) = state.store.set_meeting_status(room.meeting_id, "ended", now).await {
            tracing::error!(error = %e, meeting_id = room.meeting_id, "could not mark meeting ended");
        }
        let vacated = room.close(&ServerMessage::MeetingEnded { reason });
        self.forget(room);
        for v in &vacated {
            if let Err(e) = state.store.record_leave(&v.attendance_id, now).await {
                tracing::error!(error = %e, "could not record leave");
            }
        }
        let reason_name = serde_json::to_value(reason).unwrap_or_default();
        let owner = state.store.meeting(room.meeting_id).await.ok().flatten().map(|m| m.host_id);
        state.events.emit(Event::new(
            "meeting.ended",
            state.clock.now(),
            Some(room.meeting_id),
            owner,
            json!({"meeting_id": room.meeting_id, "reason": reason_name, "participants": vacated.len()}),
        ));
        tracing::info!(meeting_id = room.meeting_id, ?reason, "meeting ended");
    }

    async fn vacated(&self, state: &AppState, room: &Arc<Room>, v: room::Vacated) {
        if let Err(e) = state.store.record_leave(&v.attendance_id, state.clock.now_ms()).await {
            tracing::error!(error = %e, "could not record leave");
        }
        if let Ok(Some(meeting)) = state.store.meeting(room.meeting_id).await {
            emit_participant(state, &meeting, "participant.left", &v.participant);
        }
        if room.is_empty() {
            self.end(state, room, EndReason::Empty).await;
        }
    }

    fn forget(&self, room: &Arc<Room>) {
        let mut rooms = self.rooms();
        if rooms.get(&room.meeting_id).is_some_and(|r| Arc::ptr_eq(r, room)) {
            rooms.remove(&room.meeting_id);
        }
    }

    /// The meeting's room, opened (and the meeting marked live) on first entry.
    async fn room_for(&self, state: &AppState, meeting: &MeetingRow) -> Result<Arc<Room>> {
        let (room, created) = {
            let mut rooms = self.rooms();
            match rooms.get(&meeting.id) {
                Some(r) => (r.clone(), false),
                None => {
                    let r = Arc::new(Room::new(meeting.id, state.clock.now()));
                    rooms.insert(meeting.id, r.clone());
                    (r, true)
                }
            }
        };
        if created {
            state.store.set_meeting_status(meeting.id, "live", state.clock.now_ms()).await?;
            state.events.emit(Event::new(
                "meeting.started",
                state.clock.now(),
                Some(meeting.id),
                Some(meeting.host_id.clone()),
                json!({"meeting_id": meeting.id, "title": meeting.title}),
            ));
            tokio::spawn(self.clone().watch_duration(state.clone(), room.clone(), meeting.settings.clone()));
            tracing::info!(meeting_id = meeting.id, "meeting started");
        }
        Ok(room)
    }

    /// Warns before the duration limit and ends the meeting when it passes. Checks the
    /// server clock each second (so tests can move time).
    async fn watch_duration(self, state: AppState, room: Arc<Room>, settings_json: String) {
        let limit = i64::from(Settings::from_stored(&settings_json, &state.config).duration_limit_minutes) * 60;
        let mut tick = tokio::time::interval(Duration::from_millis(state.config.room_tick_ms));
        loop {
            tick.tick().await;
            if room.is_closed() {
                return;
            }
            let left = time_left(&state, &room, limit);
            if left <= 0 {
                self.end(&state, &room, EndReason::DurationLimit).await;
                return;
            }
            if left <= WARNING_SECONDS && room.take_warning() {
                room.broadcast(
                    &ServerMessage::Warning {
                        code: "ending_soon".into(),
                        message: format!("This meeting ends in {} minutes (duration limit).", (left + 59) / 60),
                        seconds_left: Some(left),
                    },
                    None,
                );
            }
        }
    }
}

fn time_left(state: &AppState, room: &Room, limit_seconds: i64) -> i64 {
    limit_seconds - (state.clock.now() - room.started_at).num_seconds()
}

/// The meeting, if people may be in it now.
async fn joinable(state: &AppState, meeting_id: i64) -> Result<MeetingRow> {
    let m = state
        .store
        .meeting(meeting_id)
        .await?
        .ok_or_else(|| Error::not_found("meeting_not_found", "no meeting has that ID"))?;
    match m.status.as_str() {
        "cancelled" => Err(Error::gone("meeting_cancelled", "this meeting was cancelled")),
        "ended" if m.recurrence.is_none() && m.kind != "personal" => {
            Err(Error::gone("meeting_ended", "this meeting has ended"))
        }
        _ => Ok(m),
    }
}

fn welcome(
    state: &AppState,
    meeting: &MeetingRow,
    room: &Room,
    attached: &Attached,
    resume_token: String,
) -> ServerMessage {
    let settings = Settings::from_stored(&meeting.settings, &state.config);
    let limit = i64::from(settings.duration_limit_minutes) * 60;
    ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        participant_id: attached.participant.participant_id.clone(),
        role: attached.participant.role,
        resume_token,
        resumed: attached.resumed,
        reconnect_grace_seconds: state.config.reconnect_grace_ms / 1000,
        meeting: MeetingInfo {
            meeting_id: meeting.id,
            title: meeting.title.clone(),
            host_id: meeting.host_id.clone(),
            started_at: room.started_at.to_rfc3339(),
            time_left_seconds: time_left(state, room, limit).max(0),
            settings: serde_json::to_value(&settings).unwrap_or_default(),
            locked: false,
            recording: false,
        },
        participants: attached.participants.clone(),
        tracks: attached.tracks.clone(),
        chat: vec![],
    }
}

fn emit_participant(state: &AppState, meeting: &MeetingRow, kind: &'static str, p: &Participant) {
    state.events.emit(Event::new(
        kind,
        state.clock.now(),
        Some(meeting.id),
        Some(meeting.host_id.clone()),
        json!({"participant_id": p.participant_id, "user_id": p.user_id, "display_name": p.display_name, "role": p.role}),
    ));
}
