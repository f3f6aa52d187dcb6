//! The room: every participant's peer connections, their tracks, and the forwarding
//! between them.

mod earliest;
mod forward;
mod holds;
mod keyframes;
mod layers;
mod negotiation;
mod slots;
mod tracks;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use str0m::bwe::BweKind;
use str0m::change::SdpPendingOffer;
use str0m::media::{Direction, Mid, Rid};
use str0m::Event;

use crate::audible::Audible;
use crate::config::{DownlinkEstimate, RoomConfig};
use crate::demux::Demux;
use crate::error::SfuError;
use crate::id::{PeerId, PeerRole};
use crate::io::{Datagram, Input, Output, RoomEvent};
use crate::keyframe::{KeyframeThrottle, KEYFRAME_INTERVAL, START_INTERVAL};
use crate::maps::{Map, Set};
use crate::peer::{Drained, Peer, PeerEvent};
use crate::published::Published;
use crate::receiver_estimate::ReceiverEstimate;
use crate::recording::{RecordedPacket, Tap};
use crate::shedding::Shedding;
use crate::slots::{Slots, Subscription, AUDIO_SLOTS};
use crate::speaker::{SpeakerDetector, SPEAKER_HOLD};
use crate::track::{DownTrack, Source, TrackId, UpTrack};
use crate::ParticipantId;
use earliest::Earliest;
use holds::HostHolds;

/// How long an empty room may sleep before it wants a timeout anyway.
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// One person in the room: two peer connections and what they receive.
struct Participant {
    publisher: Peer,
    subscriber: Peer,
    /// Sources declared by signaling, by the publisher's mid.
    sources: Map<Mid, Source>,
    down: BTreeMap<TrackId, DownTrack>,
    /// Subscriber m-lines to stop in the next offer.
    to_stop: Vec<Mid>,
    /// The subscriber's first m-line, which tags its BUNDLE group. It is never stopped (a
    /// stopped m-line leaves the group, and Chrome answers a moved tag by tearing down the
    /// whole transport); it goes inactive instead.
    bundle_tag: Option<Mid>,
    /// The offer awaiting the subscriber's answer, and its id.
    pending_offer: Option<(u64, SdpPendingOffer)>,
    /// The downlink rate the subscriber's layers are chosen for.
    bandwidth_bps: Option<u64>,
    /// The browser's own estimate and the room's probes past it
    /// ([`DownlinkEstimate::Receiver`]).
    receiver_estimate: ReceiverEstimate,
    /// The estimate when the room began shedding (see [`Room::set_shedding`]).
    unshed_bps: Option<u64>,
    /// A slot subscriber's slots ([`Subscription::Slots`]); `None`: one m-line per track.
    slots: Option<Slots>,
}

impl Participant {
    fn peer(&mut self, role: PeerRole) -> &mut Peer {
        match role {
            PeerRole::Publisher => &mut self.publisher,
            PeerRole::Subscriber => &mut self.subscriber,
        }
    }
}

/// A meeting's media: the selective forwarding unit for one room.
///
/// Sans-IO: it never reads the clock or touches a socket. The runtime feeds it datagrams
/// and timeouts with [`Room::handle_input`], then drains [`Room::poll_output`] until it
/// returns [`Output::Timeout`].
pub struct Room {
    config: RoomConfig,
    participants: Map<ParticipantId, Participant>,
    /// Every published track. A hash map: looked up once per packet, and where order shows
    /// (who is unpublished first when someone leaves) the ids are sorted.
    tracks: Map<TrackId, UpTrack>,
    track_by_mid: Map<(ParticipantId, Mid), TrackId>,
    demux: Demux,
    throttle: KeyframeThrottle<(TrackId, Option<Rid>)>,
    speaker: SpeakerDetector<ParticipantId>,
    /// Which microphones a crowded room forwards.
    audible: Audible<TrackId>,
    out: VecDeque<Output>,
    /// Peers to drain, in order, and the same as a set for O(1) membership.
    dirty: VecDeque<PeerId>,
    dirty_set: Set<PeerId>,
    /// The drained peer's events, a buffer kept between drains (see [`Peer::drain`]).
    events: Vec<PeerEvent>,
    next_track: u64,
    /// Offer ids are room-wide, so a participant's offers before and after a media
    /// restart (leave + join) never share one.
    next_offer: u64,
    last_now: Instant,
    rejected: u64,
    /// Media packets sent to subscribers (not counting resends, padding or RTCP).
    forwarded: u64,
    /// What hosts hold back (muted microphones, stopped cameras).
    holds: HostHolds,
    /// Copies of forwarded packets for a recorder.
    tap: Tap,
    /// What the room stops sending while its runtime is overloaded.
    shedding: Shedding,
    /// When each participant last was (or stopped being) the active speaker: who keeps a
    /// camera slot when shedding keeps only a few ([`Shedding::FewerVideos`]).
    spoke: Map<ParticipantId, Instant>,
    /// Which microphones slot subscribers hear: the loudest, always (see `Room::new`).
    slot_audible: Audible<TrackId>,
    /// Participants with slots, so that rooms without any skip the slot work per packet.
    slot_subscribers: usize,
    /// Slot subscribers whose slots changed since signaling was last told.
    slot_maps_due: Set<ParticipantId>,
    /// Audio seating, for `Room::seat_audio` to skip the room-wide pass per packet: a count
    /// of changes to what audio slots carry, and per microphone the state (that count plus
    /// `slot_audible`'s) in which it last was seated wherever it could be.
    audio_slot_changes: u64,
    seated: Map<TrackId, u64>,
    /// The earliest timeout any peer wants (see `earliest.rs`).
    earliest: Earliest,
}

