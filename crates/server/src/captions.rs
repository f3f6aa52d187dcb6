//! The live captions engine as the server runs it: the `convene-captions` captioner started
//! from the configuration (`--captions-engine`), or nothing when captions are off
//! server-wide. The media runtime feeds it (media/worker.rs, through its `AudioSink`), the
//! live rooms start and stop meetings on it and read its captions from a channel
//! (live/captions.rs): the captioner's worker threads never touch a room's lock.

use std::sync::Arc;
use std::time::Instant;

use convene_captions::{AudioSink, Captioner, CaptionerConfig, MeetingCaption};
use tokio::sync::mpsc;

use crate::config::Config;

/// Where the captions come out, for the live rooms.
pub type CaptionReceiver = mpsc::UnboundedReceiver<MeetingCaption>;

/// The server's captioner, if captions are on server-wide; cloning is cheap.
#[derive(Clone, Default)]
pub struct Captions {
    captioner: Option<Arc<Captioner>>,
    engine: &'static str,
}

impl Captions {
    /// Loads the engine (`--captions-engine`) on its workers: a missing or corrupt model is
    /// an error here, so the server does not start with captions that cannot work.
    pub fn start(config: &Config) -> anyhow::Result<(Captions, Option<CaptionReceiver>)> {
        let Some(engine) = &config.captions else { return Ok((Captions::default(), None)) };
        let mut cc = CaptionerConfig::new(engine.clone());
        if config.captions_workers > 0 {
            cc.workers = config.captions_workers;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        // Called on an engine thread: a channel send, never a lock of a room.
        let captioner = Captioner::start(&cc, move |c| {
            let _ = tx.send(c);
        })
        .map_err(|e| anyhow::anyhow!("live captions ({}): {e}", engine.kind.as_str()))?;
        Ok((Captions { captioner: Some(Arc::new(captioner)), engine: engine.kind.as_str() }, Some(rx)))
    }

    /// Whether this server can caption meetings.
    pub fn available(&self) -> bool {
        self.captioner.is_some()
    }

    /// The engine's name (`pocketsphinx`, `whisper`), empty when off.
    pub fn engine(&self) -> &'static str {
        self.engine
    }

    /// The media runtime's end of the captioner.
    pub fn sink(&self) -> Option<AudioSink> {
        self.captioner.as_ref().map(|c| c.sink())
    }

    /// Starts captioning a meeting; caption times count from `epoch` (the same instant each
    /// time captions are turned on again in one live meeting, so the transcript's times run on).
    pub fn start_meeting(&self, meeting_id: i64, epoch: Instant) {
        if let Some(c) = &self.captioner {
            let _ = c.start_meeting(meeting_id, epoch);
        }
    }

    /// Stops captioning a meeting; the final captions of what was being said still come.
    pub fn stop_meeting(&self, meeting_id: i64) {
        if let Some(c) = &self.captioner {
            let _ = c.stop_meeting(meeting_id);
        }
    }

    /// A speaker left or turned the microphone off: their utterance ends now.
    pub fn speaker_left(&self, meeting_id: i64, participant_id: &str) {
        if let Some(c) = &self.captioner {
            let _ = c.speaker_left(meeting_id, participant_id);
        }
    }
}
