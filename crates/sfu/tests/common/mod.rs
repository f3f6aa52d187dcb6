//! Simulated meetings: a [`Room`] and in-memory str0m clients on a fake clock and a
//! lossless zero-latency network.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Once;
use std::time::{Duration, Instant};

use convene_sfu::{
    Datagram, Input, Output, ParticipantId, Proto, Room, RoomConfig, RoomEvent, Subscription, TrackId, TrackKind,
};
use convene_testkit::peer::{ClientPeer, PeerOptions, Polled};
use str0m::bwe::BweKind;
use str0m::change::{SdpAnswer, SdpApi, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequest, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::Protocol;
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Event, RtcConfig};

/// The room's one UDP address.
pub const SERVER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 3478);

pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::EnvFilter;
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("off"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    });
}

/// The simulcast rids, lowest first.
pub const RIDS: [&str; 3] = ["q", "h", "f"];
/// Frame sizes at 30 fps for about 150 kbit/s, 500 kbit/s and 1.5 Mbit/s.
pub const SIMULCAST_FRAME_BYTES: [usize; 3] = [600, 2_000, 6_000];

/// A packet on the simulated wire.
#[derive(Debug, Clone)]
pub struct Packet {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

/// A browser stand-in: two str0m peer connections in RTP mode (the test kit's client peer).
pub struct Client {
    pub id: ParticipantId,
    pub publisher: ClientPeer,
    pub subscriber: ClientPeer,
    pub pub_addr: SocketAddr,
    pub sub_addr: SocketAddr,
    /// RTP packets that arrived on the subscriber connection.
    pub received: Vec<Got>,
    /// Keyframe requests that arrived on the publisher connection.
    pub keyframe_requests: Vec<(Instant, KeyframeRequest)>,
    /// The publisher connection's own send-side estimates (bit/s), when it runs one.
    pub upload_estimates: Vec<u64>,
    /// Subscriber mid → track, from the room's offers.
    pub sub_tracks: HashMap<String, TrackId>,
    /// A slot subscriber's slots: mid → kind and the track carried, from the last slot map.
    pub slot_map: HashMap<String, (TrackKind, Option<TrackId>)>,
    pub connected: usize,
    /// When either connection next wants a timeout.
    pub timeout: Instant,
    /// How many times the publisher connection negotiated.
    pub published: usize,
    seq: HashMap<(Mid, Option<Rid>), u64>,
}

impl Client {
    fn new(id: ParticipantId, now: Instant, config: impl Fn(RtcConfig) -> RtcConfig) -> Client {
        let host = 10 + id.0 as u8;
        let pub_addr = SocketAddr::from((Ipv4Addr::new(10, 0, 1, host), 1000));
        let sub_addr = SocketAddr::from((Ipv4Addr::new(10, 0, 1, host), 2000));
        let peer = |addr| {
            let mut peer = ClientPeer::new(now, config(convene_testkit::peer::config(PeerOptions::default())));
            peer.rtc.add_local_candidate(str0m::Candidate::host(addr, "udp").unwrap()).unwrap();
            peer
        };
        let (publisher, subscriber) = (peer(pub_addr), peer(sub_addr));
        Client {
            id,
            publisher,
            subscriber,
            pub_addr,
            sub_addr,
            received: vec![],
            keyframe_requests: vec![],
            upload_estimates: vec![],
            sub_tracks: HashMap::new(),
            slot_map: HashMap::new(),
            connected: 0,
            timeout: now,
            published: 0,
            seq: HashMap::new(),
        }
    }

    /// Replaces the subscriber connection with a new one (default configuration), as a
    /// client starting its receiving side over.
    pub fn renew_subscriber(&mut self, now: Instant) {
        self.subscriber = ClientPeer::udp(now, PeerOptions::default(), self.sub_addr).unwrap();
    }

