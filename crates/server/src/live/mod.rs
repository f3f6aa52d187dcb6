//! Live meetings: the registry of rooms on this node and the rules for entering, waiting,
//! leaving, reconnecting, moderating, chatting and ending — everything around the media.

mod admission;
pub(crate) mod limits;
pub(crate) mod revocation;
mod room;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use convene_protocol::{
    ChatMessage, ClientMessage, EndReason, HostAction, LeaveReason, MeetingInfo, Participant, Role, ServerMessage,
    SharedFile, MAX_CHAT_CHARS, PROTOCOL_VERSION, REACTIONS,
};
use serde_json::json;

use admission::{admission, client_subject, not_removed, user_subject, Door};
pub(crate) use room::{Attached, Newcomer, Refusal, Room};

use crate::auth::{random_secret, token::TicketClaims, token_hash};
use crate::clock::from_ms;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::meeting::Settings;
use crate::state::AppState;
use crate::store::{AttendanceRow, ChatRow, MeetingRow, Pending, Viewer};

/// Warn this long before the duration limit ends a meeting.
const WARNING_SECONDS: i64 = 300;
/// Chat history a newcomer receives in `welcome`.
const WELCOME_CHAT: i64 = 200;

/// The rooms live on this node.
#[derive(Clone, Default)]
pub struct Live {
    rooms: Arc<Mutex<HashMap<i64, Arc<Room>>>>,
    /// Message rates and sockets per address (issue 16).
    pub(crate) floodgates: Arc<limits::Floodgates>,
}

/// A connection that made it into a room (seated, or waiting to be admitted).
pub(crate) struct Entered {
    pub(crate) room: Arc<Room>,
    pub(crate) attached: Attached,
    /// `welcome`, or `waiting` for someone held in the waiting room.
    pub(crate) first: ServerMessage,
}

impl Live {
    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Room>>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn room(&self, meeting_id: i64) -> Option<Arc<Room>> {
        self.rooms().get(&meeting_id).cloned()
    }

    /// Who is in a live meeting right now (seated), if it is live on this node.
    pub fn participants(&self, meeting_id: i64) -> Option<Vec<Participant>> {
        self.room(meeting_id).map(|r| r.participants())
    }

    /// How many rooms and participants this node holds (for metrics and placement).
    pub fn load(&self) -> (usize, usize) {
        let rooms = self.rooms();
        (rooms.len(), rooms.values().map(|r| r.participant_count()).sum())
    }

