//! Synthetic media: Opus packets every 20 ms and VP8 frames at 30 fps on three simulcast
//! layers, with valid RFC 7741 payload descriptors (picture id, start bit) and VP8 frame
//! headers (keyframe start code and size), so an SFU that parses VP8 sees real frames.

use convene_testkit::synth;
pub use convene_testkit::synth::{AUDIO_INTERVAL_MS, FPS, LAYER_SIZES, MAX_PAYLOAD};

use crate::probe::Probe;
/// Bytes of one synthetic Opus packet (about 32 kbit/s).
pub const OPUS_BYTES: usize = 80;
/// How much larger a keyframe is than a delta frame.
pub const KEYFRAME_FACTOR: usize = 3;

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
    let mut marker = Vec::with_capacity(crate::probe::LEN);
    probe.write(&mut marker);
    synth::opus_payload(&marker, OPUS_BYTES, 0xA5)
}

/// One VP8 frame as RTP payloads (RFC 7741, the test kit's synthetic frames): the start bit
/// on the first, a 15-bit picture id on all, the frame tag (and a keyframe's start code and
/// size) on the first; each packet carries its own probe with consecutive sequence numbers
/// starting at `probe.seq`.
pub fn vp8_frame(picture_id: u16, keyframe: bool, layer: usize, bytes: usize, probe: Probe) -> Vec<Vec<u8>> {
    let marker = |i: usize| {
        let mut m = Vec::with_capacity(crate::probe::LEN);
        Probe { seq: probe.seq.wrapping_add(i as u32), ..probe }.write(&mut m);
        m
    };
    synth::vp8_frame(picture_id, keyframe, layer, bytes, marker, 0x5A)
}

/// The VP8 payload checks, from the SFU's one parser.
pub use convene_sfu::codec::{vp8_keyframe_start, vp8_picture_id};

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
