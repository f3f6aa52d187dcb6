//! Forwarding one publisher packet, in named steps: [`Room::ingest`] identifies it (track,
//! layer, codec facts) and applies the gates that stop it at once (a host mute, a stopped
//! camera); [`Room::observe_audio`] feeds active-speaker detection; [`Room::tap`] copies it
//! for a recorder; [`Room::audible`] holds back a microphone a crowded room does not forward;
//! [`Room::fan_out`] hands it to every subscriber's forwarder (the hot path);
//! [`Room::after_fan_out`] does what the fan-out found needed (offers, wanted layers,
//! keyframe requests).

use std::time::Instant;

use str0m::format::{Codec, PayloadParams};
use str0m::media::Mid;
use str0m::rtp::{RtpWrite, Vp8Descriptor, Vp8Patch};

use super::Room;
use crate::codec::{is_keyframe_start, vp8_ids, Vp8Ids};
use crate::forwarder::PacketIn;
use crate::id::{PeerId, PeerRole};
use crate::munger::Munged;
use crate::pacing::{flush_decision, QueueSample};
use crate::packet_cache::CachedPacket;
use crate::peer::Peer;
use crate::published::{Layer, Published};
use crate::recording::{Admit, RecordedCodec, RecordedPacket};
use crate::track::{DownTrack, Negotiation, Source, TrackId, TrackKind};
use crate::ParticipantId;

/// A publisher's packet, identified: what every later step needs to know about it.
pub(super) struct Ingested {
    publisher: ParticipantId,
    track: TrackId,
    kind: TrackKind,
    source: Source,
    layer: u8,
    /// The publisher's payload type and codec.
    params: PayloadParams,
    packet: CachedPacket,
    keyframe_start: bool,
    /// The VP8 picture numbering, read once per packet rather than once per subscriber.
    vp8: Option<Vp8Ids>,
}

impl Ingested {
    fn codec(&self) -> Codec {
        self.params.spec().codec
    }

    fn clock_rate(&self) -> u32 {
        self.params.spec().clock_rate.get()
    }

    /// The forwarder's view of `packet` (this one or a cached later one of the same layer).
    fn input(&self, packet: &CachedPacket, keyframe_start: bool, vp8: Option<Vp8Ids>) -> PacketIn {
        PacketIn {
            layer: self.layer,
            keyframe_start,
            seq: packet.seq,
            ts: packet.ts,
            at: packet.at,
            clock_rate: self.clock_rate(),
            vp8,
        }
    }

    /// The VP8 numbering of a cached packet of the same track.
    fn vp8_of(&self, packet: &CachedPacket) -> Option<Vp8Ids> {
        if self.codec() == Codec::Vp8 {
            vp8_ids(&packet.payload)
        } else {
            None
        }
    }

    /// The recorder's copy of the packet, as the publisher sent it.
    fn recorded(&self) -> RecordedPacket {
        RecordedPacket {
            participant: self.publisher,
            track_id: self.track,
            kind: self.kind,
            source: self.source,
            codec: RecordedCodec::of(self.codec()),
            clock_rate: self.clock_rate(),
            layer: self.layer,
            timestamp: self.packet.ts,
            seq: self.packet.seq,
            marker: self.packet.marker,
            keyframe_start: self.keyframe_start,
            payload: self.packet.payload.to_vec(),
            arrived: self.packet.at,
        }
    }
}

/// What the fan-out found that the room must act on once it is done.
#[derive(Default)]
pub(super) struct FannedOut {
    /// A microphone forwarded for the first time (a crowded room offers it only now).
    first_heard: bool,
    /// Some subscriber moved onto this packet's layer (its old one may be wanted no more).
    switched: bool,
    /// Layers whose keyframe some subscriber waits for, and whether it has no picture yet.
    keyframes: Vec<(u8, bool)>,
    /// Packets written to subscribers.
    forwarded: u64,
}

