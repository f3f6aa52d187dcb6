//! Codec payload inspection — Convene's one parser of VP8 and H.264 RTP payloads: does a
//! packet start a keyframe, which picture is it, where do the codec's bytes begin.

use str0m::format::Codec;

use crate::downlink::PayloadPatch;

/// Whether `payload` is the first packet of a frame a decoder can start from.
///
/// Audio frames are always independent. Unknown video codecs are never keyframes, so the
/// forwarder only switches to them when they have no layers to switch between.
pub(crate) fn is_keyframe_start(codec: Codec, payload: &[u8]) -> bool {
    match codec {
        Codec::Vp8 => vp8_keyframe_start(payload),
        Codec::Vp9 => vp9_keyframe_start(payload),
        Codec::H264 => h264_keyframe_start(payload),
        Codec::Av1 => av1_keyframe_start(payload),
        c => c.is_audio(),
    }
}

/// A VP8 RTP payload (RFC 7741 §4.2): its payload descriptor, and the VP8 bytes after it.
///
/// The one VP8 parser of Convene: the room reads keyframes and picture numbers with it, the
/// recorder reassembles frames with it, the tests and the bench check what arrived with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Payload<'a> {
    /// S: the packet starts a VP8 partition.
    pub start: bool,
    /// PID: the partition index.
    pub partition: u8,
    /// PictureID and whether it is the 15-bit form (else 7-bit).
    pub picture_id: Option<(u16, bool)>,
    /// TL0PICIDX: the index of the last temporal-base-layer picture.
    pub tl0: Option<u8>,
    /// What follows the descriptor: the VP8 frame's bytes.
    pub frame: &'a [u8],
}

impl<'a> Vp8Payload<'a> {
    /// Parses the descriptor; `None` when it is empty or shorter than it says.
    pub fn parse(p: &'a [u8]) -> Option<Vp8Payload<'a>> {
        let first = *p.first()?;
        let mut parsed =
            Vp8Payload { start: first & 0x10 != 0, partition: first & 0x07, picture_id: None, tl0: None, frame: &[] };
        let mut i = 1;
        if first & 0x80 != 0 {
            let x = *p.get(i)?;
            i += 1;
            if x & 0x80 != 0 {
                let hi = *p.get(i)?;
                if hi & 0x80 != 0 {
                    let lo = *p.get(i + 1)?;
                    parsed.picture_id = Some((u16::from(hi & 0x7f) << 8 | u16::from(lo), true));
                    i += 2;
                } else {
                    parsed.picture_id = Some((u16::from(hi), false));
                    i += 1;
                }
            }
            if x & 0x40 != 0 {
                parsed.tl0 = Some(*p.get(i)?);
                i += 1;
            }
            if x & 0x30 != 0 {
                i += 1; // TID / Y / KEYIDX
            }
        }
        parsed.frame = p.get(i..)?;
        Some(parsed)
    }

    /// Whether the packet starts a frame (S set on partition 0).
    pub fn starts_frame(&self) -> bool {
        self.start && self.partition == 0
    }

    /// Whether the packet starts a keyframe: the start of a frame whose VP8 header has the
    /// (inverse) keyframe bit clear.
    pub fn starts_keyframe(&self) -> bool {
        self.starts_frame() && self.frame.first().is_some_and(|header| header & 0x01 == 0)
    }
}

/// Whether a VP8 RTP payload starts a keyframe (see [`Vp8Payload::starts_keyframe`]).
pub fn vp8_keyframe_start(p: &[u8]) -> bool {
    Vp8Payload::parse(p).is_some_and(|v| v.starts_keyframe())
}

/// The PictureID of a VP8 RTP payload (7 or 15 bits), if its descriptor carries one.
pub fn vp8_picture_id(p: &[u8]) -> Option<u16> {
    Vp8Payload::parse(p)?.picture_id.map(|(pid, _)| pid)
}

/// The VP8 picture numbering a payload descriptor carries (RFC 7741 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Vp8Ids {
    /// PictureID and whether it is the 15-bit form (else 7-bit).
    pub(crate) picture_id: Option<(u16, bool)>,
    /// TL0PICIDX: the index of the last temporal-base-layer picture.
    pub(crate) tl0: Option<u8>,
}

