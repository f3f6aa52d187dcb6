//! Entry points for the fuzz targets in `fuzz/` (and the corpus replay in the test suite):
//! the server's parsers of outside bytes that are not reachable through a public function.
//! Not an API: hidden from the docs, and may change with the parsers.

use std::time::Instant;

use convene_sfu::{ParticipantId, RecordedCodec, RecordedPacket, Source, TrackId, TrackKind};

use crate::error::Result;
use crate::recorder::depacketizer::{vp8_keyframe_size, Depacketizer};

/// Reassembles VP8 frames as the recorder does from packets split out of `data` (the
/// layout of [`convene_sfu::fuzzing::packets`]), reading each keyframe's size. Returns how
/// many frames came out.
pub fn recorded_vp8(data: &[u8]) -> usize {
    let mut d = Depacketizer::for_codec(RecordedCodec::Vp8).expect("VP8 is recorded");
    let arrived = Instant::now();
    let mut seq = None;
    let mut frames = 0;
    for p in convene_sfu::fuzzing::packets(data) {
        let extended = convene_sfu::fuzzing::extend_seq(seq, p.seq);
        seq = Some(extended);
        let packet = RecordedPacket {
            participant: ParticipantId(1),
            track_id: TrackId(1),
            kind: TrackKind::Video,
            source: Source::Camera,
            codec: RecordedCodec::Vp8,
            clock_rate: 90_000,
            layer: p.layer,
            timestamp: p.timestamp,
            seq: extended,
            marker: p.marker,
            keyframe_start: false,
            payload: p.payload.to_vec(),
            arrived,
        };
        if let Some(frame) = d.push(&packet) {
            frames += 1;
            if frame.keyframe {
                vp8_keyframe_size(&frame.data);
            }
        }
    }
    frames
}

/// An upload: the first byte picks what receives the rest — a file shared in chat (its
/// type sniffed; the declared type is the text after the first NUL, when there is one), a
/// profile photo (decoded and scaled), or a local recording's declared type.
pub fn upload(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 4 {
        0 | 1 => {
            let split = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
            let declared = String::from_utf8_lossy(&rest[split.min(rest.len())..]);
            let _ = shared_file_type(rest, &declared);
        }
        2 => {
            let _ = avatar(rest);
        }
        _ => {
            recording_type(&String::from_utf8_lossy(rest));
        }
    }
}

/// The type a file shared in chat is stored with (`POST /meetings/{id}/files`), or why
/// it is refused.
pub fn shared_file_type(bytes: &[u8], declared: &str) -> Result<String> {
    crate::http::files::file_type(bytes, declared)
}

/// A profile photo upload (`PUT /users/me/avatar`) turned into the stored PNG, or why not.
pub fn avatar(bytes: &[u8]) -> Result<Vec<u8>> {
    crate::avatar::process_blocking(bytes).map(|a| a.png)
}

/// A local recording upload's declared type (`POST /meetings/{id}/recording-uploads`).
pub fn recording_type(declared: &str) -> Option<&'static str> {
    crate::recording::uploads::accepted_type(declared)
}

/// The fuzz targets' corpora (seeds and crash regressions, `fuzz/corpus/<target>/`) and
/// seeded mutations of them, replayed through the same entry points, so every test run
/// covers them without libFuzzer (see `convene_testkit::fuzz`).
#[cfg(test)]
mod corpus {
    use std::path::Path;

    use convene_testkit::fuzz::replay;

    #[test]
    fn rtp_payload_corpus() {
        let run = replay("rtp_payload", 5_000, |data| {
            super::recorded_vp8(data);
        });
        assert!(run.corpus >= 5, "{run:?}");
    }

    #[test]
    fn upload_corpus() {
        let run = replay("upload", 2_000, super::upload);
        assert!(run.corpus >= 5, "{run:?}");
    }

    #[test]
    fn the_seeds_reach_each_parser() {
        let keyframe = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/rtp_payload/vp8-keyframe-two-packets"),
        )
        .unwrap();
        assert_eq!(super::recorded_vp8(&keyframe), 1, "a whole frame");
        let mut elf = b"\x7fELF\x02\x01\x01\x00".to_vec();
        elf.resize(64, 0);
        assert!(super::shared_file_type(&elf, "").is_err(), "programs are refused");
        assert_eq!(super::shared_file_type(b"hello", "text/plain").unwrap(), "text/plain");
        assert_eq!(super::shared_file_type(b"<b>", "text/html").unwrap(), "application/octet-stream");
        assert_eq!(super::recording_type("video/webm;codecs=vp8"), Some("video/webm"));
        assert!(super::avatar(b"GIF89a").is_err());
    }

    /// Found writing the upload target: content the sniffer recognised as HTML was stored
    /// (and served) as `text/html`, though a declared `text/html` never is.
    #[test]
    fn a_shared_file_is_never_stored_as_active_content() {
        for (bytes, declared) in [
            (&b"<html><script>alert(1)</script>"[..], ""),
            (b"<b>hi</b>", "text/plain"),
            (b"<!DOCTYPE html><p>", "image/png"),
            (b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", ""),
            (b"alert(1)", "application/javascript"),
            (b"<b>", "TEXT/HTML; charset=utf-8"),
        ] {
            let stored = super::shared_file_type(bytes, declared).unwrap();
            assert_eq!(
                stored,
                "application/octet-stream",
                "{:?} declared {declared:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.resize(64, 0);
        assert_eq!(super::shared_file_type(&png, "text/html").unwrap(), "image/png", "what the bytes are wins");
    }
}
