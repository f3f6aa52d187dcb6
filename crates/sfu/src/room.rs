//! The room: every participant's peer connections, their tracks, and the forwarding
//! between them.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec, PayloadParams};
use str0m::media::{Direction, KeyframeRequest, KeyframeRequestKind, MediaKind, Mid, Rid, Rids};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, StreamPaused, Vp8Descriptor, Vp8Patch};
use str0m::Event;

use crate::audible::{Audible, DEFAULT_AUDIBLE_LIMIT, DEFAULT_CROWD};
use crate::bitrate::LayerBitrates;
use crate::codec::{is_keyframe_start, vp8_ids, Vp8Ids};
use crate::demux::Demux;
use crate::error::SfuError;
use crate::forwarder::PacketIn;
use crate::io::{Datagram, Input, Output, Proto, RoomEvent};
use crate::keyframe::{KeyframeThrottle, KEYFRAME_INTERVAL, START_INTERVAL};
use crate::layer_selector::{select_layer, LayerDemand, LAYER_BITRATE_BPS};
use crate::munger::Munged;
use crate::pacing::{flush_decision, QueueSample};
use crate::packet_cache::{CachedPacket, PacketCache};
use crate::peer::{Drained, Peer, PeerId, PeerRole};
use crate::recording::{recorded, Admit, LayerChoice, RecordedPacket};
use crate::speaker::{SpeakerDetector, SPEAKER_HOLD};
use crate::track::{order_rids, DownTrack, Negotiation, Source, TrackId, TrackKind, UpTrack};
use crate::ParticipantId;

/// How long an empty room may sleep before it wants a timeout anyway.
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// What an Opus track needs, for the bandwidth the estimator should probe for.
const AUDIO_BITRATE_BPS: u64 = 50_000;

/// Recorded packets the runtime has not drained yet are dropped beyond this many (it drains
/// after every input, so only a runtime that forgot to would ever reach it).
const RECORDED_QUEUE: usize = 4_096;

/// How a room reaches the network.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// The local addresses the runtime listens on; each becomes a host candidate.
    pub local_addrs: Vec<(Proto, SocketAddr)>,
    /// The bandwidth assumed towards a subscriber before the estimator knows better.
    pub initial_bitrate_bps: u64,
    /// In a crowded room, only this many of the loudest microphones are forwarded (0: every
    /// microphone, always). Screen-share audio is never held back.
    pub audible_limit: usize,
    /// A room with more microphones than this (and than `audible_limit`) is crowded.
    pub crowd: usize,
    /// Measure the time spent inside str0m ([`Room::str0m_time`]). For benchmarks: it reads
    /// the clock around every str0m call, the only place the room does.
    pub meter_str0m: bool,
}

impl RoomConfig {
    /// A configuration with these local addresses and a 1 Mbit/s starting estimate.
    pub fn new(local_addrs: Vec<(Proto, SocketAddr)>) -> RoomConfig {
        RoomConfig {
            local_addrs,
            initial_bitrate_bps: 1_000_000,
            audible_limit: DEFAULT_AUDIBLE_LIMIT,
            crowd: DEFAULT_CROWD,
            meter_str0m: false,
        }
    }
}