    /// The payload type the publisher negotiated for `codec`.
    pub fn pt(&self, codec: Codec) -> Pt {
        self.publisher.pt(codec).unwrap()
    }

    /// Writes one RTP packet on the publisher connection; sequence numbers count per stream.
    pub fn send(&mut self, now: Instant, mid: Mid, rid: Option<Rid>, packet: Sent) {
        // Each client numbers from a base of its own, as browsers pick random ones: a stream
        // switched from one sender to another must be renumbered, not continue by chance.
        let seq = self.seq.entry((mid, rid)).or_insert(1_000 + (self.id.0 % 16) * 2_000);
        *seq += 1;
        let seq_no: SeqNo = (*seq).into();
        let mut api = self.publisher.rtc.direct_api();
        let stream = api.stream_tx_by_mid(mid, rid).expect("a send stream for the mid/rid");
        let write = RtpWrite::new(packet.pt, seq_no, packet.ts, now, packet.payload)
            .marker(packet.marker)
            .ext_vals(packet.ext)
            .nackable(packet.nackable);
        stream.write_rtp(write);
    }

    /// Writes one VP8 frame as packets of at most 1,100 bytes. Every packet carries the
    /// frame's tag at payload offset 6 and its number after it.
    pub fn send_vp8_frame(&mut self, now: Instant, mid: Mid, rid: Option<Rid>, frame: Vp8Frame) {
        let Vp8Frame { number, keyframe, size, tag } = frame;
        let pt = self.pt(Codec::Vp8);
        let count = size.div_ceil(1_100).max(1);
        // Each layer numbers its pictures from a base of its own, as an encoder's
        // independent simulcast layers do.
        let picture_id = (number + 37 * u32::from(tag)) as u8 & 0x7f;
        for i in 0..count {
            let mut payload = if i == 0 {
                vp8_frame(picture_id, keyframe, &[tag, (number >> 8) as u8, number as u8])
            } else {
                vec![0x80, 0x80, picture_id, 0xff, 0xff, 0xff, tag, (number >> 8) as u8, number as u8]
            };
            payload.resize((size / count).max(payload.len()), 0x55);
            let last = i + 1 == count;
            let packet =
                Sent { pt, ts: number * 3_000, marker: last, payload, ext: ExtensionValues::default(), nackable: true };
            self.send(now, mid, rid, packet);
        }
    }

