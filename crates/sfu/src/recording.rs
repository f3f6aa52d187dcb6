//! The recording tap: a copy of every packet the room forwards, for a recorder outside the
//! room, while recording is on.
//!
//! The room never writes files: it queues [`RecordedPacket`]s that the runtime drains with
//! [`Room::poll_recorded`](crate::Room::poll_recorded) after each drain of
//! [`Room::poll_output`](crate::Room::poll_output) and hands to its recorder.
//!
//! Of a simulcast video track only one layer is recorded: the highest layer the publisher
//! sends. The tap moves up to a higher layer, and down from a layer that stopped arriving
//! (for [`LAYER_GONE`]), only at a keyframe of the new layer, so the recorded stream always
//! decodes. Each packet carries its layer, because simulcast layers have their own RTP
//! timestamp and sequence spaces.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use str0m::format::Codec;

use crate::maps::Map;
use crate::track::{Source, TrackId, TrackKind};
use crate::ParticipantId;

/// A recorded layer that sent nothing for this long counts as stopped: the tap may then
/// move down to a lower layer (at its next keyframe).
pub const LAYER_GONE: Duration = Duration::from_millis(1_000);

/// The codecs a recorder may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordedCodec {
    /// Opus audio, 48 kHz.
    Opus,
    /// VP8 video.
    Vp8,
    /// VP9 video.
    Vp9,
    /// H.264 video.
    H264,
    /// Anything else (a recorder will likely skip it).
    Other,
}

impl RecordedCodec {
    pub(crate) fn of(codec: Codec) -> RecordedCodec {
        match codec {
            Codec::Opus => RecordedCodec::Opus,
            Codec::Vp8 => RecordedCodec::Vp8,
            Codec::Vp9 => RecordedCodec::Vp9,
            Codec::H264 => RecordedCodec::H264,
            _ => RecordedCodec::Other,
        }
    }
}

/// One RTP packet of a track, as the publisher sent it (before any munging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedPacket {
    /// The publisher.
    pub participant: ParticipantId,
    /// The room-wide track id.
    pub track_id: TrackId,
    /// Audio or video.
    pub kind: TrackKind,
    /// Microphone, camera, screen share…
    pub source: Source,
    /// The payload's codec.
    pub codec: RecordedCodec,
    /// The codec's RTP clock rate (48 000 for Opus, 90 000 for video).
    pub clock_rate: u32,
    /// The simulcast layer (0 without simulcast). Timestamps and sequence numbers of
    /// different layers are unrelated.
    pub layer: u8,
    /// RTP timestamp.
    pub timestamp: u32,
    /// RTP sequence number, extended (never wraps).
    pub seq: u64,
    /// RTP marker bit (last packet of a video frame).
    pub marker: bool,
    /// Whether the packet starts a keyframe (always true for audio).
    pub keyframe_start: bool,
    /// The RTP payload.
    pub payload: Vec<u8>,
    /// When the packet arrived.
    pub arrived: Instant,
}

/// Which layer of each video track is recorded.
#[derive(Debug, Default)]
struct LayerChoice {
    tracks: Map<TrackId, Chosen>,
}

#[derive(Debug, Default)]
struct Chosen {
    layer: Option<u8>,
    last_seen: [Option<Instant>; 3],
}

/// What the tap does with a video packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Record it.
    Record,
    /// Not the recorded layer.
    Skip,
    /// The tap wants this layer but must start at a keyframe: ask the publisher for one.
    NeedKeyframe,
}

impl LayerChoice {
    /// Whether a packet of `layer` is recorded, switching layers at keyframes as described
    /// in the module documentation.
    fn admit(&mut self, track: TrackId, layer: u8, keyframe_start: bool, now: Instant) -> Admit {
        let c = self.tracks.entry(track).or_default();
        let slot = usize::from(layer.min(2));
        c.last_seen[slot] = Some(now);
        match c.layer {
            Some(current) if current == layer => Admit::Record,
            current => {
                let current_gone = current.is_none_or(|l| {
                    c.last_seen[usize::from(l.min(2))].is_none_or(|t| now.saturating_duration_since(t) >= LAYER_GONE)
                });
                let better = current.is_none_or(|l| layer > l);
                if !(better || current_gone) {
                    Admit::Skip
                } else if keyframe_start {
                    c.layer = Some(layer);
                    Admit::Record
                } else {
                    Admit::NeedKeyframe
                }
            }
        }
    }

