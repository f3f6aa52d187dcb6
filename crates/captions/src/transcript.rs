//! A meeting's transcript: the final captions with who said them, rendered as WebVTT
//! (`<v Speaker>` voice spans, times from the start of the meeting's captions) or as text.
//! It serialises (serde) to be stored with the meeting and its recording.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::Caption;

/// One line of the transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// Who spoke (the protocol's participant id).
    pub participant_id: String,
    /// Their display name when they spoke.
    pub speaker: String,
    /// Start, in milliseconds since the meeting's captions started.
    pub start_ms: u64,
    /// End, in milliseconds since the meeting's captions started.
    pub end_ms: u64,
    /// What they said.
    pub text: String,
}

/// The lines of a meeting, in order of their start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    lines: Vec<Line>,
}

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Transcript {
        Transcript::default()
    }

    /// Adds a caption said by `speaker`; only final captions with text are kept (partial
    /// ones are replaced by their final one). Whether it was kept.
    pub fn push(&mut self, caption: &Caption, speaker: &str) -> bool {
        let text = one_line(&caption.text);
        if !caption.is_final || text.is_empty() {
            return false;
        }
        let line = Line {
            participant_id: caption.participant_id.clone(),
            speaker: one_line(speaker),
            start_ms: caption.start_ms,
            end_ms: caption.end_ms.max(caption.start_ms),
            text,
        };
        // Captions of different speakers finish out of order; lines stay ordered by start.
        let at = self.lines.partition_point(|l| l.start_ms <= line.start_ms);
        self.lines.insert(at, line);
        true
    }

    /// The lines, in order of their start.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Whether nothing was said.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The transcript as a WebVTT file (`text/vtt`): one cue per line, the speaker in a voice span.
    pub fn to_vtt(&self) -> String {
        let mut out = String::from("WEBVTT\n");
        for (i, l) in self.lines.iter().enumerate() {
            // A cue must end after it starts.
            let end = l.end_ms.max(l.start_ms + 1);
            let _ = write!(
                out,
                "\n{}\n{} --> {}\n<v {}>{}</v>\n",
                i + 1,
                vtt_time(l.start_ms),
                vtt_time(end),
                escape(&l.speaker),
                escape(&l.text)
            );
        }
        out
    }

    /// The transcript as plain text: `[hh:mm:ss] Speaker: text` per line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            let s = l.start_ms / 1000;
            let _ = writeln!(out, "[{:02}:{:02}:{:02}] {}: {}", s / 3600, s / 60 % 60, s % 60, l.speaker, l.text);
        }
        out
    }
}

/// `hh:mm:ss.ttt` (hours grow past two digits if they must).
fn vtt_time(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}.{:03}", s / 3600, s / 60 % 60, s % 60, ms % 1000)
}

/// Cue text and voice annotations: `&`, `<`, `>` as character references (so no text can
/// open a tag or end a cue with `-->`).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Collapses line breaks and runs of spaces: a blank line would end a WebVTT cue.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caption(who: &str, start_ms: u64, end_ms: u64, text: &str, is_final: bool) -> Caption {
        Caption { utterance: start_ms, participant_id: who.into(), start_ms, end_ms, text: text.into(), is_final }
    }

    #[test]
    fn webvtt_has_voice_spans_meeting_relative_times_and_order_by_start() {
        let mut t = Transcript::new();
        assert!(t.push(&caption("p2", 3_723_004, 3_725_500, "second", true), "Bob"));
        assert!(t.push(&caption("p1", 1_500, 4_000, "good morning everyone", true), "Alice"));
        assert_eq!(
            t.to_vtt(),
            "WEBVTT\n\n1\n00:00:01.500 --> 00:00:04.000\n<v Alice>good morning everyone</v>\n\
             \n2\n01:02:03.004 --> 01:02:05.500\n<v Bob>second</v>\n"
        );
        assert_eq!(t.to_text(), "[00:00:01] Alice: good morning everyone\n[01:02:03] Bob: second\n");
    }

    #[test]
    fn markup_in_names_and_text_is_escaped_and_line_breaks_cannot_end_a_cue() {
        let mut t = Transcript::new();
        t.push(&caption("p1", 0, 0, "a < b & c --> d\n\nnext", true), "<Eve> & co\nnewline");
        let vtt = t.to_vtt();
        assert!(vtt.contains("<v &lt;Eve&gt; &amp; co newline>a &lt; b &amp; c --&gt; d next</v>"), "{vtt}");
        assert!(vtt.contains("00:00:00.000 --> 00:00:00.001"), "a cue ends after it starts: {vtt}");
        assert_eq!(vtt.matches("-->").count(), 1, "only the timing line has an arrow: {vtt}");
    }

    #[test]
    fn partial_and_empty_captions_are_not_kept() {
        let mut t = Transcript::new();
        assert!(!t.push(&caption("p1", 0, 500, "good mor", false), "Alice"));
        assert!(!t.push(&caption("p1", 0, 900, "  ", true), "Alice"));
        assert!(t.is_empty());
        assert_eq!(t.to_vtt(), "WEBVTT\n");
        assert_eq!(t.to_text(), "");
    }

    #[test]
    fn hours_past_99_still_render() {
        assert_eq!(vtt_time(100 * 3_600_000 + 61_001), "100:01:01.001");
    }

    #[test]
    fn a_transcript_round_trips_through_json() {
        let mut t = Transcript::new();
        t.push(&caption("p1", 10, 20, "hello", true), "Alice");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Transcript>(&json).unwrap(), t);
    }
}