    /// The packets received for a track.
    pub fn received_for(&self, track: TrackId) -> Vec<Got> {
        let mids: Vec<Mid> =
            self.sub_tracks.iter().filter(|(_, t)| **t == track).map(|(m, _)| Mid::from(m.as_str())).collect();
        self.received.iter().filter(|g| g.mid.is_some_and(|m| mids.contains(&m))).cloned().collect()
    }
}

/// A packet a subscriber received.
#[derive(Debug, Clone)]
pub struct Got {
    pub at: Instant,
    pub mid: Option<Mid>,
    pub seq: u64,
    pub ts: u32,
    pub pt: Pt,
    pub marker: bool,
    pub payload: Vec<u8>,
    /// Header extensions it carried: abs-send-time, a transport-wide sequence number.
    pub abs_send_time: bool,
    pub transport_cc: bool,
}

/// A VP8 frame for [`Client::send_vp8_frame`].
pub struct Vp8Frame {
    /// Frame number at 30 fps.
    pub number: u32,
    pub keyframe: bool,
    /// Bytes of payload in all its packets together.
    pub size: usize,
    /// Marks the sender or layer, found at payload offset 6.
    pub tag: u8,
}

/// One packet to write.
pub struct Sent {
    pub pt: Pt,
    pub ts: u32,
    pub marker: bool,
    pub payload: Vec<u8>,
    pub ext: ExtensionValues,
    /// Whether it may be resent on NACK (video, as browsers do).
    pub nackable: bool,
}

/// A VP8 packet that is a whole frame: payload descriptor with a 7-bit picture id, then a
/// VP8 payload header whose low bit says keyframe (0) or not (1), then `body`.
pub fn vp8_frame(picture_id: u8, keyframe: bool, body: &[u8]) -> Vec<u8> {
    let mut p = vec![0x90, 0x80, picture_id & 0x7f, if keyframe { 0x10 } else { 0x11 }, 0x02, 0x00];
    p.extend_from_slice(body);
    p
}

/// Whether a payload starts a VP8 keyframe (the SFU's own parser).
pub fn is_vp8_keyframe(payload: &[u8]) -> bool {
    convene_sfu::codec::vp8_keyframe_start(payload)
}

/// The room, its clients and the wire between them.
pub struct Sim {
    pub now: Instant,
    pub start: Instant,
    pub room: Room,
    pub clients: Vec<Client>,
    pub events: Vec<(Instant, RoomEvent)>,
    wire: VecDeque<Packet>,
    /// Packets in flight (latency or a bottleneck), by arrival time and sending order.
    in_flight: BTreeMap<(Instant, u64), Packet>,
    sent: u64,
    /// Bottleneck links: a destination's capacity in bit/s, and when its queue drains.
    links: HashMap<SocketAddr, (u64, Instant)>,
    /// One-way delay of the wire.
    pub latency: Duration,
    /// Drop one packet in n on the wire (deterministic, seeded, not periodic).
    pub drop_every: Option<u64>,
    delivered: u64,
    /// Extra datagrams the room received that no client sent (garbage tests).
    pub room_timeout: Instant,
    /// When set, subscriber offers are kept here (participant, sdp, offer id) instead of
    /// being answered at once, so a test can answer late, twice or wrongly.
    pub held_offers: Option<Vec<(ParticipantId, String, u64)>>,
}

/// Whether this run of the suite puts subscribers on str0m's transport
/// (`CONVENE_SFU_TEST_DOWNLINK=str0m`).
pub fn on_str0m() -> bool {
    std::env::var("CONVENE_SFU_TEST_DOWNLINK").is_ok_and(|v| v == "str0m")
}

/// Whether this run of the suite reads publishers with str0m's session instead of the own
/// uplink (`CONVENE_SFU_TEST_UPLINK=str0m`).
pub fn on_str0m_uplink() -> bool {
    std::env::var("CONVENE_SFU_TEST_UPLINK").is_ok_and(|v| v == "str0m")
}

impl Sim {
    pub fn new() -> Sim {
        Sim::with_config(RoomConfig::new(vec![(Proto::Udp, SERVER)]))
    }

    /// A room with `config`, except that with `CONVENE_SFU_TEST_DOWNLINK=str0m` (the test
    /// script's later runs of this suite) subscribers get str0m's transport and its
    /// sender-side estimate instead of the default (the browser's estimate on Convene's own
    /// transport), and with `CONVENE_SFU_TEST_UPLINK=str0m` publishers get str0m's session
    /// instead of the own uplink: every behaviour is checked on every transport.
    pub fn with_config(mut config: RoomConfig) -> Sim {
        if on_str0m() {
            convene_sfu::Forwarding::STR0M_SENDER_SIDE.apply(&mut config);
        }
        config.own_uplink &= !on_str0m_uplink();
        Sim::exactly(config)
    }

    /// A room with `config` and the browser's estimate (REMB), on the suite's transport.
    pub fn with_receiver_estimate(mut config: RoomConfig) -> Sim {
        config.downlink_estimate = convene_sfu::DownlinkEstimate::Receiver;
        config.own_downlink = !on_str0m();
        config.own_uplink &= !on_str0m_uplink();
        Sim::exactly(config)
    }

