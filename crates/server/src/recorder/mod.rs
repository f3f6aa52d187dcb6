//! The recording machinery under the recording workflow (`recording`): the recorder, a
//! thread of its own that takes recorded packets from the media runtime through a bounded
//! queue and writes each meeting's tracks to disk ([`track_writer`], [`depacketizer`]), the
//! storage the finished files go to ([`storage`]), their signed links ([`links`]) and where
//! client uploads are kept ([`upload_slots`]). It imports nothing that takes `Services`, so
//! the media runtime and `Services` can hold it without an import running back up.
//!
//! The media runtime only ever calls [`PacketSink::offer`], which never blocks: when the
//! queue is full (the disk is slower than the meeting) the packet is dropped, counted in
//! `recording_packets_dropped_total` and logged. A write error or a panic ends that one
//! recording as failed; forwarding never notices.

pub(crate) mod depacketizer;
pub mod links;
pub mod storage;
pub(crate) mod track_writer;
pub mod upload_slots;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Instant;

use convene_sfu::{RecordedPacket, TrackId};
use tokio::sync::oneshot;

use links::LinkSigner;
use storage::Storage;
use track_writer::{Manifest, TrackWriter};
use upload_slots::Uploads;

/// Everything recording needs at run time; cheap to clone.
#[derive(Clone)]
pub struct Recordings {
    pub recorder: Recorder,
    pub storage: Storage,
    pub links: LinkSigner,
    pub uploads: Uploads,
    raw_root: PathBuf,
}

impl Recordings {
    pub fn new(config: &crate::config::Config, link_secret: &[u8]) -> std::io::Result<Recordings> {
        let storage = match &config.recordings_s3_bucket {
            Some(bucket) => Storage::s3(&storage::S3Config {
                bucket: bucket.clone(),
                endpoint: config.recordings_s3_endpoint.clone(),
                region: config.recordings_s3_region.clone(),
            })?,
            None => Storage::Local(config.recordings_dir.clone()),
        };
        Ok(Recordings {
            recorder: Recorder::start(config.recording_queue, config.recording_chunk_ms),
            storage,
            links: LinkSigner::new(link_secret),
            uploads: Uploads::new(&config.data_dir),
            raw_root: config.data_dir.join("recordings-raw"),
        })
    }

    /// Where a recording's raw chunks are written.
    pub fn raw_dir(&self, id: &str) -> PathBuf {
        self.raw_root.join(id)
    }
}

/// What a finished recording session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// From start to stop.
    pub duration_ms: u64,
    /// Tracks that had at least one frame written.
    pub tracks: usize,
    /// Why writing stopped early, if it did.
    pub failure: Option<String>,
}

enum Msg {
    Packet { meeting_id: i64, participant: Arc<str>, packet: RecordedPacket },
    Open { meeting_id: i64, dir: PathBuf, reply: oneshot::Sender<Result<(), String>> },
    Close { meeting_id: i64, reply: oneshot::Sender<Option<Summary>> },
}

/// The media runtime's end of the queue; cheap to clone.
#[derive(Clone)]
pub struct PacketSink {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl PacketSink {
    /// Queues a packet for the recorder without ever blocking; drops it when the queue is full.
    pub fn offer(&self, meeting_id: i64, participant: Arc<str>, packet: RecordedPacket) {
        match self.tx.try_send(Msg::Packet { meeting_id, participant, packet }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                metrics::counter!("recording_packets_dropped_total").increment(1);
                let n = self.dropped.fetch_add(1, Ordering::Relaxed);
                // Say so, without flooding the log: the 1st, 1000th, 2000th… drop.
                if n % 1_000 == 0 {
                    tracing::warn!(meeting_id, dropped = n + 1, "recorder falls behind: dropping recorded packets");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                metrics::counter!("recording_packets_dropped_total").increment(1);
            }
        }
    }

    /// Packets dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Handle to the recorder thread; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    sink: PacketSink,
}

impl Recorder {
    /// Starts the recorder thread with a queue of `capacity` packets and chunks of
    /// `chunk_ms` milliseconds.
    pub fn start(capacity: usize, chunk_ms: u64) -> Recorder {
        let (tx, rx) = sync_channel(capacity.max(16));
        let spawned = std::thread::Builder::new().name("recorder".into()).spawn(move || run(&rx, chunk_ms));
        if let Err(e) = spawned {
            // Without the thread every offer is dropped and every open refused; the
            // meetings themselves are unaffected.
            tracing::error!(error = %e, "cannot start the recorder thread");
        }
        Recorder { sink: PacketSink { tx, dropped: Arc::new(AtomicU64::new(0)) } }
    }

