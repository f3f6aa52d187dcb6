//! Hands utterances to engine workers: each utterance is bound to one free worker from its
//! start to its end (a streaming engine keeps state across its chunks).
//!
//! When more people speak at once than there are workers, the extra utterances wait, with
//! their audio, for a worker to come free; a few at most ([`MAX_WAITING`] per worker), the
//! oldest dropped beyond that. Audio a bound worker's full queue cannot take (its engine is
//! slower than real time) is dropped. Both are counted in [`Stats`]: captions lag or miss
//! words, the meeting's media never waits. Only an utterance's start and end wait for room in
//! a worker's queue (they must not be lost); meanwhile the captioner's own queue fills and
//! the media side drops packets rather than wait.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};

use crate::engine::SAMPLE_RATE;
use crate::stats::Stats;
use crate::worker::Job;
use crate::Voice;

/// Utterances that may wait for a worker, per worker.
const MAX_WAITING: usize = 4;

type Key = (i64, u64);

pub(crate) struct Worker {
    pub(crate) jobs: Sender<Job>,
    current: Option<Key>,
}

struct Waiting {
    key: Key,
    jobs: Vec<Job>,
    ended: bool,
}

pub(crate) struct Scheduler {
    workers: Vec<Worker>,
    bound: HashMap<Key, usize>,
    waiting: VecDeque<Waiting>,
    stats: Arc<Stats>,
}

impl Scheduler {
    pub(crate) fn new(senders: Vec<Sender<Job>>, stats: Arc<Stats>) -> Scheduler {
        let workers = senders.into_iter().map(|jobs| Worker { jobs, current: None }).collect();
        Scheduler { workers, bound: HashMap::new(), waiting: VecDeque::new(), stats }
    }

    /// Routes one piece of a meeting's voice.
    pub(crate) fn dispatch(&mut self, meeting_id: i64, voice: Voice) {
        match voice {
            Voice::Begin { utterance, participant, at } => {
                let key = (meeting_id, utterance);
                let job = Job::Begin { meeting_id, utterance, participant, at };
                match self.free_worker() {
                    Some(w) => self.bind(w, key, job),
                    None => self.wait(key, job),
                }
            }
            Voice::Audio { utterance, pcm, end } => {
                let key = (meeting_id, utterance);
                let samples = pcm.len();
                let job = Job::Audio { pcm, end };
                if let Some(&w) = self.bound.get(&key) {
                    match self.workers[w].jobs.try_send(job) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.dropped_audio(samples),
                    }
                } else if let Some(wait) = self.waiting.iter_mut().find(|x| x.key == key) {
                    wait.jobs.push(job);
                } else {
                    self.dropped_audio(samples);
                }
            }
            Voice::End { utterance, at } => {
                let key = (meeting_id, utterance);
                if let Some(w) = self.bound.remove(&key) {
                    // Must arrive, or the worker would never close the utterance: waits for room.
                    let _ = self.workers[w].jobs.send(Job::End { at });
                    self.workers[w].current = None;
                    self.start_waiting(w);
                } else if let Some(wait) = self.waiting.iter_mut().find(|x| x.key == key) {
                    wait.jobs.push(Job::End { at });
                    wait.ended = true;
                }
            }
        }
    }

    /// A free worker, the least backed-up one first.
    fn free_worker(&self) -> Option<usize> {
        (0..self.workers.len())
            .filter(|&w| self.workers[w].current.is_none())
            .min_by_key(|&w| self.workers[w].jobs.len())
    }

    fn bind(&mut self, w: usize, key: Key, job: Job) {
        let _ = self.workers[w].jobs.send(job);
        self.workers[w].current = Some(key);
        self.bound.insert(key, w);
    }

    fn wait(&mut self, key: Key, job: Job) {
        if self.waiting.len() >= MAX_WAITING * self.workers.len().max(1) {
            if let Some(old) = self.waiting.pop_front() {
                self.stats.utterances_dropped.fetch_add(1, Ordering::Relaxed);
                let samples = old.jobs.iter().map(|j| if let Job::Audio { pcm, .. } = j { pcm.len() } else { 0 }).sum();
                self.dropped_audio(samples);
            }
        }
        self.waiting.push_back(Waiting { key, jobs: vec![job], ended: false });
    }

    /// Gives worker `w`, just freed, the longest-waiting utterance.
    fn start_waiting(&mut self, w: usize) {
        let Some(wait) = self.waiting.pop_front() else { return };
        let mut jobs = wait.jobs.into_iter();
        if let Some(begin) = jobs.next() {
            self.bind(w, wait.key, begin);
        }
        for job in jobs {
            if matches!(job, Job::End { .. }) {
                let _ = self.workers[w].jobs.send(job);
            } else if let Err(TrySendError::Full(Job::Audio { pcm, .. })) = self.workers[w].jobs.try_send(job) {
                self.dropped_audio(pcm.len());
            }
        }
        if wait.ended {
            self.bound.remove(&wait.key);
            self.workers[w].current = None;
            self.start_waiting(w);
        }
    }

    fn dropped_audio(&self, samples: usize) {
        let ms = samples as u64 * 1000 / u64::from(SAMPLE_RATE);
        self.stats.audio_dropped_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Closes the workers' queues (they finish what they have, then stop).
    pub(crate) fn close(self) {
        drop(self.workers);
    }
}