    /// A room with `config` as given, whatever the suite's transport: for tests of one
    /// transport and estimate (str0m's sender-side one, or several side by side).
    pub fn exactly(config: RoomConfig) -> Sim {
        init();
        let now = Instant::now();
        Sim {
            now,
            start: now,
            room: Room::new(now, config),
            clients: vec![],
            events: vec![],
            wire: VecDeque::new(),
            in_flight: BTreeMap::new(),
            sent: 0,
            links: HashMap::new(),
            latency: Duration::ZERO,
            drop_every: None,
            delivered: 0,
            room_timeout: now,
            held_offers: None,
        }
    }

    pub fn client(&mut self, id: ParticipantId) -> &mut Client {
        self.clients.iter_mut().find(|c| c.id == id).expect("client")
    }

    pub fn join(&mut self, id: ParticipantId) {
        self.join_with(id, |c| c);
    }

    /// Joins as a slot subscriber with `video` video slots.
    pub fn join_slots(&mut self, id: ParticipantId, video: u8) {
        self.room.add_participant_with(self.now, id, Subscription::Slots { video }).unwrap();
        self.clients.push(Client::new(id, self.now, |c| c));
        self.pump();
    }

    /// Joins with a client whose str0m configuration `config` adjusts (codecs, payload types).
    pub fn join_with(&mut self, id: ParticipantId, config: impl Fn(RtcConfig) -> RtcConfig) {
        self.room.add_participant(self.now, id).unwrap();
        self.clients.push(Client::new(id, self.now, config));
        self.pump();
    }

    /// Negotiates the client's publisher connection; `change` adds its media.
    pub fn publish<R>(&mut self, id: ParticipantId, change: impl FnOnce(&mut SdpApi) -> R) -> R {
        let client = self.client(id);
        let mut api = client.publisher.rtc.sdp_api();
        let result = change(&mut api);
        let (offer, pending) = api.apply().expect("changes to offer");
        let now = self.now;
        let answer = self.room.publish_offer(now, id, &offer.to_sdp_string()).unwrap();
        let answer = SdpAnswer::from_sdp_string(&answer).unwrap();
        let client = self.client(id);
        client.publisher.rtc.sdp_api().accept_answer(pending, answer).unwrap();
        client.published += 1;
        self.pump();
        result
    }

    /// Publishes a microphone and a camera without simulcast: their mids.
    pub fn publish_audio_video(&mut self, id: ParticipantId) -> (Mid, Mid) {
        self.publish(id, |api| {
            let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
            let video = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
            (audio, video)
        })
    }

    /// Publishes a camera sending the three simulcast layers [`RIDS`] and connects: its mid.
    pub fn publish_simulcast(&mut self, id: ParticipantId) -> Mid {
        let mid = self.publish(id, |api| {
            let mut simulcast = Simulcast::new();
            for rid in RIDS {
                simulcast.add_send_layer(SimulcastLayer::new(rid));
            }
            api.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(simulcast))
        });
        self.connect_all();
        mid
    }

    /// Sends 30 fps from `publisher` on the layers `rids` for `duration` (frame sizes
    /// [`SIMULCAST_FRAME_BYTES`]); a layer sends a keyframe on frame 0 and whenever the room
    /// asked for one. Each payload's body starts with the layer index (payload offset 6).
    pub fn send_simulcast(
        &mut self,
        publisher: ParticipantId,
        mid: Mid,
        frame: &mut u32,
        duration: Duration,
        rids: &[&str],
    ) {
        let end = self.elapsed() + duration;
        while self.elapsed() < end {
            let now = self.now;
            let c = self.client(publisher);
            let asked: Vec<Option<Rid>> = c.keyframe_requests.drain(..).map(|(_, r)| r.rid).collect();
            for (layer, rid) in RIDS.iter().enumerate().filter(|(_, r)| rids.contains(r)) {
                let rid = Rid::from(*rid);
                let keyframe = *frame == 0 || asked.contains(&Some(rid));
                let size = SIMULCAST_FRAME_BYTES[layer] * if keyframe { 3 } else { 1 };
                c.send_vp8_frame(now, mid, Some(rid), Vp8Frame { number: *frame, keyframe, size, tag: layer as u8 });
            }
            *frame += 1;
            self.advance(Duration::from_millis(33));
        }
    }

