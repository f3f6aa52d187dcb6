//! Chat in a live meeting — messages to everyone or to one person, kept in the meeting's
//! history (the files shared there are announced the same way) — and emoji reactions,
//! which are not kept.

use convene_protocol::{ChatMessage, Participant, ServerMessage, SharedFile, MAX_CHAT_CHARS, REACTIONS};
use serde_json::json;

use super::room::Room;
use super::{target, Acted, Live};
use crate::clock::from_ms;
use crate::error::Result;
use crate::events::Event;
use crate::services::Services;
use crate::store::{ChatRow, Pending};

impl Live {
    /// `chat_send`: 1 to [`MAX_CHAT_CHARS`] characters, to everyone or to someone else.
    pub(super) async fn chat_send(
        &self,
        state: &Services,
        room: &Room,
        me: &Participant,
        text: String,
        to: Option<String>,
    ) -> Acted {
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
            Some(pid) => Some(target(room, pid, "chat_send")?),
            None => None,
        };
        self.post_chat(state, room, me, text, recipient.as_ref(), None)
            .await
            .map_err(|_| ("unavailable", "the message could not be saved; try again".to_owned(), "chat_send"))?;
        Ok(())
    }

    /// Saves and delivers a chat message: to everyone in the sender's room (the main room or
    /// their breakout room, which it is marked with), or to sender and recipient.
    pub(crate) async fn post_chat(
        &self,
        state: &Services,
        room: &Room,
        from: &Participant,
        text: String,
        to: Option<&Participant>,
        file: Option<SharedFile>,
    ) -> Result<ChatMessage> {
        let now = state.clock.now();
        // In a breakout room, a message to everyone stays in that room.
        let breakout = if to.is_none() { room.breakout.room_of(&from.participant_id) } else { 0 };
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
            breakout_room: (breakout != 0).then_some(i64::from(breakout)),
        };
        // Delivered even while the database is away; stored in order, exactly once, when it is back.
        state.backlog.write(&state.store, Pending::Chat(row.clone())).await;
        let message = chat_message(&row, file);
        let frame = ServerMessage::ChatMessage { message: message.clone() };
        match to {
            None => room.send_in(breakout, &frame),
            Some(t) => {
                room.send_to(&from.participant_id, frame.clone());
                room.send_to(&t.participant_id, frame);
            }
        }
        if to.is_none() && breakout == 0 {
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
}

/// `react`: one of [`REACTIONS`], shown to everyone for a moment.
pub(super) fn react(room: &Room, me: &Participant, emoji: String) -> Acted {
    if !REACTIONS.contains(&emoji.as_str()) {
        return Err(("invalid_message", format!("reactions are one of {}", REACTIONS.join(" ")), "react"));
    }
    room.broadcast(&ServerMessage::Reaction { participant_id: me.participant_id.clone(), emoji }, None);
    Ok(())
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
        room: row.breakout_room.and_then(|k| u32::try_from(k).ok()),
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