/// One person in the room: two peer connections and what they receive.
struct Participant {
    publisher: Peer,
    subscriber: Peer,
    /// Sources declared by signaling, by the publisher's mid.
    sources: HashMap<Mid, Source>,
    down: BTreeMap<TrackId, DownTrack>,
    /// Subscriber m-lines to stop in the next offer.
    to_stop: Vec<Mid>,
    /// The subscriber's first m-line, which tags its BUNDLE group. It is never stopped (a
    /// stopped m-line leaves the group, and Chrome answers a moved tag by tearing down the
    /// whole transport); it goes inactive instead.
    bundle_tag: Option<Mid>,
    /// The offer awaiting the subscriber's answer, and its id.
    pending_offer: Option<(u64, SdpPendingOffer)>,
    bandwidth_bps: Option<u64>,
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
    participants: HashMap<ParticipantId, Participant>,
    tracks: BTreeMap<TrackId, UpTrack>,
    track_by_mid: HashMap<(ParticipantId, Mid), TrackId>,
    demux: Demux,
    throttle: KeyframeThrottle<(TrackId, Option<Rid>)>,
    speaker: SpeakerDetector<ParticipantId>,
    /// Which microphones a crowded room forwards.
    audible: Audible<TrackId>,
    out: VecDeque<Output>,
    /// Peers to drain, in order, and the same as a set for O(1) membership.
    dirty: VecDeque<PeerId>,
    dirty_set: HashSet<PeerId>,
    next_track: u64,
    /// Offer ids are room-wide, so a participant's offers before and after a media
    /// restart (leave + join) never share one.
    next_offer: u64,
    last_now: Instant,
    rejected: u64,
    /// Participants a host muted: their audio is not forwarded.
    muted: HashSet<ParticipantId>,
    /// Copy forwarded packets for a recorder.
    recording: bool,
    recorded: VecDeque<RecordedPacket>,
    recorded_overflow: u64,
    layer_choice: LayerChoice,
}

impl Room {
    /// An empty room, created at `now`.
    pub fn new(now: Instant, config: RoomConfig) -> Room {
        let audible = Audible::new(config.audible_limit, config.crowd);
        Room {
            config,
            participants: HashMap::new(),
            tracks: BTreeMap::new(),
            track_by_mid: HashMap::new(),
            demux: Demux::default(),
            throttle: KeyframeThrottle::new(KEYFRAME_INTERVAL, START_INTERVAL),
            speaker: SpeakerDetector::new(SPEAKER_HOLD),
            audible,
            out: VecDeque::new(),
            dirty: VecDeque::new(),
            dirty_set: HashSet::new(),
            next_track: 1,
            next_offer: 1,
            last_now: now,
            rejected: 0,
            muted: HashSet::new(),
            recording: false,
            recorded: VecDeque::new(),
            recorded_overflow: 0,
            layer_choice: LayerChoice::default(),
        }
    }

    /// Starts or stops copying every forwarded packet for a recorder (see
    /// [`Room::poll_recorded`]). Muted audio is not forwarded, so it is not recorded either.
    pub fn set_recording(&mut self, on: bool) {
        if self.recording != on {
            self.recording = on;
            self.layer_choice.forget(None);
            if !on {
                self.recorded.clear();
            }
        }
    }

    /// Whether forwarded packets are being copied for a recorder.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// The next packet for the recorder, while recording is on. Drain it after each drain
    /// of [`Room::poll_output`]; packets left undrained beyond a bound are dropped and counted
    /// in [`Room::recorded_overflow`].
    pub fn poll_recorded(&mut self) -> Option<RecordedPacket> {
        self.recorded.pop_front()
    }

    /// Recorded packets dropped because the runtime did not drain them.
    pub fn recorded_overflow(&self) -> u64 {
        self.recorded_overflow
    }

    /// Adds a participant with a publisher and a subscriber peer connection.
    ///
    /// Call when a client joins. If others already publish, a
    /// [`RoomEvent::SubscribeOffer`] follows from [`Room::poll_output`].
    pub fn add_participant(&mut self, now: Instant, id: ParticipantId) -> Result<(), SfuError> {
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
        let down = self.tracks.values().filter(|t| t.publisher != id).map(|t| (t.id, DownTrack::new(t.id))).collect();
        self.participants.insert(
            id,
            Participant {
                publisher,
                subscriber,
                sources: HashMap::new(),
                down,
                to_stop: Vec::new(),
                bundle_tag: None,
                pending_offer: None,
                bandwidth_bps: None,
            },
        );
        self.negotiate(id);
        self.process(now);
        Ok(())
    }