    /// Moves everything until nobody has anything more to say at this instant.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut progressed = false;
            loop {
                match self.room.poll_output() {
                    Output::Timeout(t) => {
                        self.room_timeout = t;
                        break;
                    }
                    Output::Transmit(t) => {
                        progressed = true;
                        assert_eq!(t.proto, Proto::Udp);
                        self.wire.push_back(Packet {
                            source: t.source,
                            destination: t.destination,
                            contents: t.contents,
                        });
                    }
                    Output::Event(e) => {
                        progressed = true;
                        self.room_event(e);
                    }
                }
            }
            let now = self.now;
            for c in &mut self.clients {
                progressed |= drain_client(c, now, &mut self.wire);
            }
            while let Some(p) = self.wire.pop_front() {
                progressed = true;
                match self.arrival(&p) {
                    Some(at) if at > now => {
                        self.sent += 1;
                        self.in_flight.insert((at, self.sent), p);
                    }
                    Some(_) => self.deliver(p),
                    None => {}
                }
            }
            while let Some(entry) = self.in_flight.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                progressed = true;
                let p = entry.remove();
                self.deliver(p);
            }
            if !progressed {
                return;
            }
        }
        panic!("simulation does not settle");
    }

    fn room_event(&mut self, e: RoomEvent) {
        if let RoomEvent::SlotMap { participant, slots } = &e {
            let client = self.client(*participant);
            client.slot_map = slots.iter().map(|(mid, kind, track)| (mid.clone(), (*kind, *track))).collect();
        }
        if let RoomEvent::SubscribeOffer { participant, sdp, tracks, offer_id } = &e {
            if self.held_offers.is_some() {
                self.client(*participant).sub_tracks.extend(tracks.iter().cloned());
                self.held_offers.as_mut().unwrap().push((*participant, sdp.clone(), *offer_id));
                self.events.push((self.now, e));
                return;
            }
            let now = self.now;
            let client = self.client(*participant);
            client.sub_tracks.extend(tracks.iter().cloned());
            let offer = SdpOffer::from_sdp_string(sdp).unwrap();
            let answer = client.subscriber.rtc.sdp_api().accept_offer(offer).unwrap();
            self.room.subscribe_answer(now, *participant, &answer.to_sdp_string(), Some(*offer_id)).unwrap();
        }
        self.events.push((self.now, e));
    }

    /// Limits the capacity towards `destination` to `bps`, with a drop-tail queue of 250 ms.
    pub fn set_link(&mut self, destination: SocketAddr, bps: u64) {
        self.links.insert(destination, (bps, self.now));
    }

    /// When a packet sent now arrives, or `None` if the bottleneck queue drops it.
    fn arrival(&mut self, p: &Packet) -> Option<Instant> {
        let now = self.now;
        let Some((bps, free_at)) = self.links.get_mut(&p.destination) else {
            return Some(now + self.latency);
        };
        let start = (*free_at).max(now);
        if start - now > Duration::from_millis(250) {
            return None;
        }
        let bits = (p.contents.len() as u64 + 28) * 8;
        *free_at = start + Duration::from_micros(bits * 1_000_000 / *bps);
        Some(*free_at + self.latency)
    }

    /// Hands one wire packet to whoever owns its destination.
    pub fn deliver(&mut self, p: Packet) {
        let now = self.now;
        if let Some(n) = self.drop_every {
            // One packet in n on average, at seeded pseudo-random places: a strictly periodic
            // drop can fall on every resend of one packet (a NACK-to-resend cycle that happens
            // to span a multiple of n packets), which no real network does.
            self.delivered += 1;
            let mut x = self.delivered.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            x ^= x >> 31;
            x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x ^= x >> 29;
            if x.is_multiple_of(n) {
                return;
            }
        }
        if p.destination == SERVER {
            let d = Datagram { proto: Proto::Udp, source: p.source, destination: p.destination, contents: &p.contents };
            self.room.handle_input(now, Input::Receive(d));
            return;
        }
        let Some(c) = self.clients.iter_mut().find(|c| c.pub_addr == p.destination || c.sub_addr == p.destination)
        else {
            return;
        };
        let peer = if c.pub_addr == p.destination { &mut c.publisher } else { &mut c.subscriber };
        assert!(peer.receive(now, Protocol::Udp, p.source, p.destination, &p.contents), "the client takes its packet");
        assert!(peer.is_alive(), "{:?}", peer.dead);
        // str0m wants a full drain after every input, or it drops events.
        drain_client(c, now, &mut self.wire);
    }

    /// Moves the clock forward by `dt`, stopping at every timeout anybody asked for (as a
    /// real runtime would), at least 1 ms apart.
    pub fn advance(&mut self, dt: Duration) {
        let end = self.now + dt;
        loop {
            let arrivals = self.in_flight.keys().next().map(|(at, _)| *at);
            let asked =
                self.clients.iter().map(|c| c.timeout).chain([self.room_timeout]).chain(arrivals).min().unwrap();
            let next = asked.max(self.now + Duration::from_millis(1));
            if next >= end {
                break;
            }
            self.tick(next);
        }
        self.tick(end);
    }

    fn tick(&mut self, now: Instant) {
        self.now = now;
        self.room.handle_input(now, Input::Timeout);
        for c in &mut self.clients {
            c.publisher.handle_timeout(now);
            drain_client(c, now, &mut self.wire);
            c.subscriber.handle_timeout(now);
            drain_client(c, now, &mut self.wire);
        }
        self.pump();
    }

    /// Advances in 5 ms steps until every negotiated peer connection is connected.
    pub fn connect_all(&mut self) {
        for _ in 0..2_000 {
            let ready = |c: &Client| {
                (c.published == 0 || c.publisher.rtc.is_connected())
                    && ((c.sub_tracks.is_empty() && c.slot_map.is_empty()) || c.subscriber.rtc.is_connected())
            };
            if self.clients.iter().all(ready) {
                return;
            }
            self.advance(Duration::from_millis(5));
        }
        panic!("peers did not connect within 10 s of simulated time");
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn events_matching(&self, f: impl Fn(&RoomEvent) -> bool) -> Vec<RoomEvent> {
        self.events.iter().filter(|(_, e)| f(e)).map(|(_, e)| e.clone()).collect()
    }

    /// The track id the room gave to a publisher's mid.
    pub fn track_of(&self, publisher: ParticipantId, mid: Mid) -> TrackId {
        self.events
            .iter()
            .find_map(|(_, e)| match e {
                RoomEvent::TrackPublished { participant, track_id, mid: m, .. }
                    if *participant == publisher && *m == mid.to_string() =>
                {
                    Some(*track_id)
                }
                _ => None,
            })
            .expect("track published")
    }
}

