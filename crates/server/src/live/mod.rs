//! Live meetings: the registry of rooms on this node, and the one door through which a
//! client's message reaches the file that handles it.
//!
//! A room ([`room`]) holds who is in a meeting and fans messages out; the files here hold
//! the rules around it, one responsibility each: [`entry`] (entering, waiting, resuming,
//! leaving), [`welcome`] (a newcomer's first frame), [`moderation`] (host actions),
//! [`chat`] (messages and reactions), [`signaling`] (a participant's own state and SDP),
//! [`failover`] (cluster seats, drain, reconcile, moving a room), [`lifecycle`] (opening,
//! the duration limit, someone gone for good, the end), [`recording`] (the server recording
//! of a room) and [`relay`] (the media runtime's events, from their channel, into the rooms).
//!
//! Everything here takes the shared services (services.rs), never the HTTP state that holds
//! `Live` itself.

mod admission;
mod breakout;
mod breakout_media;
mod captions;
mod chat;
pub(crate) mod e2ee;
mod entry;
mod failover;
mod lifecycle;
pub(crate) mod limits;
mod moderation;
mod p2p;
mod permit;
pub(crate) mod polls;
pub(crate) mod recording;
mod relay;
pub(crate) mod revocation;
mod room;
mod signaling;
mod welcome;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use convene_protocol::{ClientMessage, Participant, ServerMessage};
use serde_json::json;

pub(crate) use chat::shared_file;
pub(crate) use room::{Attached, Room};

use crate::events::Event;
use crate::services::Services;

/// The rooms live on this node.
#[derive(Clone, Default)]
pub struct Live {
    rooms: Arc<Mutex<HashMap<i64, Arc<Room>>>>,
    /// Message rates and sockets per address (issue 16).
    pub(crate) floodgates: Arc<limits::Floodgates>,
    /// Polls of the meetings live here (issue 21).
    pub(crate) polls: Arc<polls::Book>,
}

/// A connection that made it into a room (seated, or waiting to be admitted).
pub(crate) struct Entered {
    pub(crate) room: Arc<Room>,
    pub(crate) attached: Attached,
    /// `welcome`, or `waiting` for someone held in the waiting room.
    pub(crate) first: ServerMessage,
}

/// Why a client message was refused: the error code, the message, and the request's name
/// (sent back in the error frame; nothing changed).
type Refused = (&'static str, String, &'static str);

