//! The media runtime's events (media/events.rs, on a channel) applied to the live rooms:
//! subscribe offers and slot maps to their participant, published and unpublished tracks and
//! the active speaker to everyone.

use convene_protocol::ServerMessage;
use tokio::task::JoinHandle;

use super::Live;
use crate::media::{EventReceiver, MediaEvent, MeetingEvent};

impl Live {
    /// Applies media events until the media runtime is gone.
    pub fn relay(&self, mut events: EventReceiver) -> JoinHandle<()> {
        let live = self.clone();
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                live.apply(e);
            }
        })
    }

    fn apply(&self, MeetingEvent { meeting_id, event }: MeetingEvent) {
        // A breakout room's SFU room: its events go to that room's members only.
        if let Some((meeting, k)) = crate::media::breakout_of(meeting_id) {
            if let Some(room) = self.room(meeting) {
                super::breakout_media::apply(&room, k, event);
            }
            return;
        }
        let Some(room) = self.room(meeting_id) else { return };
        match event {
            // Not to someone who went to a breakout room meanwhile (live/breakout_media.rs).
            MediaEvent::SubscribeOffer { participant_id, sdp, tracks, offer_id } => {
                if !room.breakout.away(&participant_id) {
                    room.send_to(&participant_id, ServerMessage::SubscribeOffer { sdp, tracks, offer_id });
                }
            }
            MediaEvent::SlotMap { participant_id, slots } => {
                if !room.breakout.away(&participant_id) {
                    room.send_to(&participant_id, ServerMessage::SlotMap { slots });
                }
            }
            MediaEvent::TrackPublished(track) => room.add_track(track),
            MediaEvent::TrackUnpublished { track_id } => room.remove_track(&track_id),
            MediaEvent::ActiveSpeaker { participant_id } => {
                room.speakers.set(0, participant_id.as_deref());
                room.send_in(0, &ServerMessage::ActiveSpeaker { participant_id });
            }
        }
    }
}
