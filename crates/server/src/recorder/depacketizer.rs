//! Turns a track's recorded RTP packets back into codec frames: Opus packets are frames as
//! they are; VP8 frames are reassembled from their packets (RFC 7741).
//!
//! A VP8 frame with a missing packet is dropped, and so is everything after it until the
//! next keyframe: a decoder cannot use a picture whose reference is gone.

use convene_sfu::codec::Vp8Payload;
use convene_sfu::{RecordedCodec, RecordedPacket};

/// One whole frame of a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) data: Vec<u8>,
    pub(crate) keyframe: bool,
    /// RTP timestamp of the frame.
    pub(crate) timestamp: u32,
    /// The simulcast layer it came from.
    pub(crate) layer: u8,
}

/// A depacketizer for one track.
#[derive(Debug)]
pub(crate) enum Depacketizer {
    Opus,
    Vp8(Vp8Assembler),
}

impl Depacketizer {
    /// The depacketizer for a codec; `None` for codecs that are not recorded.
    pub(crate) fn for_codec(codec: RecordedCodec) -> Option<Depacketizer> {
        match codec {
            RecordedCodec::Opus => Some(Depacketizer::Opus),
            RecordedCodec::Vp8 => Some(Depacketizer::Vp8(Vp8Assembler::default())),
            _ => None,
        }
    }

    /// Feeds one packet (in arrival order); returns a frame when one is complete.
    pub(crate) fn push(&mut self, p: &RecordedPacket) -> Option<Frame> {
        match self {
            Depacketizer::Opus => (!p.payload.is_empty()).then(|| Frame {
                data: p.payload.clone(),
                keyframe: true,
                timestamp: p.timestamp,
                layer: p.layer,
            }),
            Depacketizer::Vp8(a) => a.push(p),
        }
    }
}

/// Reassembles VP8 frames.
#[derive(Debug, Default)]
pub(crate) struct Vp8Assembler {
    /// The frame being assembled: its timestamp and layer, and the next sequence number.
    current: Option<(u32, u8, u64)>,
    buf: Vec<u8>,
    /// A packet was lost: skip until the next keyframe.
    need_keyframe: bool,
    started: bool,
}

impl Vp8Assembler {
    fn push(&mut self, p: &RecordedPacket) -> Option<Frame> {
        let (start, body) = vp8_descriptor(&p.payload)?;
        if start {
            // A new frame begins; an unfinished one lost its end.
            if self.current.is_some() {
                self.need_keyframe = true;
            }
            let keyframe = body.first().is_some_and(|b| b & 0x01 == 0);
            if (self.need_keyframe || !self.started) && !keyframe {
                self.current = None;
                return None;
            }
            self.need_keyframe = false;
            self.started = true;
            self.buf.clear();
            self.current = Some((p.timestamp, p.layer, p.seq + 1));
        } else {
            match self.current {
                Some((ts, layer, next)) if ts == p.timestamp && layer == p.layer && next == p.seq => {
                    self.current = Some((ts, layer, next + 1));
                }
                Some(_) => {
                    self.current = None;
                    self.need_keyframe = true;
                    return None;
                }
                None => return None,
            }
        }
        self.buf.extend_from_slice(body);
        if !p.marker {
            return None;
        }
        let (timestamp, layer, _) = self.current.take()?;
        let data = std::mem::take(&mut self.buf);
        let keyframe = data.first().is_some_and(|b| b & 0x01 == 0);
        Some(Frame { data, keyframe, timestamp, layer })
    }
}

/// Parses the RFC 7741 payload descriptor: (starts partition 0 of a frame, the VP8 bytes).
fn vp8_descriptor(p: &[u8]) -> Option<(bool, &[u8])> {
    let v = Vp8Payload::parse(p)?;
    Some((v.starts_frame(), v.frame))
}

/// The picture size in a VP8 keyframe's header (RFC 6386 §9.1), if it is one.
pub(crate) fn vp8_keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    if frame.len() < 10 || frame[0] & 0x01 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u32::from(u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff);
    let h = u32::from(u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff);
    (w > 0 && h > 0).then_some((w, h))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use convene_sfu::{ParticipantId, Source, TrackId, TrackKind};

    use super::*;

    fn packet(seq: u64, ts: u32, marker: bool, payload: Vec<u8>) -> RecordedPacket {
        RecordedPacket {
            participant: ParticipantId(1),
            track_id: TrackId(1),
            kind: TrackKind::Video,
            source: Source::Camera,
            codec: RecordedCodec::Vp8,
            clock_rate: 90_000,
            layer: 0,
            timestamp: ts,
            seq,
            marker,
            keyframe_start: false,
            payload,
            arrived: Instant::now(),
        }
    }

    /// A keyframe header (10 bytes) for 320×240, then the body.
    fn key_body() -> Vec<u8> {
        vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0xaa]
    }

    #[test]
    fn reassembles_a_frame_from_its_packets() {
        let mut d = Depacketizer::for_codec(RecordedCodec::Vp8).unwrap();
        let mut first = vec![0x90, 0x80, 0x81, 0x02];
        first.extend(key_body());
        assert_eq!(d.push(&packet(10, 3000, false, first)), None);
        let f = d.push(&packet(11, 3000, true, vec![0x80, 0x80, 0x81, 0x02, 0xbb, 0xcc])).expect("a frame");
        assert!(f.keyframe);
        assert_eq!(f.timestamp, 3000);
        let mut want = key_body();
        want.extend([0xbb, 0xcc]);
        assert_eq!(f.data, want);
        assert_eq!(vp8_keyframe_size(&f.data), Some((320, 240)));
    }

    #[test]
    fn a_lost_packet_drops_frames_until_the_next_keyframe() {
        let mut d = Depacketizer::for_codec(RecordedCodec::Vp8).unwrap();
        assert_eq!(d.push(&packet(1, 0, true, vec![0x10, 0x01, 0x00])), None, "no keyframe yet");
        let mut key = vec![0x10];
        key.extend(key_body());
        assert!(d.push(&packet(2, 3000, true, key.clone())).is_some());
        // Frame at 6000 loses its second packet (seq 4).
        assert_eq!(d.push(&packet(3, 6000, false, vec![0x10, 0x01, 0x00])), None);
        assert_eq!(d.push(&packet(5, 6000, true, vec![0x00, 0x01])), None);
        assert_eq!(d.push(&packet(6, 9000, true, vec![0x10, 0x01, 0x00])), None, "delta after a loss");
        assert!(d.push(&packet(7, 12000, true, key)).is_some_and(|f| f.keyframe));
        assert!(d.push(&packet(8, 15000, true, vec![0x10, 0x01, 0x00])).is_some_and(|f| !f.keyframe));
    }

    #[test]
    fn opus_packets_are_frames_and_other_codecs_are_not_recorded() {
        let mut d = Depacketizer::for_codec(RecordedCodec::Opus).unwrap();
        let mut p = packet(1, 960, false, vec![0xf8, 1, 2]);
        p.codec = RecordedCodec::Opus;
        assert_eq!(d.push(&p).map(|f| f.data), Some(vec![0xf8, 1, 2]));
        p.payload.clear();
        assert_eq!(d.push(&p), None);
        assert!(Depacketizer::for_codec(RecordedCodec::H264).is_none());
        assert_eq!(vp8_descriptor(&[]), None);
        assert_eq!(vp8_descriptor(&[0x90]), None, "truncated extension");
    }
}
