//! Synthetic media: Opus packets every 20 ms and VP8 frames at 30 fps on three simulcast
//! layers, with valid RFC 7741 payload descriptors (picture id, start bit) and VP8 frame
//! headers (keyframe start code and size), so an SFU that parses VP8 sees real frames.

use crate::probe::Probe;

/// Largest RTP payload the bench writes (what browsers stay under, about 1,200 bytes).
pub const MAX_PAYLOAD: usize = 1_100;
/// Opus packet interval.
pub const AUDIO_INTERVAL_MS: u64 = 20;
/// Video frame rate.
pub const FPS: u64 = 30;
/// Bytes of one synthetic Opus packet (about 32 kbit/s).
pub const OPUS_BYTES: usize = 80;
/// How much larger a keyframe is than a delta frame.
pub const KEYFRAME_FACTOR: usize = 3;
/// Frame sizes of the simulcast layers, lowest first.
pub const LAYER_SIZES: [(u16, u16); 3] = [(320, 180), (640, 360), (1280, 720)];

/// Video bitrates of the three simulcast layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Profile {
    pub kbps: [u32; 3],
}

impl Default for Profile {
    fn default() -> Profile {
        Profile { kbps: [150, 500, 1_500] }
    }
}

impl Profile {
    /// `low` (100/300/900), `standard` (150/500/1500), `hd` (300/1000/2500), or three numbers
    /// `a,b,c` in kbit/s.
    pub fn parse(s: &str) -> Result<Profile, String> {
        match s {
            "low" => return Ok(Profile { kbps: [100, 300, 900] }),
            "standard" => return Ok(Profile::default()),
            "hd" => return Ok(Profile { kbps: [300, 1_000, 2_500] }),
            _ => {}
        }
        let n: Vec<u32> = s.split(',').map(|x| x.trim().parse::<u32>()).collect::<Result<_, _>>().map_err(|e| {
            format!("bitrate profile {s:?}: {e}; use low, standard, hd or three kbit/s values like 150,500,1500")
        })?;
        match n[..] {
            [a, b, c] if a > 0 && a <= b && b <= c => Ok(Profile { kbps: [a, b, c] }),
            _ => Err(format!("bitrate profile {s:?}: three rising kbit/s values expected")),
        }
    }

    /// Bytes of one delta frame on `layer`.
    pub fn frame_bytes(&self, layer: usize) -> usize {
        (self.kbps[layer] as usize * 1_000 / 8 / FPS as usize).max(crate::probe::LEN + 16)
    }
}

/// One Opus packet: a TOC byte (CELT fullband, 20 ms, mono, one frame), the probe, filler.
pub fn opus_payload(probe: &Probe) -> Vec<u8> {
    let mut p = Vec::with_capacity(OPUS_BYTES);
    p.push(0xF8);
    probe.write(&mut p);
    p.resize(OPUS_BYTES, 0xA5);
    p
}

/// One VP8 frame as RTP payloads (RFC 7741). Each packet gets a descriptor with the start
/// bit on the first and a 15-bit picture id; the first also carries the VP8 frame tag (and,
/// for a keyframe, the start code and frame size). Each packet carries its own probe with
/// consecutive sequence numbers starting at `probe.seq`.
pub fn vp8_frame(picture_id: u16, keyframe: bool, layer: usize, bytes: usize, probe: Probe) -> Vec<Vec<u8>> {
    let count = bytes.div_ceil(MAX_PAYLOAD).max(1);
    let per_packet = bytes / count;
    let (width, height) = LAYER_SIZES[layer];
    let pid = picture_id & 0x7fff;
    (0..count)
        .map(|i| {
            let start = if i == 0 { 0x10 } else { 0x00 };
            let mut p = Vec::with_capacity(per_packet.max(48));
            // X=1, S, PID 0; I=1; M=1 and the 15-bit picture id.
            p.extend_from_slice(&[0x80 | start, 0x80, 0x80 | (pid >> 8) as u8, pid as u8]);
            if i == 0 {
                // Frame tag: frame type (0 = key), version 0, show_frame, first partition size.
                let partition = (per_packet as u32).min(0x7_ffff);
                let tag = u32::from(!keyframe) | (1 << 4) | (partition << 5);
                p.extend_from_slice(&tag.to_le_bytes()[..3]);
                if keyframe {
                    p.extend_from_slice(&[0x9d, 0x01, 0x2a]);
                    p.extend_from_slice(&width.to_le_bytes());
                    p.extend_from_slice(&height.to_le_bytes());
                }
            }
            Probe { seq: probe.seq.wrapping_add(i as u32), ..probe }.write(&mut p);
            p.resize(per_packet.max(p.len()), 0x5A);
            p
        })
        .collect()
}

