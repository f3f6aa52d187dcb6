//! What a host holds back, whatever the participant's client sends: a muted participant's
//! audio, a stopped participant's camera (a shared screen stays). The one place that says
//! which tracks a hold covers; forwarding, the cache's replay to newcomers and the choice of
//! video slots all ask it.

use crate::maps::Set;
use crate::track::{Source, TrackKind, UpTrack};
use crate::ParticipantId;

#[derive(Debug, Default)]
pub(super) struct HostHolds {
    /// Participants a host muted: none of their audio is forwarded.
    muted: Set<ParticipantId>,
    /// Participants whose camera a host stopped: it is not forwarded, not even its last
    /// picture, until they turn it on again.
    video_stopped: Set<ParticipantId>,
}

impl HostHolds {
    pub(super) fn set_muted(&mut self, participant: ParticipantId, muted: bool) {
        set(&mut self.muted, participant, muted);
    }

    pub(super) fn set_video_stopped(&mut self, participant: ParticipantId, stopped: bool) {
        set(&mut self.video_stopped, participant, stopped);
    }

    /// Forgets a participant who left.
    pub(super) fn forget(&mut self, participant: ParticipantId) {
        self.muted.remove(&participant);
        self.video_stopped.remove(&participant);
    }

    /// Whether a host holds back `publisher`'s track of this kind and source.
    pub(super) fn holds(&self, publisher: ParticipantId, kind: TrackKind, source: Source) -> bool {
        match kind {
            TrackKind::Audio => self.muted.contains(&publisher),
            TrackKind::Video => source == Source::Camera && self.video_stopped.contains(&publisher),
        }
    }

    /// [`HostHolds::holds`] for a track.
    pub(super) fn holds_track(&self, track: &UpTrack) -> bool {
        self.holds(track.publisher, track.kind, track.source)
    }
}

fn set(members: &mut Set<ParticipantId>, participant: ParticipantId, member: bool) {
    if member {
        members.insert(participant);
    } else {
        members.remove(&participant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_camera_is_held_but_not_the_screen_nor_the_microphone() {
        let (p, q) = (ParticipantId(1), ParticipantId(2));
        let mut holds = HostHolds::default();
        holds.set_video_stopped(p, true);
        assert!(holds.holds(p, TrackKind::Video, Source::Camera));
        assert!(!holds.holds(p, TrackKind::Video, Source::ScreenShare));
        assert!(!holds.holds(p, TrackKind::Audio, Source::Microphone));
        assert!(!holds.holds(q, TrackKind::Video, Source::Camera));
        holds.set_video_stopped(p, false);
        assert!(!holds.holds(p, TrackKind::Video, Source::Camera));
    }

    #[test]
    fn a_muted_participant_is_held_until_unmuted_or_gone() {
        let p = ParticipantId(1);
        let mut holds = HostHolds::default();
        holds.set_muted(p, true);
        holds.set_video_stopped(p, true);
        assert!(holds.holds(p, TrackKind::Audio, Source::Microphone));
        holds.set_muted(p, false);
        assert!(!holds.holds(p, TrackKind::Audio, Source::Microphone));
        holds.set_muted(p, true);
        holds.forget(p);
        assert!(!holds.holds(p, TrackKind::Audio, Source::Microphone));
        assert!(!holds.holds(p, TrackKind::Video, Source::Camera));
    }
}