impl Room {
    /// Sends one publisher packet to every subscriber whose forwarder wants it.
    pub(super) fn forward(&mut self, now: Instant, publisher: ParticipantId, packet: Published) {
        let Some(p) = self.ingest(now, publisher, packet) else { return };
        self.observe_audio(now, &p);
        self.tap(now, &p);
        if !self.audible(now, &p) {
            return;
        }
        if self.slot_subscribers > 0 && p.kind == TrackKind::Audio {
            self.seat_audio(now, p.track, p.publisher, p.packet.ext.audio_level);
        }
        let fanned = self.fan_out(now, &p);
        self.after_fan_out(now, &p, fanned);
    }

    /// Identifies a packet's track and layer, counts it, and stops it if a host's action
    /// holds its track back (then it is neither forwarded, recorded nor cached).
    fn ingest(&mut self, now: Instant, publisher: ParticipantId, packet: Published) -> Option<Ingested> {
        let p = self.participants.get_mut(&publisher)?;
        let pt = packet.payload_type;
        let learned = p.publisher.with_rtc(|rtc| {
            let params = rtc.codec_config().find(|c| c.pt() == pt).cloned();
            let midrid = match packet.layer {
                Layer::Known(mid, rid) => Some((mid, rid)),
                Layer::BySsrc(ssrc, fallback) => {
                    rtc.direct_api().stream_rx(&ssrc.into()).map(|s| (s.mid(), s.rid())).or(fallback)
                }
            };
            (params, midrid)
        });
        let Ok((Some(params), Some((mid, rid)))) = learned else { return None };
        let track_id = *self.track_by_mid.get(&(publisher, mid))?;
        let track = self.tracks.get_mut(&track_id)?;
        let layer = track.layer_of(rid)?;
        track.bitrates.observe(layer, packet.payload.len(), now);
        let track = if track.flow.arrived(now, layer) {
            // Before this packet goes out: it may be the first keyframe of the new choice.
            self.layers_flowing_changed(now, track_id);
            self.tracks.get_mut(&track_id)?
        } else {
            track
        };
        let (kind, source) = (track.kind, track.source);
        if self.holds.holds(publisher, kind, source) {
            track.held = true;
            return None;
        }
        let packet = CachedPacket {
            seq: packet.seq,
            ts: packet.timestamp,
            marker: packet.marker,
            payload: packet.payload,
            at: packet.at,
            ext: packet.ext,
        };
        let codec = params.spec().codec;
        let keyframe_start = is_keyframe_start(codec, &packet.payload);
        if kind == TrackKind::Video {
            if track.params.as_ref().map(PayloadParams::pt) != Some(params.pt()) {
                track.params = Some(params);
            }
            track.cache.insert(layer, packet.clone());
            if keyframe_start {
                let rid = track.rid_of(layer);
                self.throttle.keyframe_arrived(&(track_id, rid), now);
            }
        }
        let vp8 = if codec == Codec::Vp8 { vp8_ids(&packet.payload) } else { None };
        Some(Ingested { publisher, track: track_id, kind, source, layer, params, packet, keyframe_start, vp8 })
    }

    /// Feeds a microphone's level to active-speaker detection (every microphone, forwarded
    /// or not).
    fn observe_audio(&mut self, now: Instant, p: &Ingested) {
        let Some(level) = p.packet.ext.audio_level.filter(|_| p.kind == TrackKind::Audio) else { return };
        self.speaker.observe(p.publisher, level, now);
        let before = self.speaker.current();
        if let Some(speaker) = self.speaker.update(now) {
            self.emit(super::RoomEvent::ActiveSpeaker { participant: Some(speaker) });
            for who in before.into_iter().chain([speaker]) {
                self.spoke.insert(who, now);
            }
            if self.shedding.camera_slots().is_some() {
                // Only the recent speakers' cameras flow: the new one's, from its next keyframe.
                self.reselect_everyone(now);
            }
            // Slot subscribers see the recent speakers: the new one takes a slot.
            self.fill_everyones_video_slots(now);
        }
    }

