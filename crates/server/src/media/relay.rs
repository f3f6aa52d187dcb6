//! Turns the SFU rooms' events into signaling messages for the live meeting.

use std::collections::HashMap;

use convene_protocol::{OfferedTrack, ServerMessage, Track, TrackSource};
use convene_sfu::{ParticipantId, RoomEvent, Source, TrackKind};

use crate::live::Live;

/// Delivers media events to the participants of live meetings on this node.
pub(super) struct Relay {
    live: Live,
}

pub(super) fn source_to_sfu(s: TrackSource) -> Source {
    match s {
        TrackSource::Microphone => Source::Microphone,
        TrackSource::Camera => Source::Camera,
        TrackSource::Screen => Source::ScreenShare,
        TrackSource::ScreenAudio => Source::ScreenShareAudio,
    }
}

fn source_from_sfu(s: Source) -> TrackSource {
    match s {
        Source::Microphone => TrackSource::Microphone,
        Source::Camera => TrackSource::Camera,
        Source::ScreenShare => TrackSource::Screen,
        Source::ScreenShareAudio => TrackSource::ScreenAudio,
    }
}

/// The protocol's name for a track.
pub(crate) fn track_name(id: convene_sfu::TrackId) -> String {
    format!("t{}", id.0)
}

impl Relay {
    pub(super) fn new(live: Live) -> Relay {
        Relay { live }
    }

    pub(super) fn event(&self, meeting: i64, names: &HashMap<ParticipantId, String>, event: RoomEvent) {
        let Some(room) = self.live.room(meeting) else { return };
        let name = |p: &ParticipantId| names.get(p).cloned();
        match event {
            RoomEvent::SubscribeOffer { participant, sdp, tracks, offer_id } => {
                let Some(pid) = name(&participant) else { return };
                let tracks = tracks.into_iter().map(|(mid, t)| OfferedTrack { mid, track_id: track_name(t) }).collect();
                room.send_to(&pid, ServerMessage::SubscribeOffer { sdp, tracks, offer_id });
            }
            RoomEvent::TrackPublished { participant, track_id, kind, source, rids, .. } => {
                let Some(pid) = name(&participant) else { return };
                room.add_track(Track {
                    track_id: track_name(track_id),
                    participant_id: pid,
                    kind: match kind {
                        TrackKind::Audio => "audio".into(),
                        TrackKind::Video => "video".into(),
                    },
                    source: source_from_sfu(source),
                    simulcast: !rids.is_empty(),
                    muted: false,
                });
            }
            RoomEvent::TrackUnpublished { track_id, .. } => room.remove_track(&track_name(track_id)),
            RoomEvent::ActiveSpeaker { participant } => {
                room.broadcast(
                    &ServerMessage::ActiveSpeaker { participant_id: participant.as_ref().and_then(name) },
                    None,
                );
            }
            RoomEvent::PeerConnected { peer } => tracing::debug!(meeting, ?peer, "media connected"),
            RoomEvent::PeerDisconnected { peer } => tracing::info!(meeting, ?peer, "media connection closed"),
            RoomEvent::LayersWanted { .. } | RoomEvent::KeyframeRequested { .. } => {}
        }
    }
}
