//! The captioner: the threads around the [`Pipeline`]s and the engines.
//!
//! One captioner thread owns every meeting's pipeline (Opus decoding and voice activity cost
//! little: well under 1 % of a core per speaker) and hands utterances to `workers` engine
//! threads through the [`scheduler`](crate::scheduler). The media runtime only ever calls
//! [`AudioSink::offer`], which never blocks: when the queue is full the packet is dropped
//! and counted. Control calls ([`Captioner::start_meeting`] …) go through a queue of their
//! own and never wait either.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender, TrySendError};

use crate::caption::OnCaption;
use crate::engine::{EngineConfig, EngineKind};
use crate::error::{Error, Result};
use crate::scheduler::Scheduler;
use crate::stats::Stats;
use crate::{AudioPacket, MeetingCaption, Pipeline};

/// How often quiet speakers are looked for.
const TICK: Duration = Duration::from_millis(100);
/// Jobs a worker's queue holds: about 10 s of audio in 320 ms chunks.
const WORKER_QUEUE: usize = 32;

/// How to run the captioner.
#[derive(Debug, Clone)]
pub struct CaptionerConfig {
    /// The engine and its model.
    pub engine: EngineConfig,
    /// Engine threads: how many people can be captioned while speaking at once.
    pub workers: usize,
    /// Packets the media runtime may queue for the captioner before they are dropped.
    pub queue: usize,
}

impl CaptionerConfig {
    /// Workers for the engine on this machine's cores, and a queue of about two seconds of
    /// fifty microphones.
    ///
    /// A worker holds one utterance at a time from its first word to its last, so workers
    /// bound how many people are captioned while speaking at once. PocketSphinx needs ~0.13
    /// of a core per speaker (RTF measured by `examples/rtf.rs`) and ~90 MiB per instance:
    /// two workers per core. whisper.cpp needs a core or more per speaker: one per core.
    pub fn new(engine: EngineConfig) -> CaptionerConfig {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let workers = match engine.kind {
            EngineKind::PocketSphinx => 2 * cores,
            EngineKind::Whisper => cores,
        };
        CaptionerConfig { engine, workers, queue: 5_000 }
    }
}

enum Control {
    Start { meeting_id: i64, started: Instant },
    Stop { meeting_id: i64 },
    Left { meeting_id: i64, participant: String },
}

/// The media runtime's end of the captioner's queue; cheap to clone.
#[derive(Clone)]
pub struct AudioSink {
    tx: Sender<(i64, AudioPacket)>,
    stats: Arc<Stats>,
}

impl AudioSink {
    /// Queues a microphone packet of a meeting without ever blocking; drops it (counted in
    /// [`Stats::packets_dropped`]) when the queue is full.
    pub fn offer(&self, meeting_id: i64, packet: AudioPacket) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send((meeting_id, packet)) {
            let n = self.stats.packets_dropped.fetch_add(1, Ordering::Relaxed);
            if n % 1_000 == 0 {
                tracing::warn!(meeting_id, dropped = n + 1, "captioner falls behind: dropping audio packets");
            }
        }
    }
}

/// The running captioner. Dropping it stops its threads once they have finished their work.
pub struct Captioner {
    sink: AudioSink,
    control: Sender<Control>,
    stats: Arc<Stats>,
    threads: Vec<JoinHandle<()>>,
}

impl Captioner {
    /// Loads the engine on every worker and starts the threads. A missing or corrupt model
    /// is an error here. `on_caption` receives every caption, on a worker thread.
    pub fn start(
        config: &CaptionerConfig,
        on_caption: impl Fn(MeetingCaption) + Send + Sync + 'static,
    ) -> Result<Captioner> {
        let stats = Arc::new(Stats::default());
        let on_caption: OnCaption = Arc::new(on_caption);
        let mut threads = Vec::new();
        let mut senders = Vec::new();
        for i in 0..config.workers.max(1) {
            let engine = config.engine.load()?;
            let (tx, rx) = bounded(WORKER_QUEUE);
            let (engine_config, out, stats) = (config.engine.clone(), on_caption.clone(), stats.clone());
            let handle = std::thread::Builder::new()
                .name(format!("captions-{i}"))
                .spawn(move || crate::worker::run(engine, &engine_config, &rx, &out, &stats))?;
            threads.push(handle);
            senders.push(tx);
        }
        let (packet_tx, packet_rx) = bounded(config.queue.max(16));
        let (control_tx, control_rx) = unbounded();
        let scheduler = Scheduler::new(senders, stats.clone());
        let front_stats = stats.clone();
        let front = std::thread::Builder::new()
            .name("captioner".into())
            .spawn(move || front(&packet_rx, &control_rx, scheduler, &front_stats))?;
        threads.push(front);
        tracing::info!(engine = config.engine.kind.as_str(), workers = config.workers.max(1), "live captions ready");
        Ok(Captioner { sink: AudioSink { tx: packet_tx, stats: stats.clone() }, control: control_tx, stats, threads })
    }

