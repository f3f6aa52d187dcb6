//! Composition: one playable WebM (VP8 + Opus) from a recording's raw chunks, with ffmpeg.
//!
//! The picture is a gallery: every recorded video track (cameras and screen shares) gets a
//! tile of a 640×360 canvas while it was sent, on black; the sound is every audio track
//! mixed. Each track's chunks are joined with ffmpeg's concat demuxer, whose `duration`
//! lines keep gaps between chunks in place, and the track is shifted to where it started
//! on the recording's timeline. The output lasts exactly as long as the recording.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::track_writer::{ChunkEntry, Manifest};

/// The composed picture size.
pub(super) const CANVAS: (u32, u32) = (640, 360);
/// Frames per second of the composed picture.
const FPS: u32 = 15;

/// Everything ffmpeg needs: its arguments and the concat lists to write first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) lists: Vec<(String, String)>,
    pub(crate) args: Vec<String>,
}

/// Plans the composition of the chunks in `entries` into `output` (`duration_ms` long).
pub(crate) fn plan(entries: &[ChunkEntry], duration_ms: u64, output: &str) -> Plan {
    let mut tracks: BTreeMap<u64, Vec<&ChunkEntry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.frames > 0 || e.end_ms.is_none()) {
        tracks.entry(e.track).or_default().push(e);
    }
    let mut tracks: Vec<Vec<&ChunkEntry>> = tracks.into_values().collect();
    for chunks in &mut tracks {
        chunks.sort_by_key(|c| c.start_ms);
    }
    tracks.sort_by_key(|c| (c[0].start_ms, c[0].track));
    let secs = |ms: u64| format!("{}.{:03}", ms / 1000, ms % 1000);
    let total = secs(duration_ms.max(1));
    let (w, h) = CANVAS;

    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-y", "-v", "error"].map(String::from).to_vec();
    let mut lists = Vec::new();
    for (i, chunks) in tracks.iter().enumerate() {
        let mut list = String::from("ffconcat version 1.0\n");
        for (j, c) in chunks.iter().enumerate() {
            let _ = writeln!(list, "file '{}'", c.file.replace('\'', ""));
            let until = chunks.get(j + 1).map(|n| n.start_ms).or(c.end_ms);
            if let Some(end) = until {
                let _ = writeln!(list, "duration {}", secs(end.saturating_sub(c.start_ms)));
            }
        }
        let name = format!("track-{i}.ffconcat");
        args.extend(["-f", "concat", "-safe", "0", "-i"].map(String::from));
        args.push(name.clone());
        lists.push((name, list));
    }

    let videos: Vec<usize> = (0..tracks.len()).filter(|i| tracks[*i][0].kind == "video").collect();
    let audios: Vec<usize> = (0..tracks.len()).filter(|i| tracks[*i][0].kind == "audio").collect();
    let mut graph = format!("color=c=black:s={w}x{h}:r={FPS}:d={total}[base0];");
    let cols = (videos.len() as f64).sqrt().ceil().max(1.0) as u32;
    let rows = (videos.len() as u32).div_ceil(cols).max(1);
    let (tw, th) = (w / cols / 2 * 2, h / rows / 2 * 2);
    for (k, &i) in videos.iter().enumerate() {
        let offset = secs(tracks[i][0].start_ms);
        let (x, y) = ((k as u32 % cols) * tw, (k as u32 / cols) * th);
        let _ = write!(
            graph,
            "[{i}:v]setpts=PTS-STARTPTS+{offset}/TB,scale={tw}:{th}:force_original_aspect_ratio=decrease,\
             pad={tw}:{th}:(ow-iw)/2:(oh-ih)/2,fps={FPS}[v{k}];\
             [base{k}][v{k}]overlay={x}:{y}:eof_action=pass[base{}];",
            k + 1
        );
    }
    let _ = write!(graph, "[base{}]format=yuv420p[vout];", videos.len());
    let _ = write!(graph, "anullsrc=r=48000:cl=stereo:d={total}[silence];");
    for (k, &i) in audios.iter().enumerate() {
        let delay = tracks[i][0].start_ms;
        let _ = write!(
            graph,
            "[{i}:a]aresample=48000:async=1,aformat=channel_layouts=stereo,adelay=delays={delay}:all=1[a{k}];"
        );
    }
    graph.push_str("[silence]");
    for k in 0..audios.len() {
        let _ = write!(graph, "[a{k}]");
    }
    let _ = write!(graph, "amix=inputs={}:duration=first:normalize=0,asetnsamples=n=960:p=0[aout]", audios.len() + 1);

    args.extend(["-filter_complex".into(), graph]);
    args.extend(
        [
            "-map",
            "[vout]",
            "-map",
            "[aout]",
            "-t",
            &total,
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "800k",
            "-g",
            "60",
            "-c:a",
            "libopus",
            "-b:a",
            "64k",
            "-f",
            "webm",
        ]
        .map(String::from),
    );
    args.push(output.to_owned());
    Plan { lists, args }
}