    /// Why someone with `role` could not get in right now, checked before handing out a
    /// ticket so the pre-join screen can say so. The socket checks again on entry.
    pub(crate) async fn admission_problem(
        &self,
        state: &AppState,
        m: &MeetingRow,
        role: Role,
        user_id: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<()> {
        not_removed(&state.store, m.id, user_id, client_id).await?;
        state.media.admit(m.id)?;
        // An open room admits by the settings it opened with, exactly as it will on entry.
        let (settings, door) = match self.room(m.id) {
            Some(r) => (r.settings.clone(), r.door()),
            // Cluster mode: the room may live on another node, which checks on entry.
            None if state.cluster.is_clustered() => return Ok(()),
            None => (Settings::from_stored(&m.settings, &state.config), Door::default()),
        };
        admission(role, &settings, door).map_err(refusal_error)
    }

    /// Seats (or holds in the waiting room) the bearer of a verified join ticket.
    pub(crate) async fn enter(&self, state: &AppState, claims: &TicketClaims) -> Result<Entered> {
        let meeting = joinable(state, claims.mid).await?;
        state.media.admit(meeting.id)?;
        let role = claims.role;
        let user_id = (!claims.sub.starts_with("guest:")).then(|| claims.sub.clone());
        not_removed(&state.store, meeting.id, user_id.as_deref(), claims.cid.as_deref()).await?;
        let settings = Settings::from_stored(&meeting.settings, &state.config);
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
        };
        let resume_token = random_secret();
        let attendance_id = uuid::Uuid::new_v4().to_string();
        let newcomer = || Newcomer {
            participant: participant.clone(),
            resume_token: resume_token.clone(),
            attendance_id: attendance_id.clone(),
            client_key: claims.cid.as_deref().map(client_subject),
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
        persist_seat(state, room.meeting_id, &participant, &resume_token, &attendance_id, &newcomer().client_key).await;
        let first = self.welcome(state, &room, &attached.participant, resume_token, false).await?;
        tell_waiting(&room, &participant);
        Ok(Entered { room, attached, first })
    }

    /// Attendance and events for someone who just got a seat.
    async fn seated(&self, state: &AppState, room: &Room, p: &Participant, attendance_id: &str) -> Result<()> {
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
        state.media.join(room.meeting_id, &p.participant_id);
        state.media.set_muted(room.meeting_id, &p.participant_id, p.muted);
        Ok(())
    }

    /// Gives a seat back to the holder of its resume token.
    pub(crate) async fn resume(&self, state: &AppState, meeting_id: i64, resume_token: &str) -> Result<Entered> {
        let unknown = || Error::unauthorized("resume_expired", "that seat is gone; join the meeting again");
        let local = self.room(meeting_id).and_then(|room| room.resume(resume_token).ok().map(|a| (room, a)));
        let (room, attached) = match local {
            Some(found) => found,
            None if state.cluster.is_clustered() => self.restore(state, meeting_id, resume_token).await?,
            None => return Err(unknown()),
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
            w
        };
        Ok(Entered { room, attached, first })
    }

    /// Cluster mode: rebuilds a seat from the shared database on this node (its meeting's
    /// node died and the placement moved here), opening the room if need be.
    async fn restore(&self, state: &AppState, meeting_id: i64, resume_token: &str) -> Result<(Arc<Room>, Attached)> {
        let unknown = || Error::unauthorized("resume_expired", "that seat is gone; join the meeting again");
        let seat = state.store.seat_by_resume(meeting_id, &token_hash(resume_token)).await?.ok_or_else(unknown)?;
        let participant: Participant = serde_json::from_str(&seat.participant).map_err(|_| unknown())?;
        // A seat whose holder a host removed is not rebuilt, even if its row outlived the removal.
        let subjects: Vec<String> =
            participant.user_id.as_deref().map(user_subject).into_iter().chain(seat.client_key.clone()).collect();
        if state.store.is_banned(meeting_id, &subjects).await? {
            return Err(unknown());
        }
        let meeting = joinable(state, meeting_id).await?;
        let room = self.room_for(state, &meeting, participant.user_id.as_deref()).await?;
        let newcomer = Newcomer {
            participant: participant.clone(),
            resume_token: resume_token.to_owned(),
            attendance_id: seat.attendance_id.clone(),
            client_key: seat.client_key.clone(),
        };
        let attached = room.restore(newcomer).map_err(refusal_error)?;
        state.media.join(meeting_id, &participant.participant_id);
        state.media.set_muted(meeting_id, &participant.participant_id, participant.muted);
        tracing::info!(meeting_id, participant = %participant.participant_id, "seat restored after a node change");
        Ok((room, attached))
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

    /// The participant left for good.
    pub(crate) async fn leave(&self, state: &AppState, room: &Arc<Room>, participant_id: &str) {
        if let Some((v, _)) = room.remove(participant_id, LeaveReason::Left, None) {
            self.vacated(state, room, v).await;
        }
    }

    /// Cluster mode: stops taking new meetings, lets the live ones run until `deadline`,
    /// then moves each to another node — its people get `moved` and resume there with the
    /// same seats (kept in the database), nobody is dropped.
    pub async fn drain(&self, state: &AppState, deadline: Duration) {
        if !state.cluster.is_clustered() {
            return;
        }
        state.cluster.set_draining(true).await;
        tracing::info!(deadline_s = deadline.as_secs(), "draining: no new meetings here");
        let until = tokio::time::Instant::now() + deadline;
        while tokio::time::Instant::now() < until && self.load().0 > 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let rooms: Vec<Arc<Room>> = self.rooms().values().cloned().collect();
        for room in rooms {
            match state.cluster.hand_over(room.meeting_id).await {
                Ok(crate::cluster::Owner::Elsewhere { node_id, url }) => {
                    self.move_room(state, &room, &node_id, &url);
                    tracing::info!(meeting_id = room.meeting_id, to = %node_id, "meeting moved off a draining node");
                }
                Ok(crate::cluster::Owner::Here) => {}
                Err(e) => {
                    tracing::warn!(meeting_id = room.meeting_id, error = %e, "nowhere to move a meeting; it stays");
                }
            }
        }
    }

    /// Sends everyone in `room` to the node that hosts the meeting now (`moved`: they resume
    /// there with their seats) and lets the room here go. Seats leave this node without
    /// leaving the meeting: no attendance, no events.
    fn move_room(&self, state: &AppState, room: &Arc<Room>, node_id: &str, url: &str) {
        let ws_url = crate::cluster::ws_url(url, room.meeting_id);
        room.close(&ServerMessage::Moved { ws_url, node_id: node_id.to_owned() });
        self.forget(room);
        state.media.end_room(room.meeting_id);
    }

    /// Cluster mode, after a partition: meetings placed on another node while this one was
    /// cut off from NATS move there (their people follow, as in a drain), so a meeting never
    /// stays split over two nodes; meetings live here without a placement are claimed back.
    pub async fn reconcile(&self, state: &AppState) {
        if !state.cluster.is_clustered() || state.cluster.is_draining() {
            return;
        }
        let rooms: Vec<Arc<Room>> = self.rooms().values().cloned().collect();
        for room in rooms {
            match state.cluster.reconcile(room.meeting_id).await {
                Ok(crate::cluster::Owner::Here) => {}
                Ok(crate::cluster::Owner::Elsewhere { node_id, url }) => {
                    tracing::warn!(
                        meeting_id = room.meeting_id,
                        to = %node_id,
                        "meeting was placed on another node while this one was cut off: moving its people there"
                    );
                    self.move_room(state, &room, &node_id, &url);
                }
                Err(_) => return, // NATS is away: next time
            }
        }
    }

    /// Ends a live meeting for everyone (host action, duration limit, cancellation).
    pub async fn end_meeting(&self, state: &AppState, meeting_id: i64, reason: EndReason) {
        if let Some(room) = self.room(meeting_id) {
            self.end(state, &room, reason).await;
        }
    }

    /// Handles a client message other than ping / leave; returns an error frame for the
    /// sender if it was refused (and then nothing changed).
    pub(crate) async fn act(
        &self,
        state: &AppState,
        room: &Arc<Room>,
        actor: &str,
        msg: ClientMessage,
    ) -> Option<ServerMessage> {
        let Some(me) = room.participant(actor) else {
            return Some(ServerMessage::error("not_admitted", "wait until a host lets you in", None));
        };
        match self.act_seated(state, room, &me, msg).await {
            Ok(()) => None,
            Err((code, message, request)) => Some(ServerMessage::error(code, message, Some(request))),
        }
    }

    async fn act_seated(
        &self,
        state: &AppState,
        room: &Arc<Room>,
        me: &Participant,
        msg: ClientMessage,
    ) -> std::result::Result<(), (&'static str, String, &'static str)> {
        let moderator = |req: &'static str| {
            if me.role.is_moderator() {
                Ok(())
            } else {
                Err(("not_allowed", "only the host or a co-host can do that".to_owned(), req))
            }
        };
        let host_only = |req: &'static str| {
            if me.role == Role::Host {
                Ok(())
            } else {
                Err(("not_allowed", "only the host can do that".to_owned(), req))
            }
        };
        let target = |pid: &str, req: &'static str| {
            room.participant(pid).ok_or(("unknown_participant", format!("no participant {pid:?} in this meeting"), req))
        };
        let by = me.participant_id.clone();
        let tell = |action: HostAction, target: Option<String>| {
            room.broadcast(&ServerMessage::HostAction { action, by: by.clone(), target }, None);
        };
        match msg {
            ClientMessage::SetState { muted, camera_on, hand_raised, recording_locally } => {
                if recording_locally == Some(true) && !me.may_record_locally() {
                    let why = if me.user_id.is_none() {
                        "guests cannot record: a recording is uploaded to an account"
                    } else {
                        "the host has not allowed you to record this meeting"
                    };
                    return Err(("local_recording_not_allowed", why.to_owned(), "set_state"));
                }
                if let Some(m) = muted {
                    state.media.set_muted(room.meeting_id, &me.participant_id, m);
                }
                if camera_on == Some(true) {
                    state.media.set_video_stopped(room.meeting_id, &me.participant_id, false);
                }
                room.update(&me.participant_id, |p| {
                    p.muted = muted.unwrap_or(p.muted);
                    p.camera_on = camera_on.unwrap_or(p.camera_on);
                    p.hand_raised = hand_raised.unwrap_or(p.hand_raised);
                    p.recording_locally = recording_locally.unwrap_or(p.recording_locally);
                });
            }
            ClientMessage::ChatSend { text, to } => {
                let text = text.trim().to_owned();
                if text.is_empty() || text.chars().count() > MAX_CHAT_CHARS {
                    return Err((
                        "invalid_message",
                        format!("chat messages have 1 to {MAX_CHAT_CHARS} characters"),
                        "chat_send",
                    ));
                }
                let recipient = match to.as_deref() {
                    Some(pid) if pid == me.participant_id => {
                        return Err(("invalid_message", "a private message goes to someone else".into(), "chat_send"));
                    }
                    Some(pid) => Some(target(pid, "chat_send")?),
                    None => None,
                };
                self.post_chat(state, room, me, text, recipient.as_ref(), None).await.map_err(|_| {
                    ("unavailable", "the message could not be saved; try again".to_owned(), "chat_send")
                })?;
            }
            ClientMessage::React { emoji } => {
                if !REACTIONS.contains(&emoji.as_str()) {
                    return Err(("invalid_message", format!("reactions are one of {}", REACTIONS.join(" ")), "react"));
                }
                room.broadcast(&ServerMessage::Reaction { participant_id: me.participant_id.clone(), emoji }, None);
            }
            ClientMessage::Mute { participant_id } => {
                moderator("mute")?;
                target(&participant_id, "mute")?;
                room.update(&participant_id, |p| p.muted = true);
                state.media.set_muted(room.meeting_id, &participant_id, true);
                tell(HostAction::Muted, Some(participant_id));
            }
            ClientMessage::MuteAll => {
                moderator("mute_all")?;
                for p in room.update_all(|p| !p.role.is_moderator(), |p| p.muted = true) {
                    state.media.set_muted(room.meeting_id, &p.participant_id, true);
                }
                tell(HostAction::MutedAll, None);
            }
            ClientMessage::AskUnmute { participant_id } => {
                moderator("ask_unmute")?;
                let targets = match participant_id {
                    Some(pid) => vec![target(&pid, "ask_unmute")?],
                    None => room
                        .participants()
                        .into_iter()
                        .filter(|p| p.muted && p.participant_id != me.participant_id)
                        .collect(),
                };
                for t in targets {
                    room.send_to(
                        &t.participant_id,
                        ServerMessage::HostAction {
                            action: HostAction::AskedToUnmute,
                            by: by.clone(),
                            target: Some(t.participant_id.clone()),
                        },
                    );
                }
            }
            ClientMessage::StopVideo { participant_id } => {
                moderator("stop_video")?;
                target(&participant_id, "stop_video")?;
                room.update(&participant_id, |p| p.camera_on = false);
                state.media.set_video_stopped(room.meeting_id, &participant_id, true);
                tell(HostAction::VideoStopped, Some(participant_id));
            }
            ClientMessage::LowerHand { participant_id } => {
                moderator("lower_hand")?;
                match participant_id {
                    Some(pid) => {
                        target(&pid, "lower_hand")?;
                        room.update(&pid, |p| p.hand_raised = false);
                        tell(HostAction::HandLowered, Some(pid));
                    }
                    None => {
                        room.update_all(|p| p.hand_raised, |p| p.hand_raised = false);
                        tell(HostAction::HandLowered, None);
                    }
                }
            }
            ClientMessage::Remove { participant_id } => {
                moderator("remove")?;
                let t = target(&participant_id, "remove")?;
                if t.role == Role::Host || participant_id == me.participant_id {
                    return Err(("not_allowed", "the host cannot be removed".into(), "remove"));
                }
                self.remove(state, room, &participant_id, &by).await;
            }
            ClientMessage::Lock { locked } => {
                moderator("lock")?;
                if room.set_locked(locked) {
                    room.broadcast(&ServerMessage::MeetingUpdated { locked, recording: room.is_recording() }, None);
                    tell(if locked { HostAction::Locked } else { HostAction::Unlocked }, None);
                }
            }
            ClientMessage::Admit { participant_id } => {
                moderator("admit")?;
                if !room.waiting_ids().contains(&participant_id) {
                    return Err((
                        "unknown_participant",
                        format!("{participant_id:?} is not in the waiting room"),
                        "admit",
                    ));
                }
                self.admit(state, room, &participant_id).await;
            }
            ClientMessage::AdmitAll => {
                moderator("admit_all")?;
                for pid in room.waiting_ids() {
                    self.admit(state, room, &pid).await;
                }
            }
            ClientMessage::Deny { participant_id } => {
                moderator("deny")?;
                if !room.waiting_ids().contains(&participant_id) {
                    return Err((
                        "unknown_participant",
                        format!("{participant_id:?} is not in the waiting room"),
                        "deny",
                    ));
                }
                let farewell = ServerMessage::error("denied", "a host did not let you into this meeting", None);
                room.remove(&participant_id, LeaveReason::Removed, Some(farewell));
            }
            ClientMessage::SetRole { participant_id, role } => {
                host_only("set_role")?;
                let t = target(&participant_id, "set_role")?;
                if !matches!(role, Role::Cohost | Role::Participant)
                    || t.role == Role::Host
                    || t.role == Role::Guest && role == Role::Cohost
                {
                    return Err((
                        "invalid_message",
                        "the role can be cohost or participant, for a signed-in participant who is not the host".into(),
                        "set_role",
                    ));
                }
                // A co-host made a participant again keeps recording only if allowed to.
                room.update(&participant_id, |p| {
                    p.role = role;
                    p.recording_locally &= p.may_record_locally();
                });
                keep_role(state, room, &participant_id);
                tell(
                    if role == Role::Cohost { HostAction::Promoted } else { HostAction::Demoted },
                    Some(participant_id),
                );
            }
            ClientMessage::TransferHost { participant_id } => {
                host_only("transfer_host")?;
                let t = target(&participant_id, "transfer_host")?;
                if t.participant_id == me.participant_id {
                    return Err(("invalid_message", "you are already the host".into(), "transfer_host"));
                }
                room.update(&participant_id, |p| p.role = Role::Host);
                // The previous host keeps moderating, as a co-host (guests cannot be co-hosts).
                let demoted = if me.user_id.is_some() { Role::Cohost } else { Role::Participant };
                room.update(&me.participant_id, |p| {
                    p.role = demoted;
                    p.recording_locally &= p.may_record_locally();
                });
                keep_role(state, room, &participant_id);
                keep_role(state, room, &me.participant_id);
                tell(HostAction::MadeHost, Some(participant_id));
            }
            ClientMessage::AllowLocalRecording { participant_id, allowed } => {
                moderator("allow_local_recording")?;
                let t = target(&participant_id, "allow_local_recording")?;
                if t.user_id.is_none() {
                    return Err((
                        "invalid_message",
                        "guests cannot record: a recording is uploaded to an account".into(),
                        "allow_local_recording",
                    ));
                }
                // Withdrawing the permission stops a recording in progress (its client stops
                // and uploads what it has, as it was allowed until now).
                let changed = room.update(&participant_id, |p| {
                    p.local_recording_allowed = allowed;
                    p.recording_locally &= p.may_record_locally();
                });
                if changed.is_some_and(|p| p.local_recording_allowed != t.local_recording_allowed) {
                    keep_role(state, room, &participant_id);
                    tell(
                        if allowed { HostAction::LocalRecordingAllowed } else { HostAction::LocalRecordingDisallowed },
                        Some(participant_id),
                    );
                }
            }
            ClientMessage::Record { recording } => {
                moderator("record")?;
                let result = if recording {
                    crate::recording::start(state, room, me.user_id.as_deref()).await.map(|_| ())
                } else {
                    match crate::recording::stop(state, room).await {
                        Ok(None) => {
                            Err(crate::error::Error::conflict("not_recording", "this meeting is not being recorded"))
                        }
                        other => other.map(|_| ()),
                    }
                };
                result.map_err(|e| match e {
                    crate::error::Error::Client { code, message, .. } => (code, message, "record"),
                    other => {
                        tracing::error!(error = %other, "recording request failed");
                        ("internal", "the recording could not be changed".to_owned(), "record")
                    }
                })?;
            }
            ClientMessage::EndMeeting => {
                host_only("end_meeting")?;
                self.end(state, room, EndReason::EndedByHost).await;
            }
            ClientMessage::Ping { .. } | ClientMessage::Leave => {}
            ClientMessage::PublishOffer { sdp, tracks, restart } => {
                if restart {
                    // Within the participant's budget of new peer connections (media/peer_budget.rs).
                    state
                        .media
                        .restart(room.meeting_id, &me.participant_id)
                        .map_err(|e| ("media_restart_limited", e.0, "publish_offer"))?;
                }
                let answer =
                    state.media.publish(room.meeting_id, &me.participant_id, sdp, tracks).await.map_err(|e| {
                        ("invalid_sdp", format!("the offer was not accepted: {}", e.0), "publish_offer")
                    })?;
                room.send_to(&me.participant_id, ServerMessage::PublishAnswer { sdp: answer });
            }
            ClientMessage::SubscribeAnswer { sdp, offer_id } => {
                use crate::media::AnswerRefused;
                state.media.subscribe_answer(room.meeting_id, &me.participant_id, sdp, offer_id).await.map_err(
                    |e| match e {
                        AnswerRefused::Stale(m) => ("stale_answer", m, "subscribe_answer"),
                        AnswerRefused::Invalid(e) => {
                            ("invalid_sdp", format!("the answer was not accepted: {}", e.0), "subscribe_answer")
                        }
                    },
                )?;
            }
            ClientMessage::SetVideoSize { track_id, width, height } => {
                let n = track_id.strip_prefix('t').and_then(|n| n.parse::<u64>().ok()).ok_or((
                    "unknown_track",
                    format!("no track {track_id:?}"),
                    "set_video_size",
                ))?;
                state.media.video_size(room.meeting_id, &me.participant_id, n, width, height);
            }
        }
        Ok(())
    }

    async fn admit(&self, state: &AppState, room: &Arc<Room>, pid: &str) {
        let Some(p) = room.admit_waiting(pid) else { return };
        if let Some(user_id) = &p.user_id {
            let push = crate::push::PushMessage::new(
                "You were let in",
                format!("A host admitted you to \u{201c}{}\u{201d}.", room.title),
                format!("{}/j/{}", state.config.public_url, room.meeting_id),
            )
            .with_tag(format!("meeting-{}", room.meeting_id));
            crate::push::spawn_send_to_user(state, user_id, push);
        }
        let token = room.resume_token_of(pid).unwrap_or_default();
        let attendance = room.attendance_id_of(pid).unwrap_or_default();
        if let Err(e) = self.seated(state, room, &p, &attendance).await {
            tracing::error!(error = %e, "could not record admission");
        }
        match self.welcome(state, room, &p, token, false).await {
            Ok(w) => room.send_to(pid, w),
            Err(e) => tracing::error!(error = %e, "could not build welcome"),
        }
    }

    async fn remove(&self, state: &AppState, room: &Arc<Room>, pid: &str, by: &str) {
        let farewell = ServerMessage::error("removed", "a host removed you from this meeting", None);
        let Some((v, client_key)) = room.remove(pid, LeaveReason::Removed, Some(farewell)) else { return };
        let now = state.clock.now_ms();
        for subject in v.participant.user_id.as_deref().map(user_subject).into_iter().chain(client_key) {
            if let Err(e) = state.store.ban(room.meeting_id, &subject, now).await {
                tracing::error!(error = %e, "could not record removal");
            }
        }
        room.broadcast(
            &ServerMessage::HostAction { action: HostAction::Removed, by: by.to_owned(), target: Some(pid.to_owned()) },
            None,
        );
        self.vacated(state, room, v).await;
    }

    /// Saves and delivers a chat message (to everyone, or to sender and recipient).
    pub(crate) async fn post_chat(
        &self,
        state: &AppState,
        room: &Room,
        from: &Participant,
        text: String,
        to: Option<&Participant>,
        file: Option<SharedFile>,
    ) -> Result<ChatMessage> {
        let now = state.clock.now();
        let row = ChatRow {
            // Time-ordered (monotonic within this process) so messages sent in the same millisecond
            // keep their order in history.
            id: format!("m_{}", uuid::Uuid::now_v7().simple()),
            meeting_id: room.meeting_id,
            from_participant: from.participant_id.clone(),
            from_user_id: from.user_id.clone(),
            from_name: from.display_name.clone(),
            to_participant: to.map(|t| t.participant_id.clone()),
            to_user_id: to.and_then(|t| t.user_id.clone()),
            to_name: to.map(|t| t.display_name.clone()),
            text,
            file_id: file.as_ref().map(|f| f.file_id.clone()),
            sent_at: now.timestamp_millis(),
        };
        // Delivered even while the database is away; stored in order, exactly once, when it is back.
        state.backlog.write(&state.store, Pending::Chat(row.clone())).await;
        let message = chat_message(&row, file);
        let frame = ServerMessage::ChatMessage { message: message.clone() };
        match to {
            None => room.broadcast(&frame, None),
            Some(t) => {
                room.send_to(&from.participant_id, frame.clone());
                room.send_to(&t.participant_id, frame);
            }
        }
        if to.is_none() {
            state.events.emit(Event::new(
                "chat.message",
                now,
                Some(room.meeting_id),
                Some(room.host_user_id.clone()),
                json!({"message_id": row.id, "from": row.from_name, "text": row.text}),
            ));
        }
        Ok(message)
    }

    async fn end(&self, state: &AppState, room: &Arc<Room>, reason: EndReason) {
        let now = state.clock.now_ms();
        // Persist first, so anyone who hears "ended" and asks the API sees it ended.
        if let Err(e) = state.store.set_meeting_status(room.meeting_id, crate::meeting::MeetingStatus::Ended, now).await
        {
            tracing::error!(error = %e, meeting_id = room.meeting_id, "could not mark meeting ended");
        }
        let vacated = room.close(&ServerMessage::MeetingEnded { reason });
        self.forget(room);
        // Before the media room goes: the recording keeps everything up to the end.
        if let Err(e) = crate::recording::stop(state, room).await {
            tracing::error!(error = %e, meeting_id = room.meeting_id, "could not stop the recording");
        }
        state.media.end_room(room.meeting_id);
        // Its next start is placed afresh (cluster mode), with no seats to restore.
        if state.cluster.is_clustered() {
            let (cluster, store, meeting_id) = (state.cluster.clone(), state.store.clone(), room.meeting_id);
            tokio::spawn(async move {
                let _ = store.delete_seats(meeting_id).await;
                cluster.release(meeting_id).await;
            });
        }
        for v in vacated.iter().filter(|v| v.was_seated) {
            state.backlog.write(&state.store, Pending::Leave { attendance_id: v.attendance_id.clone(), at: now }).await;
        }
        let reason_name = serde_json::to_value(reason).unwrap_or_default();
        state.events.emit(Event::new(
            "meeting.ended",
            state.clock.now(),
            Some(room.meeting_id),
            Some(room.host_user_id.clone()),
            json!({"meeting_id": room.meeting_id, "reason": reason_name, "participants": vacated.len()}),
        ));
        tracing::info!(meeting_id = room.meeting_id, ?reason, "meeting ended");
    }

    /// Someone is gone for good: attendance, events, a new host if the host left, and the
    /// end of the meeting when nobody is left.
    async fn vacated(&self, state: &AppState, room: &Arc<Room>, v: room::Vacated) {
        if !v.was_seated {
            return;
        }
        state.media.leave(room.meeting_id, &v.participant.participant_id);
        if state.cluster.is_clustered() {
            if let Err(e) = state.store.delete_seat(room.meeting_id, &v.participant.participant_id).await {
                tracing::warn!(error = %e, "could not forget a seat");
            }
        }
        let leave = Pending::Leave { attendance_id: v.attendance_id.clone(), at: state.clock.now_ms() };
        state.backlog.write(&state.store, leave).await;
        emit_participant(state, room, "participant.left", &v.participant);
        if room.is_empty() {
            self.end(state, room, EndReason::Empty).await;
            return;
        }
        if v.participant.role == Role::Host {
            // Hand the meeting to a co-host, else to whoever has been here longest.
            let people = room.participants();
            if let Some(next) = people.iter().find(|p| p.role == Role::Cohost).or_else(|| people.first()) {
                room.update(&next.participant_id, |p| p.role = Role::Host);
                keep_role(state, room, &next.participant_id);
                room.broadcast(
                    &ServerMessage::HostAction {
                        action: HostAction::MadeHost,
                        by: v.participant.participant_id.clone(),
                        target: Some(next.participant_id.clone()),
                    },
                    None,
                );
            }
        }
    }

    fn forget(&self, room: &Arc<Room>) {
        let mut rooms = self.rooms();
        if rooms.get(&room.meeting_id).is_some_and(|r| Arc::ptr_eq(r, room)) {
            rooms.remove(&room.meeting_id);
        }
    }

    /// The meeting's room, opened (and the meeting marked live) on first entry.
    async fn room_for(&self, state: &AppState, meeting: &MeetingRow, entrant: Option<&str>) -> Result<Arc<Room>> {
        let (room, created) = {
            let mut rooms = self.rooms();
            match rooms.get(&meeting.id) {
                Some(r) => (r.clone(), false),
                None => {
                    let settings = Settings::from_stored(&meeting.settings, &state.config);
                    let r = Arc::new(Room::new(
                        meeting.id,
                        meeting.title.clone(),
                        meeting.host_id.clone(),
                        state.clock.now(),
                        settings,
                    ));
                    rooms.insert(meeting.id, r.clone());
                    (r, true)
                }
            }
        };
        if created {
            state
                .store
                .set_meeting_status(meeting.id, crate::meeting::MeetingStatus::Live, state.clock.now_ms())
                .await?;
            state.events.emit(Event::new(
                "meeting.started",
                state.clock.now(),
                Some(meeting.id),
                Some(meeting.host_id.clone()),
                json!({"meeting_id": meeting.id, "title": meeting.title}),
            ));
            tokio::spawn(self.clone().watch_duration(state.clone(), room.clone()));
            if room.settings.auto_record {
                match crate::recording::start(state, &room, Some(&meeting.host_id)).await {
                    Ok(r) => tracing::info!(meeting_id = meeting.id, recording_id = %r.id, "auto-record started"),
                    Err(e) => tracing::error!(meeting_id = meeting.id, error = %e, "auto-record could not start"),
                }
            }
            tell_invitees_started(state, meeting, entrant).await;
            tracing::info!(meeting_id = meeting.id, "meeting started");
        }
        Ok(room)
    }

    /// Warns before the duration limit and ends the meeting when it passes. Checks the
    /// server clock each tick (so tests can move time).
    async fn watch_duration(self, state: AppState, room: Arc<Room>) {
        let limit = i64::from(room.settings.duration_limit_minutes) * 60;
        let mut tick = tokio::time::interval(Duration::from_millis(state.config.room_tick_ms));
        loop {
            tick.tick().await;
            if room.is_closed() {
                return;
            }
            let left = time_left(&state, &room);
            if left <= 0 {
                self.end(&state, &room, EndReason::DurationLimit).await;
                return;
            }
            if left <= WARNING_SECONDS.min(limit / 2) && room.take_warning() {
                room.broadcast(
                    &ServerMessage::Warning {
                        code: "ending_soon".into(),
                        message: ending_soon_text(left),
                        seconds_left: Some(left),
                    },
                    None,
                );
            }
        }
    }

    async fn welcome(
        &self,
        state: &AppState,
        room: &Room,
        me: &Participant,
        resume_token: String,
        resumed: bool,
    ) -> Result<ServerMessage> {
        let viewer = Viewer { participant_id: Some(&me.participant_id), user_id: me.user_id.as_deref() };
        // Without the database (a partition) the welcome comes without history rather than not at all.
        let rows = match state.store.chat_for(room.meeting_id, &viewer, 1, 0).await {
            Ok((_, total)) => state
                .store
                .chat_for(room.meeting_id, &viewer, WELCOME_CHAT, (total - WELCOME_CHAT).max(0))
                .await
                .map(|(rows, _)| rows)
                .unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "chat history unavailable for a welcome");
                Vec::new()
            }
        };
        let mut chat = Vec::with_capacity(rows.len());
        for row in &rows {
            chat.push(chat_message(row, shared_file(&state.store, row).await));
        }
        Ok(ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            participant_id: me.participant_id.clone(),
            role: me.role,
            resume_token,
            resumed,
            reconnect_grace_seconds: state.config.reconnect_grace_ms / 1000,
            meeting: MeetingInfo {
                meeting_id: room.meeting_id,
                title: room.title.clone(),
                host_id: room.host_user_id.clone(),
                started_at: room.started_at.to_rfc3339(),
                time_left_seconds: time_left(state, room).max(0),
                settings: serde_json::to_value(&room.settings).unwrap_or_default(),
                locked: room.is_locked(),
                recording: room.is_recording(),
            },
            participants: room.participants(),
            tracks: room.tracks(),
            chat,
        })
    }
}

