//! What a run and the participants of its targets share: the run's context ([`Ctx`]), a
//! participant's description ([`Spec`]) and record ([`Record`]), and where a join was refused
//! ([`Stage`]).
//!
//! Its own file so that the adapters of each target (Convene, Janus) import it downward,
//! while the run sits above them all and drives them.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::engine::{Engine, PeerHandle};
use crate::peer::PHASE_WARMUP;
use crate::scenario::Scenario;

/// What every participant task shares.
pub(crate) struct Ctx {
    pub(crate) engine: Engine,
    pub(crate) http: reqwest::Client,
    pub(crate) phase: Arc<AtomicU8>,
    pub(crate) scenario: Scenario,
    /// The address the simulated peers' sockets bind to.
    pub(crate) client_ip: std::net::IpAddr,
    pub(crate) records: Mutex<Vec<Record>>,
    /// Joins the server refused with `server_busy` (overload admission).
    refusals: Mutex<Vec<Refusal>>,
    next_tag: AtomicU32,
}

/// A join the server refused for load, and how long the refusal took from the join request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal {
    pub(crate) after: Duration,
    pub(crate) stage: Stage,
}

/// Where a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// 503 on the HTTP join.
    Http,
    /// An `error` frame as the meeting socket opened.
    Socket,
    /// An `error` frame answering the first `publish_offer`.
    Publish,
}

impl Ctx {
    /// What a run's participants share, in the warm-up phase, with nothing recorded yet.
    pub(crate) fn new(engine: Engine, http: reqwest::Client, scenario: Scenario, client_ip: std::net::IpAddr) -> Ctx {
        Ctx {
            engine,
            http,
            phase: Arc::new(AtomicU8::new(PHASE_WARMUP)),
            scenario,
            client_ip,
            records: Mutex::new(Vec::new()),
            refusals: Mutex::new(Vec::new()),
            next_tag: AtomicU32::new(0x0100_0000 | (std::process::id() & 0xffff) << 4),
        }
    }

    /// A new sender tag for probes.
    pub(crate) fn tag(&self) -> u32 {
        self.next_tag.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn add_record(&self, r: Record) {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }

    /// The server refused a join that started at `started` with `server_busy`.
    pub(crate) fn refused(&self, started: Instant, stage: Stage) {
        let r = Refusal { after: started.elapsed(), stage };
        self.refusals.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }

    /// The joins refused so far.
    pub(crate) fn refusals(&self) -> MutexGuard<'_, Vec<Refusal>> {
        self.refusals.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn refusal_count(&self) -> usize {
        self.refusals().len()
    }
}

/// One participant as the run sees it.
pub(crate) struct Record {
    pub(crate) meeting: usize,
    pub(crate) join_started: Instant,
    /// When signaling welcomed it (Convene: the socket's `welcome`), where the target has one.
    pub(crate) welcomed: Option<Instant>,
    pub(crate) sub: PeerHandle,
    pub(crate) publ: Option<PeerHandle>,
    pub(crate) sends_audio: bool,
    pub(crate) sends_video: bool,
    /// Whether its microphone carries speech rather than silence.
    pub(crate) talks: bool,
}

impl Record {
    /// The record of a participant as `spec` describes it, whose join started at
    /// `join_started`: every target's adapter files its participants the same way.
    pub(crate) fn new(spec: &Spec, join_started: Instant, sub: PeerHandle, publ: Option<PeerHandle>) -> Record {
        Record {
            meeting: spec.meeting,
            join_started,
            welcomed: None,
            sub,
            publ,
            sends_audio: spec.audio,
            sends_video: spec.video,
            talks: spec.talks,
        }
    }
}

/// Who a participant is.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) meeting: usize,
    pub(crate) audio: bool,
    pub(crate) video: bool,
    /// Whether the microphone carries speech rather than silence.
    pub(crate) talks: bool,
    pub(crate) name: String,
}
