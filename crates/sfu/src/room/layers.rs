//! Layer choice for the room: which simulcast layer each subscriber's forwarder aims for,
//! what the subscriber's estimator is told to expect, and which layers anybody still wants.

use std::time::Instant;

use str0m::bwe::Bitrate;
use str0m::media::{Mid, Rid};

use super::Room;
use crate::config::DownlinkEstimate;
use crate::io::RoomEvent;
use crate::layer_selector::{select_layer, LayerDemand, LAYER_BITRATE_BPS};
use crate::maps::{Map, Set};
use crate::shedding::Shedding;
use crate::track::{DownTrack, Negotiation, Source, TrackId, TrackKind, UpTrack};
use crate::ParticipantId;

/// What an Opus track needs, for the bandwidth the estimator should probe for.
const AUDIO_BITRATE_BPS: u64 = 50_000;

impl Room {
    /// Runs the layer selector for every video down track of a subscriber.
    pub(super) fn reselect_layers(&mut self, now: Instant, subscriber: ParticipantId) {
        let cameras = self.cameras_kept();
        let cap = self.shedding.layer_cap();
        let choices = self.layers_in_turn(subscriber, cap, cameras.as_ref());
        let Some(p) = self.participants.get_mut(&subscriber) else { return };
        let videos = p
            .down
            .values()
            .filter(|d| self.tracks.get(&d.track).is_some_and(|t| t.kind == TrackKind::Video))
            .count()
            .max(1) as u64;
        let budget = p.bandwidth_bps.map(|b| b / videos);
        let mut changed = Vec::new();
        let mut desired_bps = 0;
        for down in p.down.values_mut() {
            let Some(up) = self.tracks.get(&down.track) else { continue };
            if !matches!(down.negotiation, Negotiation::Open(_)) {
                continue;
            }
            let demand = LayerDemand {
                // Shedding caps the layers as if the publisher sent no higher ones.
                layers: up.layers().min(cap + 1),
                preferred_size: down.preferred_size,
                budget_bps: None,
                paused: up.flow.paused(),
                current: down.forwarder.current(),
            };
            let layer = match up.kind {
                TrackKind::Audio => {
                    desired_bps += AUDIO_BITRATE_BPS;
                    Some(0)
                }
                // Shedding the last steps: only the recent speakers' cameras (and screens) flow.
                TrackKind::Video
                    if up.source == Source::Camera && cameras.as_ref().is_some_and(|k| !k.contains(&up.publisher)) =>
                {
                    None
                }
                TrackKind::Video => {
                    let unconstrained = select_layer(demand);
                    desired_bps += unconstrained.map_or(0, |l| desired_bitrate(up, l));
                    match choices.get(&down.track) {
                        Some(&layer) => layer,
                        None => select_layer(LayerDemand { budget_bps: budget, ..demand }),
                    }
                }
            };
            if down.forwarder.target() != layer {
                down.forwarder.set_target(layer);
                changed.push((down.track, layer, down.forwarder.current().is_none()));
            }
        }
        // Keep traffic (media plus padding, capped by the estimate) at what the subscriber
        // would like to receive, so the estimate can grow into the layers the tiles want.
        let desired = Bitrate::bps(desired_bps);
        let _ = p.subscriber.with_rtc(|rtc| rtc.bwe().set_bitrate(desired, desired));
        let peer = p.subscriber.id;
        self.mark_dirty(peer);
        for (track, layer, starting) in changed {
            if let Some(layer) = layer {
                if !(starting && self.replay_cached(now, subscriber, track)) {
                    self.request_keyframe(now, track, layer, starting);
                }
            }
            self.update_wanted_layers(track);
        }
    }

