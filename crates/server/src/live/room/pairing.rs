//! What a room knows of peer-to-peer: who can, the pair talking directly now, and what the
//! SFU enforces meanwhile. The decisions (form a pair, end it) are in live/p2p.rs.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

/// The peer-to-peer state of one room.
#[derive(Default)]
pub(crate) struct Pairing {
    pub(in crate::live) inner: Mutex<PairState>,
}

#[derive(Default)]
pub(in crate::live) struct PairState {
    /// Participants whose client announced `p2p_capable`.
    pub(in crate::live) capable: HashSet<String>,
    /// The pair talking directly now.
    pub(in crate::live) current: Option<Pair>,
    /// The last session number handed out.
    pub(in crate::live) session: u64,
    /// A pair that could not connect directly: it stays on the SFU while both are here.
    pub(in crate::live) failed: Option<(String, String)>,
    /// Participants a moderator muted (until they unmute themselves): the SFU enforces it.
    pub(in crate::live) muted_by_host: HashSet<String>,
    /// Participants whose video a moderator stopped (until they turn it on again).
    pub(in crate::live) video_stopped: HashSet<String>,
    /// Since when the conditions for a pair hold (hysteresis).
    pub(in crate::live) eligible_since: Option<Instant>,
    /// The room's watcher task runs.
    pub(in crate::live) watching: bool,
}

pub(in crate::live) struct Pair {
    /// The offerer (the one who arrived first) and the answerer.
    pub(in crate::live) a: String,
    pub(in crate::live) b: String,
    pub(in crate::live) session: u64,
    /// Addresses from the pair's candidates the embedded TURN server allowed.
    pub(in crate::live) addresses: Vec<SocketAddr>,
    /// Candidate addresses seen (allowed or not), to bound the work per pair.
    pub(in crate::live) seen: usize,
    pub(in crate::live) connected: bool,
}

impl Pair {
    pub(in crate::live) fn has(&self, pid: &str) -> bool {
        self.a == pid || self.b == pid
    }

    pub(in crate::live) fn other(&self, pid: &str) -> &str {
        if self.a == pid {
            &self.b
        } else {
            &self.a
        }
    }
}

impl Pairing {
    pub(in crate::live) fn lock(&self) -> std::sync::MutexGuard<'_, PairState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
