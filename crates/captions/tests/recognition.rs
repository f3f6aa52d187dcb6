//! Spoken phrases (espeak-ng) through the whole pipeline — Opus RTP packets, decoding,
//! voice activity, PocketSphinx with Debian's US English model — come out as their words.

mod common;

use std::time::{Duration, Instant};

use common::{has_word, silence, speech, wer, Mic};
use convene_captions::{AudioPacket, Engine, EngineConfig, Pipeline, Voice};

/// Word error rate allowed over the phrases below. Measured 0.21 (5 errors in 24 words:
/// "jumps" → "jumped", "let us start the meeting" → "at the start that needed") with Debian
/// 12's pocketsphinx 5prealpha + pocketsphinx-en-us, libopus 1.3.1, espeak-ng 1.51. The chain
/// is deterministic (sox runs without dither), but the recogniser is touchy: adding ±1 LSB of
/// random dither to the same speech gave 0.13–0.33 over 8 runs, so the bound sits above that.
const MAX_WER: f64 = 0.35;

/// Packets of `phrase` spoken after `lead_ms` of silence and followed by 1.5 s of it.
fn spoken(mic: &mut Mic, lead_ms: usize, phrase: &str) -> Vec<AudioPacket> {
    let mut pcm = silence(lead_ms);
    pcm.extend(speech(phrase));
    pcm.extend(silence(1500));
    mic.send(&pcm)
}

/// Runs packets through a pipeline and the engine; returns each utterance's (start, end, text).
fn recognise(
    engine: &mut dyn Engine,
    pipeline: &mut Pipeline,
    packets: &[AudioPacket],
) -> Vec<(Duration, Duration, String)> {
    let mut out = Vec::new();
    let mut start = Duration::ZERO;
    for p in packets {
        pipeline.push(p);
        while let Some(v) = pipeline.poll() {
            match v {
                Voice::Begin { at, .. } => {
                    start = at;
                    engine.begin().unwrap();
                }
                Voice::Audio { pcm, .. } => {
                    engine.accept(&pcm).unwrap();
                }
                Voice::End { at, .. } => out.push((start, at, engine.finish().unwrap())),
            }
        }
    }
    out
}

#[test]
fn spoken_phrases_come_out_as_their_words() {
    let mut engine = EngineConfig::parse("pocketsphinx", None).unwrap().load().unwrap();
    let phrases = [
        ("the quick brown fox jumps over the lazy dog", &["lazy", "dog"][..]),
        ("good morning everyone let us start the meeting", &["everyone", "start"][..]),
        ("please send me the report by friday", &["report", "friday"][..]),
    ];
    let (mut errors, mut words) = (0.0, 0);
    for (phrase, key_words) in phrases {
        let t0 = Instant::now();
        let mut pipeline = Pipeline::new(t0);
        let packets = spoken(&mut Mic::new("p1", t0), 500, phrase);
        let utterances = recognise(engine.as_mut(), &mut pipeline, &packets);
        assert_eq!(utterances.len(), 1, "one phrase, one utterance: {utterances:?}");
        let text = &utterances[0].2;
        for w in key_words {
            assert!(has_word(text, w), "{w:?} missing from {text:?} (said: {phrase:?})");
        }
        let n = phrase.split_whitespace().count();
        errors += wer(phrase, text) * n as f64;
        words += n;
    }
    let total = errors / words as f64;
    assert!(total <= MAX_WER, "word error rate {total:.2} over {MAX_WER}");
}

#[test]
fn an_utterance_is_timed_where_the_speech_is_in_the_meeting() {
    let mut engine = EngineConfig::parse("pocketsphinx", None).unwrap().load().unwrap();
    let phrase = "the project is on schedule";
    let spoken_for = Duration::from_millis(speech(phrase).len() as u64 / 48);
    let t0 = Instant::now();
    let mut mic = Mic::new("p1", t0 + Duration::from_secs(10)); // joins 10 s into the meeting
    let packets = spoken(&mut mic, 2_000, phrase);
    let utterances = recognise(engine.as_mut(), &mut Pipeline::new(t0), &packets);
    assert_eq!(utterances.len(), 1, "{utterances:?}");
    let (start, end, _) = &utterances[0];
    let speech_start = Duration::from_millis(12_000);
    // The start includes up to the pre-roll (300 ms) before speech is detected.
    assert!(
        *start >= speech_start - Duration::from_millis(400) && *start <= speech_start + Duration::from_millis(150),
        "start {start:?}"
    );
    let speech_end = speech_start + spoken_for;
    assert!(end.abs_diff(speech_end) <= Duration::from_millis(400), "end {end:?}, speech ended at {speech_end:?}");
}

#[test]
fn streaming_gives_growing_partial_results_before_the_final_one() {
    let mut engine = EngineConfig::parse("pocketsphinx", None).unwrap().load().unwrap();
    let t0 = Instant::now();
    let mut pipeline = Pipeline::new(t0);
    let mut partials = Vec::new();
    let mut last = None;
    for p in spoken(&mut Mic::new("p1", t0), 300, "please send me the report by friday") {
        pipeline.push(&p);
        while let Some(v) = pipeline.poll() {
            match v {
                Voice::Begin { .. } => engine.begin().unwrap(),
                Voice::Audio { pcm, .. } => partials.extend(engine.accept(&pcm).unwrap()),
                Voice::End { .. } => last = Some(engine.finish().unwrap()),
            }
        }
    }
    assert!(partials.len() >= 2, "partial results while speaking: {partials:?}");
    assert!(partials[0].split_whitespace().count() < 7, "the first partial has only the first words: {partials:?}");
    assert!(has_word(&last.unwrap(), "friday"));
}