    /// With the browser's estimate ([`DownlinkEstimate::Receiver`]) under a limit, the layer of
    /// each video the subscriber gets (none otherwise: equal shares of the estimate). A
    /// receiver's estimate grows only to 1.5× what arrives, so equal shares would keep every
    /// tile on the lowest layer once a dip put them there; the tiles get the limit one after
    /// the other instead (screens, then the speaker, then the others), each leaving the lowest
    /// layer's rate for those after it.
    fn layers_in_turn(
        &self,
        subscriber: ParticipantId,
        cap: u8,
        cameras: Option<&Set<ParticipantId>>,
    ) -> Map<TrackId, Option<u8>> {
        let mut choices = Map::default();
        let Some(p) = self.participants.get(&subscriber) else { return choices };
        let (DownlinkEstimate::Receiver, Some(bps)) = (self.config.downlink_estimate, p.bandwidth_bps) else {
            return choices;
        };
        let open = p.down.values().filter(|d| matches!(d.negotiation, Negotiation::Open(_)));
        let tracks: Vec<(&UpTrack, &DownTrack)> = open.filter_map(|d| Some((self.tracks.get(&d.track)?, d))).collect();
        let audio = tracks.iter().filter(|(t, _)| t.kind == TrackKind::Audio).count() as u64;
        let speaker = self.speaker.current();
        let mut videos: Vec<&(&UpTrack, &DownTrack)> = tracks
            .iter()
            .filter(|(t, _)| t.kind == TrackKind::Video)
            .filter(|(t, _)| !(t.source == Source::Camera && cameras.is_some_and(|k| !k.contains(&t.publisher))))
            .collect();
        videos.sort_by_key(|(t, _)| (t.source != Source::ScreenShare, Some(t.publisher) != speaker, t.id));
        let mut left = bps.saturating_sub(audio * AUDIO_BITRATE_BPS);
        let mut after = videos.len() as u64;
        for (up, down) in videos {
            after = after.saturating_sub(1);
            let layer = select_layer(LayerDemand {
                layers: up.layers().min(cap + 1),
                preferred_size: down.preferred_size,
                budget_bps: Some(left.saturating_sub(after * LAYER_BITRATE_BPS[0])),
                paused: up.flow.paused(),
                current: down.forwarder.current(),
            });
            left = left.saturating_sub(layer.map_or(0, |l| desired_bitrate(up, l)));
            choices.insert(up.id, layer);
        }
        choices
    }

    /// A subscriber's downlink estimate changed: its layers are chosen again.
    pub(super) fn estimated(&mut self, now: Instant, subscriber: ParticipantId, bps: u64) {
        if let Some(p) = self.participants.get_mut(&subscriber) {
            p.bandwidth_bps = Some(bps);
        }
        self.reselect_layers(now, subscriber);
    }

    /// The subscriber's browser reported its estimate (REMB): the layers are chosen for the
    /// limit it sets ([`crate::receiver_estimate::ReceiverEstimate`]).
    pub(super) fn receiver_estimated(&mut self, now: Instant, subscriber: ParticipantId, bps: u64) {
        let Some(p) = self.participants.get_mut(&subscriber) else { return };
        let sending: u64 = p
            .down
            .values()
            .filter_map(|d| Some((self.tracks.get(&d.track)?, d.forwarder.current()?)))
            // What the layers carry as measured: the browser clamps its estimate to 1.5× what
            // arrives, not to the nominal rates.
            .map(|(up, layer)| {
                up.bitrates.of(layer).unwrap_or(match up.kind {
                    TrackKind::Audio => AUDIO_BITRATE_BPS,
                    TrackKind::Video => desired_bitrate(up, layer),
                })
            })
            .sum();
        let limit = p.receiver_estimate.update(now, bps, sending);
        tracing::debug!(%subscriber, estimate = bps, sending, ?limit, "downlink limit");
        if limit != p.bandwidth_bps {
            p.bandwidth_bps = limit;
            self.reselect_layers(now, subscriber);
        }
    }

    /// Sheds video (or stops shedding) because the runtime cannot keep up: every subscriber's
    /// layers are chosen again under the level's cap (switching at keyframes, as always); at
    /// [`Shedding::FewerVideos`] only the most recent speakers' cameras are forwarded, at
    /// [`Shedding::SpeakerVideoOnly`] only the active speaker's.
    ///
    /// Shedding lowers what each subscriber's estimator is told to expect (padding up to the
    /// old rate would be work too), and the estimate follows the traffic down. That says
    /// nothing about the subscriber's link, so once shedding is lifted the estimator restarts
    /// from the estimate it had when shedding began instead of probing its way back up for
    /// tens of seconds.
    pub fn set_shedding(&mut self, now: Instant, level: Shedding) {
        self.last_now = now;
        let before = self.shedding;
        if before == level {
            return;
        }
        tracing::info!(?level, "load shedding");
        self.shedding = level;
        for p in self.participants.values_mut() {
            if before == Shedding::None {
                p.unshed_bps = p.bandwidth_bps;
            } else if level == Shedding::None {
                let Some(unshed) = p.unshed_bps.take() else { continue };
                if p.bandwidth_bps.is_some_and(|b| b < unshed) {
                    p.bandwidth_bps = Some(unshed);
                    let _ = p.subscriber.with_rtc(|rtc| rtc.bwe().reset(Bitrate::bps(unshed)));
                }
            }
        }
        self.reselect_everyone(now);
        self.process(now);
    }