impl Room {
    /// An empty room, created at `now`.
    pub fn new(now: Instant, config: RoomConfig) -> Room {
        let audible = Audible::new(config.audible_limit, config.crowd);
        Room {
            config,
            participants: Map::default(),
            tracks: Map::default(),
            track_by_mid: Map::default(),
            demux: Demux::default(),
            throttle: KeyframeThrottle::new(KEYFRAME_INTERVAL, START_INTERVAL),
            speaker: SpeakerDetector::new(SPEAKER_HOLD),
            audible,
            out: VecDeque::new(),
            dirty: VecDeque::new(),
            dirty_set: Set::default(),
            events: Vec::new(),
            next_track: 1,
            next_offer: 1,
            last_now: now,
            rejected: 0,
            forwarded: 0,
            holds: HostHolds::default(),
            tap: Tap::default(),
            shedding: Shedding::None,
            spoke: Map::default(),
            // One place more than a subscriber has slots: one of the loudest, hearing the
            // others, still gets three (the fourth is its own microphone).
            slot_audible: Audible::new(AUDIO_SLOTS + 1, 0),
            slot_subscribers: 0,
            slot_maps_due: Set::default(),
            audio_slot_changes: 0,
            seated: Map::default(),
            earliest: Earliest::default(),
        }
    }

    /// Starts or stops copying every forwarded packet for a recorder (see
    /// [`Room::poll_recorded`]). Muted audio is not forwarded, so it is not recorded either.
    pub fn set_recording(&mut self, on: bool) {
        self.tap.set(on);
    }

    /// Whether forwarded packets are being copied for a recorder.
    pub fn is_recording(&self) -> bool {
        self.tap.is_on()
    }

    /// Starts or stops copying every forwarded audio packet (live captions), whether or not
    /// recording is on; the copies come out of [`Room::poll_recorded`] like recorded ones.
    /// Muted audio is not forwarded, so it is not copied either.
    pub fn set_audio_tap(&mut self, on: bool) {
        self.tap.set_audio(on);
    }

    /// Whether audio is copied for live captions.
    pub fn is_audio_tapped(&self) -> bool {
        self.tap.is_audio_on()
    }

    /// The next packet for the recorder, while recording is on. Drain it after each drain
    /// of [`Room::poll_output`]; packets left undrained beyond a bound are dropped and counted
    /// in [`Room::recorded_overflow`].
    pub fn poll_recorded(&mut self) -> Option<RecordedPacket> {
        self.tap.poll()
    }

    /// Recorded packets dropped because the runtime did not drain them.
    pub fn recorded_overflow(&self) -> u64 {
        self.tap.overflow()
    }

    /// Adds a participant with a publisher and a subscriber peer connection, one m-line per
    /// remote track ([`Subscription::PerTrack`]).
    ///
    /// Call when a client joins. If others already publish, a
    /// [`RoomEvent::SubscribeOffer`] follows from [`Room::poll_output`].
    pub fn add_participant(&mut self, now: Instant, id: ParticipantId) -> Result<(), SfuError> {
        self.add_participant_with(now, id, Subscription::PerTrack)
    }

