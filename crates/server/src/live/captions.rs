//! Live captions in a room: a host or co-host turns them on (`captions`), or the meeting's
//! setting does when the room opens; the media runtime then copies the microphones to the
//! captioner (captions.rs), whose captions come back on a channel, go to everyone as
//! `caption` and, when final, into the meeting's transcript (store/transcripts.rs).
//!
//! End-to-end encrypted meetings refuse them: the server holds only SFrame ciphertext.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use convene_captions::MeetingCaption;
use convene_protocol::{Participant, ServerMessage};

use super::room::Room;
use super::{Acted, Live};
use crate::captions::CaptionReceiver;
use crate::services::Services;
use crate::store::TranscriptLine;

/// The error code and message of captions asked for in an E2EE meeting.
pub(crate) const E2EE_REFUSAL: (&str, &str) = (
    "e2ee_no_server_captions",
    "Captions are unavailable in end-to-end encrypted meetings: the server cannot hear them",
);

/// `captions { on }` from a host or co-host.
pub(super) fn toggle(state: &Services, room: &Arc<Room>, me: &Participant, on: bool) -> Acted {
    super::permit::moderator(me, "captions")?;
    if on {
        if room.settings.e2ee {
            return Err((E2EE_REFUSAL.0, E2EE_REFUSAL.1.to_owned(), "captions"));
        }
        if !state.captions.available() {
            return Err((
                "captions_unavailable",
                "this server runs no captions engine (ask its operator: --captions-engine)".to_owned(),
                "captions",
            ));
        }
    }
    switch(state, room, on, Some(me.participant_id.as_str()));
    Ok(())
}

/// Turns captions on or off and tells everyone (nothing when already so).
fn switch(state: &Services, room: &Room, on: bool, by: Option<&str>) {
    let epoch = {
        let mut st = room.captions.lock();
        if st.on == on {
            return;
        }
        st.on = on;
        *st.epoch.get_or_insert_with(|| (Instant::now(), state.clock.now_ms()))
    };
    if on {
        state.captions.start_meeting(room.meeting_id, epoch.0);
        state.media.set_captions(room.meeting_id, true);
    } else {
        state.media.set_captions(room.meeting_id, false);
        state.captions.stop_meeting(room.meeting_id);
    }
    room.broadcast(&ServerMessage::CaptionsUpdated { on, by: by.map(str::to_owned) }, None);
    tracing::info!(meeting_id = room.meeting_id, on, "live captions");
}

/// A room opened: the meeting's setting may start captions.
pub(super) fn opened(state: &Services, room: &Room) {
    if room.settings.captions && !room.settings.e2ee && state.captions.available() {
        switch(state, room, true, None);
    }
}

/// The meeting ended: the last words' captions still reach the transcript.
pub(super) fn ended(state: &Services, room: &Room) {
    let mut st = room.captions.lock();
    if std::mem::replace(&mut st.on, false) {
        state.captions.stop_meeting(room.meeting_id);
    }
}

/// Someone left or turned their microphone off: what they were saying ends now.
pub(super) fn speaker_gone(state: &Services, room: &Room, participant_id: &str) {
    if room.captions.is_on() {
        state.captions.speaker_left(room.meeting_id, participant_id);
    }
}

/// Who said a caption, remembered for captions that come after they (or the meeting) left.
#[derive(Clone)]
struct Speaker {
    name: String,
    user_id: Option<String>,
}

impl Live {
    /// Hands the captioner's captions to their rooms and the transcript until it stops.
    pub fn relay_captions(&self, state: Services, mut captions: CaptionReceiver) {
        let live = self.clone();
        tokio::spawn(async move {
            let mut speakers: HashMap<(i64, String), Speaker> = HashMap::new();
            let mut epochs: HashMap<i64, i64> = HashMap::new();
            while let Some(MeetingCaption { meeting_id, caption: c }) = captions.recv().await {
                let key = (meeting_id, c.participant_id.clone());
                if let Some(room) = live.room(meeting_id) {
                    if let Some(ms) = room.captions.epoch_ms() {
                        epochs.insert(meeting_id, ms);
                    }
                    if let Some(p) = room.participant(&c.participant_id) {
                        speakers.insert(key.clone(), Speaker { name: p.display_name, user_id: p.user_id });
                    }
                    room.broadcast(
                        &ServerMessage::Caption {
                            participant_id: c.participant_id.clone(),
                            utterance: c.utterance,
                            text: c.text.clone(),
                            is_final: c.is_final,
                            start_ms: c.start_ms,
                            end_ms: c.end_ms,
                        },
                        None,
                    );
                }
                let text = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
                if !c.is_final || text.is_empty() {
                    continue;
                }
                let Some(&epoch) = epochs.get(&meeting_id) else { continue };
                let who = speakers.get(&key).cloned().unwrap_or(Speaker { name: "Someone".into(), user_id: None });
                let line = TranscriptLine {
                    id: format!("cap_{}", uuid::Uuid::now_v7().simple()),
                    meeting_id,
                    participant_id: c.participant_id,
                    user_id: who.user_id,
                    speaker: who.name,
                    start_at: epoch.saturating_add(i64::try_from(c.start_ms).unwrap_or(i64::MAX)),
                    end_at: epoch.saturating_add(i64::try_from(c.end_ms.max(c.start_ms)).unwrap_or(i64::MAX)),
                    text,
                };
                if let Err(e) = state.store.insert_transcript_line(&line).await {
                    tracing::error!(meeting_id, error = %e, "could not save a transcript line");
                }
            }
        });
    }
}