    /// The sender the media runtime feeds.
    pub fn sink(&self) -> AudioSink {
        self.sink.clone()
    }

    /// Starts captioning a meeting; caption times count from `started`.
    pub fn start_meeting(&self, meeting_id: i64, started: Instant) -> Result<()> {
        self.control.send(Control::Start { meeting_id, started }).map_err(|_| Error::Stopped)
    }

    /// Stops captioning a meeting: utterances going on end, and their final captions still
    /// come. Packets of the meeting are ignored from then on.
    pub fn stop_meeting(&self, meeting_id: i64) -> Result<()> {
        self.control.send(Control::Stop { meeting_id }).map_err(|_| Error::Stopped)
    }

    /// A participant left or turned their microphone off: what they were saying ends now.
    pub fn speaker_left(&self, meeting_id: i64, participant: &str) -> Result<()> {
        let participant = participant.to_owned();
        self.control.send(Control::Left { meeting_id, participant }).map_err(|_| Error::Stopped)
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Stops accepting audio, finishes every utterance (their final captions are delivered)
    /// and waits for the threads.
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        // Closing the control queue ends the captioner thread, which closes the workers' queues.
        let (dead_control, _) = unbounded();
        self.control = dead_control;
        for t in self.threads.drain(..).rev() {
            let _ = t.join();
        }
    }
}

impl Drop for Captioner {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

fn front(packets: &Receiver<(i64, AudioPacket)>, control: &Receiver<Control>, mut scheduler: Scheduler, stats: &Stats) {
    let mut meetings: HashMap<i64, Pipeline> = HashMap::new();
    let mut next_tick = Instant::now() + TICK;
    // The media runtime's sinks may outlive the captioner: only the control queue (held by
    // the `Captioner` alone) closing ends this thread.
    let (mut packets_open, mut control_open) = (true, true);
    while control_open {
        let timeout = next_tick.saturating_duration_since(Instant::now());
        let never = crossbeam_channel::never();
        let packets_rx = if packets_open { packets } else { &never };
        select! {
            recv(packets_rx) -> msg => match msg {
                Ok((meeting_id, packet)) => feed(&mut meetings, meeting_id, &packet, &mut scheduler, stats),
                Err(_) => packets_open = false,
            },
            recv(control) -> msg => {
                // Packets offered before this call are handled first: stopping a meeting must
                // not overtake the last words queued for it.
                while let Ok((meeting_id, packet)) = packets.try_recv() {
                    feed(&mut meetings, meeting_id, &packet, &mut scheduler, stats);
                }
                match msg {
                Ok(Control::Start { meeting_id, started }) => {
                    meetings.entry(meeting_id).or_insert_with(|| Pipeline::new(started));
                }
                Ok(Control::Stop { meeting_id }) => {
                    if let Some(mut p) = meetings.remove(&meeting_id) {
                        p.finish();
                        drain(meeting_id, &mut p, &mut scheduler);
                        add_stats(stats, &mut p);
                    }
                }
                Ok(Control::Left { meeting_id, participant }) => {
                    if let Some(p) = meetings.get_mut(&meeting_id) {
                        p.speaker_left(&participant);
                        drain(meeting_id, p, &mut scheduler);
                    }
                }
                Err(_) => control_open = false,
            }},
            default(timeout) => {}
        }
        if Instant::now() >= next_tick {
            // Catch up first: with packets still queued, a speaker would look quiet by the
            // clock while their words wait in the queue.
            for _ in 0..packets.len() {
                let Ok((meeting_id, packet)) = packets.try_recv() else { break };
                feed(&mut meetings, meeting_id, &packet, &mut scheduler, stats);
            }
            let now = Instant::now();
            for (&meeting_id, p) in &mut meetings {
                p.tick(now);
                drain(meeting_id, p, &mut scheduler);
                add_stats(stats, p);
            }
            next_tick = now + TICK;
        }
    }
    for (meeting_id, mut p) in meetings {
        p.finish();
        drain(meeting_id, &mut p, &mut scheduler);
    }
    scheduler.close();
}

fn feed(
    meetings: &mut HashMap<i64, Pipeline>,
    meeting_id: i64,
    packet: &AudioPacket,
    scheduler: &mut Scheduler,
    stats: &Stats,
) {
    match meetings.get_mut(&meeting_id) {
        Some(p) => {
            p.push(packet);
            drain(meeting_id, p, scheduler);
        }
        None => {
            stats.packets_ignored.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn drain(meeting_id: i64, pipeline: &mut Pipeline, scheduler: &mut Scheduler) {
    while let Some(voice) = pipeline.poll() {
        scheduler.dispatch(meeting_id, voice);
    }
}

fn add_stats(stats: &Stats, pipeline: &mut Pipeline) {
    let s = pipeline.take_stats();
    stats.undecodable.fetch_add(s.undecodable, Ordering::Relaxed);
    stats.concealed.fetch_add(s.concealed, Ordering::Relaxed);
    stats.late.fetch_add(s.late, Ordering::Relaxed);
}