    /// Adds a participant whose subscriber connection receives the others' tracks as
    /// `subscription` says. A slot subscriber is offered its slots at once, and told which
    /// track each carries by [`RoomEvent::SlotMap`] whenever that changes.
    pub fn add_participant_with(
        &mut self,
        now: Instant,
        id: ParticipantId,
        subscription: Subscription,
    ) -> Result<(), SfuError> {
        self.last_now = now;
        if self.participants.contains_key(&id) {
            return Err(SfuError::DuplicateParticipant(id));
        }
        let mut publisher = Peer::new(PeerId { participant: id, role: PeerRole::Publisher }, &self.config, now)?;
        let mut subscriber = Peer::new(PeerId { participant: id, role: PeerRole::Subscriber }, &self.config, now)?;
        for peer in [&mut publisher, &mut subscriber] {
            let (ufrag, password) = peer.ice_credentials();
            self.demux.register(ufrag, password, peer.id);
        }
        let slots = match subscription {
            Subscription::PerTrack => None,
            Subscription::Slots { video } => Some(Slots::new(video)),
        };
        let down = match slots {
            Some(_) => BTreeMap::new(),
            None => self.tracks.values().filter(|t| t.publisher != id).map(|t| (t.id, DownTrack::new(t.id))).collect(),
        };
        self.slot_subscribers += usize::from(slots.is_some());
        self.audio_slot_changes += u64::from(slots.is_some());
        self.participants.insert(
            id,
            Participant {
                publisher,
                subscriber,
                sources: Map::default(),
                down,
                to_stop: Vec::new(),
                bundle_tag: None,
                pending_offer: None,
                bandwidth_bps: None,
                receiver_estimate: ReceiverEstimate::default(),
                unshed_bps: None,
                slots,
            },
        );
        self.negotiate(id);
        self.fill_video_slots(now, id);
        self.process(now);
        Ok(())
    }

    /// Removes a participant: closes both peer connections and unpublishes their tracks.
    ///
    /// Call when a client leaves or its signaling connection is gone for good.
    pub fn remove_participant(&mut self, now: Instant, id: ParticipantId) {
        self.last_now = now;
        let Some(mut p) = self.participants.remove(&id) else { return };
        self.slot_subscribers -= usize::from(p.slots.is_some());
        self.slot_maps_due.remove(&id);
        self.holds.forget(id);
        p.publisher.close(&mut self.out);
        p.subscriber.close(&mut self.out);
        self.demux.forget(p.publisher.id);
        self.demux.forget(p.subscriber.id);
        let mut gone: Vec<TrackId> = self.tracks.values().filter(|t| t.publisher == id).map(|t| t.id).collect();
        gone.sort_unstable();
        for track in gone {
            self.unpublish(track);
        }
        self.spoke.remove(&id);
        if self.speaker.remove(id) {
            self.emit(RoomEvent::ActiveSpeaker { participant: None });
        }
        let watched: Vec<TrackId> = p.down.keys().copied().collect();
        for track in watched {
            self.update_wanted_layers(track);
        }
        self.process(now);
    }

    /// Stops (or resumes) forwarding a participant's audio, whatever their client sends: a host
    /// muted them, and nobody hears them until they unmute. A muted participant is never the
    /// active speaker.
    ///
    /// Call when signaling applies a mute or an unmute.
    pub fn set_audio_muted(&mut self, participant: ParticipantId, muted: bool) -> Result<(), SfuError> {
        if !self.participants.contains_key(&participant) {
            return Err(SfuError::UnknownParticipant(participant));
        }
        self.holds.set_muted(participant, muted);
        Ok(())
    }

    /// Stops (or resumes) forwarding a participant's camera, whatever their client sends: a host
    /// stopped their video, and nobody sees it (nor does a recording) until the participant
    /// turns the camera on again. Subscribers pick it up again at its next keyframe, asked for
    /// at once. A shared screen is not affected.
    ///
    /// Call when signaling applies a host's "stop video" (`true`) and when the participant
    /// turns the camera back on (`false`).
    pub fn set_video_stopped(&mut self, participant: ParticipantId, stopped: bool) -> Result<(), SfuError> {
        if !self.participants.contains_key(&participant) {
            return Err(SfuError::UnknownParticipant(participant));
        }
        self.holds.set_video_stopped(participant, stopped);
        self.fill_everyones_video_slots(self.last_now);
        self.process(self.last_now);
        Ok(())
    }