/// The public shape of a stored chat message.
pub(crate) fn chat_message(row: &ChatRow, file: Option<SharedFile>) -> ChatMessage {
    ChatMessage {
        message_id: row.id.clone(),
        from: row.from_participant.clone(),
        from_name: row.from_name.clone(),
        to: row.to_participant.clone(),
        text: row.text.clone(),
        sent_at: from_ms(row.sent_at).to_rfc3339(),
        file,
    }
}

/// The file a chat message announces, if any.
pub(crate) async fn shared_file(store: &crate::store::Store, row: &ChatRow) -> Option<SharedFile> {
    let id = row.file_id.as_ref()?;
    let f = store.file(row.meeting_id, id).await.ok()??;
    Some(SharedFile {
        url: format!("/api/v1/meetings/{}/files/{}", f.meeting_id, f.id),
        file_id: f.id,
        name: f.name,
        size: u64::try_from(f.size).unwrap_or(0),
        content_type: f.content_type,
    })
}

/// Pushes "meeting started" to the host, co-hosts and invitees with accounts.
async fn tell_invitees_started(state: &AppState, m: &MeetingRow, entrant: Option<&str>) {
    let mut people: Vec<String> = vec![m.host_id.clone()];
    people.extend(state.store.co_hosts(m.id).await.unwrap_or_default());
    people.extend(state.store.invitees(m.id).await.unwrap_or_default().into_iter().filter_map(|i| i.user_id));
    people.sort();
    people.dedup();
    people.retain(|p| Some(p.as_str()) != entrant);
    let link = crate::notify::ics::join_url(m, &state.config.public_url);
    for user_id in people {
        let push = crate::push::PushMessage::new(
            format!("Started: {}", m.title),
            "The meeting has started. Join now.",
            link.clone(),
        )
        .with_tag(format!("meeting-{}", m.id));
        crate::push::spawn_send_to_user(state, &user_id, push);
    }
}

