//! Synthetic media: Opus packets and VP8 simulcast frames as RTP payloads, valid enough for
//! an SFU that parses them (RFC 7741 payload descriptors with the start bit and a 15-bit
//! picture id, VP8 frame tags, the keyframe start code and picture size), each packet
//! carrying a marker the caller chooses after the headers.

/// The simulcast rids, lowest quality first.
pub const RIDS: [&str; 3] = ["q", "h", "f"];
/// Picture sizes of the simulcast layers, lowest first.
pub const LAYER_SIZES: [(u16, u16); 3] = [(320, 180), (640, 360), (1280, 720)];
/// Largest RTP payload written (what browsers stay under, about 1,200 bytes).
pub const MAX_PAYLOAD: usize = 1_100;
/// Opus packet interval, ms.
pub const AUDIO_INTERVAL_MS: u64 = 20;
/// Video frame rate.
pub const FPS: u64 = 30;

/// The first byte of every synthetic Opus packet: its TOC (CELT fullband, 20 ms, mono, one
/// frame).
pub const OPUS_TOC: u8 = 0xF8;

/// One Opus packet of `bytes` (at least the TOC and the marker): the TOC, `marker`, then
/// `fill`.
pub fn opus_payload(marker: &[u8], bytes: usize, fill: u8) -> Vec<u8> {
    let mut p = Vec::with_capacity(bytes.max(1 + marker.len()));
    p.push(OPUS_TOC);
    p.extend_from_slice(marker);
    p.resize(bytes.max(p.len()), fill);
    p
}

/// One VP8 frame of `bytes` on simulcast `layer` as RTP payloads of at most [`MAX_PAYLOAD`]
/// bytes (RFC 7741). Each packet has a descriptor with the start bit on the first and the
/// 15-bit `picture_id`; the first also carries the VP8 frame tag (keyframe or not, first
/// partition size) and, for a keyframe, the start code and the layer's picture size. Then
/// the packet's `marker(index)`, then `fill`.
pub fn vp8_frame(
    picture_id: u16,
    keyframe: bool,
    layer: usize,
    bytes: usize,
    mut marker: impl FnMut(usize) -> Vec<u8>,
    fill: u8,
) -> Vec<Vec<u8>> {
    let count = bytes.div_ceil(MAX_PAYLOAD).max(1);
    // Split as libwebrtc does (about equally): the last `bytes % count` packets are a byte
    // longer than the rest. (What a browser sends decides how the SFU's sends batch.)
    let longer_from = count - bytes % count;
    let size = |i: usize| bytes / count + usize::from(i >= longer_from);
    let (width, height) = LAYER_SIZES[layer.min(2)];
    let pid = picture_id & 0x7fff;
    (0..count)
        .map(|i| {
            let start = if i == 0 { 0x10 } else { 0x00 };
            let mut p = Vec::with_capacity(size(i).max(48));
            // X=1, S, PID 0; I=1; M=1 and the 15-bit picture id.
            p.extend_from_slice(&[0x80 | start, 0x80, 0x80 | (pid >> 8) as u8, pid as u8]);
            if i == 0 {
                // Frame tag: frame type (0 = key), version 0, show_frame, first partition size.
                let partition = (size(0) as u32).min(0x7_ffff);
                let tag = u32::from(!keyframe) | (1 << 4) | (partition << 5);
                p.extend_from_slice(&tag.to_le_bytes()[..3]);
                if keyframe {
                    p.extend_from_slice(&[0x9d, 0x01, 0x2a]);
                    p.extend_from_slice(&width.to_le_bytes());
                    p.extend_from_slice(&height.to_le_bytes());
                }
            }
            p.extend(marker(i));
            p.resize(size(i).max(p.len()), fill);
            p
        })
        .collect()
}

/// An encoded VP8 frame (a real encoder's) as RTP payloads: a descriptor with the 15-bit
/// `picture_id`, the start bit on the first packet.
pub fn packetize_vp8(picture_id: u16, frame: &[u8]) -> Vec<Vec<u8>> {
    let pid = picture_id & 0x7fff;
    frame
        .chunks(MAX_PAYLOAD)
        .enumerate()
        .map(|(i, part)| {
            let start = if i == 0 { 0x10 } else { 0x00 };
            let mut p = vec![0x80 | start, 0x80, 0x80 | (pid >> 8) as u8, pid as u8];
            p.extend_from_slice(part);
            p
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts of RFC 7741 the frames must get right, read without the SFU's parser.
    fn starts_keyframe(p: &[u8]) -> bool {
        p[0] & 0x10 != 0 && p[4] & 0x01 == 0
    }

    #[test]
    fn a_keyframe_has_descriptor_start_code_size_and_one_marker_per_packet() {
        let packets = vp8_frame(0x1234, true, 2, 3 * MAX_PAYLOAD + 10, |i| vec![0xEE, i as u8], 0x5A);
        assert_eq!(packets.len(), 4);
        let first = &packets[0];
        assert_eq!(first[..4], [0x90, 0x80, 0x92, 0x34], "X and S, 15-bit picture id");
        assert!(starts_keyframe(first));
        assert_eq!(&first[7..10], &[0x9d, 0x01, 0x2a], "keyframe start code after the 3-byte frame tag");
        assert_eq!(u16::from_le_bytes([first[10], first[11]]), 1280);
        assert_eq!(&first[14..16], &[0xEE, 0]);
        for (i, p) in packets.iter().enumerate() {
            assert!(p.len() <= MAX_PAYLOAD);
            assert_eq!(p[0] & 0x10 != 0, i == 0, "only the first packet starts the frame");
            assert_eq!(&p[2..4], &[0x92, 0x34], "every packet names the picture");
        }
        assert_eq!(&packets[1][4..6], &[0xEE, 1]);
        let sizes: Vec<usize> = packets.iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 3 * MAX_PAYLOAD + 10, "every byte of the frame");
        assert_eq!(sizes, [827, 827, 828, 828], "libwebrtc's split: the last packets a byte longer");
    }

    #[test]
    fn a_delta_frame_is_not_a_keyframe_and_an_opus_packet_is_toc_marker_fill() {
        let packets = vp8_frame(0x8001, false, 0, 625, |_| vec![], 0);
        assert_eq!(packets.len(), 1);
        assert!(!starts_keyframe(&packets[0]));
        assert_eq!(packets[0][2..4], [0x80, 0x01], "the picture id wraps at 15 bits");
        assert_eq!(packets[0].len(), 625);
        assert_eq!(opus_payload(&[1, 2], 5, 9), [OPUS_TOC, 1, 2, 9, 9]);
        assert_eq!(packetize_vp8(3, &[7; 1_500]).iter().map(Vec::len).collect::<Vec<_>>(), [1_104, 404]);
    }
}
