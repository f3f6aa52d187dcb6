//! Writes one recorded track to disk as WebM chunk files (`<track>-<n>.webm`), a new chunk
//! every few seconds, so a crash loses at most the chunk being written. Video chunks start
//! at a keyframe (the rotation waits for one), so each chunk decodes on its own.
//!
//! Frame times come from RTP timestamps, anchored per simulcast layer at the arrival of the
//! layer's first frame, so the file keeps the sender's pacing rather than network jitter.
//! Every chunk opened and closed is noted in the recording's manifest (see [`Manifest`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use convene_sfu::{RecordedPacket, Source, TrackKind};
use serde::{Deserialize, Serialize};
use webm::mux::{AudioCodecId, Segment, SegmentBuilder, SegmentMode, TrackNum, VideoCodecId, Writer};

use super::depacketizer::{vp8_keyframe_size, Depacketizer, Frame};

/// The name of the manifest in a recording's raw directory.
pub(crate) const MANIFEST: &str = "manifest.jsonl";

/// What the manifest says about one chunk: written when it opens (no `end_ms`) and again
/// when it is closed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct ChunkEntry {
    pub(crate) track: u64,
    pub(crate) participant: String,
    /// `audio` or `video`.
    pub(crate) kind: String,
    /// `microphone`, `camera`, `screen` or `screen_audio`.
    pub(crate) source: String,
    pub(crate) file: String,
    /// Start and end on the recording's timeline (milliseconds since it started).
    pub(crate) start_ms: u64,
    pub(crate) end_ms: Option<u64>,
    pub(crate) frames: u64,
}

/// The manifest of a recording: one JSON line per chunk event, appended and flushed at once.
pub(crate) struct Manifest {
    file: File,
}

impl Manifest {
    pub(crate) fn create(dir: &Path) -> std::io::Result<Manifest> {
        std::fs::create_dir_all(dir)?;
        let file = File::options().create(true).append(true).open(dir.join(MANIFEST))?;
        Ok(Manifest { file })
    }

    fn note(&mut self, entry: &ChunkEntry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)
    }

    /// Reads a manifest back: the latest entry of every chunk, in the order they opened.
    pub(crate) fn read(dir: &Path) -> std::io::Result<Vec<ChunkEntry>> {
        let text = std::fs::read_to_string(dir.join(MANIFEST))?;
        let mut entries: Vec<ChunkEntry> = Vec::new();
        // A crash may leave a torn last line: skip what does not parse.
        for e in text.lines().filter_map(|l| serde_json::from_str::<ChunkEntry>(l).ok()) {
            match entries.iter_mut().find(|x| x.file == e.file) {
                Some(x) => *x = e,
                None => entries.push(e),
            }
        }
        Ok(entries)
    }
}

/// Where a track's layers sit on the recording's timeline.
#[derive(Debug, Default)]
struct Timeline {
    /// Per layer: (extended RTP timestamp of the anchor, its time in ns, last timestamp,
    /// last extended timestamp).
    layers: HashMap<u8, (i64, u64, u32, i64)>,
}

impl Timeline {
    fn pts_ns(&mut self, layer: u8, ts: u32, arrived_ns: u64, clock_rate: u32) -> u64 {
        let (base_ext, base_ns, last, ext) =
            self.layers.entry(layer).or_insert((i64::from(ts), arrived_ns, ts, i64::from(ts)));
        // Wrapping difference: RTP timestamps wrap every 13 hours at 90 kHz.
        *ext += i64::from(ts.wrapping_sub(*last) as i32);
        *last = ts;
        let delta = (*ext - *base_ext) as i128 * 1_000_000_000 / i128::from(clock_rate.max(1));
        u64::try_from(i128::from(*base_ns) + delta).unwrap_or(0)
    }
}

struct Chunk {
    segment: Segment<BufWriter<File>>,
    track: TrackNum,
    entry: ChunkEntry,
    start_ns: u64,
    last_ns: u64,
    size: Option<(u32, u32)>,
}

