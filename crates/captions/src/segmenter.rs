//! Voice activity: cuts a speaker's audio into utterances for the engine.
//!
//! Each 16 ms frame is scored by `earshot`'s neural voice-activity detector. Speech starts
//! after [`ONSET`] voiced frames (with [`PREROLL`] of the audio before, so first syllables
//! are not clipped) and ends after [`HANGOVER`] of non-speech, at a stream break, or when it
//! has gone on for [`MAX_UTTERANCE`] (then a new utterance starts at once, so a monologue
//! still gets captions while it lasts). Audio goes out in [`CHUNK`]s while speech goes on.

use std::collections::VecDeque;
use std::time::Duration;

use crate::engine::SAMPLE_RATE;

/// The detector's frame: 256 samples, 16 ms at 16 kHz.
const FRAME: usize = 256;
/// A frame scoring at least this is voice (the detector's suggested default).
const THRESHOLD: f32 = 0.5;
/// Voiced frames in a row that start an utterance (48 ms).
const ONSET: u32 = 3;
/// Audio kept from before the onset.
pub(crate) const PREROLL: Duration = Duration::from_millis(300);
/// Non-speech that ends an utterance.
pub(crate) const HANGOVER: Duration = Duration::from_millis(700);
/// The longest utterance.
pub(crate) const MAX_UTTERANCE: Duration = Duration::from_secs(12);
/// Audio is handed on in chunks of this much while an utterance goes on.
pub(crate) const CHUNK: Duration = Duration::from_millis(320);

/// What the segmenter says about a speaker's audio.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    /// An utterance starts at `at` (meeting time).
    Begin { at: Duration },
    /// Audio of the current utterance, ending at `end`.
    Audio { pcm: Vec<i16>, end: Duration },
    /// The utterance ended at `at`.
    End { at: Duration },
}

struct Speaking {
    /// Frames since the last voiced one.
    silent: u32,
    /// End of the last voiced frame.
    last_voice: Duration,
    started: Duration,
    chunk: Vec<i16>,
}

/// One speaker's segmenter.
pub(crate) struct Segmenter {
    vad: Box<earshot::Detector>,
    frame: Vec<i16>,
    /// Meeting time of the frame being filled.
    frame_at: Duration,
    /// Recent audio while nobody speaks (for the pre-roll).
    recent: VecDeque<i16>,
    voiced_run: u32,
    speaking: Option<Speaking>,
}

fn samples(d: Duration) -> usize {
    (d.as_millis() as usize) * SAMPLE_RATE as usize / 1000
}

fn duration(samples: usize) -> Duration {
    Duration::from_micros(samples as u64 * 1_000_000 / u64::from(SAMPLE_RATE))
}

impl Segmenter {
    pub(crate) fn new() -> Segmenter {
        Segmenter {
            vad: earshot::Detector::default_boxed(),
            frame: Vec::with_capacity(FRAME),
            frame_at: Duration::ZERO,
            recent: VecDeque::new(),
            voiced_run: 0,
            speaking: None,
        }
    }

    /// Whether an utterance is going on.
    pub(crate) fn is_speaking(&self) -> bool {
        self.speaking.is_some()
    }

    /// Feeds audio starting at `at`.
    pub(crate) fn push(&mut self, at: Duration, pcm: &[i16], out: &mut Vec<Segment>) {
        if self.frame.is_empty() {
            self.frame_at = at;
        }
        for &s in pcm {
            self.frame.push(s);
            if self.frame.len() == FRAME {
                let frame = std::mem::replace(&mut self.frame, Vec::with_capacity(FRAME));
                self.frame(&frame, out);
                self.frame_at += duration(FRAME);
            }
        }
    }

    fn frame(&mut self, frame: &[i16], out: &mut Vec<Segment>) {
        let voiced = self.vad.predict_i16(frame) >= THRESHOLD;
        let end = self.frame_at + duration(FRAME);
        self.voiced_run = if voiced { self.voiced_run + 1 } else { 0 };
        let Some(s) = self.speaking.as_mut() else {
            self.recent.extend(frame);
            let keep = samples(PREROLL) + FRAME * ONSET as usize;
            while self.recent.len() > keep {
                self.recent.pop_front();
            }
            if self.voiced_run >= ONSET {
                let pcm: Vec<i16> = self.recent.drain(..).collect();
                let started = end.saturating_sub(duration(pcm.len()));
                out.push(Segment::Begin { at: started });
                self.speaking = Some(Speaking { silent: 0, last_voice: end, started, chunk: pcm });
            }
            return;
        };
        s.chunk.extend_from_slice(frame);
        if voiced {
            s.silent = 0;
            s.last_voice = end;
        } else {
            s.silent += 1;
        }
        if duration(s.silent as usize * FRAME) >= HANGOVER {
            self.finish(end, out);
        } else if end.saturating_sub(s.started) >= MAX_UTTERANCE {
            self.finish(end, out);
            // Still speaking: the next utterance starts where this one stopped.
            out.push(Segment::Begin { at: end });
            self.speaking = Some(Speaking { silent: 0, last_voice: end, started: end, chunk: Vec::new() });
        } else if duration(s.chunk.len()) >= CHUNK {
            out.push(Segment::Audio { pcm: std::mem::take(&mut s.chunk), end });
        }
    }

    /// Ends the utterance going on, if any (the stream broke, or the speaker left).
    pub(crate) fn end(&mut self, out: &mut Vec<Segment>) {
        self.finish(self.frame_at, out);
    }

    fn finish(&mut self, end_of_audio: Duration, out: &mut Vec<Segment>) {
        if let Some(s) = self.speaking.take() {
            if !s.chunk.is_empty() {
                out.push(Segment::Audio { pcm: s.chunk, end: end_of_audio.max(s.last_voice) });
            }
            out.push(Segment::End { at: s.last_voice });
        }
        self.recent.clear();
        self.voiced_run = 0;
    }

    /// A break in the stream: the utterance ends, and the detector forgets the old audio.
    pub(crate) fn reset(&mut self, out: &mut Vec<Segment>) {
        self.end(out);
        self.frame.clear();
        self.vad.reset();
    }
}