fn drain_client(c: &mut Client, now: Instant, wire: &mut VecDeque<Packet>) -> bool {
    let mut progressed = false;
    let (received, keyframe_requests, connected) = (&mut c.received, &mut c.keyframe_requests, &mut c.connected);
    let upload_estimates = &mut c.upload_estimates;
    for (role, peer) in [(0, &mut c.publisher), (1, &mut c.subscriber)] {
        peer.drain(|rtc, polled| {
            progressed = true;
            match polled {
                Polled::Transmit(t) => {
                    wire.push_back(Packet { source: t.source, destination: t.destination, contents: t.contents.into() })
                }
                Polled::Event(Event::RtpPacket(p)) if role == 1 => {
                    let mid = rtc.direct_api().stream_rx(&p.header.ssrc).map(|s| s.mid());
                    received.push(Got {
                        at: now,
                        mid,
                        seq: *p.seq_no,
                        ts: p.header.timestamp,
                        pt: p.header.payload_type,
                        marker: p.header.marker,
                        payload: p.payload.to_vec(),
                        abs_send_time: p.header.ext_vals.abs_send_time.is_some(),
                        transport_cc: p.header.ext_vals.transport_cc.is_some(),
                    });
                }
                Polled::Event(Event::KeyframeRequest(r)) if role == 0 => keyframe_requests.push((now, r)),
                Polled::Event(Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. })) if role == 0 => {
                    upload_estimates.push(estimate.as_u64())
                }
                Polled::Event(Event::Connected) => *connected += 1,
                Polled::Event(_) => {}
            }
        });
        assert!(peer.is_alive(), "client peer failed: {:?}", peer.dead);
    }
    c.timeout = (now + Duration::from_secs(1)).min(c.publisher.timeout).min(c.subscriber.timeout);
    progressed
}