    /// Copies the packet for the recorder while recording: all audio, one layer per video.
    fn tap(&mut self, now: Instant, p: &Ingested) {
        match self.tap.admit(p.kind, p.track, p.layer, p.keyframe_start, now) {
            Admit::Skip => {}
            Admit::Record => self.tap.push(p.recorded()),
            // Recording started (or a better layer appeared) between keyframes; publishers may
            // send none for minutes unless asked. Throttled like every keyframe request.
            Admit::NeedKeyframe => self.request_keyframe(now, p.track, p.layer, false),
        }
    }

    /// Whether a crowded room forwards this microphone now (only the loudest few; recorded all
    /// the same: the recorder mixes what it gets, and a held-back mic is mostly silence).
    fn audible(&mut self, now: Instant, p: &Ingested) -> bool {
        if p.source != Source::Microphone || self.audible.admit(p.track, p.packet.ext.audio_level, now) {
            return true;
        }
        if let Some(track) = self.tracks.get_mut(&p.track) {
            track.held = true;
        }
        false
    }

    /// The hot path: per subscriber, the forwarder decides and the packet is written to the
    /// subscriber's connection. No allocation per packet and subscriber (the subscriber is
    /// marked dirty in place rather than collected).
    fn fan_out(&mut self, now: Instant, p: &Ingested) -> FannedOut {
        let mut fanned = FannedOut::default();
        let Some(track) = self.tracks.get_mut(&p.track) else { return fanned };
        // Held back since the last packet forwarded: the stream resumes after a gap.
        let resume = std::mem::take(&mut track.held);
        fanned.first_heard = p.kind == TrackKind::Audio && !std::mem::replace(&mut track.heard, true);
        let track = &*track;
        let video = p.kind == TrackKind::Video;
        let (dirty, dirty_set, out) = (&mut self.dirty, &mut self.dirty_set, &mut self.out);
        let mut last_keyframe: Option<Option<Vec<&CachedPacket>>> = None;
        for (q, sub) in self.participants.iter_mut().filter(|(q, _)| **q != p.publisher) {
            let Some(down) = sub.down.get_mut(&p.track) else { continue };
            let Negotiation::Open(out_mid) = down.negotiation else { continue };
            if resume {
                // Audio continues at once; video (a camera turned back on) at a keyframe.
                if video {
                    down.forwarder.restart();
                } else {
                    down.forwarder.resume();
                }
            }
            // Someone with no picture of this track yet (joining): the layer's last keyframe
            // and everything since, if the cache still holds them, give a picture now rather
            // than at the next keyframe (which, throttled for the publisher's sake, may be
            // 100 ms or more away). Looked up once per packet, for every joiner at once.
            let joining = video
                && !p.keyframe_start
                && down.forwarder.current().is_none()
                && down.forwarder.target() == Some(p.layer);
            let replay = if joining {
                last_keyframe
                    .get_or_insert_with(|| {
                        track
                            .cache
                            .since_keyframe(p.layer, p.packet.seq, |payload| is_keyframe_start(p.codec(), payload))
                    })
                    .as_deref()
            } else {
                None
            };
            let sent = if let Some(run) = replay {
                let sent = send_run(now, &mut sub.subscriber, down, out_mid, p, run);
                fanned.switched |= down.forwarder.current() == Some(p.layer);
                sent
            } else {
                let was_on_layer = down.forwarder.current() == Some(p.layer);
                let Some(munged) = down.forwarder.on_packet(p.input(&p.packet, p.keyframe_start, p.vp8)) else {
                    if let (true, Some(target)) = (down.forwarder.switch_pending(), down.forwarder.target()) {
                        fanned.keyframes.push((target, down.forwarder.current().is_none()));
                    }
                    continue;
                };
                tracing::trace!(track = %p.track, subscriber = %q, in_seq = p.packet.seq, out_seq = munged.seq, "forward");
                let mut sent = send_down(now, &mut sub.subscriber, down, out_mid, p, (&p.packet, p.vp8), munged);
                // (A late packet of the layer before a switch goes out without switching back.)
                if !was_on_layer && down.forwarder.current() == Some(p.layer) {
                    fanned.switched = true;
                    // Switched: the rest of the keyframe may have arrived before its first packet.
                    for later in track.cache.after(p.layer, p.packet.seq) {
                        let later_vp8 = p.vp8_of(&later);
                        if let Some(m) = down.forwarder.on_packet(p.input(&later, false, later_vp8)) {
                            tracing::trace!(track = %p.track, subscriber = %q, in_seq = later.seq, out_seq = m.seq, "forward");
                            sent |= send_down(now, &mut sub.subscriber, down, out_mid, p, (&later, later_vp8), m);
                        }
                    }
                }
                sent
            };
            let peer = PeerId { participant: *q, role: PeerRole::Subscriber };
            fanned.forwarded += u64::from(sent);
            if sent && sub.subscriber.hand_over_sent(out) && dirty_set.insert(peer) {
                dirty.push_back(peer);
            }
        }
        fanned
    }