    /// Declares what a publisher's m-line carries (camera, screen share…).
    ///
    /// Call before [`Room::publish_offer`] with the mids the client's offer uses; without
    /// it audio counts as microphone and video as camera.
    pub fn set_track_source(&mut self, participant: ParticipantId, mid: &str, source: Source) -> Result<(), SfuError> {
        let mid = Mid::from(mid);
        let p = self.participants.get_mut(&participant).ok_or(SfuError::UnknownParticipant(participant))?;
        p.sources.insert(mid, source);
        if let Some(track) = self.track_by_mid.get(&(participant, mid)).and_then(|t| self.tracks.get_mut(t)) {
            track.source = source;
            self.count_microphones();
        }
        Ok(())
    }

    /// Records the size at which a subscriber shows a video track; picks the layer from it.
    ///
    /// Call when the client's layout changes a tile's size; 0×0 means hidden, and nothing
    /// is forwarded until the tile has a size again.
    pub fn set_preferred_size(
        &mut self,
        now: Instant,
        subscriber: ParticipantId,
        track: TrackId,
        width: u32,
        height: u32,
    ) -> Result<(), SfuError> {
        self.last_now = now;
        let p = self.participants.get_mut(&subscriber).ok_or(SfuError::UnknownParticipant(subscriber))?;
        if let Some(down) = p.down.get_mut(&track) {
            down.preferred_size = Some((width, height));
        }
        if let Some(slots) = &mut p.slots {
            slots.sizes.insert(track, (width, height));
            self.fill_video_slots(now, subscriber);
        }
        self.reselect_layers(now, subscriber);
        self.process(now);
        Ok(())
    }

    /// The peer connection a datagram belongs to, or `None` when nobody claims it.
    ///
    /// [`Room::handle_input`] calls this itself; a runtime may call it to shard rooms.
    /// It learns new paths from STUN binding requests.
    pub fn route(&mut self, datagram: &Datagram<'_>) -> Option<PeerId> {
        self.demux.route(datagram)
    }

    /// The local ICE ufrags of a participant's peer connections (empty for a stranger).
    ///
    /// A runtime that spreads rooms over threads maps these to the room's thread so a new
    /// path's first STUN request ([`stun_local_ufrag`](crate::stun_local_ufrag)) finds it in O(1).
    pub fn ice_ufrags(&self, participant: ParticipantId) -> Vec<String> {
        self.demux.ufrags_of(participant)
    }

    /// Whether nobody is left in the room (the runtime may drop it).
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// Time spent inside str0m by the peer connections of the participants present, when
    /// [`RoomConfig::meter_str0m`] is on (zero otherwise).
    pub fn str0m_time(&self) -> Duration {
        self.participants.values().map(|p| p.publisher.str0m_time() + p.subscriber.str0m_time()).sum()
    }

    /// Media packets forwarded to subscribers so far (one per subscriber a packet went to).
    pub fn forwarded_packets(&self) -> u64 {
        self.forwarded
    }

    /// Datagrams dropped because no peer claimed them or the peer rejected them.
    pub fn dropped_datagrams(&self) -> u64 {
        self.demux.dropped() + self.rejected
    }