    /// Forgets a track (unpublished) or every track (recording stopped).
    fn forget(&mut self, track: Option<TrackId>) {
        match track {
            Some(t) => {
                self.tracks.remove(&t);
            }
            None => self.tracks.clear(),
        }
    }
}

/// Recorded packets the runtime has not drained yet are dropped beyond this many (it drains
/// after every input, so only a runtime that forgot to would ever reach it).
const RECORDED_QUEUE: usize = 4_096;

/// The room's recording tap: whether it is on, the copies the runtime has not drained, and
/// which layer of each video track it records.
#[derive(Debug, Default)]
pub(crate) struct Tap {
    on: bool,
    /// Audio only (live captions), whether or not recording is on.
    audio: bool,
    queue: VecDeque<RecordedPacket>,
    overflow: u64,
    layers: LayerChoice,
}

impl Tap {
    /// Turns copying on or off; a new recording chooses its layers afresh.
    pub(crate) fn set(&mut self, on: bool) {
        if self.on != on {
            self.on = on;
            self.layers.forget(None);
            if !on && !self.audio {
                self.queue.clear();
            }
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.on
    }

    /// Turns copying of audio on or off, independently of recording (live captions need the
    /// microphones, not the video layers).
    pub(crate) fn set_audio(&mut self, on: bool) {
        self.audio = on;
        if !self.on && !on {
            self.queue.clear();
        }
    }

    pub(crate) fn is_audio_on(&self) -> bool {
        self.audio
    }

    /// Whether a packet of `track` is recorded: none while off, all audio, and of a video
    /// track the layer [`LayerChoice`] picks.
    pub(crate) fn admit(
        &mut self,
        kind: TrackKind,
        track: TrackId,
        layer: u8,
        keyframe_start: bool,
        now: Instant,
    ) -> Admit {
        match (self.on, kind) {
            (_, TrackKind::Audio) if self.on || self.audio => Admit::Record,
            (false, _) => Admit::Skip,
            (true, TrackKind::Audio) => Admit::Record,
            (true, TrackKind::Video) => self.layers.admit(track, layer, keyframe_start, now),
        }
    }

    /// Queues a copy for the runtime, dropping the oldest (counted) beyond the bound.
    pub(crate) fn push(&mut self, packet: RecordedPacket) {
        if self.queue.len() >= RECORDED_QUEUE {
            self.queue.pop_front();
            self.overflow += 1;
        }
        self.queue.push_back(packet);
    }

    /// The next copy for the recorder.
    pub(crate) fn poll(&mut self) -> Option<RecordedPacket> {
        self.queue.pop_front()
    }

    /// Copies dropped because the runtime did not drain them.
    pub(crate) fn overflow(&self) -> u64 {
        self.overflow
    }

    /// Forgets the layer choice of an unpublished track.
    pub(crate) fn forget(&mut self, track: TrackId) {
        self.layers.forget(Some(track));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_keyframe_moves_up_at_keyframes_and_down_when_a_layer_stops() {
        let t0 = Instant::now();
        let tr = TrackId(1);
        let mut c = LayerChoice::default();
        assert_eq!(c.admit(tr, 0, false, t0), Admit::NeedKeyframe, "no keyframe yet");
        assert_eq!(c.admit(tr, 0, true, t0), Admit::Record);
        assert_eq!(c.admit(tr, 0, false, t0), Admit::Record);
        assert_eq!(c.admit(tr, 2, false, t0), Admit::NeedKeyframe, "higher layer, but not a keyframe");
        assert_eq!(c.admit(tr, 2, true, t0), Admit::Record, "higher layer keyframe: switch up");
        assert_eq!(c.admit(tr, 0, true, t0), Admit::Skip, "lower layer while the high one flows");
        let later = t0 + LAYER_GONE;
        assert_eq!(c.admit(tr, 0, true, later), Admit::Record, "the high layer stopped: back down at a keyframe");
        assert_eq!(c.admit(tr, 2, false, later), Admit::NeedKeyframe);
    }
}
