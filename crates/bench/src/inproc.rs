//! The media core alone: one meeting of a scenario against Convene's SFU [`Room`] in this
//! process, on simulated time and a lossless wire of 1 ms delay — no sockets, kernel,
//! signaling or other threads. What the room's calls cost per forwarded packet is then
//! the core's own CPU, free of the machine's noise and of the load generator, and the room
//! says how much of it was spent inside str0m ([`RoomConfig::meter_str0m`]).
//!
//! The simulated clients are str0m peers like the network bench's: Opus with audio levels
//! and three-layer VP8 simulcast carrying probes, keyframes when asked, subscribers that
//! ask for the scenario's layer by tile size and answer every offer. Their own CPU is not
//! counted.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use convene_sfu::{
    Datagram, Input, Output, ParticipantId, Proto, Room, RoomConfig, RoomEvent, Subscription, TrackId, TrackKind,
};
use convene_testkit::peer::{offer_microphone_and_camera, ClientPeer, PeerOptions, Polled};
use convene_testkit::signaling;
use str0m::format::Codec;
use str0m::media::Pt;
use str0m::net::Protocol;
use str0m::rtp::RtpWrite;
use str0m::Event;

use crate::error::{Error, Result};
use crate::peer::Source;
use crate::probe::{Probe, Stream};
use crate::remb::Remb;
use crate::scenario::Scenario;
use crate::synth::LAYER_SIZES;

/// The room's address on the simulated wire.
const SERVER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 3478);
/// One-way delay of the simulated wire: a LAN's. (str0m's delay-based estimator wants a
/// round trip above zero.)
const WIRE_DELAY: Duration = Duration::from_millis(1);
/// How long the peers get to connect, in simulated time.
const CONNECT_WITHIN: Duration = Duration::from_secs(20);

/// What the media core spent on one meeting of a scenario.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CoreReport {
    pub scenario: Scenario,
    /// Simulated seconds measured (after the warm-up).
    pub simulated_s: f64,
    /// Media packets (with a probe) the subscribers received from the room.
    pub forwarded_packets: u64,
    /// Packets the publishers wrote.
    pub sent_packets: u64,
    /// Video packets forwarded per simulcast layer.
    pub layer_packets: [u64; 3],
    /// REMB reports the subscribers sent while measuring (only in the REMB mode).
    pub remb_reports: u64,
    /// Wall time inside the room's calls (one thread, nothing else running in it).
    pub room_s: f64,
    /// Of that, inside str0m.
    pub str0m_s: f64,
    pub room_us_per_packet: f64,
    pub str0m_us_per_packet: f64,
    /// What is left: the room's own forwarding, layer choice, demultiplexing, bookkeeping.
    pub own_us_per_packet: f64,
    /// The str0m calls' share of the room's time.
    pub str0m_share: f64,
    /// Forwarded packets per second of room time: what one core could forward if the kernel
    /// and the I/O around the room cost nothing.
    pub packets_per_room_s: f64,
    /// Offers the room made subscribers while everyone joined, published and was shown.
    pub subscribe_offers: u64,
    /// Room time in those calls (joins, publishers' offers, subscribers' answers, tile
    /// sizes): the signaling work of filling the meeting, which slot subscriptions cut.
    pub signaling_ms: f64,
    pub signaling_ms_per_join: f64,
    /// Slot maps the room sent while measuring (one per subscriber and change of what its
    /// slots carry).
    pub slot_maps: u64,
}

/// A simulated participant: a publisher and a subscriber connection.
struct Member {
    id: ParticipantId,
    publisher: ClientPeer,
    subscriber: ClientPeer,
    pub_addr: SocketAddr,
    sub_addr: SocketAddr,
    media: Option<Media>,
    /// Whether the room offered the subscriber connection anything (else it never connects).
    offered: bool,
    /// Probe-carrying RTP the subscriber received while measuring, each packet once (the
    /// estimator's padding may resend some).
    received: u64,
    /// Per sender stream, the highest probe sequence seen.
    last_seq: HashMap<(u32, Stream), u32>,
    /// Video packets received per simulcast layer while measuring.
    layers: [u64; 3],
    /// The subscriber's REMB reports, when the room leaves the estimate to it.
    remb: Option<Remb>,
}

/// A publisher's synthetic microphone and camera (the network bench's), and the payload
/// types its connection negotiated.
struct Media {
    source: Source,
    opus: Option<Pt>,
    vp8: Option<Pt>,
}

