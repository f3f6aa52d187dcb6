//! Slot subscriptions: a subscriber connection with a fixed set of m-lines, negotiated once,
//! whose sources the room switches — as Meet does, and Jitsi's last-N.
//!
//! With one m-line per remote track ([`Subscription::PerTrack`]), every join and leave
//! renegotiates every other participant's connection, and each connection's work grows with
//! the room. A slot subscriber instead gets [`AUDIO_SLOTS`] audio m-lines, which carry the
//! loudest microphones, and as many video m-lines as it shows tiles; the room moves a slot
//! from one track to another by rewriting SSRC, sequence numbers, timestamps and VP8 picture
//! numbers (as it already does across simulcast layers) and asking the new source for a
//! keyframe. [`RoomEvent::SlotMap`](crate::RoomEvent::SlotMap) tells the client which track
//! each slot carries.

use std::cmp::Reverse;
use std::time::Instant;

use str0m::media::Mid;

use crate::maps::Map;
use crate::track::{DownTrack, Source, TrackId, TrackKind};
use crate::ParticipantId;

/// Audio slots of a slot subscriber: the loudest microphones, as many as people can follow.
pub const AUDIO_SLOTS: usize = 3;

/// The most video slots a subscriber may ask for (a 5×5 gallery).
pub const MAX_VIDEO_SLOTS: u8 = 25;

/// How a participant's subscriber connection receives the others' tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subscription {
    /// One send-only m-line per remote track, offered as tracks come and stopped as they go.
    #[default]
    PerTrack,
    /// [`AUDIO_SLOTS`] audio slots and `video` video slots (at most [`MAX_VIDEO_SLOTS`];
    /// more is clamped), negotiated once.
    Slots {
        /// Video slots: the tiles the client shows at most.
        video: u8,
    },
}

/// One slot subscriber's slots. An assigned slot lives in the participant's down tracks,
/// keyed by the track it carries (so the fan-out finds it exactly as it finds a per-track
/// down track); an idle one waits here.
#[derive(Debug)]
pub(crate) struct Slots {
    /// The video slots asked for.
    pub(crate) video: usize,
    /// Slots that carry nothing now.
    pub(crate) idle: Vec<DownTrack>,
    /// Every slot's mid and kind, in the order offered.
    pub(crate) mids: Vec<(Mid, TrackKind)>,
    /// The size the client gave each video track's tile (0×0: hidden).
    pub(crate) sizes: Map<TrackId, (u32, u32)>,
}

impl Slots {
    pub(crate) fn new(video: u8) -> Slots {
        let video = usize::from(video.min(MAX_VIDEO_SLOTS));
        let idle = (0..AUDIO_SLOTS)
            .map(|_| DownTrack::slot(TrackKind::Audio))
            .chain((0..video).map(|_| DownTrack::slot(TrackKind::Video)))
            .collect();
        Slots { video, idle, mids: Vec::new(), sizes: Map::default() }
    }

    /// Takes an idle slot of `kind`, if one is left.
    pub(crate) fn take_idle(&mut self, kind: TrackKind) -> Option<DownTrack> {
        let i = self.idle.iter().position(|d| d.slot == Some(kind))?;
        Some(self.idle.swap_remove(i))
    }
}

/// A video track a slot subscriber might be shown, with what ranks it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub(crate) track: TrackId,
    pub(crate) publisher: ParticipantId,
    pub(crate) source: Source,
}

/// The video tracks that get a subscriber's `slots` video slots: screen shares first, then the
/// active speaker's camera, then the cameras of those who spoke most recently, then the
/// earliest published (a quiet room keeps the same tiles). Tracks the subscriber hid (a 0×0
/// tile) are left out.
pub(crate) fn video_choice(
    mut candidates: Vec<Candidate>,
    slots: usize,
    sizes: &Map<TrackId, (u32, u32)>,
    speaker: Option<ParticipantId>,
    spoke: &Map<ParticipantId, Instant>,
) -> Vec<TrackId> {
    candidates.retain(|c| sizes.get(&c.track).is_none_or(|&(w, h)| w > 0 && h > 0));
    candidates.sort_by_key(|c| {
        (
            c.source != Source::ScreenShare,
            Some(c.publisher) != speaker,
            Reverse(spoke.get(&c.publisher).copied()),
            c.track,
        )
    });
    candidates.into_iter().take(slots).map(|c| c.track).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn camera(track: u64, publisher: u64) -> Candidate {
        Candidate { track: TrackId(track), publisher: ParticipantId(publisher), source: Source::Camera }
    }

    #[test]
    fn screens_then_the_speaker_then_recent_speakers_then_the_earliest_fill_the_slots() {
        let t0 = Instant::now();
        let mut spoke = Map::default();
        spoke.insert(ParticipantId(3), t0);
        spoke.insert(ParticipantId(4), t0 + Duration::from_secs(5));
        let screen = Candidate { track: TrackId(9), publisher: ParticipantId(1), source: Source::ScreenShare };
        let all = vec![camera(1, 1), camera(2, 2), camera(3, 3), camera(4, 4), camera(5, 5), screen];
        let sizes = Map::default();
        let chosen = video_choice(all.clone(), 4, &sizes, Some(ParticipantId(5)), &spoke);
        assert_eq!(chosen, [TrackId(9), TrackId(5), TrackId(4), TrackId(3)]);
        let quiet = video_choice(all, 3, &sizes, None, &Map::default());
        assert_eq!(quiet, [TrackId(9), TrackId(1), TrackId(2)]);
    }

    #[test]
    fn a_hidden_tile_gives_its_slot_to_the_next() {
        let mut sizes = Map::default();
        sizes.insert(TrackId(1), (0, 0));
        sizes.insert(TrackId(2), (320, 180));
        let chosen = video_choice(vec![camera(1, 1), camera(2, 2), camera(3, 3)], 2, &sizes, None, &Map::default());
        assert_eq!(chosen, [TrackId(2), TrackId(3)]);
    }

    #[test]
    fn slots_are_clamped_and_start_idle() {
        let s = Slots::new(200);
        assert_eq!(s.video, usize::from(MAX_VIDEO_SLOTS));
        assert_eq!(s.idle.iter().filter(|d| d.slot == Some(TrackKind::Audio)).count(), AUDIO_SLOTS);
        assert_eq!(s.idle.len(), AUDIO_SLOTS + usize::from(MAX_VIDEO_SLOTS));
    }
}