    /// The sender the media runtime feeds.
    pub fn sink(&self) -> PacketSink {
        self.sink.clone()
    }

    /// Starts writing a meeting's packets under `dir`.
    pub async fn open(&self, meeting_id: i64, dir: PathBuf) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Open { meeting_id, dir, reply }).await?;
        rx.await.map_err(|_| "the recorder stopped".to_owned())?
    }

    /// Finishes a meeting's recording: every chunk closed and noted in the manifest.
    pub async fn close(&self, meeting_id: i64) -> Option<Summary> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Close { meeting_id, reply }).await.ok()?;
        rx.await.ok().flatten()
    }

    /// Control messages wait for room in the queue (off the async runtime): they must not be lost.
    async fn send(&self, msg: Msg) -> Result<(), String> {
        let tx = self.sink.tx.clone();
        tokio::task::spawn_blocking(move || tx.send(msg))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|_| "the recorder stopped".to_owned())
    }
}

struct Session {
    dir: PathBuf,
    started: Instant,
    manifest: Manifest,
    tracks: HashMap<TrackId, Option<TrackWriter>>,
    failure: Option<String>,
    chunk_ms: u64,
}

impl Session {
    fn packet(&mut self, participant: &str, p: &RecordedPacket) {
        if self.failure.is_some() {
            return;
        }
        let (dir, chunk_ms) = (&self.dir, self.chunk_ms);
        let writer = self.tracks.entry(p.track_id).or_insert_with(|| {
            let w = TrackWriter::new(dir, participant, p, chunk_ms);
            if w.is_none() {
                tracing::warn!(track = %p.track_id, codec = ?p.codec, "codec not recorded; track skipped");
            }
            w
        });
        let Some(w) = writer.as_mut() else { return };
        let at = u64::try_from(p.arrived.saturating_duration_since(self.started).as_nanos()).unwrap_or(u64::MAX);
        if let Err(e) = w.push(p, at, &mut self.manifest) {
            self.fail(format!("cannot write track {}: {e}", p.track_id));
        }
    }

    fn fail(&mut self, why: String) {
        tracing::error!(dir = %self.dir.display(), error = %why, "recording failed; the meeting goes on");
        metrics::counter!("recording_failures_total").increment(1);
        self.failure = Some(why);
    }

    fn finish(mut self) -> Summary {
        let mut tracks = 0;
        for w in self.tracks.values_mut().flatten() {
            tracks += 1;
            if let Err(e) = w.close(&mut self.manifest) {
                if self.failure.is_none() {
                    self.failure = Some(format!("cannot finish a track: {e}"));
                }
            }
        }
        Summary {
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            tracks,
            failure: self.failure,
        }
    }
}

fn run(rx: &Receiver<Msg>, chunk_ms: u64) {
    let mut sessions: HashMap<i64, Session> = HashMap::new();
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Packet { meeting_id, participant, packet } => {
                let Some(s) = sessions.get_mut(&meeting_id) else { continue };
                // A bug in a depacketizer or the muxer ends this recording, not the thread.
                if std::panic::catch_unwind(AssertUnwindSafe(|| s.packet(&participant, &packet))).is_err() {
                    s.fail("the recorder crashed on a packet".into());
                }
            }
            Msg::Open { meeting_id, dir, reply } => {
                let opened = Manifest::create(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()));
                let result = opened.map(|manifest| {
                    let session = Session {
                        dir,
                        started: Instant::now(),
                        manifest,
                        tracks: HashMap::new(),
                        failure: None,
                        chunk_ms,
                    };
                    if let Some(old) = sessions.insert(meeting_id, session) {
                        old.finish();
                    }
                });
                let _ = reply.send(result);
            }
            Msg::Close { meeting_id, reply } => {
                let summary = sessions.remove(&meeting_id).map(|s| {
                    std::panic::catch_unwind(AssertUnwindSafe(|| s.finish())).unwrap_or(Summary {
                        duration_ms: 0,
                        tracks: 0,
                        failure: Some("the recorder crashed while finishing".into()),
                    })
                });
                let _ = reply.send(summary);
            }
        }
    }
}
