//! Codec payload inspection: does this RTP packet start a keyframe?

use str0m::format::Codec;

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

/// RFC 7741: payload descriptor, then the VP8 payload header whose low bit is the inverse
/// keyframe flag. Only meaningful at the start (S=1) of partition 0.
fn vp8_keyframe_start(p: &[u8]) -> bool {
    let Some(&first) = p.first() else { return false };
    let extended = first & 0x80 != 0;
    let start = first & 0x10 != 0;
    let partition = first & 0x07;
    if !start || partition != 0 {
        return false;
    }
    let mut i = 1;
    if extended {
        let Some(&x) = p.get(i) else { return false };
        i += 1;
        if x & 0x80 != 0 {
            // PictureID, 15 bits when its M bit is set.
            let Some(&pid) = p.get(i) else { return false };
            i += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            i += 1; // TID / Y / KEYIDX
        }
    }
    p.get(i).is_some_and(|header| header & 0x01 == 0)
}

/// VP9 payload descriptor: B (start of frame) set and P (inter-picture predicted) clear.
fn vp9_keyframe_start(p: &[u8]) -> bool {
    p.first().is_some_and(|b| b & 0x08 != 0 && b & 0x40 == 0)
}

/// RFC 6184: an IDR slice (5) or a sequence parameter set (7), single, aggregated (STAP-A)
/// or the first fragment (FU-A).
fn h264_keyframe_start(p: &[u8]) -> bool {
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
}