    /// Gives a subscriber that has no picture of a video track yet the target layer's last
    /// keyframe and everything since from the cache now (sent once it is connected), rather
    /// than with the layer's next packet — up to a frame interval later, and a keyframe
    /// request to the publisher that the cache makes needless. Whether it got them.
    pub(super) fn replay_cached(&mut self, now: Instant, subscriber: ParticipantId, track_id: TrackId) -> bool {
        let (tracks, participants) = (&self.tracks, &mut self.participants);
        let Some(track) = tracks.get(&track_id).filter(|t| t.kind == TrackKind::Video) else { return false };
        if self.holds.holds_track(track) {
            return false; // not even its last picture
        }
        let Some(sub) = participants.get_mut(&subscriber) else { return false };
        let Some(down) = sub.down.get_mut(&track_id) else { return false };
        let (Negotiation::Open(out_mid), None, Some(layer)) =
            (down.negotiation, down.forwarder.current(), down.forwarder.target())
        else {
            return false;
        };
        let (Some(params), Some(newest)) = (track.params, track.cache.newest(layer, now)) else { return false };
        let codec = params.spec().codec;
        let Some(run) = track.cache.since_keyframe(layer, newest, |payload| is_keyframe_start(codec, payload)) else {
            return false;
        };
        let Some(&last) = run.last() else { return false };
        let p = Ingested {
            publisher: track.publisher,
            track: track_id,
            kind: track.kind,
            source: track.source,
            layer,
            params,
            packet: last.clone(),
            keyframe_start: is_keyframe_start(codec, &last.payload),
            vp8: None,
        };
        let sent = send_run(now, &mut sub.subscriber, down, out_mid, &p, &run);
        let started = down.forwarder.current() == Some(layer);
        if sent {
            self.mark_dirty(PeerId { participant: subscriber, role: PeerRole::Subscriber });
        }
        started
    }

    /// What the fan-out found needed: offers of a newly heard microphone, the publisher told
    /// which layers are still wanted, keyframes asked for (throttled).
    fn after_fan_out(&mut self, now: Instant, p: &Ingested, mut fanned: FannedOut) {
        self.forwarded += fanned.forwarded;
        if fanned.first_heard {
            // A microphone held back since it was published speaks: offer it to those who
            // lack it (its first words are lost for the time the offer takes).
            let lacking: Vec<ParticipantId> = self
                .participants
                .iter()
                .filter(|(_, q)| q.down.get(&p.track).is_some_and(|d| d.negotiation == Negotiation::ToOpen))
                .map(|(q, _)| *q)
                .collect();
            for q in lacking {
                self.negotiate(q);
            }
        }
        if fanned.switched {
            self.update_wanted_layers(p.track);
        }
        fanned.keyframes.sort_unstable();
        fanned.keyframes.dedup();
        for (layer, starting) in fanned.keyframes {
            self.request_keyframe(now, p.track, layer, starting);
        }
    }
}

