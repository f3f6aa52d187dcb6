//! An engine worker: a thread with its own [`Engine`], recognising one utterance at a time
//! from its own bounded queue and handing captions out.
//!
//! An engine error or panic loses that utterance only: a panicking engine is reloaded.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::caption::OnCaption;
use crate::engine::{Engine, EngineConfig};
use crate::stats::Stats;
use crate::{Caption, MeetingCaption};

/// What a worker is asked to do.
#[derive(Debug)]
pub(crate) enum Job {
    Begin { meeting_id: i64, utterance: u64, participant: Arc<str>, at: Duration },
    Audio { pcm: Vec<i16>, end: Duration },
    End { at: Duration },
}

struct Current {
    meeting_id: i64,
    utterance: u64,
    participant: Arc<str>,
    start: Duration,
    partial: String,
    failed: bool,
}

impl Current {
    fn caption(&self, text: String, end: Duration, is_final: bool) -> MeetingCaption {
        MeetingCaption {
            meeting_id: self.meeting_id,
            caption: Caption {
                utterance: self.utterance,
                participant_id: self.participant.to_string(),
                start_ms: millis(self.start),
                end_ms: millis(end.max(self.start)),
                text,
                is_final,
            },
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Runs a worker until its queue closes.
pub(crate) fn run(
    mut engine: Box<dyn Engine>,
    config: &EngineConfig,
    jobs: &Receiver<Job>,
    out: &OnCaption,
    stats: &Stats,
) {
    let mut current: Option<Current> = None;
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Begin { meeting_id, utterance, participant, at } => {
                let begun = guarded(&mut engine, config, stats, |e| e.begin());
                current = Some(Current {
                    meeting_id,
                    utterance,
                    participant,
                    start: at,
                    partial: String::new(),
                    failed: begun.is_none(),
                });
            }
            Job::Audio { pcm, end } => {
                let Some(c) = current.as_mut().filter(|c| !c.failed) else { continue };
                match guarded(&mut engine, config, stats, |e| e.accept(&pcm)) {
                    Some(Some(text)) if text != c.partial => {
                        c.partial.clone_from(&text);
                        stats.partial_captions.fetch_add(1, Ordering::Relaxed);
                        out(c.caption(text, end, false));
                    }
                    Some(_) => {}
                    None => c.failed = true,
                }
            }
            Job::End { at } => {
                let Some(c) = current.take() else { continue };
                let text = if c.failed { None } else { guarded(&mut engine, config, stats, |e| e.finish()) };
                let text = text.unwrap_or_default();
                // A final caption with no text still goes out when partial ones did: it withdraws them.
                if !text.is_empty() || !c.partial.is_empty() {
                    stats.final_captions.fetch_add(1, Ordering::Relaxed);
                    out(c.caption(text, at, true));
                }
            }
        }
    }
}

/// Runs an engine call; an error or a panic is logged and counted (`None`), and after a
/// panic the engine is loaded afresh.
fn guarded<T>(
    engine: &mut Box<dyn Engine>,
    config: &EngineConfig,
    stats: &Stats,
    call: impl FnOnce(&mut dyn Engine) -> crate::Result<T>,
) -> Option<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| call(engine.as_mut()))) {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            stats.engine_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(engine = engine.name(), error = %e, "captions engine failed on an utterance");
            None
        }
        Err(_) => {
            stats.engine_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(engine = engine.name(), "captions engine panicked; reloading it");
            match config.load() {
                Ok(fresh) => *engine = fresh,
                Err(e) => tracing::error!(error = %e, "cannot reload the captions engine"),
            }
            None
        }
    }
}
