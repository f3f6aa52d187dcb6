//! Coming into a live meeting and going: a join ticket seats its bearer (or holds them in the
//! waiting room), a resume token gives a seat back, a dropped connection keeps its seat for
//! the grace period, and `leave` gives it up.

use std::sync::Arc;
use std::time::Duration;

use convene_protocol::{EndReason, LeaveReason, Participant, Role, ServerMessage};

use super::admission::{admission, client_subject, joinable, not_removed, refusal_error, seat_gone, Door, Refusal};
use super::room::{Newcomer, Room};
use super::{emit_participant, Entered, Live};
use crate::auth::{random_secret, token::TicketClaims};
use crate::error::Result;
use crate::meeting::Settings;
use crate::services::Services;
use crate::store::{AttendanceRow, MeetingRow, Pending};

impl Live {
    /// Why someone with `role` could not get in right now, checked before handing out a
    /// ticket so the pre-join screen can say so. The socket checks again on entry.
    pub(crate) async fn admission_problem(
        &self,
        state: &Services,
        m: &MeetingRow,
        role: Role,
        user_id: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<()> {
        not_removed(&state.store, m.id, user_id, client_id).await?;
        // An open room admits by the settings it opened with, exactly as it will on entry.
        let (settings, door) = match self.room(m.id) {
            Some(r) => (r.settings.clone(), r.door()),
            // Cluster mode: the room may live on another node (or be placed on one that is not
            // busy), which checks its own load and the settings on entry.
            None if state.cluster.is_clustered() => return Ok(()),
            None => (Settings::from_stored(&m.settings, &state.config), Door::default()),
        };
        state.media.admit_join(m.id)?;
        admission(role, &settings, door).map_err(refusal_error)
    }

    /// Seats (or holds in the waiting room) the bearer of a verified join ticket.
    pub(crate) async fn enter(&self, state: &Services, claims: &TicketClaims) -> Result<Entered> {
        let meeting = joinable(state, claims.mid).await?;
        state.media.admit(meeting.id)?;
        let role = claims.role;
        let user_id = (!claims.sub.starts_with("guest:")).then(|| claims.sub.clone());
        not_removed(&state.store, meeting.id, user_id.as_deref(), claims.cid.as_deref()).await?;
        let settings = Settings::from_stored(&meeting.settings, &state.config);
        let e2ee_identity = super::e2ee::identity_on_entry(
            self.room(meeting.id).map_or(settings.e2ee, |r| r.settings.e2ee),
            claims.e2v,
            claims.e2k.as_deref(),
        )?;
        let now = state.clock.now();
        let avatar_url = match &user_id {
            Some(uid) => state.store.user_by_id(uid).await?.as_ref().and_then(crate::avatar::url_of),
            None => None,
        };
        let participant = Participant {
            participant_id: format!("p_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            user_id,
            display_name: claims.name.clone(),
            avatar_url,
            role,
            joined_at: now.to_rfc3339(),
            muted: settings.mute_on_entry && !role.is_moderator(),
            camera_on: false,
            hand_raised: false,
            presenting: false,
            reconnecting: false,
            local_recording_allowed: false,
            recording_locally: false,
            e2ee_identity,
        };
        let resume_token = random_secret();
        let attendance_id = uuid::Uuid::new_v4().to_string();
        let newcomer = || Newcomer {
            participant: participant.clone(),
            resume_token: resume_token.clone(),
            attendance_id: attendance_id.clone(),
            client_key: claims.cid.as_deref().map(client_subject),
            subscription: crate::media::subscription(claims.vsl),
        };
        // A room that is closing as we arrive is replaced by a fresh one (once).
        let mut retried = false;
        let (room, attached) = loop {
            let room = self.room_for(state, &meeting, participant.user_id.as_deref()).await?;
            match room.admit(&claims.jti, claims.exp, now, newcomer()) {
                Ok(a) => break (room, a),
                Err(Refusal::Closed) if !retried => {
                    self.forget(&room);
                    retried = true;
                }
                Err(refusal) => {
                    if room.is_empty() {
                        self.end(state, &room, EndReason::Empty).await;
                    }
                    return Err(refusal_error(refusal));
                }
            }
        };
        if attached.waiting {
            let first = ServerMessage::Waiting {
                participant_id: participant.participant_id.clone(),
                meeting_title: meeting.title.clone(),
                resume_token,
            };
            return Ok(Entered { room, attached, first });
        }
        self.seated(state, &room, &participant, &attendance_id).await?;
        super::failover::persist_seat(state, room.meeting_id, &newcomer()).await;
        let first = self.welcome(state, &room, &attached.participant, resume_token, false).await?;
        tell_waiting(&room, &participant);
        super::welcome::after_welcome(&room, &participant.participant_id);
        Ok(Entered { room, attached, first })
    }

    /// Attendance and events for someone who just got a seat.
    pub(super) async fn seated(
        &self,
        state: &Services,
        room: &Room,
        p: &Participant,
        attendance_id: &str,
    ) -> Result<()> {
        let row = AttendanceRow {
            id: attendance_id.to_owned(),
            meeting_id: room.meeting_id,
            user_id: p.user_id.clone(),
            display_name: p.display_name.clone(),
            role: p.role.as_str().into(),
            joined_at: state.clock.now_ms(),
            left_at: None,
        };
        // Queued if the database is away: a live meeting does not stop for it.
        state.backlog.write(&state.store, Pending::Join(row)).await;
        emit_participant(state, room, "participant.joined", p);
        state.media.join(room.meeting_id, &p.participant_id, room.subscription_of(&p.participant_id));
        state.media.set_muted(room.meeting_id, &p.participant_id, p.muted);
        Ok(())
    }

    /// Gives a seat back to the holder of its resume token.
    pub(crate) async fn resume(&self, state: &Services, meeting_id: i64, resume_token: &str) -> Result<Entered> {
        let local = self.room(meeting_id).and_then(|room| room.resume(resume_token).ok().map(|a| (room, a)));
        let (room, attached) = match local {
            Some(found) => found,
            None if state.cluster.is_clustered() => self.restore(state, meeting_id, resume_token).await?,
            None => return Err(seat_gone()),
        };
        let first = if attached.waiting {
            ServerMessage::Waiting {
                participant_id: attached.participant.participant_id.clone(),
                meeting_title: room.title.clone(),
                resume_token: resume_token.to_owned(),
            }
        } else {
            let w = self.welcome(state, &room, &attached.participant, resume_token.to_owned(), true).await?;
            tell_waiting(&room, &attached.participant);
            super::welcome::after_welcome(&room, &attached.participant.participant_id);
            w
        };
        Ok(Entered { room, attached, first })
    }

    /// A connection dropped without `leave`: keep the seat for the grace period.
    pub(crate) fn connection_lost(&self, state: &Services, room: &Arc<Room>, participant_id: &str, generation: u64) {
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

    /// The participant left for good.
    pub(crate) async fn leave(&self, state: &Services, room: &Arc<Room>, participant_id: &str) {
        if let Some((v, _)) = room.remove(participant_id, LeaveReason::Left, None) {
            self.vacated(state, room, v).await;
        }
    }
}

/// A moderator arriving learns who is waiting (after their welcome).
pub(super) fn tell_waiting(room: &Room, p: &Participant) {
    let waiting = room.waiting_list();
    if p.role.is_moderator() && !waiting.is_empty() {
        room.send_to(&p.participant_id, ServerMessage::WaitingRoom { waiting });
    }
}