/// A moderator arriving learns who is waiting (after their welcome).
fn tell_waiting(room: &Room, p: &Participant) {
    let waiting = room.waiting_list();
    if p.role.is_moderator() && !waiting.is_empty() {
        room.send_to(&p.participant_id, ServerMessage::WaitingRoom { waiting });
    }
}

fn not_started() -> Error {
    Error::conflict("meeting_not_started", "the host has not started this meeting yet; try again in a moment")
}
fn locked() -> Error {
    Error::forbidden("meeting_locked", "the host has locked this meeting")
}
fn full() -> Error {
    Error::forbidden("meeting_full", "this meeting is full")
}

fn refusal_error(r: Refusal) -> Error {
    match r {
        Refusal::TicketUsed => {
            Error::conflict("ticket_used", "this join ticket was already used; join again for a new one")
        }
        Refusal::Locked => locked(),
        Refusal::Full => full(),
        Refusal::HostAbsent => not_started(),
        Refusal::Closed | Refusal::UnknownResume => {
            let (code, message) = crate::meeting::Closed::Ended.code_and_message();
            Error::gone(code, message)
        }
    }
}

fn time_left(state: &AppState, room: &Room) -> i64 {
    i64::from(room.settings.duration_limit_minutes) * 60 - (state.clock.now() - room.started_at).num_seconds()
}