/// Wall time spent in the room's calls.
#[derive(Default)]
struct Meter {
    spent: Duration,
}

impl Meter {
    fn time<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let r = f();
        self.spent += started.elapsed();
        r
    }
}

struct Sim {
    now: Instant,
    room: Room,
    room_timeout: Instant,
    members: Vec<Member>,
    /// Datagrams in flight by arrival time and sending order: (destination, source, bytes).
    wire: BTreeMap<(Instant, u64), (SocketAddr, SocketAddr, Vec<u8>)>,
    sent_datagrams: u64,
    meter: Meter,
    /// Room time in signaling calls.
    signaling: Duration,
    subscribe_offers: u64,
    slot_maps: u64,
    measuring: bool,
    /// Published cameras: (publisher, track).
    videos: Vec<(ParticipantId, TrackId)>,
    layer: usize,
}

/// Runs one meeting of `s` (its participants, publishers and talkers, its layer and
/// bitrates) for its warm-up and duration in simulated time.
pub fn run(s: &Scenario) -> Result<CoreReport> {
    s.check().map_err(Error::Setup)?;
    let start = Instant::now();
    let mut config = RoomConfig::new(vec![(Proto::Udp, SERVER)]);
    config.audible_limit = s.audible;
    config.meter_str0m = true;
    config.downlink_estimate = s.downlink_estimate.sfu();
    config.own_downlink = s.downlink_estimate.own_transport();
    config.own_uplink = s.own_uplink;
    let mut sim = Sim {
        now: start,
        room: Room::new(start, config),
        room_timeout: start,
        members: Vec::new(),
        wire: BTreeMap::new(),
        sent_datagrams: 0,
        meter: Meter::default(),
        signaling: Duration::ZERO,
        subscribe_offers: 0,
        slot_maps: 0,
        measuring: false,
        videos: Vec::new(),
        layer: usize::from(s.layer),
    };
    for i in 0..s.participants {
        sim.join(i, s)?;
    }
    sim.connect()?;
    // Everyone shows every camera in a tile of the scenario's layer, as the clients of the
    // network bench ask.
    let (w, h) = LAYER_SIZES[sim.layer];
    for (publisher, track) in sim.videos.clone() {
        for q in sim.members.iter().map(|m| m.id).filter(|q| *q != publisher).collect::<Vec<_>>() {
            let now = sim.now;
            let started = Instant::now();
            sim.meter
                .time(|| sim.room.set_preferred_size(now, q, track, u32::from(w), u32::from(h)))
                .map_err(|e| Error::Rtc(e.to_string()))?;
            sim.signaling += started.elapsed();
        }
    }
    sim.advance(Duration::from_secs_f64(s.warmup_s.max(1.0)));
    let (signaling, subscribe_offers, slot_maps_before) = (sim.signaling, sim.subscribe_offers, sim.slot_maps);

    sim.meter = Meter::default();
    let str0m_before = sim.room.str0m_time();
    let sent_before: u64 = sim.members.iter().filter_map(|m| m.media.as_ref()).map(|m| m.source.packets).sum();
    let rembs = |sim: &Sim| sim.members.iter().filter_map(|m| m.remb.as_ref()).map(|r| r.sent).sum::<u64>();
    let rembs_before = rembs(&sim);
    sim.measuring = true;
    let duration = Duration::from_secs_f64(s.duration_s);
    sim.advance(duration);

    let forwarded: u64 = sim.members.iter().map(|m| m.received).sum();
    let sent: u64 =
        sim.members.iter().filter_map(|m| m.media.as_ref()).map(|m| m.source.packets).sum::<u64>() - sent_before;
    let room_s = sim.meter.spent.as_secs_f64();
    let str0m_s = (sim.room.str0m_time().saturating_sub(str0m_before)).as_secs_f64();
    let per = |x: f64| if forwarded > 0 { x * 1e6 / forwarded as f64 } else { 0.0 };
    Ok(CoreReport {
        scenario: Scenario { meetings: 1, ..s.clone() },
        simulated_s: duration.as_secs_f64(),
        forwarded_packets: forwarded,
        sent_packets: sent,
        layer_packets: sim.members.iter().fold([0; 3], |acc, m| [0, 1, 2].map(|l| acc[l] + m.layers[l])),
        remb_reports: rembs(&sim) - rembs_before,
        room_s,
        str0m_s,
        room_us_per_packet: per(room_s),
        str0m_us_per_packet: per(str0m_s),
        own_us_per_packet: per(room_s - str0m_s),
        str0m_share: if room_s > 0.0 { str0m_s / room_s } else { 0.0 },
        packets_per_room_s: if room_s > 0.0 { forwarded as f64 / room_s } else { 0.0 },
        subscribe_offers,
        signaling_ms: signaling.as_secs_f64() * 1e3,
        signaling_ms_per_join: signaling.as_secs_f64() * 1e3 / s.participants as f64,
        slot_maps: sim.slot_maps - slot_maps_before,
    })
}