/// Someone talking on camera to one other participant: the setup of the tests about what
/// a host does to a publisher's media, or what the room does with it.
pub struct OnCamera {
    pub who: ParticipantId,
    pub audio: Mid,
    pub video: Mid,
    /// The room's tracks for `audio` and `video`.
    pub audio_track: TrackId,
    pub video_track: TrackId,
    /// 20 ms steps taken so far.
    n: u32,
}

impl OnCamera {
    /// `who` and `listener` join, `who` publishes a microphone and a camera, both connect.
    pub fn start(who: ParticipantId, listener: ParticipantId) -> (Sim, OnCamera) {
        let mut sim = Sim::new();
        sim.join(who);
        sim.join(listener);
        let (audio, video) = sim.publish_audio_video(who);
        sim.connect_all();
        let (audio_track, video_track) = (sim.track_of(who, audio), sim.track_of(who, video));
        (sim, OnCamera { who, audio, video, audio_track, video_track, n: 0 })
    }

    /// `secs` of talking: an Opus packet (at -20 dBov) every 20 ms and a VP8 frame every
    /// 40 ms, a keyframe when `keyframe(frame, client)` says so; `tick` sees the room after
    /// every step.
    pub fn run(
        &mut self,
        sim: &mut Sim,
        secs: u64,
        mut keyframe: impl FnMut(u32, &Client) -> bool,
        mut tick: impl FnMut(&mut Sim),
    ) {
        let until = sim.elapsed() + Duration::from_secs(secs);
        while sim.elapsed() < until {
            let (now, n) = (sim.now, self.n);
            let c = sim.client(self.who);
            let (opus_pt, vp8_pt) = (c.pt(Codec::Opus), c.pt(Codec::Vp8));
            c.send(now, self.audio, None, opus(opus_pt, n, Some(-20)));
            if n.is_multiple_of(2) {
                let key = keyframe(n / 2, c);
                c.send(now, self.video, None, vp8(vp8_pt, n / 2, key, 0xA));
            }
            self.n += 1;
            sim.advance(Duration::from_millis(20));
            tick(sim);
        }
    }
}

/// Opus packet with an audio level extension.
pub fn opus(pt: Pt, n: u32, level: Option<i8>) -> Sent {
    Sent {
        pt,
        ts: n * 960,
        marker: false,
        payload: vec![0xF8, 0xFF, 0xFE, n as u8],
        ext: ExtensionValues { audio_level: level, voice_activity: level.map(|l| l > -50), ..Default::default() },
        nackable: false,
    }
}

/// One-packet VP8 frame `n` at 30 fps.
pub fn vp8(pt: Pt, n: u32, keyframe: bool, tag: u8) -> Sent {
    Sent {
        pt,
        ts: n * 3_000,
        marker: true,
        payload: vp8_frame(n as u8, keyframe, &[tag, (n >> 8) as u8, n as u8]),
        ext: ExtensionValues::default(),
        nackable: true,
    }
}