/// Writes one track.
pub(crate) struct TrackWriter {
    dir: PathBuf,
    name: String,
    entry: ChunkEntry,
    clock_rate: u32,
    kind: TrackKind,
    rotate_ns: u64,
    depacketizer: Depacketizer,
    timeline: Timeline,
    chunk: Option<Chunk>,
    next_index: u32,
    last_pts: Option<u64>,
}

fn source_name(s: Source) -> &'static str {
    match s {
        Source::Microphone => "microphone",
        Source::Camera => "camera",
        Source::ScreenShare => "screen",
        Source::ScreenShareAudio => "screen_audio",
    }
}

/// The Opus identification header WebM keeps as the track's codec private data (RFC 7845).
fn opus_head() -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1); // version
    h.push(2); // channels
    h.extend(0u16.to_le_bytes()); // pre-skip
    h.extend(48_000u32.to_le_bytes());
    h.extend(0i16.to_le_bytes()); // output gain
    h.push(0); // mapping family
    h
}

impl TrackWriter {
    /// A writer for the track of `first`, or `None` if its codec is not recorded.
    pub(crate) fn new(dir: &Path, participant: &str, first: &RecordedPacket, rotate_ms: u64) -> Option<TrackWriter> {
        let depacketizer = Depacketizer::for_codec(first.codec)?;
        let kind_name = if first.kind == TrackKind::Audio { "audio" } else { "video" };
        Some(TrackWriter {
            dir: dir.to_owned(),
            name: format!("t{}", first.track_id.0),
            entry: ChunkEntry {
                track: first.track_id.0,
                participant: participant.to_owned(),
                kind: kind_name.into(),
                source: source_name(first.source).into(),
                file: String::new(),
                start_ms: 0,
                end_ms: None,
                frames: 0,
            },
            clock_rate: first.clock_rate,
            kind: first.kind,
            rotate_ns: rotate_ms.max(100) * 1_000_000,
            depacketizer,
            timeline: Timeline::default(),
            chunk: None,
            next_index: 0,
            last_pts: None,
        })
    }

    /// Feeds a packet that arrived `arrived_ns` after the recording started.
    pub(crate) fn push(&mut self, p: &RecordedPacket, arrived_ns: u64, manifest: &mut Manifest) -> std::io::Result<()> {
        let Some(frame) = self.depacketizer.push(p) else { return Ok(()) };
        let mut pts = self.timeline.pts_ns(frame.layer, frame.timestamp, arrived_ns, self.clock_rate);
        // Players want strictly increasing times within a track.
        if let Some(last) = self.last_pts {
            pts = pts.max(last + 1);
        }
        self.write(frame, pts, manifest)
    }

    fn write(&mut self, frame: Frame, pts: u64, manifest: &mut Manifest) -> std::io::Result<()> {
        let video = self.kind == TrackKind::Video;
        let size = if video { vp8_keyframe_size(&frame.data) } else { None };
        let rotate = match &self.chunk {
            None => true,
            Some(c) => {
                let due = pts.saturating_sub(c.start_ns) >= self.rotate_ns;
                let resized = size.is_some() && size != c.size;
                (due || resized) && (!video || frame.keyframe)
            }
        };
        if rotate {
            if video && !frame.keyframe {
                return Ok(()); // a video chunk must start with a keyframe
            }
            self.close(manifest)?;
            self.open(pts, size, manifest)?;
        }
        let Some(c) = self.chunk.as_mut() else { return Ok(()) };
        c.segment
            .add_frame(c.track, &frame.data, pts - c.start_ns, frame.keyframe)
            .map_err(|e| std::io::Error::other(format!("webm: {e:?}")))?;
        c.entry.frames += 1;
        c.last_ns = pts;
        self.last_pts = Some(pts);
        Ok(())
    }

