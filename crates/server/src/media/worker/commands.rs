//! A media worker's commands from signaling (join, leave, publish, answer, host actions, sizes,
//! recording and captions taps) and who is in its rooms: the worker's control plane, apart
//! from its packet loop in `worker.rs`.

use std::time::Instant;

use convene_sfu::{ParticipantId, Proto, Subscription};

use super::Worker;
use crate::media::command::Command;
use crate::media::events;
use crate::media::{AnswerRefused, MediaError};

impl Worker {
    /// The room's number for participant `name`, adding them (and routing their ufrags here)
    /// the first time, with `subscription`. Signaling's `Join` comes first on this queue; the
    /// other commands add someone (per track) only if signaling never joined them here.
    fn participant(&mut self, now: Instant, meeting: i64, name: &str, subscription: Subscription) -> ParticipantId {
        let slot = self.slot(meeting);
        if let Some(id) = slot.ids.get(name) {
            return *id;
        }
        slot.next += 1;
        let id = ParticipantId(slot.next);
        if let Err(e) = slot.room.add_participant_with(now, id, subscription) {
            tracing::warn!(error = %e, "could not add participant to media room");
        }
        slot.ids.insert(name.to_owned(), id);
        slot.names.insert(id, name.to_owned());
        let ufrags = slot.room.ice_ufrags(id);
        for u in &ufrags {
            self.ufrags.insert(u.clone(), meeting);
        }
        // Registered before the answer leaves, so the client's first STUN finds this worker.
        self.router.register(self.index, ufrags);
        id
    }

    /// Forgets the routes of ufrags that are gone.
    fn unroute(&mut self, gone: Vec<String>) {
        for u in &gone {
            self.ufrags.remove(u);
        }
        self.paths.retain(|_, u| !gone.iter().any(|g| g == u));
        self.router.unregister(gone);
    }

    /// Carries out one command from signaling, then sends what the room made of it.
    pub(super) fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Join { meeting, participant, subscription } => {
                self.participant(now, meeting, &participant, subscription);
                self.drain(meeting);
            }
            Command::Leave { meeting, participant } => {
                let mut gone = Vec::new();
                if let Some(slot) = self.rooms.get_mut(&meeting) {
                    if let Some(id) = slot.ids.remove(&participant) {
                        gone = slot.room.ice_ufrags(id);
                        slot.names.remove(&id);
                        slot.room.remove_participant(now, id);
                    }
                }
                self.unroute(gone);
                self.drain(meeting);
            }
            Command::EndRoom { meeting } => {
                self.rooms.remove(&meeting);
                let gone: Vec<String> =
                    self.ufrags.iter().filter(|(_, m)| **m == meeting).map(|(u, _)| u.clone()).collect();
                self.unroute(gone);
                self.paths.retain(|m, _| *m != meeting);
            }
            Command::Publish { meeting, participant, sdp, tracks, reply } => {
                let id = self.participant(now, meeting, &participant, Subscription::PerTrack);
                let slot = self.slot(meeting);
                for t in &tracks {
                    if let Err(e) = slot.room.set_track_source(id, &t.mid, events::source_to_sfu(t.source)) {
                        tracing::debug!(error = %e, "track source");
                    }
                }
                let answer = slot.room.publish_offer(now, id, &sdp).map_err(|e| MediaError(e.to_string()));
                let _ = reply.send(answer);
                self.drain(meeting);
            }
            Command::SubscribeAnswer { meeting, participant, sdp, offer_id, reply } => {
                let result = match self.rooms.get_mut(&meeting) {
                    Some(slot) => match slot.ids.get(&participant) {
                        Some(id) => slot.room.subscribe_answer(now, *id, &sdp, offer_id).map_err(|e| match e {
                            convene_sfu::SfuError::StaleAnswer { .. } => AnswerRefused::Stale(e.to_string()),
                            e => AnswerRefused::Invalid(MediaError(e.to_string())),
                        }),
                        None => Err(AnswerRefused::Invalid(MediaError("not in the media room".into()))),
                    },
                    None => Err(AnswerRefused::Invalid(MediaError("the meeting has no media yet".into()))),
                };
                let _ = reply.send(result);
                self.drain(meeting);
            }
            Command::Muted { meeting, participant, muted } => {
                let id = self.participant(now, meeting, &participant, Subscription::PerTrack);
                if let Some(slot) = self.rooms.get_mut(&meeting) {
                    if let Err(e) = slot.room.set_audio_muted(id, muted) {
                        tracing::debug!(error = %e, "mute");
                    }
                }
            }
            Command::VideoStopped { meeting, participant, stopped } => {
                let id = self.participant(now, meeting, &participant, Subscription::PerTrack);
                if let Some(slot) = self.rooms.get_mut(&meeting) {
                    if let Err(e) = slot.room.set_video_stopped(id, stopped) {
                        tracing::debug!(error = %e, "stop video");
                    }
                }
            }
            Command::Recording { meeting, on } => {
                let slot = self.slot(meeting);
                slot.recording = on;
                slot.room.set_recording(on);
            }
            Command::Captions { meeting, on } => {
                let slot = self.slot(meeting);
                slot.captions = on;
                slot.room.set_audio_tap(on);
            }
            Command::TcpClosed { remote } => {
                self.paths.remove(&(Proto::Tcp, remote));
            }
            Command::VideoSize { meeting, participant, track, width, height } => {
                if let Some(slot) = self.rooms.get_mut(&meeting) {
                    if let Some(id) = slot.ids.get(&participant).copied() {
                        let _ = slot.room.set_preferred_size(now, id, convene_sfu::TrackId(track), width, height);
                    }
                }
                self.drain(meeting);
            }
            Command::Stop => {}
        }
    }
}
