//! Composition: one playable WebM (VP8 + Opus) from a recording's raw chunks, with ffmpeg.
//!
//! The picture is a gallery: every recorded camera gets a tile of a 640×360 canvas while it
//! was sent, on black. When someone shares a screen, the recording is 1280×720 and, while a
//! share is on, the share takes the stage (three quarters of the width) with the cameras in a
//! strip beside it; the rest of the time the cameras are a gallery. The sound is every audio
//! track mixed. Each track's chunks are joined with ffmpeg's concat demuxer, whose `duration`
//! lines keep gaps between chunks in place, and the track is shifted to where it started
//! on the recording's timeline. The output lasts exactly as long as the recording.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::recorder::track_writer::{ChunkEntry, Manifest};

/// The composed picture size.
pub(super) const CANVAS: (u32, u32) = (640, 360);
/// The picture size of a recording with a screen share (text on a shared screen must stay
/// readable).
pub(super) const SHARE_CANVAS: (u32, u32) = (1280, 720);
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

    let is_video = |i: &usize| tracks[*i][0].kind == "video";
    let screens: Vec<usize> = (0..tracks.len()).filter(|i| is_video(i) && tracks[*i][0].source == "screen").collect();
    let videos: Vec<usize> = (0..tracks.len()).filter(|i| is_video(i) && !screens.contains(i)).collect();
    let audios: Vec<usize> = (0..tracks.len()).filter(|i| tracks[*i][0].kind == "audio").collect();
    let (w, h) = if screens.is_empty() { (w, h) } else { SHARE_CANVAS };
    let mut graph = format!("color=c=black:s={w}x{h}:r={FPS}:d={total}[base0];");
    let mut base = 0;
    let mut overlay = |graph: &mut String, input: &str, x: u32, y: u32, enable: Option<&str>| {
        let enable = enable.map(|e| format!(":enable='{e}'")).unwrap_or_default();
        let _ = write!(graph, "[base{base}][{input}]overlay={x}:{y}:eof_action=pass{enable}[base{}];", base + 1);
        base += 1;
    };
    // When a share is on: the union of the screen tracks' spans, as an ffmpeg expression.
    let span = |i: usize| {
        let start = tracks[i][0].start_ms;
        let end = tracks[i].last().and_then(|c| c.end_ms).unwrap_or(duration_ms);
        format!("between(t,{},{})", secs(start), secs(end))
    };
    let sharing = (!screens.is_empty())
        .then(|| format!("gt({},0)", screens.iter().map(|&i| span(i)).collect::<Vec<_>>().join("+")));
    let cols = (videos.len() as f64).sqrt().ceil().max(1.0) as u32;
    let rows = (videos.len() as u32).div_ceil(cols).max(1);
    let (tw, th) = (w / cols / 2 * 2, h / rows / 2 * 2);
    // The strip beside a share: a quarter of the width, one camera per row.
    let stage_w = w / 4 * 3 / 2 * 2;
    let (sw, sh) = (w - stage_w, (h / (videos.len() as u32).max(4)) / 2 * 2);
    for (k, &i) in videos.iter().enumerate() {
        let offset = secs(tracks[i][0].start_ms);
        let (x, y) = ((k as u32 % cols) * tw, (k as u32 / cols) * th);
        let _ = write!(graph, "[{i}:v]setpts=PTS-STARTPTS+{offset}/TB,fps={FPS}");
        let fit = |w: u32, h: u32| {
            format!("scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2")
        };
        match &sharing {
            None => {
                let _ = write!(graph, ",{}[v{k}];", fit(tw, th));
                overlay(&mut graph, &format!("v{k}"), x, y, None);
            }
            Some(on) => {
                let _ = write!(graph, ",split=2[g{k}][s{k}];[g{k}]{}[v{k}];[s{k}]{}[vs{k}];", fit(tw, th), fit(sw, sh));
                overlay(&mut graph, &format!("v{k}"), x, y, Some(&format!("not({on})")));
                overlay(&mut graph, &format!("vs{k}"), stage_w, k as u32 * sh, Some(on));
            }
        }
    }
    for (k, &i) in screens.iter().enumerate() {
        let offset = secs(tracks[i][0].start_ms);
        let _ = write!(
            graph,
            "[{i}:v]setpts=PTS-STARTPTS+{offset}/TB,scale={stage_w}:{h}:force_original_aspect_ratio=decrease,\
             pad={stage_w}:{h}:(ow-iw)/2:(oh-ih)/2,fps={FPS}[sc{k}];"
        );
        overlay(&mut graph, &format!("sc{k}"), 0, 0, Some(&span(i)));
    }
    let _ = write!(graph, "[base{base}]format=yuv420p[vout];");
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
        assert!(graph.contains("[1:v]setpts=PTS-STARTPTS+0.200/TB,fps=15,scale=320:360"), "{graph}");
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

    #[test]
    fn a_screen_share_takes_the_stage_while_it_is_on() {
        let mut screen = chunk(4, "video", "t4-0000.webm", 2_000, 6_000);
        screen.source = "screen".into();
        let entries = [
            chunk(1, "audio", "t1-0000.webm", 0, 10_000),
            chunk(2, "video", "t2-0000.webm", 0, 10_000),
            chunk(3, "video", "t3-0000.webm", 0, 10_000),
            screen,
        ];
        let p = plan(&entries, 10_000, "out.webm");
        let graph = &p.args[p.args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert!(graph.starts_with("color=c=black:s=1280x720"), "a share makes the picture larger: {graph}");
        // The share fills the stage (960×720) from 2 s to 6 s.
        assert!(graph.contains("scale=960:720:force_original_aspect_ratio=decrease"), "{graph}");
        assert!(graph.contains("overlay=0:0:eof_action=pass:enable='between(t,2.000,6.000)'"), "{graph}");
        // Cameras: a gallery when no share is on, a strip to the right of the stage during it.
        assert!(graph.contains("split=2"), "{graph}");
        assert!(graph.contains("enable='not(gt(between(t,2.000,6.000),0))'"), "{graph}");
        assert!(graph.contains("overlay=960:0:eof_action=pass:enable='gt(between(t,2.000,6.000),0)'"), "{graph}");
        assert!(graph.contains("overlay=960:180:"), "second camera below the first: {graph}");
        assert!(graph.contains("[base5]format=yuv420p[vout]"), "five overlays: {graph}");
    }

    /// ffmpeg takes the planned stage layout: inputs made with ffmpeg itself (two cameras for
    /// 4 s, a screen share from 1 s to 3 s, a microphone), composed, probed.
    #[tokio::test]
    async fn ffmpeg_composes_a_screen_share_on_the_stage() {
        if std::process::Command::new("ffmpeg").arg("-version").output().is_err() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "ffmpeg is missing and CI=true");
            eprintln!("SKIPPED: no ffmpeg");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let make = |name: &str, source: &str, secs: u32| {
            let out = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-f", "lavfi", "-i", &format!("{source}:d={secs}")])
                .args(if name.starts_with('a') {
                    vec!["-c:a", "libopus"]
                } else {
                    vec!["-c:v", "libvpx", "-deadline", "realtime"]
                })
                .arg(dir.path().join(name))
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        };
        make("v1.webm", "testsrc=s=320x240:r=15", 4);
        make("v2.webm", "smptebars=s=320x240:r=15", 4);
        make("s1.webm", "testsrc2=s=1280x720:r=15", 2);
        make("a1.webm", "sine=f=440", 4);
        let mut screen = chunk(3, "video", "s1.webm", 1_000, 3_000);
        screen.source = "screen".into();
        let entries = [
            chunk(1, "video", "v1.webm", 0, 4_000),
            chunk(2, "video", "v2.webm", 0, 4_000),
            screen,
            chunk(4, "audio", "a1.webm", 0, 4_000),
        ];
        let p = plan(&entries, 4_000, "out.webm");
        for (name, text) in &p.lists {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let out = std::process::Command::new("ffmpeg").args(&p.args).current_dir(dir.path()).output().unwrap();
        assert!(out.status.success(), "ffmpeg refused the plan: {}", String::from_utf8_lossy(&out.stderr));
        let probe = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "stream=codec_type,width,height:format=duration", "-of", "json"])
            .arg(dir.path().join("out.webm"))
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
        let streams = v["streams"].as_array().unwrap();
        let video = streams.iter().find(|s| s["codec_type"] == "video").expect("a video stream");
        assert_eq!((video["width"].as_u64(), video["height"].as_u64()), (Some(1280), Some(720)));
        assert!(streams.iter().any(|s| s["codec_type"] == "audio"), "an audio stream");
        let duration: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!((duration - 4.0).abs() < 0.5, "lasts the recording: {duration}");
    }
}
