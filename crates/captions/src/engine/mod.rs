//! Speech engines: the [`Engine`] trait the workers drive, one utterance at a time, and the
//! engines this crate ships ([`EngineKind`]).
//!
//! An engine is loaded once per worker thread ([`EngineConfig::load`]), so loading is where a
//! missing or corrupt model is found: the captioner refuses to start rather than fail later.

mod pocketsphinx;
#[cfg(feature = "whisper")]
mod whisper;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Sample rate of the audio every engine receives: 16 kHz, mono, signed 16-bit.
pub const SAMPLE_RATE: u32 = 16_000;

/// A speech recogniser, driven one utterance at a time by one worker thread.
///
/// The worker calls [`Engine::begin`], then [`Engine::accept`] for each chunk of the
/// utterance as it is spoken, then [`Engine::finish`]. A streaming engine returns its best
/// guess so far from `accept` (shown as a partial caption); one that only works on whole
/// utterances returns `None` there and does its work in `finish`.
pub trait Engine: Send {
    /// The engine's name, for logs.
    fn name(&self) -> &'static str;
    /// Starts a new utterance, dropping anything left of the previous one.
    fn begin(&mut self) -> Result<()>;
    /// More audio of the utterance (16 kHz mono); the text recognised so far, if the engine
    /// recognises while audio arrives.
    fn accept(&mut self, pcm: &[i16]) -> Result<Option<String>>;
    /// Ends the utterance: its final text (empty when nothing was recognised).
    fn finish(&mut self) -> Result<String>;
}

/// Recognises one whole utterance: `begin`, one `accept`, `finish`.
pub fn transcribe(engine: &mut dyn Engine, pcm: &[i16]) -> Result<String> {
    engine.begin()?;
    engine.accept(pcm)?;
    engine.finish()
}

/// The engines there are (`--captions-engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// CMU PocketSphinx with a model directory (Debian's `pocketsphinx-en-us` by default):
    /// light, streaming, modest accuracy.
    PocketSphinx,
    /// whisper.cpp with a ggml model file the operator supplies: accurate, whole utterances,
    /// needs the `whisper` cargo feature.
    Whisper,
}

impl EngineKind {
    /// Parses a `--captions-engine` value. A known engine missing from this build is an
    /// error that says how to build it.
    pub fn parse(name: &str) -> Result<EngineKind> {
        match name.trim().to_ascii_lowercase().as_str() {
            "pocketsphinx" => Ok(EngineKind::PocketSphinx),
            "whisper" if cfg!(feature = "whisper") => Ok(EngineKind::Whisper),
            "whisper" => Err(Error::EngineNotBuilt { engine: "whisper", feature: "whisper" }),
            _ => Err(Error::UnknownEngine(name.to_owned())),
        }
    }

    /// The name `--captions-engine` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::PocketSphinx => "pocketsphinx",
            EngineKind::Whisper => "whisper",
        }
    }
}

/// Which engine to run, with which model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The engine.
    pub kind: EngineKind,
    /// `--captions-model`: PocketSphinx's model directory (default
    /// [`pocketsphinx::DEFAULT_MODEL`]), or whisper's ggml model file (required).
    pub model: Option<PathBuf>,
    /// The spoken language for engines that ask (whisper: `"en"`, `"de"`…; `None`: detect).
    pub language: Option<String>,
}

impl EngineConfig {
    /// The configuration of `--captions-engine NAME [--captions-model PATH]`, checked as far
    /// as it can be without loading the model.
    pub fn parse(engine: &str, model: Option<&Path>) -> Result<EngineConfig> {
        let kind = EngineKind::parse(engine)?;
        if kind == EngineKind::Whisper && model.is_none() {
            return Err(Error::ModelRequired { engine: "whisper" });
        }
        Ok(EngineConfig { kind, model: model.map(Path::to_path_buf), language: None })
    }

    /// Loads the engine and its model: a missing, unreadable or corrupt model is an error here.
    pub fn load(&self) -> Result<Box<dyn Engine>> {
        match self.kind {
            EngineKind::PocketSphinx => {
                let dir = self.model.clone().unwrap_or_else(|| PathBuf::from(pocketsphinx::DEFAULT_MODEL));
                Ok(Box::new(pocketsphinx::PocketSphinx::load(&dir)?))
            }
            #[cfg(feature = "whisper")]
            EngineKind::Whisper => {
                let path = self.model.as_deref().ok_or(Error::ModelRequired { engine: "whisper" })?;
                Ok(Box::new(whisper::Whisper::load(path, self.language.clone())?))
            }
            #[cfg(not(feature = "whisper"))]
            EngineKind::Whisper => Err(Error::EngineNotBuilt { engine: "whisper", feature: "whisper" }),
        }
    }

    /// Checks the model without keeping it loaded: what a server runs at start so a bad
    /// `--captions-model` stops it with a clear message instead of failing per meeting.
    pub fn check(&self) -> Result<()> {
        self.load().map(drop)
    }
}

pub use self::pocketsphinx::DEFAULT_MODEL as POCKETSPHINX_DEFAULT_MODEL;
