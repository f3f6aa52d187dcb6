//! Live captions in a room: a host or co-host turns them on (`captions`), or the meeting's
//! setting does when the room opens; the media runtime then copies the microphones to the
//! captioner (captions.rs), whose captions come back on a channel, go to everyone in the room
//! they were said in as `caption` and, when final, into the meeting's transcript
//! (store/transcripts.rs). Each open breakout room is a stream of its own (its SFU room), its
//! captions go to its members and its transcript lines are marked with it.
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
use crate::media::{breakout_of, sfu_room};
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
    for sfu in streams(room) {
        if on {
            state.captions.start_meeting(sfu, epoch.0);
            state.media.set_captions(sfu, true);
        } else {
            state.media.set_captions(sfu, false);
            state.captions.stop_meeting(sfu);
        }
    }
    room.broadcast(&ServerMessage::CaptionsUpdated { on, by: by.map(str::to_owned) }, None);
    tracing::info!(meeting_id = room.meeting_id, on, "live captions");
}

/// The SFU rooms whose microphones are captioned: the meeting's and its open breakout rooms'.
fn streams(room: &Room) -> Vec<i64> {
    let rooms = if room.breakout.is_open() { room.breakout.count() } else { 0 };
    (0..=rooms).map(|k| sfu_room(room.meeting_id, k)).collect()
}

/// Breakout rooms opened: with captions on, each is captioned from the start.
pub(super) fn breakouts_opened(state: &Services, room: &Room) {
    let epoch = {
        let st = room.captions.lock();
        st.epoch.filter(|_| st.on)
    };
    let Some((epoch, _)) = epoch else { return };
    for sfu in streams(room).into_iter().skip(1) {
        state.captions.start_meeting(sfu, epoch);
        state.media.set_captions(sfu, true);
    }
}

/// Breakout rooms `1..=rooms` closed (their SFU rooms end): the last words' captions still come.
pub(super) fn breakouts_closed(state: &Services, room: &Room, rooms: u32) {
    if room.captions.is_on() {
        for k in 1..=rooms {
            state.captions.stop_meeting(sfu_room(room.meeting_id, k));
        }
    }
}

/// A room opened: the meeting's setting may start captions.
pub(super) fn opened(state: &Services, room: &Room) {
    if room.settings.captions && !room.settings.e2ee && state.captions.available() {
        switch(state, room, true, None);
    }
}

/// The meeting ended: the last words' captions still reach the transcript.
pub(super) fn ended(state: &Services, room: &Room) {
    let was_on = std::mem::replace(&mut room.captions.lock().on, false);
    if was_on {
        for sfu in streams(room) {
            state.captions.stop_meeting(sfu);
        }
    }
}

/// Someone left or turned their microphone off: what they were saying ends now.
pub(super) fn speaker_gone(state: &Services, room: &Room, participant_id: &str) {
    if room.captions.is_on() {
        state.captions.speaker_left(room.sfu_of(participant_id), participant_id);
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
            while let Some(MeetingCaption { meeting_id: sfu, caption: c }) = captions.recv().await {
                // Each breakout room is a stream of its own: its SFU room's id.
                let (meeting_id, k) = breakout_of(sfu).unwrap_or((sfu, 0));
                let key = (meeting_id, c.participant_id.clone());
                if let Some(room) = live.room(meeting_id) {
                    if let Some(ms) = room.captions.epoch_ms() {
                        epochs.insert(meeting_id, ms);
                    }
                    if let Some(p) = room.participant(&c.participant_id) {
                        speakers.insert(key.clone(), Speaker { name: p.display_name, user_id: p.user_id });
                    }
                    let caption = ServerMessage::Caption {
                        participant_id: c.participant_id.clone(),
                        utterance: c.utterance,
                        text: c.text.clone(),
                        is_final: c.is_final,
                        start_ms: c.start_ms,
                        end_ms: c.end_ms,
                    };
                    // Heard only where it was said.
                    room.send_in(k, &caption);
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
                    breakout_room: (k != 0).then_some(i64::from(k)),
                };
                if let Err(e) = state.store.insert_transcript_line(&line).await {
                    tracing::error!(meeting_id, error = %e, "could not save a transcript line");
                }
            }
        });
    }
}
