//! The crate's one error type.

use std::path::PathBuf;

/// What can go wrong in live captions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--captions-engine` names no engine this crate knows.
    #[error("unknown captions engine {0:?}: use \"pocketsphinx\" or \"whisper\"")]
    UnknownEngine(String),
    /// The engine exists but this build was made without it.
    #[error(
        "the {engine} captions engine is not in this build: rebuild with `cargo build --release --features {feature}` \
         (see docs/operations.md, \"Live captions\")"
    )]
    EngineNotBuilt {
        /// The engine asked for.
        engine: &'static str,
        /// The cargo feature that builds it.
        feature: &'static str,
    },
    /// The engine needs a model file and none was given.
    #[error("the {engine} captions engine needs a model: set --captions-model")]
    ModelRequired {
        /// The engine asked for.
        engine: &'static str,
    },
    /// The model is missing, unreadable or not a model this engine can load.
    #[error("captions model {}: {reason}", path.display())]
    BadModel {
        /// The file or directory that was given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The speech engine failed on audio.
    #[error("captions engine: {0}")]
    Engine(String),
    /// An Opus packet could not be decoded.
    #[error("cannot decode an Opus packet: {0}")]
    Opus(#[from] opus::Error),
    /// The captioner's threads could not be started.
    #[error("cannot start the captions workers: {0}")]
    Thread(#[from] std::io::Error),
    /// The captioner has stopped.
    #[error("the captioner has stopped")]
    Stopped,
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