/// The meeting, if people may be in it now.
async fn joinable(state: &AppState, meeting_id: i64) -> Result<MeetingRow> {
    let m = state
        .store
        .meeting(meeting_id)
        .await?
        .ok_or_else(|| Error::not_found("meeting_not_found", "no meeting has that ID"))?;
    crate::meeting::authorize(
        &crate::meeting::Actor::anonymous(),
        &m.facts(&state.config),
        crate::meeting::Action::Join,
    )?;
    Ok(m)
}

fn emit_participant(state: &AppState, room: &Room, kind: &'static str, p: &Participant) {
    state.events.emit(Event::new(
        kind,
        state.clock.now(),
        Some(room.meeting_id),
        Some(room.host_user_id.clone()),
        json!({"participant_id": p.participant_id, "user_id": p.user_id, "display_name": p.display_name, "role": p.role}),
    ));
}

/// Cluster mode: keeps a seat in the shared database, so another node can rebuild the
/// meeting if this one dies. Best effort: a failure costs only that failover.
async fn persist_seat(
    state: &AppState,
    meeting_id: i64,
    p: &Participant,
    resume_token: &str,
    attendance_id: &str,
    client_key: &Option<String>,
) {
    if !state.cluster.is_clustered() {
        return;
    }
    let row = crate::store::SeatRow {
        resume_hash: token_hash(resume_token),
        meeting_id,
        participant_id: p.participant_id.clone(),
        attendance_id: attendance_id.to_owned(),
        client_key: client_key.clone(),
        participant: serde_json::to_string(p).unwrap_or_default(),
        updated_at: state.clock.now_ms(),
    };
    if let Err(e) = state.store.save_seat(&row).await {
        tracing::warn!(error = %e, "could not keep a seat for failover");
    }
}