/// Reads the picture numbering of a VP8 payload; `None` if it carries none or is truncated.
pub(crate) fn vp8_ids(p: &[u8]) -> Option<Vp8Ids> {
    let v = Vp8Payload::parse(p)?;
    let ids = Vp8Ids { picture_id: v.picture_id, tl0: v.tl0 };
    (ids != Vp8Ids::default()).then_some(ids)
}

/// The bytes to change in a VP8 payload so that its descriptor's PictureID and TL0PICIDX
/// read `ids` (each only where the payload carries one; a 7-bit PictureID keeps its width).
/// `None` if the payload is truncated.
pub(crate) fn vp8_renumber(p: &[u8], ids: Vp8Ids) -> Option<PayloadPatch> {
    let parsed = Vp8Payload::parse(p)?;
    let mut patch = PayloadPatch::default();
    if p.first()? & 0x80 == 0 {
        return Some(patch);
    }
    let x = *p.get(1)?;
    let mut i = 2;
    if x & 0x80 != 0 {
        let long = parsed.picture_id.is_some_and(|(_, long)| long);
        if let Some((pid, _)) = ids.picture_id {
            if long {
                patch.set(i, 0x80 | ((pid >> 8) as u8 & 0x7f));
                patch.set(i + 1, pid as u8);
            } else {
                patch.set(i, pid as u8 & 0x7f);
            }
        }
        i += if long { 2 } else { 1 };
    }
    if x & 0x40 != 0 {
        if let Some(tl0) = ids.tl0 {
            patch.set(i, tl0);
        }
    }
    Some(patch)
}

/// VP9 payload descriptor: B (start of frame) set and P (inter-picture predicted) clear.
fn vp9_keyframe_start(p: &[u8]) -> bool {
    p.first().is_some_and(|b| b & 0x08 != 0 && b & 0x40 == 0)
}

/// Whether an H.264 RTP payload (RFC 6184) starts a keyframe: an IDR slice (5) or a sequence
/// parameter set (7), single, aggregated (STAP-A) or the first fragment (FU-A).
pub fn h264_keyframe_start(p: &[u8]) -> bool {
    let is_key = |nal_type: u8| nal_type == 5 || nal_type == 7;
    let Some(&first) = p.first() else { return false };
    match first & 0x1f {
        24 => {
            let mut i = 1;
            while i + 2 < p.len() {
                let size = usize::from(u16::from_be_bytes([p[i], p[i + 1]]));
                if is_key(p[i + 2] & 0x1f) {
                    return true;
                }
                i += 2 + size;
            }
            false
        }
        28 => p.get(1).is_some_and(|fu| fu & 0x80 != 0 && is_key(fu & 0x1f)),
        t => is_key(t),
    }
}