    fn open(&mut self, pts: u64, size: Option<(u32, u32)>, manifest: &mut Manifest) -> std::io::Result<()> {
        let file_name = format!("{}-{:04}.webm", self.name, self.next_index);
        self.next_index += 1;
        let file = File::create(self.dir.join(&file_name))?;
        let webm_err = |e: webm::mux::Error| std::io::Error::other(format!("webm: {e:?}"));
        let builder = SegmentBuilder::new(Writer::new(BufWriter::new(file)))
            .map_err(webm_err)?
            .set_mode(SegmentMode::File)
            .map_err(webm_err)?;
        let (builder, track) = if self.kind == TrackKind::Video {
            let (w, h) = size.unwrap_or((640, 360));
            let (b, t) = builder.add_video_track(w, h, VideoCodecId::VP8, None).map_err(webm_err)?;
            (b, t.into())
        } else {
            let (b, t) = builder.add_audio_track(48_000, 2, AudioCodecId::Opus, None).map_err(webm_err)?;
            let b = b.set_codec_private(t, &opus_head()).map_err(webm_err)?;
            (b, t.into())
        };
        let entry =
            ChunkEntry { file: file_name, start_ms: pts / 1_000_000, end_ms: None, frames: 0, ..self.entry.clone() };
        manifest.note(&entry)?;
        self.chunk = Some(Chunk { segment: builder.build(), track, entry, start_ns: pts, last_ns: pts, size });
        Ok(())
    }

    /// Finishes the open chunk (if any) and notes its end in the manifest.
    pub(crate) fn close(&mut self, manifest: &mut Manifest) -> std::io::Result<()> {
        let Some(c) = self.chunk.take() else { return Ok(()) };
        let mut entry = c.entry;
        // One frame's worth past the last frame: 20 ms of audio, a 30 fps picture.
        let tail_ms = if self.kind == TrackKind::Audio { 20 } else { 33 };
        entry.end_ms = Some(c.last_ns / 1_000_000 + tail_ms);
        let writer = c.segment.finalize(None).map_err(|_| std::io::Error::other("webm: cannot finalize the chunk"))?;
        writer.into_inner().flush()?;
        manifest.note(&entry)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use convene_sfu::{ParticipantId, RecordedCodec, TrackId};

    use super::*;

    fn opus(seq: u64) -> RecordedPacket {
        RecordedPacket {
            participant: ParticipantId(1),
            track_id: TrackId(7),
            kind: TrackKind::Audio,
            source: Source::Microphone,
            codec: RecordedCodec::Opus,
            clock_rate: 48_000,
            layer: 0,
            timestamp: (seq as u32).wrapping_mul(960).wrapping_add(u32::MAX - 20_000),
            seq,
            marker: false,
            keyframe_start: true,
            payload: vec![0xf8, 0xff, 0xfe],
            arrived: Instant::now(),
        }
    }

    #[test]
    fn audio_rotates_into_chunks_noted_in_the_manifest_across_a_timestamp_wrap() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = Manifest::create(dir.path()).unwrap();
        let first = opus(0);
        let mut w = TrackWriter::new(dir.path(), "p_a", &first, 1_000).unwrap();
        // 2.5 s of 20 ms packets, arriving on time.
        for n in 0..125 {
            w.push(&opus(n), n * 20_000_000, &mut manifest).unwrap();
        }
        w.close(&mut manifest).unwrap();
        let entries = Manifest::read(dir.path()).unwrap();
        let files: Vec<&str> = entries.iter().map(|e| e.file.as_str()).collect();
        assert_eq!(files, ["t7-0000.webm", "t7-0001.webm", "t7-0002.webm"]);
        assert_eq!(entries[0].start_ms, 0);
        assert_eq!(entries[1].start_ms, 1_000, "timestamps keep counting across the wrap");
        assert!(entries.iter().all(|e| e.end_ms.is_some() && e.participant == "p_a" && e.kind == "audio"));
        assert_eq!(entries.iter().map(|e| e.frames).sum::<u64>(), 125);
        for f in files {
            let bytes = std::fs::read(dir.path().join(f)).unwrap();
            assert_eq!(&bytes[..4], &[0x1a, 0x45, 0xdf, 0xa3], "{f} is an EBML (WebM) file");
        }
    }

    #[test]
    fn a_torn_manifest_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = Manifest::create(dir.path()).unwrap();
        let mut w = TrackWriter::new(dir.path(), "p_a", &opus(0), 10_000).unwrap();
        w.push(&opus(0), 0, &mut manifest).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(MANIFEST))
            .unwrap()
            .write_all(b"{\"track\":")
            .unwrap();
        let entries = Manifest::read(dir.path()).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].end_ms, None, "still open");
    }
}
