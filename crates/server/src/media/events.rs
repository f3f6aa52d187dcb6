//! What the media runtime tells the live meetings, on a channel: the SFU rooms' events with
//! participants and tracks under their protocol names. This is the one place where the
//! SFU's numbers (`ParticipantId`, `TrackId`, `Source`) and the protocol's names meet.

use std::collections::HashMap;

use convene_protocol::{MediaSlot, OfferedTrack, Track, TrackSource};
use convene_sfu::{ParticipantId, RoomEvent, Source, TrackId, TrackKind};
use tokio::sync::mpsc;

/// A media event of one meeting, for its live room.
#[derive(Debug)]
pub struct MeetingEvent {
    pub meeting_id: i64,
    pub event: MediaEvent,
}

/// What a meeting's media did that its participants hear about.
#[derive(Debug)]
pub enum MediaEvent {
    /// A subscriber connection has a new offer for `participant_id`.
    SubscribeOffer {
        participant_id: String,
        sdp: String,
        tracks: Vec<OfferedTrack>,
        offer_id: u64,
    },
    TrackPublished(Track),
    TrackUnpublished {
        track_id: String,
    },
    /// The loudest speaker now, if anyone speaks.
    ActiveSpeaker {
        participant_id: Option<String>,
    },
    /// What each slot of `participant_id`'s slot subscription carries now.
    SlotMap {
        participant_id: String,
        slots: Vec<MediaSlot>,
    },
}

/// Where the media workers send their events (never blocks a worker).
pub type EventSender = mpsc::UnboundedSender<MeetingEvent>;
/// Where the live meetings read them.
pub type EventReceiver = mpsc::UnboundedReceiver<MeetingEvent>;

/// The channel between the media runtime and the live meetings.
pub fn channel() -> (EventSender, EventReceiver) {
    mpsc::unbounded_channel()
}

/// The protocol's name for a track of SFU room `sfu` (a breakout room's tracks carry the
/// room, `b2t5`, so their names never clash with the main room's `t5`).
pub(crate) fn track_name(sfu: i64, id: TrackId) -> String {
    match breakout_of(sfu) {
        Some((_, k)) => format!("b{k}t{}", id.0),
        None => format!("t{}", id.0),
    }
}

/// The SFU's number of a track the protocol names, if it is one.
pub(crate) fn track_number(name: &str) -> Option<u64> {
    let name = match name.strip_prefix('b') {
        Some(rest) => rest.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => name,
    };
    name.strip_prefix('t').and_then(|n| n.parse::<u64>().ok())
}

/// Breakout rooms per meeting the SFU room ids leave space for (more than the 50 allowed).
const BREAKOUT_SLOTS: i64 = 64;

/// The SFU room of breakout room `k` of `meeting` (0: the meeting's own room). Breakout
/// rooms get negative ids, which no meeting has, on the same node as their meeting.
pub fn sfu_room(meeting: i64, k: u32) -> i64 {
    if k == 0 {
        meeting
    } else {
        -(meeting * BREAKOUT_SLOTS + i64::from(k))
    }
}

/// The meeting and breakout room of an SFU room id, if it is a breakout room's.
pub fn breakout_of(sfu: i64) -> Option<(i64, u32)> {
    (sfu < 0).then(|| (-sfu / BREAKOUT_SLOTS, u32::try_from(-sfu % BREAKOUT_SLOTS).unwrap_or(0)))
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

fn kind_name(kind: TrackKind) -> String {
    match kind {
        TrackKind::Audio => "audio".into(),
        TrackKind::Video => "video".into(),
    }
}

/// An SFU room event in protocol names (`names`: the room's participants), if signaling
/// hears of it; connection changes are logged here.
pub(super) fn translate(meeting: i64, names: &HashMap<ParticipantId, String>, event: RoomEvent) -> Option<MediaEvent> {
    let name = |p: &ParticipantId| names.get(p).cloned();
    Some(match event {
        RoomEvent::SubscribeOffer { participant, sdp, tracks, offer_id } => MediaEvent::SubscribeOffer {
            participant_id: name(&participant)?,
            sdp,
            tracks: tracks.into_iter().map(|(mid, t)| OfferedTrack { mid, track_id: track_name(meeting, t) }).collect(),
            offer_id,
        },
        RoomEvent::TrackPublished { participant, track_id, kind, source, rids, .. } => {
            MediaEvent::TrackPublished(Track {
                track_id: track_name(meeting, track_id),
                participant_id: name(&participant)?,
                kind: kind_name(kind),
                source: source_from_sfu(source),
                simulcast: !rids.is_empty(),
                muted: false,
            })
        }
        RoomEvent::TrackUnpublished { track_id, .. } => {
            MediaEvent::TrackUnpublished { track_id: track_name(meeting, track_id) }
        }
        RoomEvent::ActiveSpeaker { participant } => {
            MediaEvent::ActiveSpeaker { participant_id: participant.as_ref().and_then(name) }
        }
        RoomEvent::SlotMap { participant, slots } => MediaEvent::SlotMap {
            participant_id: name(&participant)?,
            slots: slots
                .into_iter()
                .map(|(mid, kind, t)| MediaSlot {
                    mid,
                    kind: kind_name(kind),
                    track_id: t.map(|t| track_name(meeting, t)),
                })
                .collect(),
        },
        RoomEvent::PeerConnected { peer } => {
            tracing::debug!(meeting, ?peer, "media connected");
            return None;
        }
        RoomEvent::PeerDisconnected { peer } => {
            tracing::info!(meeting, ?peer, "media connection closed");
            return None;
        }
        RoomEvent::LayersWanted { .. } | RoomEvent::KeyframeRequested { .. } => return None,
    })
}

#[cfg(test)]
mod breakout_ids {
    use super::*;

    #[test]
    fn breakout_rooms_have_their_own_sfu_rooms_and_track_names() {
        assert_eq!(sfu_room(7, 0), 7);
        assert_eq!(breakout_of(7), None);
        for k in [1, 2, 50] {
            assert_eq!(breakout_of(sfu_room(7, k)), Some((7, k)));
        }
        assert_ne!(sfu_room(7, 1), sfu_room(8, 1));
        assert_eq!(track_name(sfu_room(7, 2), TrackId(5)), "b2t5");
        assert_eq!(track_number("b2t5"), Some(5));
        assert_eq!(track_number("t5"), Some(5));
        assert_eq!(track_number("b2x5"), None);
    }
}

#[cfg(test)]
mod slot_maps {
    use super::*;

    #[test]
    fn a_slot_map_names_participant_and_tracks_as_the_protocol_does() {
        let names = HashMap::from([(ParticipantId(1), "p_a".to_owned())]);
        let slots =
            vec![("0".to_owned(), TrackKind::Audio, Some(TrackId(4))), ("3".to_owned(), TrackKind::Video, None)];
        let event = RoomEvent::SlotMap { participant: ParticipantId(1), slots };
        let Some(MediaEvent::SlotMap { participant_id, slots }) = translate(sfu_room(7, 2), &names, event) else {
            panic!("a slot map is for signaling");
        };
        assert_eq!(participant_id, "p_a");
        assert_eq!(
            slots,
            [
                MediaSlot { mid: "0".into(), kind: "audio".into(), track_id: Some("b2t4".into()) },
                MediaSlot { mid: "3".into(), kind: "video".into(), track_id: None },
            ]
        );
        // A subscriber the worker no longer names (gone meanwhile) hears nothing.
        let gone = RoomEvent::SlotMap { participant: ParticipantId(9), slots: vec![] };
        assert!(translate(7, &names, gone).is_none());
    }
}