    /// How much the room sheds.
    pub fn shedding(&self) -> Shedding {
        self.shedding
    }

    /// Whose cameras flow while shedding keeps only a few ([`Shedding::camera_slots`]); `None`:
    /// everyone's. The active speaker first, then those who spoke most recently, then (slots
    /// left over in a quiet room) those who joined first; at the last step only the speaker.
    fn cameras_kept(&self) -> Option<Set<ParticipantId>> {
        let slots = self.shedding.camera_slots()?;
        let speaker = self.speaker.current();
        if self.shedding == Shedding::SpeakerVideoOnly {
            return Some(speaker.into_iter().collect());
        }
        let mut publishers: Vec<ParticipantId> = self
            .tracks
            .values()
            .filter(|t| t.kind == TrackKind::Video && t.source == Source::Camera)
            .map(|t| t.publisher)
            .collect();
        publishers.sort_unstable();
        publishers.dedup();
        publishers.sort_by_key(|p| (Some(*p) != speaker, std::cmp::Reverse(self.spoke.get(p).copied()), *p));
        Some(publishers.into_iter().take(slots).collect())
    }

    /// Runs the layer selector for every subscriber (the room's shedding or speaker changed).
    pub(super) fn reselect_everyone(&mut self, now: Instant) {
        let everyone: Vec<ParticipantId> = self.participants.keys().copied().collect();
        for q in everyone {
            self.reselect_layers(now, q);
        }
    }

    /// Tells signaling which simulcast layers of a track anybody receives, so the client
    /// can stop encoding the others.
    pub(super) fn update_wanted_layers(&mut self, track: TrackId) {
        let Some(up) = self.tracks.get(&track) else { return };
        if up.rids.is_empty() {
            return;
        }
        let mut layers = [false; 3];
        for p in self.participants.values() {
            let Some(down) = p.down.get(&track) else { continue };
            for layer in [down.forwarder.target(), down.forwarder.current()].into_iter().flatten() {
                layers[usize::from(layer)] = true;
            }
        }
        let rids: Vec<Rid> = (0..3u8).filter(|l| layers[usize::from(*l)]).filter_map(|l| up.rid_of(l)).collect();
        if rids == up.wanted {
            return;
        }
        let event = RoomEvent::LayersWanted {
            participant: up.publisher,
            track_id: track,
            rids: rids.iter().map(|r| r.to_string()).collect(),
        };
        if let Some(up) = self.tracks.get_mut(&track) {
            up.wanted = rids;
        }
        self.emit(event);
    }

    /// A publisher's simulcast layer stopped or resumed: subscribers move off or back.
    pub(super) fn layer_paused(
        &mut self,
        now: Instant,
        publisher: ParticipantId,
        mid: Mid,
        rid: Option<Rid>,
        paused: bool,
    ) {
        let Some(&track) = self.track_by_mid.get(&(publisher, mid)) else { return };
        let Some(up) = self.tracks.get_mut(&track) else { return };
        let Some(layer) = up.layer_of(rid) else { return };
        up.flow.set_paused(layer, paused);
        self.layers_flowing_changed(now, track);
    }

    /// What flows of a track changed: its subscribers' layers are chosen again.
    pub(super) fn layers_flowing_changed(&mut self, now: Instant, track: TrackId) {
        let subscribers: Vec<ParticipantId> =
            self.participants.iter().filter(|(_, p)| p.down.contains_key(&track)).map(|(q, _)| *q).collect();
        for q in subscribers {
            self.reselect_layers(now, q);
        }
    }
}

/// What a subscriber should expect of one layer of a video track, for its estimator's
/// `desired` rate (see [`crate::bitrate`]). A simulcast layer counts at its nominal rate (one
/// not flowing yet is what the estimate has to grow into), or at what it measurably carries if
/// that is clearly more (a client encoding above Convene's layer rates): a figure a little
/// over the one the client was asked for (packet overhead, encoder overshoot) would only add
/// padding, and str0m's work for it (3.4 % more instructions per packet in scenario 1). A
/// track sent as one stream (a screen share, a camera without simulcast) has no nominal rate:
/// it counts at what it carries, and at the top layer's rate until measured.
fn desired_bitrate(up: &UpTrack, layer: u8) -> u64 {
    let measured = up.bitrates.of(layer);
    if up.layers() == 1 {
        return measured.unwrap_or(LAYER_BITRATE_BPS[2]);
    }
    let nominal = LAYER_BITRATE_BPS[usize::from(layer.min(2))];
    match measured {
        Some(m) if m > nominal + nominal / 4 => m,
        _ => nominal,
    }
}
