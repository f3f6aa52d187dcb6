//! The first frame of someone seated: who they are, the meeting, who is here, the tracks to
//! subscribe to and the recent chat history they may see.

use convene_protocol::{MeetingInfo, Participant, ServerMessage, PROTOCOL_VERSION};

use super::chat::{chat_message, shared_file};
use super::lifecycle::time_left;
use super::room::Room;
use super::Live;
use crate::error::Result;
use crate::services::Services;
use crate::store::Viewer;

/// Chat history a newcomer receives in `welcome`.
const WELCOME_CHAT: i64 = 200;

impl Live {
    pub(super) async fn welcome(
        &self,
        state: &Services,
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
        // The main room's chat and that of the breakout room one is in now (if any).
        let here = i64::from(room.breakout.room_of(&me.participant_id));
        let mut chat = Vec::with_capacity(rows.len());
        for row in rows.iter().filter(|r| r.breakout_room.is_none_or(|k| k == here)) {
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
                captions: room.captions.is_on(),
                captions_available: state.config.captions.is_some(),
            },
            participants: room.participants(),
            tracks: super::breakout::tracks_for(room, &me.participant_id),
            chat,
            polls: self.polls.visible_to(state, room.meeting_id, me).await,
        })
    }
}

/// What follows a welcome, in the newcomer's queue: the breakout rooms if open, and who is
/// speaking in their room now.
pub(super) fn after_welcome(room: &Room, pid: &str) {
    super::breakout::tell_newcomer(room, pid);
    if let Some(told) = room.speakers.for_newcomer(room.breakout.room_of(pid)) {
        room.send_to(pid, told);
    }
}