/// AV1 RTP aggregation header: N (first packet of a coded video sequence).
fn av1_keyframe_start(p: &[u8]) -> bool {
    p.first().is_some_and(|b| b & 0x08 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keyframe_with_extended_descriptor() {
        // X=1 S=1 PID=0 | I=1 L=1 | 15-bit picture id | TL0PICIDX | keyframe header
        let key = [0x90, 0xC0, 0x80, 0x01, 0x05, 0x10, 0x02, 0x00];
        assert!(is_keyframe_start(Codec::Vp8, &key));
        let mut delta = key;
        delta[5] = 0x11;
        assert!(!is_keyframe_start(Codec::Vp8, &delta));
    }

    #[test]
    fn vp8_continuation_packet_is_not_a_keyframe_start() {
        assert!(!is_keyframe_start(Codec::Vp8, &[0x00, 0x10]));
        assert!(is_keyframe_start(Codec::Vp8, &[0x10, 0x10]));
        assert!(!is_keyframe_start(Codec::Vp8, &[0x90, 0x80]), "truncated");
        assert!(!is_keyframe_start(Codec::Vp8, &[]));
    }

    #[test]
    fn h264_idr_sps_stap_and_fu() {
        assert!(is_keyframe_start(Codec::H264, &[0x65, 0x00]));
        assert!(is_keyframe_start(Codec::H264, &[0x67, 0x00]));
        assert!(!is_keyframe_start(Codec::H264, &[0x41, 0x00]));
        assert!(is_keyframe_start(Codec::H264, &[0x78, 0x00, 0x02, 0x67, 0x42]));
        assert!(is_keyframe_start(Codec::H264, &[0x7c, 0x85, 0x00]));
        assert!(!is_keyframe_start(Codec::H264, &[0x7c, 0x05, 0x00]), "not the first fragment");
    }

    #[test]
    fn audio_is_always_a_keyframe() {
        assert!(is_keyframe_start(Codec::Opus, &[1, 2, 3]));
    }

    #[test]
    fn vp8_descriptor_gives_the_frame_bytes_after_it() {
        let v = Vp8Payload::parse(&[0x90, 0xC0, 0x81, 0x02, 0x05, 0x10, 0x02]).unwrap();
        assert!(v.starts_frame() && v.starts_keyframe());
        assert_eq!((v.picture_id, v.tl0, v.frame), (Some((0x0102, true)), Some(5), &[0x10, 0x02][..]));
        let middle = Vp8Payload::parse(&[0x01, 0xaa]).unwrap();
        assert!(!middle.starts_frame(), "partition 1");
        assert_eq!(middle.frame, &[0xaa]);
        assert_eq!(Vp8Payload::parse(&[]), None);
        assert_eq!(Vp8Payload::parse(&[0x90, 0x40]), None, "TL0PICIDX announced but missing");
        assert_eq!(vp8_picture_id(&[0x90, 0x80, 0x11, 0x10]), Some(0x11));
    }

    #[test]
    fn vp8_picture_numbering_is_read_in_both_forms() {
        let long = [0x90, 0xC0, 0x81, 0x02, 0x05, 0x10];
        assert_eq!(vp8_ids(&long), Some(Vp8Ids { picture_id: Some((0x0102, true)), tl0: Some(5) }));
        let short = [0x90, 0x80, 0x11, 0x10];
        assert_eq!(vp8_ids(&short), Some(Vp8Ids { picture_id: Some((0x11, false)), tl0: None }));
        assert_eq!(vp8_ids(&[0x10, 0x10]), None, "no extension");
        assert_eq!(vp8_ids(&[0x90, 0xC0, 0x81]), None, "truncated");
    }

    #[test]
    fn vp8_renumbering_patches_the_descriptor_in_place() {
        let long = [0x90, 0xC0, 0x81, 0x02, 0x05, 0x10, 0xAB];
        let target = Vp8Ids { picture_id: Some((0x7ffe, true)), tl0: Some(200) };
        let mut out = long;
        vp8_renumber(&long, target).unwrap().apply(&mut out);
        assert_eq!(vp8_ids(&out), Some(target));
        assert_eq!(&out[5..], &long[5..], "the frame is untouched");
        let short = [0x90, 0x80, 0x11, 0x10];
        let mut out = short;
        vp8_renumber(&short, Vp8Ids { picture_id: Some((0x1234, true)), tl0: None }).unwrap().apply(&mut out);
        assert_eq!(vp8_ids(&out), Some(Vp8Ids { picture_id: Some((0x34, false)), tl0: None }), "keeps 7 bits");
        assert!(vp8_renumber(&[0x90, 0xC0, 0x81], target).is_none(), "truncated");
    }
}
