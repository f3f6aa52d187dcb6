//! [`Stats`]: the captioner's counters.
//!
//! Its own file, below the captioner, the scheduler and the workers, because all three count
//! into it; kept in the captioner, it tied the three into an import loop.

use std::sync::atomic::AtomicU64;

/// Counters of a captioner (cumulative).
#[derive(Debug, Default)]
pub struct Stats {
    /// Packets dropped because the captioner's queue was full.
    pub packets_dropped: AtomicU64,
    /// Packets of meetings without captions on.
    pub packets_ignored: AtomicU64,
    /// Packets libopus could not decode.
    pub undecodable: AtomicU64,
    /// Packets concealed (lost, undecodable).
    pub concealed: AtomicU64,
    /// Packets that came too late or twice.
    pub late: AtomicU64,
    /// Milliseconds of speech dropped because the engines were behind.
    pub audio_dropped_ms: AtomicU64,
    /// Utterances dropped because more people spoke at once than there are workers.
    pub utterances_dropped: AtomicU64,
    /// Engine errors (and panics).
    pub engine_errors: AtomicU64,
    /// Partial captions sent.
    pub partial_captions: AtomicU64,
    /// Final captions sent.
    pub final_captions: AtomicU64,
}