/// What handling a client message comes to.
type Acted = std::result::Result<(), Refused>;

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

    /// Whether `meeting_id` is live on this node and being recorded.
    pub(crate) fn is_recording(&self, meeting_id: i64) -> bool {
        self.room(meeting_id).is_some_and(|r| r.is_recording())
    }

    fn forget(&self, room: &Arc<Room>) {
        let mut rooms = self.rooms();
        if rooms.get(&room.meeting_id).is_some_and(|r| Arc::ptr_eq(r, room)) {
            rooms.remove(&room.meeting_id);
            self.polls.forget(room.meeting_id);
        }
    }

    /// Handles a client message other than ping / leave; returns an error frame for the
    /// sender if it was refused (and then nothing changed).
    pub(crate) async fn act(
        &self,
        state: &Services,
        room: &Arc<Room>,
        actor: &str,
        msg: ClientMessage,
    ) -> Option<ServerMessage> {
        let Some(me) = room.participant(actor) else {
            return Some(ServerMessage::error("not_admitted", "wait until a host lets you in", None));
        };
        let seen = p2p::Seen::of(&msg);
        match self.act_seated(state, room, &me, msg).await {
            Ok(()) => {
                p2p::after(state, room, &me, seen);
                None
            }
            Err((code, message, request)) => Some(ServerMessage::error(code, message, Some(request))),
        }
    }

    /// One arm per message kind, each handled in the file of its responsibility.
    async fn act_seated(&self, state: &Services, room: &Arc<Room>, me: &Participant, msg: ClientMessage) -> Acted {
        use ClientMessage as M;
        match msg {
            M::SetState { muted, camera_on, hand_raised, recording_locally } => {
                if muted == Some(true) {
                    captions::speaker_gone(state, room, &me.participant_id);
                }
                signaling::set_state(state, room, me, muted, camera_on, hand_raised, recording_locally)
            }
            M::ChatSend { text, to } => self.chat_send(state, room, me, text, to).await,
            M::React { emoji } => chat::react(room, me, emoji),
            M::Mute { participant_id } => moderation::mute(state, room, me, participant_id),
            M::MuteAll => moderation::mute_all(state, room, me),
            M::AskUnmute { participant_id } => moderation::ask_unmute(room, me, participant_id),
            M::StopVideo { participant_id } => moderation::stop_video(state, room, me, participant_id),
            M::LowerHand { participant_id } => moderation::lower_hand(room, me, participant_id),
            M::Remove { participant_id } => self.remove_by(state, room, me, participant_id).await,
            M::Lock { locked } => moderation::lock(room, me, locked),
            M::Admit { participant_id } => self.admit_one(state, room, me, participant_id).await,
            M::AdmitAll => self.admit_all(state, room, me).await,
            M::Deny { participant_id } => moderation::deny(room, me, participant_id),
            M::SetRole { participant_id, role } => moderation::set_role(state, room, me, participant_id, role),
            M::TransferHost { participant_id } => moderation::transfer_host(state, room, me, participant_id),
            M::AllowLocalRecording { participant_id, allowed } => {
                moderation::allow_local_recording(state, room, me, participant_id, allowed)
            }
            M::Record { recording } => moderation::record(state, room, me, recording).await,
            M::E2eeKey { to, blob } => e2ee::relay(state, room, me, &to, &blob),
            M::EndMeeting => self.end_by(state, room, me).await,
            M::Captions { on } => captions::toggle(state, room, me, on),
            M::Ping { .. } | M::Leave => Ok(()),
            m @ (M::P2pCapable
            | M::P2pOffer { .. }
            | M::P2pAnswer { .. }
            | M::P2pCandidate { .. }
            | M::P2pStatus { .. }) => p2p::act(state, room, me, m),
            M::PublishOffer { sdp, tracks, restart } => {
                signaling::publish_offer(state, room, me, sdp, tracks, restart).await
            }
            M::SubscribeAnswer { sdp, offer_id } => signaling::subscribe_answer(state, room, me, sdp, offer_id).await,
            M::SetVideoSize { track_id, width, height } => {
                signaling::set_video_size(state, room, me, &track_id, width, height)
            }
            // --- polls (issue 21) ---
            M::PollCreate { question, options, multiple, anonymous } => {
                let new = polls::NewPoll { question, options, multiple, anonymous };
                self.polls.create(state, room, me, new).await
            }
            M::PollVote { poll_id, choices } => self.polls.vote(state, room, me, &poll_id, choices).await,
            M::PollEnd { poll_id } => self.polls.end(state, room, me, &poll_id).await,
            M::PollShare { poll_id } => self.polls.share(state, room, me, &poll_id).await,
            // Breakout rooms (live/breakout.rs).
            M::BreakoutOpen { rooms, assign, names, assignments, minutes } => {
                breakout::open(state, room, me, rooms, assign, names, assignments, minutes).await
            }
            M::BreakoutRename { room: k, name } => breakout::rename(room, me, k, name),
            M::BreakoutMove { participant_id, room: k } => {
                breakout::move_someone(state, room, me, participant_id, k).await
            }
            M::BreakoutChoose { room: k } => breakout::choose(state, room, me, k).await,
            M::BreakoutBroadcast { text } => breakout::broadcast(room, me, text),
            M::BreakoutHelp => breakout::help(room, me),
            M::BreakoutClose { countdown_seconds } => breakout::close(state, room, me, countdown_seconds),
        }
    }
}

/// The participant `pid` of `room`, or the refusal of the request `req` that named them.
fn target(room: &Room, pid: &str, req: &'static str) -> std::result::Result<Participant, Refused> {
    room.participant(pid).ok_or(("unknown_participant", format!("no participant {pid:?} in this meeting"), req))
}

fn emit_participant(state: &Services, room: &Room, kind: &'static str, p: &Participant) {
    state.events.emit(Event::new(
        kind,
        state.clock.now(),
        Some(room.meeting_id),
        Some(room.host_user_id.clone()),
        json!({"participant_id": p.participant_id, "user_id": p.user_id, "display_name": p.display_name, "role": p.role}),
    ));
}