    /// Removes a participant: closes both peer connections and unpublishes their tracks.
    ///
    /// Call when a client leaves or its signaling connection is gone for good.
    pub fn remove_participant(&mut self, now: Instant, id: ParticipantId) {
        self.last_now = now;
        let Some(mut p) = self.participants.remove(&id) else { return };
        self.muted.remove(&id);
        p.publisher.close(&mut self.out);
        p.subscriber.close(&mut self.out);
        self.demux.forget(p.publisher.id);
        self.demux.forget(p.subscriber.id);
        let gone: Vec<TrackId> = self.tracks.values().filter(|t| t.publisher == id).map(|t| t.id).collect();
        for track in gone {
            self.unpublish(track);
        }
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
        if muted {
            self.muted.insert(participant);
        } else {
            self.muted.remove(&participant);
        }
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

    /// Accepts the offer of a participant's publisher peer connection and returns the answer.
    ///
    /// Call when the client sends an offer (the first one and every renegotiation). New
    /// tracks appear as [`RoomEvent::TrackPublished`].
    pub fn publish_offer(&mut self, now: Instant, participant: ParticipantId, sdp: &str) -> Result<String, SfuError> {
        self.last_now = now;
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| SfuError::MalformedSdp(e.to_string()))?;
        let p = self.participants.get_mut(&participant).ok_or(SfuError::UnknownParticipant(participant))?;
        let mids: Vec<Mid> = sdp.lines().filter_map(|l| l.trim().strip_prefix("a=mid:")).map(Mid::from).collect();
        let (answer, media) = p
            .publisher
            .with_rtc(|rtc| {
                let answer = rtc.sdp_api().accept_offer(offer)?;
                let media: Vec<_> = mids
                    .iter()
                    .filter_map(|mid| rtc.media(*mid))
                    .map(|m| {
                        let rids = match m.rids_rx() {
                            Rids::Specific(rids) => rids.clone(),
                            _ => Vec::new(),
                        };
                        (m.mid(), m.kind(), m.direction(), rids)
                    })
                    .collect();
                Ok((answer, media))
            })?
            .map_err(SfuError::Negotiation)?;
        let publisher = p.publisher.id;
        self.mark_dirty(publisher);
        // str0m only reports new m-lines once media can flow; announce them now so the
        // others are offered the tracks while this publisher's ICE is still completing.
        for (mid, kind, direction, rids) in media {
            self.publish(participant, mid, kind, direction, rids);
        }
        self.process(now);
        Ok(answer.to_sdp_string())
    }

    /// Accepts the answer to the outstanding [`RoomEvent::SubscribeOffer`] for this
    /// participant. `offer_id` is the id that offer carried (`None`: whichever is
    /// outstanding, for clients that do not echo ids).
    ///
    /// Call when the client answers; forwarding on the new m-lines starts now. An answer
    /// naming another offer is refused and leaves the outstanding offer waiting; an answer
    /// str0m refuses voids the offer, and a fresh one follows at once (else the subscriber
    /// would wait forever for tracks it was never given).
    pub fn subscribe_answer(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        sdp: &str,
        offer_id: Option<u64>,
    ) -> Result<(), SfuError> {
        self.last_now = now;
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| SfuError::MalformedSdp(e.to_string()))?;
        let p = self.participants.get_mut(&participant).ok_or(SfuError::UnknownParticipant(participant))?;
        match (&p.pending_offer, offer_id) {
            (None, _) => return Err(SfuError::NoPendingOffer(participant)),
            (Some((outstanding, _)), Some(answered)) if *outstanding != answered => {
                return Err(SfuError::StaleAnswer { answered })
            }
            _ => {}
        }
        let (_, pending) = p.pending_offer.take().ok_or(SfuError::NoPendingOffer(participant))?;
        let accepted = p.subscriber.with_rtc(|rtc| rtc.sdp_api().accept_answer(pending, answer));
        let refused = match accepted {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(SfuError::Negotiation(e)),
            Err(e) => Some(e),
        };
        if let Some(e) = refused {
            // The offer is void: offer its m-lines again, now.
            for down in p.down.values_mut() {
                if let Negotiation::Offered(_) = down.negotiation {
                    down.negotiation = Negotiation::ToOpen;
                }
            }
            self.negotiate(participant);
            self.process(now);
            return Err(e);
        }
        for down in p.down.values_mut() {
            if let Negotiation::Offered(mid) = down.negotiation {
                down.negotiation = Negotiation::Open(mid);
                let history = self.tracks.get(&down.track).and_then(|t| retransmission_history(t.kind, t.source));
                if let Some((packets, age)) = history {
                    let _ = p.subscriber.with_rtc(|rtc| {
                        if let Some(stream) = rtc.direct_api().stream_tx_by_mid(mid, None) {
                            stream.set_rtx_cache(packets, age, Some(RTX_RATIO_CAP));
                        }
                    });
                }
            }
        }
        let subscriber = p.subscriber.id;
        self.mark_dirty(subscriber);
        self.reselect_layers(now, participant);
        self.negotiate(participant);
        self.process(now);
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
        let peers = self.participants.values().flat_map(|p| [p.publisher.timeout(), p.subscriber.timeout()]);
        let next = peers.chain([self.throttle.next_due()]).flatten().min();
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