/// Cluster mode: a role or permission changed; the stored seat follows, so a rebuilt
/// meeting has it.
fn keep_role(state: &AppState, room: &Room, participant_id: &str) {
    if !state.cluster.is_clustered() {
        return;
    }
    let Some(p) = room.participant(participant_id) else { return };
    let (store, meeting_id) = (state.store.clone(), room.meeting_id);
    tokio::spawn(async move {
        let json = serde_json::to_string(&p).unwrap_or_default();
        if let Err(e) = store.update_seat_participant(meeting_id, &p.participant_id, &json).await {
            tracing::warn!(error = %e, "could not keep a role for failover");
        }
    });
}

/// The "ends soon" warning: whole minutes (rounded up) from a minute on, else seconds.
fn ending_soon_text(seconds_left: i64) -> String {
    let (n, unit) =
        if seconds_left >= 60 { ((seconds_left + 59) / 60, "minute") } else { (seconds_left.max(1), "second") };
    format!("This meeting ends in {n} {unit}{} (its time limit).", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::ending_soon_text;

    #[test]
    fn the_warning_counts_in_words_people_read() {
        assert_eq!(ending_soon_text(300), "This meeting ends in 5 minutes (its time limit).");
        assert_eq!(ending_soon_text(241), "This meeting ends in 5 minutes (its time limit).");
        assert_eq!(ending_soon_text(60), "This meeting ends in 1 minute (its time limit).");
        assert_eq!(ending_soon_text(30), "This meeting ends in 30 seconds (its time limit).");
        assert_eq!(ending_soon_text(1), "This meeting ends in 1 second (its time limit).");
    }
}