/// The descriptor rewrite that gives a VP8 packet carrying the picture numbers `input` the
/// numbers `out`; `None` when they are the same (no layer switch yet), or it cannot be
/// patched. str0m applies it while serializing, so the shared payload is never copied.
fn vp8_patch(payload: &[u8], input: Option<Vp8Ids>, out: Vp8Ids) -> Option<Vp8Patch> {
    if input == Some(out) {
        return None;
    }
    let mut patch = Vp8Descriptor::parse(payload).ok()?.patch();
    if let Some((pid, _)) = out.picture_id {
        patch = patch.picture_id(pid);
    }
    if let Some(tl0) = out.tl0 {
        patch = patch.tl0_pic_idx(tl0);
    }
    patch.build().ok()
}

/// Sends a cached run — a layer's keyframe and what followed it — through a subscriber's
/// forwarder, the first packet as the keyframe's start; whether any of it went out.
fn send_run(
    now: Instant,
    subscriber: &mut Peer,
    down: &mut DownTrack,
    mid: Mid,
    p: &Ingested,
    run: &[&CachedPacket],
) -> bool {
    let mut sent = false;
    for (i, &cached) in run.iter().enumerate() {
        let vp8 = p.vp8_of(cached);
        if let Some(m) = down.forwarder.on_packet(p.input(cached, i == 0, vp8)) {
            tracing::trace!(track = %p.track, peer = %subscriber.id, in_seq = cached.seq, out_seq = m.seq, "replay");
            sent |= send_down(now, subscriber, down, mid, p, (cached, vp8), m);
        }
    }
    sent
}

/// Writes one munged packet (`packet`: this one or a cached later one, with its VP8
/// numbering) to a subscriber's m-line. The down track remembers the subscriber's payload
/// type for the publisher's last one (matching codec parameters per packet and subscriber was
/// a noticeable part of the fan-out) and whether its pacer queue is being flushed.
fn send_down(
    now: Instant,
    subscriber: &mut Peer,
    down: &mut DownTrack,
    mid: Mid,
    p: &Ingested,
    (packet, vp8): (&CachedPacket, Option<Vp8Ids>),
    munged: Munged,
) -> bool {
    let nackable = p.kind == TrackKind::Video;
    let params = &p.params;
    if let Some((link, rtc)) = subscriber.link() {
        let renumber = munged.vp8.filter(|out| vp8 != Some(*out));
        let fields = (munged.seq as u16, munged.ts, packet.marker);
        return link.send(rtc, now, mid, params, fields, packet.ext, &packet.payload, renumber);
    }
    subscriber.catch_up(now);
    let written = subscriber.with_rtc(|rtc| {
        let pt = match down.pt {
            Some((from, to)) if from == params.pt() => to,
            _ => {
                let to = rtc.codec_config().match_params(*params)?.pt();
                down.pt = Some((params.pt(), to));
                to
            }
        };
        let mut write = RtpWrite::new(pt, munged.seq.into(), munged.ts, packet.at, packet.payload.clone())
            .marker(packet.marker)
            .ext_vals(packet.ext.values())
            .nackable(nackable);
        if let Some(patch) = munged.vp8.and_then(|out| vp8_patch(&packet.payload, vp8, out)) {
            write = write.vp8_patch(patch);
        }
        let mut api = rtc.direct_api();
        let tx = api.stream_tx_by_mid(mid, None)?;
        tx.write_rtp(write);
        if nackable {
            // Video: bound the time it waits in the pacer (audio is never paced).
            let sample =
                tx.queue_info().map(|q| QueueSample { first_unsent: q.first_unsent(), packets: q.packet_count() });
            if let Some(unpaced) = sample.and_then(|q| flush_decision(q, down.flushing, now)) {
                tracing::debug!(%mid, unpaced, "pacer queue bound");
                tx.set_unpaced(unpaced);
                down.flushing = unpaced;
            }
        }
        Some(())
    });
    matches!(written, Ok(Some(())))
}
