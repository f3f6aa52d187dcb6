//! Live captions for Convene meetings: speech from the SFU's audio to caption lines and a
//! transcript.
//!
//! ```text
//! media threads ──AudioSink::offer (never blocks; drops and counts when full)──▶ captioner thread
//!   per meeting a Pipeline: per speaker Opus → 16 kHz PCM (decoder) → voice activity (segmenter)
//!   ──utterances──▶ engine workers (one Engine each: PocketSphinx, or whisper.cpp)
//!   ──Caption { participant_id, start, end, text, is_final }──▶ on_caption callback (the room)
//! ```
//!
//! * [`Pipeline`] is the sans-IO core: packets and time in, [`Voice`] (utterance begin /
//!   audio / end) out.
//! * [`Engine`] is the pluggable recogniser; [`EngineConfig`] picks and loads one
//!   (`--captions-engine`, `--captions-model`).
//! * [`Captioner`] runs it all off the media threads with bounded queues.
//! * [`Transcript`] collects final captions with speaker names and renders WebVTT or text.
//!
//! Captions are for meetings without end-to-end encryption only: in an E2EE meeting the
//! server cannot hear anything, and only a client-side engine may caption.

#![warn(unreachable_pub)]

mod audio;
mod caption;
mod captioner;
mod decoder;
mod engine;
mod error;
mod pipeline;
mod scheduler;
mod segmenter;
mod stats;
mod transcript;
mod worker;

pub use audio::AudioPacket;
pub use caption::{Caption, MeetingCaption};
pub use captioner::{AudioSink, Captioner, CaptionerConfig};
pub use engine::{transcribe, Engine, EngineConfig, EngineKind, POCKETSPHINX_DEFAULT_MODEL, SAMPLE_RATE};
pub use error::{Error, Result};
pub use pipeline::{Pipeline, PipelineStats, Voice, QUIET};
pub use stats::Stats;
pub use transcript::{Line, Transcript};
