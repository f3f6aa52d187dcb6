//! One meeting's audio, from Opus packets to utterances (sans-IO).
//!
//! Feed packets with [`Pipeline::push`], call [`Pipeline::tick`] now and then (every
//! ~100 ms: a speaker who stops sending — muted, gone — ends their utterance by time), and
//! drain [`Pipeline::poll`] after each call. Time comes from the caller: packets carry their
//! arrival, `tick` takes the time, so tests run on simulated time.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::decoder::{DecodeStats, Decoded, SpeakerDecoder};
use crate::segmenter::{Segment, Segmenter};
use crate::AudioPacket;

/// A speaker who sent nothing for this long has stopped: their utterance ends.
pub const QUIET: Duration = Duration::from_millis(300);
/// A speaker who sent nothing for this long is forgotten (their decoder state freed).
const FORGET: Duration = Duration::from_secs(60);

/// What the pipeline hands to the speech engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Voice {
    /// An utterance starts.
    Begin {
        /// The utterance's number in this meeting.
        utterance: u64,
        /// Who speaks.
        participant: Arc<str>,
        /// When it starts (since the meeting's captions started).
        at: Duration,
    },
    /// More of it: 16 kHz mono PCM.
    Audio {
        /// The utterance.
        utterance: u64,
        /// The samples.
        pcm: Vec<i16>,
        /// Where they end (since the meeting's captions started).
        end: Duration,
    },
    /// It has ended.
    End {
        /// The utterance.
        utterance: u64,
        /// When the last speech in it ended.
        at: Duration,
    },
}

/// Counters of a pipeline, taken with [`Pipeline::take_stats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PipelineStats {
    /// Packets libopus could not decode (concealed as if lost).
    pub undecodable: u64,
    /// Packets concealed (lost or undecodable).
    pub concealed: u64,
    /// Packets that came too late or twice (dropped).
    pub late: u64,
}

struct Speaker {
    decoder: SpeakerDecoder,
    segmenter: Segmenter,
    utterance: Option<u64>,
    heard: Instant,
    reported: DecodeStats,
}

/// One meeting's captions pipeline.
pub struct Pipeline {
    started: Instant,
    speakers: HashMap<Arc<str>, Speaker>,
    next_utterance: u64,
    out: VecDeque<Voice>,
    stats: PipelineStats,
    decoded: Vec<Decoded>,
    segments: Vec<Segment>,
}

impl Pipeline {
    /// A pipeline whose timeline starts at `started` (caption times are relative to it).
    pub fn new(started: Instant) -> Pipeline {
        Pipeline {
            started,
            speakers: HashMap::new(),
            next_utterance: 1,
            out: VecDeque::new(),
            stats: PipelineStats::default(),
            decoded: Vec::new(),
            segments: Vec::new(),
        }
    }

    /// Feeds one packet of a speaker's microphone.
    pub fn push(&mut self, packet: &AudioPacket) {
        if !self.speakers.contains_key(&packet.participant) {
            match SpeakerDecoder::new() {
                Ok(decoder) => {
                    let speaker = Speaker {
                        decoder,
                        segmenter: Segmenter::new(),
                        utterance: None,
                        heard: packet.arrived,
                        reported: DecodeStats::default(),
                    };
                    self.speakers.insert(packet.participant.clone(), speaker);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot create an Opus decoder; speaker not captioned");
                    return;
                }
            }
        }
        let Some(s) = self.speakers.get_mut(&packet.participant) else { return };
        s.heard = s.heard.max(packet.arrived);
        self.decoded.clear();
        s.decoder.push(packet, self.started, &mut self.decoded);
        self.segments.clear();
        for d in self.decoded.drain(..) {
            match d {
                Decoded::Break => s.segmenter.reset(&mut self.segments),
                Decoded::Audio { at, pcm } => s.segmenter.push(at, &pcm, &mut self.segments),
            }
        }
        let participant = packet.participant.clone();
        self.emit(&participant);
    }

    /// Ends the utterances of speakers quiet for [`QUIET`] and forgets long-gone ones.
    pub fn tick(&mut self, now: Instant) {
        let quiet: Vec<Arc<str>> = self
            .speakers
            .iter()
            .filter(|(_, s)| s.segmenter.is_speaking() && now.saturating_duration_since(s.heard) >= QUIET)
            .map(|(p, _)| p.clone())
            .collect();
        for p in quiet {
            if let Some(s) = self.speakers.get_mut(&p) {
                self.segments.clear();
                s.segmenter.reset(&mut self.segments);
                self.emit(&p);
            }
        }
        let gone: Vec<Arc<str>> = self
            .speakers
            .iter()
            .filter(|(_, s)| !s.segmenter.is_speaking() && now.saturating_duration_since(s.heard) >= FORGET)
            .map(|(p, _)| p.clone())
            .collect();
        for p in gone {
            if let Some(mut s) = self.speakers.remove(&p) {
                self.absorb_stats(&mut s);
            }
        }
    }

    /// A participant left (or stopped their microphone): what they were saying ends now.
    pub fn speaker_left(&mut self, participant: &str) {
        let Some((p, _)) = self.speakers.get_key_value(participant) else { return };
        let p = p.clone();
        self.segments.clear();
        if let Some(s) = self.speakers.get_mut(&p) {
            s.segmenter.end(&mut self.segments);
        }
        self.emit(&p);
        if let Some(mut s) = self.speakers.remove(&p) {
            self.absorb_stats(&mut s);
        }
    }

    /// Ends every utterance (captions stop for the meeting).
    pub fn finish(&mut self) {
        let all: Vec<Arc<str>> = self.speakers.keys().cloned().collect();
        for p in all {
            self.speaker_left(&p);
        }
    }

    /// The next thing for the engine.
    pub fn poll(&mut self) -> Option<Voice> {
        self.out.pop_front()
    }

    /// The counters since the last call.
    pub fn take_stats(&mut self) -> PipelineStats {
        let mut speakers = std::mem::take(&mut self.speakers);
        for s in speakers.values_mut() {
            self.absorb_stats(s);
        }
        self.speakers = speakers;
        std::mem::take(&mut self.stats)
    }

    fn absorb_stats(&mut self, s: &mut Speaker) {
        let now = s.decoder.stats;
        self.stats.undecodable += now.undecodable - s.reported.undecodable;
        self.stats.concealed += now.concealed - s.reported.concealed;
        self.stats.late += now.late - s.reported.late;
        s.reported = now;
    }

    /// Turns the segments just produced for `participant` into [`Voice`]s.
    fn emit(&mut self, participant: &Arc<str>) {
        let Some(s) = self.speakers.get_mut(participant) else { return };
        for seg in self.segments.drain(..) {
            match seg {
                Segment::Begin { at } => {
                    let utterance = self.next_utterance;
                    self.next_utterance += 1;
                    s.utterance = Some(utterance);
                    self.out.push_back(Voice::Begin { utterance, participant: participant.clone(), at });
                }
                Segment::Audio { pcm, end } => {
                    if let Some(utterance) = s.utterance {
                        self.out.push_back(Voice::Audio { utterance, pcm, end });
                    }
                }
                Segment::End { at } => {
                    if let Some(utterance) = s.utterance.take() {
                        self.out.push_back(Voice::End { utterance, at });
                    }
                }
            }
        }
    }
}