    /// Drains every peer touched since the last call, handling what they report.
    fn process(&mut self, now: Instant) {
        while let Some(id) = self.dirty.pop_front() {
            self.dirty_set.remove(&id);
            let Some(p) = self.participants.get_mut(&id.participant) else { continue };
            let Drained { events, connected, died } = p.peer(id.role).drain(&mut self.out);
            if connected {
                self.emit(RoomEvent::PeerConnected { peer: id });
            }
            for event in events {
                self.handle_event(now, id, event);
            }
            if died {
                self.peer_died(id);
            }
        }
    }

    fn handle_event(&mut self, now: Instant, id: PeerId, event: Event) {
        match (id.role, event) {
            (PeerRole::Publisher, Event::MediaAdded(added)) => {
                let rids = added.simulcast.map(|s| if s.recv.is_empty() { s.send } else { s.recv }).unwrap_or_default();
                let rids = rids.into_iter().map(|l| l.rid).collect();
                self.publish(id.participant, added.mid, added.kind, added.direction, rids)
            }
            (PeerRole::Publisher, Event::RtpPacket(packet)) => self.forward(now, id.participant, packet),
            (PeerRole::Publisher, Event::StreamPaused(paused)) => self.layer_paused(now, id.participant, paused),
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
                if let Some(p) = self.participants.get_mut(&id.participant) {
                    p.bandwidth_bps = Some(estimate.as_u64());
                }
                self.reselect_layers(now, id.participant);
            }
            _ => {}
        }
    }

    /// A publisher's offer added an m-line: it becomes an up track every other participant
    /// gets a down track of. Known mids are ignored.
    fn publish(&mut self, publisher: ParticipantId, mid: Mid, kind: MediaKind, direction: Direction, rids: Vec<Rid>) {
        let receiving = matches!(direction, Direction::RecvOnly | Direction::SendRecv);
        if !receiving || self.track_by_mid.contains_key(&(publisher, mid)) {
            return;
        }
        let kind = match kind {
            MediaKind::Audio => TrackKind::Audio,
            MediaKind::Video => TrackKind::Video,
        };
        let Some(p) = self.participants.get(&publisher) else { return };
        let source = p.sources.get(&mid).copied().unwrap_or(Source::default_for(kind));
        let id = TrackId(self.next_track);
        self.next_track += 1;
        let track = UpTrack {
            id,
            publisher,
            mid,
            kind,
            source,
            rids: order_rids(&rids),
            paused: [false; 3],
            wanted: Vec::new(),
            cache: PacketCache::default(),
            held: false,
            heard: false,
            bitrates: LayerBitrates::default(),
        };
        self.emit(RoomEvent::TrackPublished {
            participant: publisher,
            track_id: id,
            mid: mid.to_string(),
            kind,
            source,
            rids: track.rids.iter().map(|r| r.to_string()).collect(),
        });
        self.tracks.insert(id, track);
        self.count_microphones();
        self.track_by_mid.insert((publisher, mid), id);
        let others: Vec<ParticipantId> = self.participants.keys().copied().filter(|q| *q != publisher).collect();
        for q in others {
            if let Some(p) = self.participants.get_mut(&q) {
                p.down.insert(id, DownTrack::new(id));
            }
            self.negotiate(q);
        }
    }

    /// Keeps the audible set's idea of the room's size in step with its microphone tracks.
    fn count_microphones(&mut self) {
        let n = self.tracks.values().filter(|t| t.source == Source::Microphone).count();
        self.audible.set_microphones(n);
    }

    fn unpublish(&mut self, track: TrackId) {
        let Some(up) = self.tracks.remove(&track) else { return };
        self.count_microphones();
        self.track_by_mid.remove(&(up.publisher, up.mid));
        self.audible.remove(track);
        self.throttle.retain(|(t, _)| *t != track);
        self.layer_choice.forget(Some(track));
        self.emit(RoomEvent::TrackUnpublished { participant: up.publisher, track_id: track });
        let subscribers: Vec<ParticipantId> = self.participants.keys().copied().collect();
        for q in subscribers {
            let Some(p) = self.participants.get_mut(&q) else { continue };
            if let Some(mid) = p.down.remove(&track).and_then(|d| d.negotiation.mid()) {
                p.to_stop.push(mid);
            }
            self.negotiate(q);
        }
    }

    /// Offers the subscriber the m-lines it lacks, unless an offer is outstanding.
    fn negotiate(&mut self, participant: ParticipantId) {
        let Some(p) = self.participants.get_mut(&participant) else { return };
        if p.pending_offer.is_some() || !p.subscriber.is_alive() {
            return;
        }
        let crowded = self.audible.is_crowded();
        // In a crowded room, a microphone is offered once it has been heard (see UpTrack::heard).
        let dormant = |up: &UpTrack| crowded && up.source == Source::Microphone && !up.heard;
        let tracks = &self.tracks;
        let down = &mut p.down;
        let to_stop = std::mem::take(&mut p.to_stop);
        let bundle_tag = &mut p.bundle_tag;
        let applied = p.subscriber.with_rtc(|rtc| {
            let mut change = rtc.sdp_api();
            for d in down.values_mut().filter(|d| d.negotiation == Negotiation::ToOpen) {
                let Some(up) = tracks.get(&d.track) else { continue };
                if dormant(up) {
                    continue;
                }
                let kind = match up.kind {
                    TrackKind::Audio => MediaKind::Audio,
                    TrackKind::Video => MediaKind::Video,
                };
                let stream = Some(up.publisher.to_string());
                let mid = change.add_media(kind, Direction::SendOnly, stream, Some(up.id.to_string()), None);
                bundle_tag.get_or_insert(mid);
                d.negotiation = Negotiation::Offered(mid);
            }
            for mid in &to_stop {
                if *bundle_tag == Some(*mid) {
                    change.set_direction(*mid, Direction::Inactive);
                } else {
                    change.stop_media(*mid);
                }
            }
            change.apply()
        });
        let Ok(Some((offer, pending))) = applied else { return };
        let offer_id = self.next_offer;
        self.next_offer += 1;
        p.pending_offer = Some((offer_id, pending));
        let tracks = p.down.values().filter_map(|d| d.negotiation.mid().map(|m| (m.to_string(), d.track))).collect();
        let subscriber = p.subscriber.id;
        self.emit(RoomEvent::SubscribeOffer { participant, sdp: offer.to_sdp_string(), tracks, offer_id });
        self.mark_dirty(subscriber);
    }

    /// Sends one publisher packet to every subscriber whose forwarder wants it.
    fn forward(&mut self, now: Instant, publisher: ParticipantId, packet: RtpPacket) {
        let Some(p) = self.participants.get_mut(&publisher) else { return };
        let ssrc = packet.header.ssrc;
        let pt = packet.header.payload_type;
        let learned = p.publisher.with_rtc(|rtc| {
            let params = rtc.codec_config().find(|c| c.pt() == pt).cloned();
            let midrid = rtc.direct_api().stream_rx(&ssrc).map(|s| (s.mid(), s.rid()));
            (params, midrid)
        });
        let Ok((Some(params), midrid)) = learned else { return };
        let Some((mid, rid)) = midrid.or(packet.header.ext_vals.mid.map(|m| (m, packet.header.ext_vals.rid))) else {
            return;
        };
        let Some(&track_id) = self.track_by_mid.get(&(publisher, mid)) else { return };
        let Some(track) = self.tracks.get_mut(&track_id) else { return };
        let Some(layer) = track.layer_of(rid) else { return };
        track.bitrates.observe(layer, packet.payload.len(), now);
        let kind = track.kind;
        let source = track.source;
        let layer_rid = track.rid_of(layer);
        if kind == TrackKind::Audio && self.muted.contains(&publisher) {
            track.held = true;
            return;
        }
        let cached = CachedPacket {
            seq: *packet.seq_no,
            ts: packet.header.timestamp,
            marker: packet.header.marker,
            payload: packet.payload.clone(),
            at: packet.timestamp,
            ext: ExtensionValues {
                audio_level: packet.header.ext_vals.audio_level,
                voice_activity: packet.header.ext_vals.voice_activity,
                video_orientation: packet.header.ext_vals.video_orientation,
                ..Default::default()
            },
        };
        if kind == TrackKind::Video {
            track.cache.insert(layer, cached.clone());
        }

        if let Some(level) = cached.ext.audio_level.filter(|_| kind == TrackKind::Audio) {
            self.speaker.observe(publisher, level, now);
            if let Some(speaker) = self.speaker.update(now) {
                self.emit(RoomEvent::ActiveSpeaker { participant: Some(speaker) });
            }
        }

        let codec = params.spec().codec;
        let clock_rate = params.spec().clock_rate.get();
        let keyframe_start = is_keyframe_start(codec, &cached.payload);
        if keyframe_start && kind == TrackKind::Video {
            self.throttle.keyframe_arrived(&(track_id, layer_rid), now);
        }
        let tap = match (self.recording, kind) {
            (false, _) => Admit::Skip,
            (true, TrackKind::Audio) => Admit::Record,
            (true, TrackKind::Video) => self.layer_choice.admit(track_id, layer, keyframe_start, now),
        };
        if tap == Admit::NeedKeyframe {
            // Recording started (or a better layer appeared) between keyframes; publishers may
            // send none for minutes unless asked. Throttled like every keyframe request.
            self.request_keyframe(now, track_id, layer, false);
        }
        if tap == Admit::Record {
            if self.recorded.len() >= RECORDED_QUEUE {
                self.recorded.pop_front();
                self.recorded_overflow += 1;
            }
            let source = self.tracks.get(&track_id).map_or(Source::default_for(kind), |t| t.source);
            self.recorded.push_back(recorded(
                publisher,
                track_id,
                kind,
                source,
                codec,
                clock_rate,
                layer,
                cached.ts,
                cached.seq,
                cached.marker,
                keyframe_start,
                &cached.payload,
                now,
            ));
        }
        // The VP8 picture numbering is read once per packet, not once per subscriber.
        let ids_of = |c: &CachedPacket| if codec == Codec::Vp8 { vp8_ids(&c.payload) } else { None };
        let vp8 = ids_of(&cached);
        let as_input = |c: &CachedPacket, keyframe_start: bool, vp8: Option<Vp8Ids>| PacketIn {
            layer,
            keyframe_start,
            seq: c.seq,
            ts: c.ts,
            at: c.at,
            clock_rate,
            vp8,
        };
        // A crowded room forwards only its loudest microphones (recorded all the same: the
        // recorder mixes what it gets, and a held-back mic is mostly silence).
        if source == Source::Microphone && !self.audible.admit(track_id, cached.ext.audio_level, now) {
            if let Some(track) = self.tracks.get_mut(&track_id) {
                track.held = true;
            }
            return;
        }
        let Some(track) = self.tracks.get_mut(&track_id) else { return };
        let resume = std::mem::take(&mut track.held);
        let first_heard = kind == TrackKind::Audio && !std::mem::replace(&mut track.heard, true);
        let track = &*track;
        let mut wanted_keyframes = Vec::new();
        // Whether some subscriber moved onto this layer (its old one may be wanted no more).
        let mut switched = false;
        // The hot path: per packet and subscriber, no allocation (the subscriber is marked
        // dirty in place rather than collected, the usual single packet is sent directly).
        let (dirty, dirty_set) = (&mut self.dirty, &mut self.dirty_set);
        for (q, p) in self.participants.iter_mut().filter(|(q, _)| **q != publisher) {
            let Some(down) = p.down.get_mut(&track_id) else { continue };
            let Negotiation::Open(out_mid) = down.negotiation else { continue };
            if resume {
                down.forwarder.resume();
            }
            let was_on_layer = down.forwarder.current() == Some(layer);
            let Some(munged) = down.forwarder.on_packet(as_input(&cached, keyframe_start, vp8)) else {
                if down.forwarder.switch_pending() {
                    wanted_keyframes.push((down.forwarder.target(), down.forwarder.current().is_none()));
                }
                continue;
            };
            let video = kind == TrackKind::Video;
            tracing::trace!(track = %track_id, subscriber = %q, in_seq = cached.seq, out_seq = munged.seq, "forward");
            let mut sent = send_down(now, &mut p.subscriber, down, out_mid, &params, munged, &cached, vp8, video);
            if !was_on_layer {
                switched = true;
                // Switched: the rest of the keyframe may have arrived before its first packet.
                for later in track.cache.after(layer, cached.seq) {
                    let later_vp8 = ids_of(&later);
                    if let Some(m) = down.forwarder.on_packet(as_input(&later, false, later_vp8)) {
                        tracing::trace!(track = %track_id, subscriber = %q, in_seq = later.seq, out_seq = m.seq, "forward");
                        sent |= send_down(now, &mut p.subscriber, down, out_mid, &params, m, &later, later_vp8, video);
                    }
                }
            }
            let peer = PeerId { participant: *q, role: PeerRole::Subscriber };
            if sent && dirty_set.insert(peer) {
                dirty.push_back(peer);
            }
        }
        if first_heard {
            // A microphone held back since it was published speaks: offer it to those who
            // lack it (its first words are lost for the time the offer takes).
            let lacking: Vec<ParticipantId> = self
                .participants
                .iter()
                .filter(|(_, p)| p.down.get(&track_id).is_some_and(|d| d.negotiation == Negotiation::ToOpen))
                .map(|(q, _)| *q)
                .collect();
            for q in lacking {
                self.negotiate(q);
            }
        }
        if switched {
            self.update_wanted_layers(track_id);
        }
        wanted_keyframes.sort_unstable();
        wanted_keyframes.dedup();
        for (layer, starting) in wanted_keyframes {
            if let Some(layer) = layer {
                self.request_keyframe(now, track_id, layer, starting);
            }
        }
    }

    /// A subscriber lost a picture: ask the publisher of that track, throttled.
    fn relay_keyframe_request(&mut self, now: Instant, subscriber: ParticipantId, req: KeyframeRequest) {
        let Some(p) = self.participants.get(&subscriber) else { return };
        let Some(down) = p.down.values().find(|d| d.negotiation == Negotiation::Open(req.mid)) else { return };
        let layer = down.forwarder.current().or(down.forwarder.target()).unwrap_or(0);
        let starting = down.forwarder.current().is_none();
        self.request_keyframe(now, down.track, layer, starting);
    }

    /// Asks a publisher for a keyframe of one layer, throttled; `starting` when a subscriber
    /// has no picture of the track yet (a newcomer is served sooner, see [`START_INTERVAL`]).
    fn request_keyframe(&mut self, now: Instant, track: TrackId, layer: u8, starting: bool) {
        let Some(up) = self.tracks.get(&track) else { return };
        if up.kind != TrackKind::Video {
            return;
        }
        let rid = up.rid_of(layer);
        let send = if starting {
            self.throttle.request_start((track, rid), now)
        } else {
            self.throttle.request((track, rid), now)
        };
        if send {
            self.send_keyframe_request(track, rid);
        }
    }

    fn send_keyframe_request(&mut self, track: TrackId, rid: Option<Rid>) {
        let Some(up) = self.tracks.get(&track) else { return };
        let (publisher, mid) = (up.publisher, up.mid);
        let Some(p) = self.participants.get_mut(&publisher) else { return };
        let sent = p.publisher.with_rtc(|rtc| {
            let mut api = rtc.direct_api();
            let stream = api.stream_rx_by_mid(mid, rid)?;
            stream.request_keyframe(KeyframeRequestKind::Pli);
            Some(())
        });
        if let Ok(Some(())) = sent {
            let peer = p.publisher.id;
            self.mark_dirty(peer);
            self.emit(RoomEvent::KeyframeRequested {
                participant: publisher,
                track_id: track,
                rid: rid.map(|r| r.to_string()),
            });
        }
    }

    /// Runs the layer selector for every video down track of a subscriber.
    fn reselect_layers(&mut self, now: Instant, subscriber: ParticipantId) {
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
                layers: up.layers(),
                preferred_size: down.preferred_size,
                budget_bps: None,
                paused: up.paused,
                current: down.forwarder.current(),
            };
            let layer = match up.kind {
                TrackKind::Audio => {
                    desired_bps += AUDIO_BITRATE_BPS;
                    Some(0)
                }
                TrackKind::Video => {
                    let unconstrained = select_layer(demand);
                    desired_bps += unconstrained.map_or(0, |l| desired_bitrate(up, l));
                    select_layer(LayerDemand { budget_bps: budget, ..demand })
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
                self.request_keyframe(now, track, layer, starting);
            }
            self.update_wanted_layers(track);
        }
    }

    /// Tells signaling which simulcast layers of a track anybody receives, so the client
    /// can stop encoding the others.
    fn update_wanted_layers(&mut self, track: TrackId) {
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
    fn layer_paused(&mut self, now: Instant, publisher: ParticipantId, paused: StreamPaused) {
        let Some(&track) = self.track_by_mid.get(&(publisher, paused.mid)) else { return };
        let Some(up) = self.tracks.get_mut(&track) else { return };
        let Some(layer) = up.layer_of(paused.rid) else { return };
        up.paused[usize::from(layer)] = paused.paused;
        let subscribers: Vec<ParticipantId> =
            self.participants.iter().filter(|(_, p)| p.down.contains_key(&track)).map(|(q, _)| *q).collect();
        for q in subscribers {
            self.reselect_layers(now, q);
        }
    }

    fn peer_died(&mut self, id: PeerId) {
        self.emit(RoomEvent::PeerDisconnected { peer: id });
        self.demux.forget(id);
        if id.role == PeerRole::Publisher {
            let gone: Vec<TrackId> =
                self.tracks.values().filter(|t| t.publisher == id.participant).map(|t| t.id).collect();
            for track in gone {
                self.unpublish(track);
            }
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

/// Writes one munged packet on a subscriber's m-line, mapping the payload type.
/// Resends are given up when they would exceed this share of a stream's traffic (str0m's
/// default).
const RTX_RATIO_CAP: f32 = 0.15;

/// How much of an outgoing video stream is kept to answer NACKs: packets (a cap for bursts)
/// and age. A NACK comes about one round trip after a loss and a resend is useless once the
/// receiver's jitter buffer gave up on the frame, so one second is plenty for a camera —
/// str0m's default of three seconds and a thousand packets tripled each subscriber's memory
/// (bench/RESULTS.md). A shared screen keeps more: its keyframes are hundreds of packets in
/// one burst, and a lost packet near a burst's start must still be there when its NACK comes.
fn retransmission_history(kind: TrackKind, source: Source) -> Option<(usize, Duration)> {
    match (kind, source) {
        (TrackKind::Audio, _) => None,
        (TrackKind::Video, Source::ScreenShare) => Some((1024, Duration::from_millis(1500))),
        (TrackKind::Video, _) => Some((256, Duration::from_secs(1))),
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

/// Writes one munged packet to a subscriber's m-line. The down track remembers the
/// subscriber's payload type for the publisher's last one (matching codec parameters per
/// packet and subscriber was a noticeable part of the fan-out) and whether its pacer queue is
/// being flushed.
#[allow(clippy::too_many_arguments)]
fn send_down(
    now: Instant,
    subscriber: &mut Peer,
    down: &mut DownTrack,
    mid: Mid,
    params: &PayloadParams,
    munged: Munged,
    packet: &CachedPacket,
    vp8: Option<Vp8Ids>,
    nackable: bool,
) -> bool {
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
            .ext_vals(packet.ext.clone())
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
