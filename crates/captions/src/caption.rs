//! A caption: what one participant said in one utterance, as it is recognised, and where
//! the captioner hands captions out ([`OnCaption`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A line of captions. While an utterance goes on a streaming engine sends partial captions
/// (`is_final: false`), each replacing the last one with the same `utterance`; the final
/// caption replaces them all. A final caption with empty text withdraws the partial ones
/// (the engine heard nothing it could recognise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caption {
    /// Which utterance of the meeting this is (partial and final captions of one utterance
    /// share it).
    pub utterance: u64,
    /// Who spoke (the protocol's participant id).
    pub participant_id: String,
    /// When the utterance started, in milliseconds since the meeting's captions started.
    pub start_ms: u64,
    /// When the audio recognised so far ends (the utterance's end, for a final caption).
    pub end_ms: u64,
    /// The recognised text.
    pub text: String,
    /// Whether this is the utterance's last word.
    pub is_final: bool,
}

/// A caption of one meeting, as the captioner hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingCaption {
    /// The meeting (the server's meeting id).
    pub meeting_id: i64,
    /// The caption.
    pub caption: Caption,
}

/// Where captions go: called on a worker thread for every caption, so it must be quick
/// (send it on a channel). Kept beside the caption, below the captioner and its workers, so
/// both can name it without importing each other.
pub(crate) type OnCaption = Arc<dyn Fn(MeetingCaption) + Send + Sync>;