/// Whether a VP8 RTP payload starts a keyframe (RFC 7741 descriptor, then the frame tag).
pub fn vp8_keyframe_start(p: &[u8]) -> bool {
    let Some(&first) = p.first() else { return false };
    if first & 0x10 == 0 || first & 0x07 != 0 {
        return false;
    }
    let mut i = 1;
    if first & 0x80 != 0 {
        let Some(&x) = p.get(i) else { return false };
        i += 1;
        if x & 0x80 != 0 {
            let Some(&pid) = p.get(i) else { return false };
            i += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    p.get(i).is_some_and(|h| h & 0x01 == 0)
}

/// The 15-bit (or 7-bit) picture id of a VP8 payload descriptor, if present.
pub fn vp8_picture_id(p: &[u8]) -> Option<u16> {
    let first = *p.first()?;
    if first & 0x80 == 0 || p.get(1)? & 0x80 == 0 {
        return None;
    }
    let b = *p.get(2)?;
    if b & 0x80 != 0 {
        Some(u16::from(b & 0x7f) << 8 | u16::from(*p.get(3)?))
    } else {
        Some(u16::from(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Stream;

    fn probe() -> Probe {
        Probe { tag: 7, stream: Stream::Video(1), seq: 100, sent_ns: 5 }
    }

    #[test]
    fn a_keyframe_has_descriptor_start_code_and_size() {
        let packets = vp8_frame(0x1234, true, 2, 6_250 * KEYFRAME_FACTOR, probe());
        assert_eq!(packets.len(), (6_250 * KEYFRAME_FACTOR).div_ceil(MAX_PAYLOAD));
        let first = &packets[0];
        assert_eq!(first[0], 0x90, "X and S set, partition 0");
        assert_eq!(vp8_picture_id(first), Some(0x1234));
        assert!(vp8_keyframe_start(first));
        assert_eq!(&first[7..10], &[0x9d, 0x01, 0x2a], "keyframe start code after the 3-byte frame tag");
        assert_eq!(u16::from_le_bytes([first[10], first[11]]), 1280);
        assert_eq!(u16::from_le_bytes([first[12], first[13]]), 720);
        for (i, p) in packets.iter().enumerate() {
            assert!(p.len() <= MAX_PAYLOAD);
            assert_eq!(p[0] & 0x10 != 0, i == 0, "only the first packet starts the frame");
            assert!(!vp8_keyframe_start(p) || i == 0);
            assert_eq!(vp8_picture_id(p), Some(0x1234), "every packet names the picture");
            assert_eq!(Probe::find(p).map(|x| x.seq), Some(100 + i as u32), "probe sequence runs on per packet");
        }
    }

    #[test]
    fn a_delta_frame_is_not_a_keyframe_and_the_picture_id_wraps_at_15_bits() {
        let packets = vp8_frame(0x8001, false, 0, 625, probe());
        assert_eq!(packets.len(), 1);
        assert!(!vp8_keyframe_start(&packets[0]));
        assert_eq!(vp8_picture_id(&packets[0]), Some(1));
        assert_eq!(packets[0].len(), 625);
    }

    #[test]
    fn an_opus_packet_has_a_toc_and_a_probe() {
        let p = opus_payload(&Probe { tag: 9, stream: Stream::Audio, seq: 3, sent_ns: 11 });
        assert_eq!(p.len(), OPUS_BYTES);
        assert_eq!(p[0], 0xF8);
        assert_eq!(Probe::find(&p).map(|x| (x.tag, x.stream, x.seq)), Some((9, Stream::Audio, 3)));
    }

    #[test]
    fn profiles_parse_names_and_numbers_and_refuse_nonsense() {
        assert_eq!(Profile::parse("standard"), Ok(Profile { kbps: [150, 500, 1_500] }));
        assert_eq!(Profile::parse("100, 200,300"), Ok(Profile { kbps: [100, 200, 300] }));
        assert!(Profile::parse("500,100,900").is_err());
        assert!(Profile::parse("1,2").is_err());
        assert!(Profile::parse("fast").is_err());
        // 1500 kbit/s at 30 fps is 6,250 bytes a frame.
        assert_eq!(Profile::default().frame_bytes(2), 6_250);
    }
}