/// Composes the raw recording in `dir` into `dir/<output>` with the `ffmpeg` binary.
pub(crate) async fn compose(ffmpeg: &str, dir: &Path, duration_ms: u64, output: &str) -> Result<(), String> {
    let entries = Manifest::read(dir).map_err(|e| format!("cannot read the recording's manifest: {e}"))?;
    let plan = plan(&entries, duration_ms, output);
    for (name, text) in &plan.lists {
        tokio::fs::write(dir.join(name), text).await.map_err(|e| format!("cannot write {name}: {e}"))?;
    }
    let out = tokio::process::Command::new(ffmpeg)
        .args(&plan.args)
        .current_dir(dir)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run {ffmpeg}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String =
            err.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ");
        return Err(format!("ffmpeg failed ({}): {tail}", out.status));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(track: u64, kind: &str, file: &str, start_ms: u64, end_ms: u64) -> ChunkEntry {
        ChunkEntry {
            track,
            participant: "p".into(),
            kind: kind.into(),
            source: if kind == "audio" { "microphone" } else { "camera" }.into(),
            file: file.into(),
            start_ms,
            end_ms: Some(end_ms),
            frames: 10,
        }
    }

    #[test]
    fn plans_a_gallery_with_mixed_audio_and_gaps_kept() {
        let entries = [
            chunk(1, "audio", "t1-0000.webm", 100, 10_100),
            chunk(1, "audio", "t1-0001.webm", 10_100, 12_000),
            chunk(2, "video", "t2-0000.webm", 200, 5_000),
            chunk(2, "video", "t2-0001.webm", 8_000, 12_000),
            chunk(3, "video", "t3-0000.webm", 3_000, 12_000),
        ];
        let p = plan(&entries, 12_500, "out.webm");
        assert_eq!(p.lists.len(), 3);
        assert_eq!(
            p.lists[0].1,
            "ffconcat version 1.0\nfile 't1-0000.webm'\nduration 10.000\nfile 't1-0001.webm'\nduration 1.900\n"
        );
        assert_eq!(
            p.lists[1].1,
            "ffconcat version 1.0\nfile 't2-0000.webm'\nduration 7.800\nfile 't2-0001.webm'\nduration 4.000\n",
            "the gap stays"
        );
        let graph = &p.args[p.args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert!(graph.contains("[1:v]setpts=PTS-STARTPTS+0.200/TB,scale=320:360"), "{graph}");
        assert!(graph.contains("overlay=320:0"), "second tile to the right: {graph}");
        assert!(graph.contains("adelay=delays=100:all=1"), "{graph}");
        assert!(graph.contains("amix=inputs=2:duration=first"), "{graph}");
        assert!(p.args.windows(2).any(|w| w[0] == "-t" && w[1] == "12.500"));
        assert_eq!(p.args.last().unwrap(), "out.webm");
    }

    #[test]
    fn an_empty_recording_still_plans_black_and_silence() {
        let p = plan(&[], 3_000, "out.webm");
        assert!(p.lists.is_empty());
        let graph = &p.args[p.args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert!(graph.contains("[base0]format=yuv420p[vout]") && graph.contains("amix=inputs=1"), "{graph}");
    }
}