    /// Feeds a received datagram or a timeout.
    ///
    /// Call for every datagram read on a room socket, and when the time of the last
    /// [`Output::Timeout`] has come; then drain [`Room::poll_output`].
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        self.last_now = now;
        match input {
            Input::Receive(d) => {
                let Some(peer) = self.demux.route(&d) else { return };
                let Some(p) = self.participants.get_mut(&peer.participant) else { return };
                if !p.peer(peer.role).handle_receive(now, &d) {
                    self.rejected += 1;
                }
                self.mark_dirty(peer);
                // The one input the kept deadline follows (see `earliest.rs`).
                self.drain_dirty(now);
                return;
            }
            Input::Timeout => {
                let due: Vec<PeerId> = self
                    .participants
                    .values()
                    .flat_map(|p| [&p.publisher, &p.subscriber])
                    .filter(|peer| peer.timeout().is_some_and(|t| t <= now))
                    .map(|peer| peer.id)
                    .collect();
                for id in due {
                    if let Some(p) = self.participants.get_mut(&id.participant) {
                        p.peer(id.role).handle_timeout(now);
                    }
                    self.mark_dirty(id);
                }
                for (track, rid) in self.throttle.poll_due(now) {
                    self.send_keyframe_request(track, rid);
                }
            }
        }
        self.process(now);
    }

    /// The next thing the runtime must do.
    ///
    /// Call after every `handle_*`/`publish_*`/`subscribe_*`/`set_*` call until it returns
    /// [`Output::Timeout`]: send each [`Output::Transmit`], pass each [`Output::Event`] to
    /// signaling.
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        let participants = &self.participants;
        let all =
            || participants.values().flat_map(|p| [p.publisher.timeout(), p.subscriber.timeout()]).flatten().min();
        let peers = self.earliest.get_or(all);
        #[cfg(debug_assertions)]
        if let Some(truth) = all() {
            // Earlier than the truth costs a spare wake-up; later would miss a peer's timer.
            assert!(peers.is_some_and(|p| p <= truth), "cached earliest timeout {peers:?} is after {truth:?}");
        }
        let next = [peers, self.throttle.next_due()].into_iter().flatten().min();
        Output::Timeout(next.unwrap_or(self.last_now + IDLE_TIMEOUT))
    }

    fn emit(&mut self, e: RoomEvent) {
        self.out.push_back(Output::Event(e));
    }

    fn mark_dirty(&mut self, peer: PeerId) {
        if self.dirty_set.insert(peer) {
            self.dirty.push_back(peer);
        }
    }

    /// Drains every peer touched since the last call, handling what they report; the next
    /// poll then finds the earliest timeout with a full pass.
    fn process(&mut self, now: Instant) {
        self.earliest.forget();
        self.drain_dirty(now);
    }

    /// [`Room::process`] keeping the earliest timeout as it is, moved by the drained peers.
    fn drain_dirty(&mut self, now: Instant) {
        while let Some(id) = self.dirty.pop_front() {
            self.dirty_set.remove(&id);
            let Some(p) = self.participants.get_mut(&id.participant) else { continue };
            let peer = p.peer(id.role);
            let before = peer.timeout();
            // Taken while the events are handled, which may drain peers again.
            let mut events = std::mem::take(&mut self.events);
            let Drained { connected, died } = peer.drain(&mut self.out, &mut events);
            self.earliest.moved(before, peer.timeout());
            if connected {
                self.emit(RoomEvent::PeerConnected { peer: id });
            }
            for event in events.drain(..) {
                self.handle_event(now, id, event);
            }
            self.events = events;
            if died {
                self.peer_died(id);
            }
        }
        if !self.slot_maps_due.is_empty() {
            self.emit_slot_maps();
        }
    }

    fn handle_event(&mut self, now: Instant, id: PeerId, event: PeerEvent) {
        let event = match event {
            PeerEvent::Packet(packet) => return self.forward(now, id.participant, packet),
            PeerEvent::Layer { mid, rid, paused } => return self.layer_paused(now, id.participant, mid, rid, paused),
            PeerEvent::Str0m(event) => event,
        };
        match (id.role, event) {
            (PeerRole::Publisher, Event::MediaAdded(added)) => {
                let rids = added.simulcast.map(|s| if s.recv.is_empty() { s.send } else { s.recv }).unwrap_or_default();
                let rids = rids.into_iter().map(|l| l.rid).collect();
                self.publish(id.participant, added.mid, added.kind, added.direction, rids)
            }
            (PeerRole::Publisher, Event::RtpPacket(packet)) => {
                self.forward(now, id.participant, Published::of_str0m(packet))
            }
            (PeerRole::Publisher, Event::StreamPaused(p)) => {
                self.layer_paused(now, id.participant, p.mid, p.rid, p.paused)
            }
            (PeerRole::Publisher, Event::MediaChanged(changed)) => {
                let receiving = matches!(changed.direction, Direction::RecvOnly | Direction::SendRecv);
                if let (false, Some(&track)) = (receiving, self.track_by_mid.get(&(id.participant, changed.mid))) {
                    self.unpublish(track);
                }
            }
            (PeerRole::Subscriber, Event::KeyframeRequest(req)) => {
                self.relay_keyframe_request(now, id.participant, req)
            }
            (PeerRole::Subscriber, Event::EgressBitrateEstimate(BweKind::Twcc { estimate, can_probe })) => {
                tracing::debug!(peer = %id, %estimate, can_probe, "bandwidth estimate");
                self.estimated(now, id.participant, estimate.as_u64());
            }
            // The browser's own estimate of everything it receives on this connection (one
            // REMB lists all its SSRCs; str0m reports it on the first one's m-line).
            (PeerRole::Subscriber, Event::EgressBitrateEstimate(BweKind::Remb { estimate, .. }))
                if self.config.downlink_estimate == DownlinkEstimate::Receiver =>
            {
                tracing::debug!(peer = %id, %estimate, "receiver's bandwidth estimate");
                self.receiver_estimated(now, id.participant, estimate.as_u64());
            }
            _ => {}
        }
    }
}