impl Sim {
    /// Adds participant `i` of the scenario and negotiates its publisher connection.
    fn join(&mut self, i: usize, s: &Scenario) -> Result<()> {
        let id = ParticipantId(i as u64 + 1);
        let host = Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250) as u8 + 1);
        let pub_addr = SocketAddr::from((host, 1000));
        let sub_addr = SocketAddr::from((host, 2000));
        let now = self.now;
        let mut publisher = ClientPeer::udp(now, PeerOptions::default(), pub_addr).map_err(Error::Rtc)?;
        let subscriber = ClientPeer::udp(now, PeerOptions::default(), sub_addr).map_err(Error::Rtc)?;
        let subscription = match s.video_slots {
            Some(video) => Subscription::Slots { video },
            None => Subscription::PerTrack,
        };
        let started = Instant::now();
        self.meter
            .time(|| self.room.add_participant_with(now, id, subscription))
            .map_err(|e| Error::Rtc(e.to_string()))?;
        self.signaling += started.elapsed();

        let (audio, video) = s.publishes(i);
        let mut media = None;
        if audio || video {
            let mut api = publisher.rtc.sdp_api();
            let offered = offer_microphone_and_camera(&mut api, audio, video);
            let (offer, pending) = api.apply().ok_or_else(|| Error::Rtc("no offer".into()))?;
            let started = Instant::now();
            let answer = self
                .meter
                .time(|| self.room.publish_offer(now, id, &offer.to_sdp_string()))
                .map_err(|e| Error::Rtc(e.to_string()))?;
            self.signaling += started.elapsed();
            signaling::accept_publish_answer(&mut publisher.rtc, pending, &answer).map_err(Error::Rtc)?;
            let mut source = Source::new(i as u32 + 1, s.profile, now);
            source.audio = offered.audio;
            source.video = offered.video;
            source.talking = s.talks(i);
            media = Some(Media { source, opus: publisher.pt(Codec::Opus), vp8: publisher.pt(Codec::Vp8) });
        }
        self.members.push(Member {
            id,
            publisher,
            subscriber,
            pub_addr,
            sub_addr,
            media,
            offered: false,
            received: 0,
            last_seq: HashMap::new(),
            layers: [0; 3],
            remb: Remb::of(s, now),
        });
        self.pump()
    }

    /// Advances until every negotiated connection is up.
    fn connect(&mut self) -> Result<()> {
        let deadline = self.now + CONNECT_WITHIN;
        while self.now < deadline {
            let up = self.members.iter().all(|m| {
                (m.media.is_none() || m.publisher.rtc.is_connected()) && (!m.offered || m.subscriber.rtc.is_connected())
            });
            if up {
                return Ok(());
            }
            self.advance(Duration::from_millis(5));
        }
        Err(Error::Rtc("the simulated peers did not connect within 20 s of simulated time".into()))
    }

    /// Moves simulated time forward by `d`, stopping at every timeout and media instant.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let media = self.members.iter().filter_map(|m| m.media.as_ref()).map(|m| m.source.next_due());
            let peers = self.members.iter().flat_map(|m| [m.publisher.timeout, m.subscriber.timeout]);
            let rembs = self.members.iter().filter_map(|m| m.remb.as_ref().and_then(Remb::next_due));
            let arrival = self.wire.keys().next().map(|(at, _)| *at);
            let next = peers
                .chain(media)
                .chain(rembs)
                .chain([self.room_timeout])
                .chain(arrival)
                .min()
                .unwrap_or(end)
                .max(self.now);
            if next > end {
                self.now = end;
                return;
            }
            self.tick(next);
        }
    }

    fn tick(&mut self, now: Instant) {
        self.now = now;
        if self.room_timeout <= now {
            self.meter.time(|| self.room.handle_input(now, Input::Timeout));
        }
        for i in 0..self.members.len() {
            let m = &mut self.members[i];
            if m.publisher.timeout <= now {
                m.publisher.handle_timeout(now);
                self.drain_member(i, false);
            }
            let m = &mut self.members[i];
            // A REMB asked for goes out with the feedback str0m writes as it handles a timeout.
            let rtc = &mut m.subscriber.rtc;
            let remb = m.remb.as_mut().is_some_and(|r| r.send_due(now, rtc));
            if m.subscriber.timeout <= now || remb {
                m.subscriber.handle_timeout(now);
                self.drain_member(i, true);
            }
            let m = &mut self.members[i];
            if m.publisher.rtc.is_connected() {
                self.send_media(i);
            } else if let Some(media) = m.media.as_mut() {
                // Nothing flows before the connection is up: the media clock just runs on.
                media.source.skip_to(now);
            }
        }
        // Errors only come from signaling, all of which happened at join time.
        let _ = self.pump();
    }

    /// Writes the packets of member `i` that are due now, each sent at once.
    fn send_media(&mut self, i: usize) {
        let now = self.now;
        let Some(media) = self.members[i].media.as_mut() else { return };
        // Probes carry no send time: latency means nothing on simulated time.
        let writes = media.source.due(now, media.opus, media.vp8, || 0);
        for (mid, layer, pt, ts, marker, payload) in writes {
            let m = &mut self.members[i];
            let Some(media) = m.media.as_mut() else { return };
            let (seq, ext, rid) = media.source.rtp_of(layer);
            let mut api = m.publisher.rtc.direct_api();
            let Some(stream) = api.stream_tx_by_mid(mid, rid) else { continue };
            stream.write_rtp(
                RtpWrite::new(pt, seq, ts, now, payload).marker(marker).ext_vals(ext).nackable(layer.is_some()),
            );
            self.drain_member(i, false);
        }
    }

    /// Moves everything until nobody has anything more to say at this instant.
    fn pump(&mut self) -> Result<()> {
        loop {
            let mut progressed = false;
            loop {
                match self.meter.time(|| self.room.poll_output()) {
                    Output::Timeout(t) => {
                        self.room_timeout = t;
                        break;
                    }
                    Output::Transmit(t) => {
                        progressed = true;
                        self.put_on_wire(t.destination, t.source, t.contents);
                    }
                    Output::Event(e) => {
                        progressed = true;
                        self.room_event(e)?;
                    }
                }
            }
            while let Some(entry) = self.wire.first_entry() {
                if entry.key().0 > self.now {
                    break;
                }
                let (destination, source, contents) = entry.remove();
                progressed = true;
                self.deliver(destination, source, &contents);
                // As the server's worker does after a send.
                convene_sfu::downlink::buffers::recycle(contents);
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    fn room_event(&mut self, e: RoomEvent) -> Result<()> {
        let now = self.now;
        match e {
            RoomEvent::SubscribeOffer { participant, sdp, offer_id, .. } => {
                let Some(m) = self.members.iter_mut().find(|m| m.id == participant) else { return Ok(()) };
                m.offered = true;
                let answer =
                    signaling::answer_subscribe_offer(&mut m.subscriber.rtc, &sdp, offer_id).map_err(Error::Rtc)?;
                let convene_protocol::ClientMessage::SubscribeAnswer { sdp, .. } = answer else { return Ok(()) };
                self.subscribe_offers += 1;
                let started = Instant::now();
                self.meter
                    .time(|| self.room.subscribe_answer(now, participant, &sdp, Some(offer_id)))
                    .map_err(|e| Error::Rtc(e.to_string()))?;
                self.signaling += started.elapsed();
            }
            RoomEvent::SlotMap { .. } => self.slot_maps += 1,
            RoomEvent::TrackPublished { participant, track_id, kind: TrackKind::Video, .. } => {
                self.videos.push((participant, track_id));
            }
            _ => {}
        }
        Ok(())
    }

    fn put_on_wire(&mut self, destination: SocketAddr, source: SocketAddr, contents: Vec<u8>) {
        self.sent_datagrams += 1;
        self.wire.insert((self.now + WIRE_DELAY, self.sent_datagrams), (destination, source, contents));
    }

    /// Hands one wire packet to the room or to the member connection it is addressed to.
    fn deliver(&mut self, destination: SocketAddr, source: SocketAddr, contents: &[u8]) {
        let now = self.now;
        if destination == SERVER {
            let d = Datagram { proto: Proto::Udp, source, destination, contents };
            self.meter.time(|| self.room.handle_input(now, Input::Receive(d)));
            return;
        }
        let Some(i) = self.members.iter().position(|m| m.pub_addr == destination || m.sub_addr == destination) else {
            return;
        };
        let subscriber = self.members[i].sub_addr == destination;
        let m = &mut self.members[i];
        let peer = if subscriber { &mut m.subscriber } else { &mut m.publisher };
        // str0m wants a full drain after every input.
        if peer.receive(now, Protocol::Udp, source, destination, contents) {
            self.drain_member(i, subscriber);
        }
    }

    /// Polls one member connection until it wants a timeout.
    fn drain_member(&mut self, i: usize, subscriber: bool) {
        let (measuring, now) = (self.measuring, self.now);
        let (wire, sent_datagrams) = (&mut self.wire, &mut self.sent_datagrams);
        let Member { publisher, subscriber: sub, media, received, last_seq, layers, remb, .. } = &mut self.members[i];
        let peer = if subscriber { sub } else { publisher };
        peer.drain(|_, polled| match polled {
            Polled::Transmit(t) => {
                *sent_datagrams += 1;
                wire.insert((now + WIRE_DELAY, *sent_datagrams), (t.destination, t.source, t.contents.into()));
            }
            Polled::Event(Event::RtpPacket(p)) if subscriber => {
                let Some(probe) = Probe::find(&p.payload) else { return };
                if let (Stream::Video(_), Some(remb)) = (probe.stream, remb.as_mut()) {
                    remb.saw(p.header.ssrc);
                }
                let last = last_seq.entry((probe.tag, probe.stream)).or_insert(0);
                if probe.seq < *last {
                    return;
                }
                *last = probe.seq + 1;
                if measuring {
                    *received += 1;
                    if let Stream::Video(l) = probe.stream {
                        layers[usize::from(l)] += 1;
                    }
                }
            }
            Polled::Event(Event::KeyframeRequest(r)) if !subscriber => {
                if let Some(media) = media.as_mut() {
                    media.source.want_keyframe(r.rid);
                }
            }
            Polled::Event(_) => {}
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_people_forward_each_other_and_the_cost_is_split() {
        let s = Scenario {
            participants: 3,
            video_publishers: 3,
            audio_publishers: 3,
            duration_s: 1.0,
            warmup_s: 1.0,
            ..Scenario::preset("meeting10").unwrap()
        };
        let r = run(&s).unwrap();
        // Each of 3 gets the 2 others' audio (50/s) and one video layer (~45 packets/s at
        // 500 kbit/s): about 3 × 2 × 95 a second.
        assert!(r.forwarded_packets > 400, "forwarded {}", r.forwarded_packets);
        assert!(r.sent_packets > 0);
        assert!(r.str0m_s > 0.0 && r.str0m_s < r.room_s, "str0m {} of room {}", r.str0m_s, r.room_s);
        assert!(r.own_us_per_packet > 0.0);
    }

    /// The subscribers' REMBs reach the room and steer the layers: a generous estimate gets
    /// the layer the tiles ask for, as the default mode does; one that falls to 100 kbit/s
    /// (congestion) the lowest, until the room probes its way back up.
    #[test]
    fn the_layers_follow_the_subscribers_remb() {
        let s = Scenario {
            participants: 3,
            video_publishers: 3,
            audio_publishers: 3,
            duration_s: 4.0,
            warmup_s: 1.0,
            downlink_estimate: crate::scenario::Estimate::Remb,
            ..Scenario::preset("meeting10").unwrap()
        };
        let generous = run(&s).unwrap();
        assert!(generous.remb_reports >= 12, "each of 3 reports about once a second: {}", generous.remb_reports);
        let [q, h, f] = generous.layer_packets;
        assert!(q == 0 && h > 0 && f == 0, "the tiles' layer (1): {:?}", generous.layer_packets);
        let poor = run(&Scenario { remb_bps: 100_000, ..s }).unwrap();
        let [q, _, f] = poor.layer_packets;
        assert!(q > 0 && f == 0, "100 kbit/s: the lowest layer: {:?}", poor.layer_packets);
    }
}
