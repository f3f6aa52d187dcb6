//! A media client for tests: two str0m peer connections (publisher and subscriber, as the
//! protocol's media messages describe) on real UDP sockets on 127.0.0.1, driven by a thread
//! of their own on the real clock, with the meeting WebSocket for SDP.
//!
//! * [`MediaClient::join`] joins over HTTP, opens the WebSocket and starts the media thread.
//!   A task reads the WebSocket: it applies `publish_answer`, answers every `subscribe_offer`
//!   with `subscribe_answer`, and passes every message on to [`MediaClient::signaling`].
//! * [`MediaClient::publish`] offers Opus (microphone) and VP8 with three simulcast layers
//!   (camera) and, once connected, sends synthetic media in RTP mode: a 20 ms Opus packet
//!   with an audio level, and 30 fps VP8 frames on every layer (keyframes every 2 s and when
//!   asked by PLI/FIR).
//! * [`MediaClient::received`] counts what the subscriber connection received, per mid.
//!   Every payload carries a marker with the sender's [`MediaClient::tag`] (and, for video,
//!   the layer), so a test can tell whose media arrived without knowing the server's mids.
//! * [`MediaClient::drop_network`] cuts both UDP and the WebSocket; [`MediaClient::resume`]
//!   comes back with the resume token.
//! * [`MediaClient::join_tcp`] makes a client whose peer connections use ICE-TCP: each
//!   connects to the server's TCP candidate (from its SDP) and frames packets with RFC 4571's
//!   16-bit length.
//! * [`MediaClient::limit_downlink`] puts a narrow link in front of the subscriber
//!   connection: RTP waits in a queue drained at the given rate and is dropped once the queue
//!   holds more than [`DOWNLINK_QUEUE`] of it, so the server's TWCC feedback shows the delay
//!   and the loss.
//!
//! Dropping a `MediaClient` stops its thread and its task.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use convene_protocol::ServerMessage;
use convene_testkit::peer::{offer_microphone_and_camera, ClientPeer, PeerOptions, Polled};
use convene_testkit::{signaling, synth};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use str0m::change::SdpPendingOffer;
use str0m::format::Codec;
use str0m::media::{Mid, Rid};
use str0m::net::{Protocol, TcpType};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Candidate, Event, IceConnectionState};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::ws::{Client, Socket};
use super::{Account, TestApp};

/// The simulcast layers, lowest first.
pub use convene_testkit::synth::RIDS;
/// Bytes per VP8 delta frame on each layer (keyframes are three times larger).
const FRAME_BYTES: [usize; 3] = [400, 1_200, 3_000];
/// Marker in every payload, followed by the sender's tag (4 bytes, big endian) and the layer.
const MAGIC: &[u8; 4] = b"CVNE";
const KEYFRAME_INTERVAL: Duration = Duration::from_secs(2);
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
const VIDEO_INTERVAL: Duration = Duration::from_micros(33_333);
/// The most a limited downlink queues before it drops (see [`MediaClient::limit_downlink`]).
pub const DOWNLINK_QUEUE: Duration = Duration::from_millis(200);

static NEXT_TAG: AtomicU32 = AtomicU32::new(0x1000);

/// Audio or video, as negotiated for a received mid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Video,
    Unknown,
}

/// What arrived on one mid of the subscriber connection.
#[derive(Debug, Clone)]
pub struct TrackStats {
    pub mid: String,
    pub kind: Kind,
    pub packets: u64,
    pub bytes: u64,
    /// Packets that start a VP8 keyframe.
    pub keyframes: u64,
    /// Extended RTP sequence numbers, in arrival order (the first 100,000).
    pub seqs: Vec<u64>,
    /// Sender tags found in the payloads (one, unless the server reuses the mid).
    pub origins: BTreeSet<u32>,
    /// Simulcast layers (index into [`RIDS`]) found in video payloads.
    pub layers: BTreeSet<u8>,
    pub first_at: Option<Instant>,
    pub last_at: Option<Instant>,
    /// Every packet in arrival order (the first 100,000).
    pub arrivals: Vec<Arrival>,
}

/// One received packet.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// Extended RTP sequence number.
    pub seq: u64,
    /// The simulcast layer in the payload's marker (video only).
    pub layer: Option<u8>,
    /// Starts a VP8 keyframe.
    pub keyframe: bool,
    pub at: Instant,
}

/// Everything a client received so far.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Per subscriber mid.
    pub tracks: BTreeMap<String, TrackStats>,
    /// PLI/FIR the publisher connection got.
    pub keyframe_requests: u64,
    pub publisher_connected: bool,
    pub subscriber_connected: bool,
    /// Datagrams read from the sockets while the network was up.
    pub datagrams_in: u64,
    pub datagrams_out: u64,
    /// RTP the limited downlink dropped (see [`MediaClient::limit_downlink`]).
    pub downlink_dropped: u64,
    /// Packets read and written over ICE-TCP.
    pub tcp_frames_in: u64,
    pub tcp_frames_out: u64,
}

impl Stats {
    /// Tracks that carried media from the client with `tag`.
    pub fn from(&self, tag: u32) -> impl Iterator<Item = &TrackStats> {
        self.tracks.values().filter(move |t| t.origins.contains(&tag))
    }
    pub fn audio_packets_from(&self, tag: u32) -> u64 {
        self.from(tag).filter(|t| t.kind == Kind::Audio).map(|t| t.packets).sum()
    }
    pub fn video_packets_from(&self, tag: u32) -> u64 {
        self.from(tag).filter(|t| t.kind == Kind::Video).map(|t| t.packets).sum()
    }
    pub fn video_keyframes_from(&self, tag: u32) -> u64 {
        self.from(tag).filter(|t| t.kind == Kind::Video).map(|t| t.keyframes).sum()
    }
    /// Audio and video arrived from `tag`, and at least one video keyframe.
    pub fn has_media_from(&self, tag: u32) -> bool {
        self.audio_packets_from(tag) > 0 && self.video_keyframes_from(tag) > 0
    }
    /// Audio and video from `tag` grew past the counts in `before` by at least `by` packets each.
    pub fn grew_from(&self, before: &Stats, tag: u32, by: u64) -> bool {
        self.audio_packets_from(tag) >= before.audio_packets_from(tag) + by
            && self.video_packets_from(tag) >= before.video_packets_from(tag) + by
    }
    /// Video packets from `tag` in arrival order (all its video mids, one after the other).
    pub fn video_arrivals_from(&self, tag: u32) -> Vec<Arrival> {
        self.from(tag).filter(|t| t.kind == Kind::Video).flat_map(|t| t.arrivals.iter().copied()).collect()
    }
    pub fn total_packets(&self) -> u64 {
        self.tracks.values().map(|t| t.packets).sum()
    }
    /// One line per mid, for assertion messages.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "pub_connected={} sub_connected={} in={} out={} pli/fir={};",
            self.publisher_connected,
            self.subscriber_connected,
            self.datagrams_in,
            self.datagrams_out,
            self.keyframe_requests
        );
        for t in self.tracks.values() {
            s += &format!(
                " [mid {} {:?} from {:x?} packets={} bytes={} keyframes={} layers={:?}]",
                t.mid, t.kind, t.origins, t.packets, t.bytes, t.keyframes, t.layers
            );
        }
        s
    }
}

/// One str0m peer connection (the test kit's client peer) and its own socket.
struct Peer {
    conn: ClientPeer,
    socket: UdpSocket,
    local: SocketAddr,
    /// ICE-TCP instead of UDP: no UDP candidate; the connection opens once the server's
    /// SDP names its TCP candidate.
    use_tcp: bool,
    options: JoinOptions,
    tcp: Option<TcpLink>,
}

/// How a [`MediaClient`] connects (see [`MediaClient::join_with`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct JoinOptions {
    /// ICE-TCP instead of UDP.
    pub tcp: bool,
    /// Negotiate no transport-wide congestion control: the server gets no feedback to
    /// estimate the bandwidth with, so only tile sizes choose the simulcast layer.
    pub no_twcc: bool,
    /// The microphone is open in a quiet room: its audio level says silence (−127 dBov)
    /// instead of speech (−30).
    pub silent: bool,
    /// Ask at join for a slot subscription with this many video slots (docs/protocol.md
    /// §2e) instead of one m-line per remote track.
    pub video_slots: Option<u8>,
}

impl Peer {
    fn new(now: Instant, options: JoinOptions) -> Peer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
        socket.set_nonblocking(true).unwrap();
        let local = socket.local_addr().unwrap();
        let use_tcp = options.tcp;
        let peer_options = PeerOptions { twcc: !options.no_twcc };
        let conn = if use_tcp {
            ClientPeer::new(now, convene_testkit::peer::config(peer_options))
        } else {
            ClientPeer::udp(now, peer_options, local).expect("a host candidate")
        };
        Peer { conn, socket, local, use_tcp, options, tcp: None }
    }

    fn dead(&self) -> bool {
        !self.conn.is_alive()
    }

    /// For an ICE-TCP peer: connects to the server's TCP candidate in `sdp` (once) and adds
    /// the connection's local address as an active TCP host candidate.
    fn connect_tcp(&mut self, sdp: &str) -> Result<(), String> {
        if !self.use_tcp || self.tcp.is_some() {
            return Ok(());
        }
        let server = *signaling::candidates(sdp, "tcp").first().ok_or("no TCP candidate in the server's SDP")?;
        let stream =
            TcpStream::connect_timeout(&server, Duration::from_secs(5)).map_err(|e| format!("{server}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream.set_nonblocking(true).map_err(|e| e.to_string())?;
        let local = stream.local_addr().map_err(|e| e.to_string())?;
        let candidate =
            Candidate::builder().tcp().host(local).tcptype(TcpType::Active).build().map_err(|e| e.to_string())?;
        self.conn.rtc.add_local_candidate(candidate).ok_or("str0m refused the TCP candidate")?;
        self.tcp = Some(TcpLink { stream, server, local, rx: vec![], tx: vec![], closed: false });
        Ok(())
    }
}

/// An ICE-TCP connection to the server: RFC 4571 frames (16-bit big-endian length, then the
/// packet) both ways.
struct TcpLink {
    stream: TcpStream,
    server: SocketAddr,
    local: SocketAddr,
    /// Bytes read but not yet a whole frame.
    rx: Vec<u8>,
    /// Framed bytes not yet written.
    tx: Vec<u8>,
    closed: bool,
}

impl TcpLink {
    /// Reads what arrived; the whole frames.
    fn read_frames(&mut self) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 8_192];
        while !self.closed {
            match self.stream.read(&mut buf) {
                Ok(0) => self.closed = true,
                Ok(n) => self.rx.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => self.closed = true,
            }
        }
        let mut frames = vec![];
        let mut at = 0;
        while self.rx.len() >= at + 2 {
            let len = usize::from(u16::from_be_bytes([self.rx[at], self.rx[at + 1]]));
            if self.rx.len() < at + 2 + len {
                break;
            }
            frames.push(self.rx[at + 2..at + 2 + len].to_vec());
            at += 2 + len;
        }
        self.rx.drain(..at);
        frames
    }

    fn queue(&mut self, packet: &[u8]) {
        let len = u16::try_from(packet.len()).expect("a packet fits a 16-bit length");
        self.tx.extend_from_slice(&len.to_be_bytes());
        self.tx.extend_from_slice(packet);
        self.flush();
    }

    fn flush(&mut self) {
        while !self.tx.is_empty() && !self.closed {
            match self.stream.write(&self.tx) {
                Ok(0) => self.closed = true,
                Ok(n) => {
                    self.tx.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => self.closed = true,
            }
        }
    }
}

/// A narrow link in front of the subscriber connection (see [`MediaClient::limit_downlink`]).
struct Downlink {
    bps: u64,
    /// When the link is free to carry the next packet.
    free_at: Instant,
    /// Packets on the way: when they arrive, from where, what.
    queue: VecDeque<(Instant, SocketAddr, Vec<u8>)>,
}

/// What the media thread and the signaling task share.
struct Inner {
    publisher: Peer,
    subscriber: Peer,
    pending: Option<SdpPendingOffer>,
    /// Publisher mids once offered: audio, video.
    mids: Option<(Mid, Mid)>,
    /// How many publish answers were applied.
    answers: u64,
    /// How many subscribe offers were answered.
    offers: u64,
    /// The m-lines of the last subscribe offer (for a failure's diagnosis).
    offered_mlines: usize,
    /// The signaling socket ended.
    signaling_closed: bool,
    /// The DTLS fingerprint of the last subscribe offer: a new one means a new server peer.
    sub_fingerprint: Option<String>,
    /// The server's host candidates, from its SDP.
    server_addrs: BTreeSet<SocketAddr>,
    /// `error` messages the server sent.
    errors: Vec<Value>,
    network_down: bool,
    /// When each socket last read a datagram for its peer: publisher, subscriber.
    last_rx: [Option<Instant>; 2],
    sending: bool,
    tag: u32,
    stats: Stats,
    downlink: Option<Downlink>,
    // Media generation.
    seq: std::collections::HashMap<(Mid, Option<Rid>), u64>,
    audio_n: u32,
    video_n: u32,
    next_audio: Instant,
    next_video: Instant,
    last_keyframe: Option<Instant>,
    keyframe_wanted: [bool; 3],
    /// Real encoded media to send instead of the synthetic payloads.
    real: Option<Arc<RealMedia>>,
    /// The audio level the microphone reports (dBov).
    level: i8,
}

impl Inner {
    /// The audio level header of a microphone packet.
    fn audio_ext(&self) -> ExtensionValues {
        ExtensionValues { audio_level: Some(self.level), voice_activity: Some(self.level > -50), ..Default::default() }
    }

    /// One turn of the media loop: read, time out, send media, drain. Returns when it next
    /// wants to run.
    fn step(&mut self, now: Instant) -> Instant {
        let mut buf = vec![0u8; 2_000];
        for sub in [false, true] {
            loop {
                let peer = if sub { &mut self.subscriber } else { &mut self.publisher };
                let (n, source) = match peer.socket.recv_from(&mut buf) {
                    Ok(r) => r,
                    Err(_) => break,
                };
                if self.network_down || peer.dead() {
                    continue;
                }
                self.stats.datagrams_in += 1;
                self.last_rx[usize::from(sub)] = Some(now);
                self.arrive(sub, now, Protocol::Udp, source, buf[..n].to_vec());
            }
            let peer = if sub { &mut self.subscriber } else { &mut self.publisher };
            let Some(link) = peer.tcp.as_mut() else { continue };
            let frames = link.read_frames();
            link.flush();
            let server = link.server;
            if self.network_down || peer.dead() {
                continue;
            }
            for frame in frames {
                self.stats.tcp_frames_in += 1;
                self.last_rx[usize::from(sub)] = Some(now);
                self.arrive(sub, now, Protocol::Tcp, server, frame);
            }
        }
        // What the limited downlink delivers now.
        while let Some(d) = self.downlink.as_mut() {
            if d.queue.front().is_none_or(|(at, _, _)| *at > now) {
                break;
            }
            let (_, source, bytes) = d.queue.pop_front().unwrap();
            let proto = if self.subscriber.tcp.is_some() { Protocol::Tcp } else { Protocol::Udp };
            self.handle(true, now, proto, source, &bytes);
        }
        for sub in [false, true] {
            let peer = if sub { &mut self.subscriber } else { &mut self.publisher };
            if !peer.dead() && peer.conn.timeout <= now {
                peer.conn.handle_timeout(now);
                self.drain(sub, now);
            }
        }
        if self.sending && self.publisher.conn.rtc.is_connected() && !self.publisher.dead() {
            self.send_media(now);
            self.drain(false, now);
        }
        let mut next = self.publisher.conn.timeout.min(self.subscriber.conn.timeout);
        if self.sending {
            next = next.min(self.next_audio).min(self.next_video);
        }
        next
    }

    /// A packet came in for the publisher or the subscriber: through the limited downlink if
    /// there is one and it is RTP for the subscriber, else straight to str0m.
    fn arrive(&mut self, sub: bool, now: Instant, proto: Protocol, source: SocketAddr, bytes: Vec<u8>) {
        if let (true, Some(d)) = (sub && is_rtp(&bytes), self.downlink.as_mut()) {
            let start = d.free_at.max(now);
            if start.duration_since(now) > DOWNLINK_QUEUE {
                self.stats.downlink_dropped += 1;
                return;
            }
            // Serialization time of the packet (plus IP/UDP headers) at the link's rate.
            let bits = (bytes.len() as u64 + 28) * 8;
            d.free_at = start + Duration::from_nanos(bits * 1_000_000_000 / d.bps);
            d.queue.push_back((d.free_at, source, bytes));
            return;
        }
        self.handle(sub, now, proto, source, &bytes);
    }

    fn handle(&mut self, sub: bool, now: Instant, proto: Protocol, source: SocketAddr, bytes: &[u8]) {
        let peer = if sub { &mut self.subscriber } else { &mut self.publisher };
        let destination = match (&peer.tcp, proto) {
            (Some(link), Protocol::Tcp) => link.local,
            _ => peer.local,
        };
        if peer.conn.receive(now, proto, source, destination, bytes) {
            self.drain(sub, now);
        }
    }

    /// Polls a peer until it wants a timeout; str0m wants a full drain after every input.
    fn drain(&mut self, sub: bool, now: Instant) {
        let mut events = Vec::new();
        let Inner { publisher, subscriber, stats, network_down, .. } = self;
        let Peer { conn, socket, tcp, .. } = if sub { subscriber } else { publisher };
        conn.drain(|_, polled| match polled {
            Polled::Transmit(_) if *network_down => {}
            Polled::Transmit(t) => match (t.proto, tcp.as_mut()) {
                (Protocol::Udp, _) => {
                    stats.datagrams_out += 1;
                    let _ = socket.send_to(&t.contents, t.destination);
                }
                (_, Some(link)) if link.server == t.destination => {
                    stats.tcp_frames_out += 1;
                    link.queue(&t.contents);
                }
                _ => {}
            },
            Polled::Event(e) => events.push(e),
        });
        for e in events {
            self.event(sub, now, e);
        }
    }

    fn event(&mut self, sub: bool, now: Instant, e: Event) {
        match e {
            Event::Connected if sub => self.stats.subscriber_connected = true,
            Event::Connected => self.stats.publisher_connected = true,
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) if sub => {
                self.stats.subscriber_connected = false
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => self.stats.publisher_connected = false,
            Event::KeyframeRequest(r) if !sub => {
                self.stats.keyframe_requests += 1;
                match r.rid.and_then(|rid| RIDS.iter().position(|x| **x == *rid)) {
                    Some(layer) => self.keyframe_wanted[layer] = true,
                    None => self.keyframe_wanted = [true; 3],
                }
            }
            Event::RtpPacket(p) if sub => {
                let rtc = &mut self.subscriber.conn.rtc;
                let mid = rtc.direct_api().stream_rx(&p.header.ssrc).map(|s| s.mid());
                let codec = rtc.codec_config().find(|c| c.pt() == p.header.payload_type).map(|c| c.spec().codec);
                let kind = match codec {
                    Some(c) if c.is_audio() => Kind::Audio,
                    Some(_) => Kind::Video,
                    None => Kind::Unknown,
                };
                let mid = mid.map(|m| m.to_string()).unwrap_or_else(|| format!("ssrc:{}", p.header.ssrc));
                let t = self.stats.tracks.entry(mid.clone()).or_insert_with(|| TrackStats {
                    mid,
                    kind,
                    packets: 0,
                    bytes: 0,
                    keyframes: 0,
                    seqs: vec![],
                    origins: BTreeSet::new(),
                    layers: BTreeSet::new(),
                    first_at: None,
                    last_at: None,
                    arrivals: vec![],
                });
                t.packets += 1;
                t.bytes += p.payload.len() as u64;
                if t.seqs.len() < 100_000 {
                    t.seqs.push(*p.seq_no);
                }
                if kind == Kind::Video && vp8_keyframe_start(&p.payload) {
                    t.keyframes += 1;
                }
                if let Some((tag, layer)) = find_marker(&p.payload) {
                    t.origins.insert(tag);
                    if kind == Kind::Video {
                        t.layers.insert(layer);
                    }
                }
                t.first_at.get_or_insert(now);
                t.last_at = Some(now);
                if t.arrivals.len() < 100_000 {
                    let keyframe = kind == Kind::Video && vp8_keyframe_start(&p.payload);
                    let layer = find_marker(&p.payload).filter(|_| kind == Kind::Video).map(|(_, l)| l);
                    t.arrivals.push(Arrival { seq: *p.seq_no, layer, keyframe, at: now });
                }
            }
            _ => {}
        }
    }

    /// Writes the audio and video packets that are due.
    fn send_media(&mut self, now: Instant) {
        let Some((audio, video)) = self.mids else { return };
        // Never burst after a stall (a loaded machine): skip what is more than 100 ms late.
        if now > self.next_audio + Duration::from_millis(100) {
            self.next_audio = now;
        }
        if now > self.next_video + Duration::from_millis(100) {
            self.next_video = now;
        }
        let opus = self.publisher.conn.pt(Codec::Opus);
        let vp8 = self.publisher.conn.pt(Codec::Vp8);
        while self.next_audio <= now {
            let n = self.audio_n;
            self.audio_n += 1;
            self.next_audio += AUDIO_INTERVAL;
            let Some(pt) = opus else { break };
            if let Some(real) = self.real.clone() {
                let payload = real.opus[n as usize % real.opus.len()].clone();
                let ext = self.audio_ext();
                self.write(now, audio, None, pt, n.wrapping_mul(960), n == 0, payload, ext, false);
                continue;
            }
            // TOC (CELT fullband 20 ms, mono, one frame), the marker, 40 bytes of filler.
            let payload = synth::opus_payload(&marker(self.tag, 0), 1 + 9 + 40, n as u8);
            let ext = self.audio_ext();
            self.write(now, audio, None, pt, n.wrapping_mul(960), n == 0, payload, ext, false);
        }
        while self.next_video <= now {
            let n = self.video_n;
            self.video_n += 1;
            self.next_video += VIDEO_INTERVAL;
            let Some(pt) = vp8 else { break };
            if let Some(real) = self.real.clone() {
                // The same encoded picture on every layer: keyframes come as encoded, PLI
                // cannot be honoured by a recording.
                let (frame, _) = &real.vp8[n as usize % real.vp8.len()];
                for rid in RIDS {
                    let packets = synth::packetize_vp8(n as u16, frame);
                    let count = packets.len();
                    for (i, payload) in packets.into_iter().enumerate() {
                        let ts = n.wrapping_mul(3_000);
                        self.write(
                            now,
                            video,
                            Some(Rid::from(rid)),
                            pt,
                            ts,
                            i + 1 == count,
                            payload,
                            Default::default(),
                            true,
                        );
                    }
                }
                continue;
            }
            let periodic = self.last_keyframe.is_none_or(|t| now.duration_since(t) >= KEYFRAME_INTERVAL);
            if periodic {
                self.last_keyframe = Some(now);
            }
            for (layer, rid) in RIDS.iter().enumerate() {
                let keyframe = periodic || std::mem::take(&mut self.keyframe_wanted[layer]);
                let size = FRAME_BYTES[layer] * if keyframe { 3 } else { 1 };
                let (tag, fill) = (self.tag, (n as u8) | 1);
                let packets = synth::vp8_frame(n as u16, keyframe, layer, size, |_| marker(tag, layer as u8), fill);
                let count = packets.len();
                for (i, payload) in packets.into_iter().enumerate() {
                    let last = i + 1 == count;
                    let ts = n.wrapping_mul(3_000);
                    self.write(now, video, Some(Rid::from(*rid)), pt, ts, last, payload, Default::default(), true);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        now: Instant,
        mid: Mid,
        rid: Option<Rid>,
        pt: str0m::media::Pt,
        ts: u32,
        marker: bool,
        payload: Vec<u8>,
        ext: ExtensionValues,
        nackable: bool,
    ) {
        let seq = self.seq.entry((mid, rid)).or_insert(u64::from(self.tag & 0x3fff) + 1_000);
        *seq += 1;
        let seq_no: SeqNo = (*seq).into();
        let mut api = self.publisher.conn.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, rid) else { return };
        let write = RtpWrite::new(pt, seq_no, ts, now, payload).marker(marker).ext_vals(ext).nackable(nackable);
        stream.write_rtp(write);
    }
}

fn marker(tag: u32, layer: u8) -> Vec<u8> {
    let mut m = MAGIC.to_vec();
    m.extend(tag.to_be_bytes());
    m.push(layer);
    m
}

/// The sender tag and layer of a payload made here.
fn find_marker(payload: &[u8]) -> Option<(u32, u8)> {
    let at = payload.windows(MAGIC.len()).position(|w| w == MAGIC)?;
    let rest = payload.get(at + 4..at + 9)?;
    Some((u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]), rest[4]))
}

/// Real encoded media made with ffmpeg: a moving test pattern (VP8, 320×240, 30 fps, a
/// keyframe every half second) and a tone (Opus, 20 ms frames), two seconds of each, sent
/// in a loop by clients given it with [`MediaClient::send_real_media`].
pub struct RealMedia {
    /// Frames and whether each is a keyframe (the first is).
    pub vp8: Vec<(Vec<u8>, bool)>,
    /// Opus packets.
    pub opus: Vec<Vec<u8>>,
}

impl RealMedia {
    /// Encodes the media with the `ffmpeg` program into `dir`; panics if ffmpeg is missing.
    pub fn generate(dir: &std::path::Path, tone_hz: u32) -> RealMedia {
        let run = |args: &[&str]| {
            let out = std::process::Command::new("ffmpeg")
                .args(["-hide_banner", "-v", "error", "-y"])
                .args(args)
                .output()
                .expect("ffmpeg is needed for recording tests (apt-get install ffmpeg; scripts/test installs it)");
            assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ivf = dir.join(format!("media-{tone_hz}.ivf"));
        let ogg = dir.join(format!("media-{tone_hz}.ogg"));
        run(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30",
            "-t",
            "2",
            "-c:v",
            "libvpx",
            "-g",
            "15",
            "-b:v",
            "300k",
            "-deadline",
            "realtime",
            "-f",
            "ivf",
            ivf.to_str().unwrap(),
        ]);
        run(&[
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency={tone_hz}:sample_rate=48000"),
            "-t",
            "2",
            "-c:a",
            "libopus",
            "-b:a",
            "32k",
            "-frame_duration",
            "20",
            "-f",
            "ogg",
            ogg.to_str().unwrap(),
        ]);
        let ivf = std::fs::read(ivf).unwrap();
        let mut vp8 = Vec::new();
        let mut i = 32;
        while i + 12 <= ivf.len() {
            let size = u32::from_le_bytes(ivf[i..i + 4].try_into().unwrap()) as usize;
            let frame = ivf[i + 12..i + 12 + size].to_vec();
            vp8.push((frame.clone(), frame[0] & 0x01 == 0));
            i += 12 + size;
        }
        let opus = ogg_packets(&std::fs::read(ogg).unwrap()).into_iter().skip(2).collect(); // OpusHead, OpusTags
        assert!(vp8.first().is_some_and(|f| f.1), "the video starts with a keyframe");
        RealMedia { vp8, opus }
    }
}

/// The packets of an Ogg stream (RFC 3533): segments joined until one shorter than 255.
pub fn ogg_packets(data: &[u8]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut current = Vec::new();
    let mut i = 0;
    while i + 27 <= data.len() && &data[i..i + 4] == b"OggS" {
        let segments = data[i + 26] as usize;
        let table = &data[i + 27..i + 27 + segments];
        let mut at = i + 27 + segments;
        for &len in table {
            current.extend_from_slice(&data[at..at + len as usize]);
            at += len as usize;
            if len < 255 {
                packets.push(std::mem::take(&mut current));
            }
        }
        i = at;
    }
    packets
}

/// Whether a VP8 RTP payload starts a keyframe (the SFU's parser).
pub use convene_sfu::codec::vp8_keyframe_start;

/// The `a=fingerprint` of an SDP.
fn fingerprint(sdp: &str) -> Option<String> {
    sdp.lines().find_map(|l| l.trim().strip_prefix("a=fingerprint:").map(str::to_owned))
}

/// Whether a datagram is (S)RTP, not RTCP, STUN or DTLS (RFC 7983, RFC 5761).
fn is_rtp(p: &[u8]) -> bool {
    p.len() >= 12 && (128..=191).contains(&p[0]) && !(192..=223).contains(&p[1])
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

/// The test's view of the WebSocket: every server message, and a way to send.
pub struct Signaling {
    tx: mpsc::UnboundedSender<Value>,
    rx: mpsc::UnboundedReceiver<Value>,
}

impl Signaling {
    pub fn send(&mut self, v: Value) {
        let _ = self.tx.send(v);
    }

    /// The next server message (publish answers and subscribe offers included), or None when
    /// nothing came within 10 s.
    pub async fn next(&mut self) -> Option<Value> {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv()).await.ok().flatten()
    }

    /// Waits for a message of `kind`, skipping others.
    pub async fn expect(&mut self, kind: &str) -> Value {
        self.expect_where(kind, |_| true).await
    }

    /// Waits for a message of `kind` for which `pred` holds, skipping others.
    pub async fn expect_where(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let m = self.next().await.unwrap_or_else(|| panic!("no {kind} within 10 s"));
            if m["type"] == kind && pred(&m) {
                return m;
            }
        }
    }

    /// Throws away what arrived so far.
    pub fn clear(&mut self) {
        while self.rx.try_recv().is_ok() {}
    }
}

/// A participant with real peer connections.
pub struct MediaClient {
    inner: Arc<Mutex<Inner>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    signaling: Signaling,
    /// Where the task forwards server messages (kept for reconnects).
    events: mpsc::UnboundedSender<Value>,
    pub welcome: Value,
    pub participant_id: String,
    pub resume_token: String,
    pub meeting_id: i64,
    tag: u32,
}

impl MediaClient {
    /// Joins `meeting` (signed in as `who`, or as a guest) and starts the media thread. Media
    /// flows once [`MediaClient::publish`] was called.
    pub async fn join(app: &TestApp, meeting: &Value, who: Option<&Account>, name: &str) -> MediaClient {
        Self::join_with(app, meeting, who, name, JoinOptions::default()).await
    }

    /// Like [`MediaClient::join`], but both peer connections use ICE-TCP instead of UDP.
    pub async fn join_tcp(app: &TestApp, meeting: &Value, who: Option<&Account>, name: &str) -> MediaClient {
        Self::join_with(app, meeting, who, name, JoinOptions { tcp: true, ..Default::default() }).await
    }

    /// Like [`MediaClient::join`], connecting as `options` say.
    pub async fn join_with(
        app: &TestApp,
        meeting: &Value,
        who: Option<&Account>,
        name: &str,
        options: JoinOptions,
    ) -> MediaClient {
        let (client, welcome) = match options.video_slots {
            None => Client::join(app, meeting, who, name).await,
            Some(video) => {
                let body = json!({"passcode": meeting["passcode"], "display_name": name, "slots": {"video": video}});
                Client::join_body(app, meeting, who, body).await
            }
        };
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        let tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let inner = Arc::new(Mutex::new(Inner {
            publisher: Peer::new(now, options),
            subscriber: Peer::new(now, options),
            pending: None,
            mids: None,
            answers: 0,
            offers: 0,
            offered_mlines: 0,
            signaling_closed: false,
            sub_fingerprint: None,
            server_addrs: BTreeSet::new(),
            errors: vec![],
            network_down: false,
            last_rx: [None; 2],
            sending: false,
            tag,
            stats: Stats::default(),
            downlink: None,
            seq: Default::default(),
            audio_n: 0,
            video_n: 0,
            next_audio: now,
            next_video: now,
            last_keyframe: None,
            keyframe_wanted: [false; 3],
            real: None,
            level: if options.silent { -127 } else { -30 },
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (inner, stop) = (inner.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("media-{name}"))
                .spawn(move || media_loop(&inner, &stop))
                .expect("media thread")
        };
        let (events, rx) = mpsc::unbounded_channel();
        let (tx, cmds) = mpsc::unbounded_channel();
        let task = tokio::spawn(signaling_task(client.ws, inner.clone(), cmds, events.clone()));
        MediaClient {
            participant_id: welcome["participant_id"].as_str().unwrap().to_owned(),
            resume_token: welcome["resume_token"].as_str().unwrap().to_owned(),
            meeting_id: meeting["meeting_id"].as_i64().unwrap(),
            welcome,
            inner,
            stop,
            thread: Some(thread),
            task: Some(task),
            signaling: Signaling { tx, rx },
            events,
            tag,
        }
    }

    /// Sends `media` (in a loop) instead of synthetic payloads from now on.
    pub fn send_real_media(&self, media: Arc<RealMedia>) {
        lock(&self.inner).real = Some(media);
    }

    /// The marker this client puts in every payload it sends.
    pub fn tag(&self) -> u32 {
        self.tag
    }

    /// The WebSocket as the test sees it (the client answers media messages by itself).
    pub fn signaling(&mut self) -> &mut Signaling {
        &mut self.signaling
    }

    /// Offers microphone (Opus) and camera (VP8, three simulcast layers), applies the
    /// answer, and starts sending once the connection is up. Panics if the server refuses.
    pub async fn publish(&mut self) {
        if let Err(e) = self.publish_with(false).await {
            panic!("the server refused publish_offer: {e}");
        }
    }

    /// Offers the client's media; the server's error frame if it refused the offer.
    pub async fn try_publish(&mut self) -> Result<(), Value> {
        self.publish_with(false).await
    }

    /// Offers the client's media and waits for the answer; the server's error frame if it
    /// refused the offer.
    async fn publish_with(&mut self, restart: bool) -> Result<(), Value> {
        let (sdp, tracks, answers) = {
            let mut g = lock(&self.inner);
            let mut api = g.publisher.conn.rtc.sdp_api();
            let offered = offer_microphone_and_camera(&mut api, true, true);
            let (offer, pending) = api.apply().expect("an offer");
            g.pending = Some(pending);
            g.mids = offered.audio.zip(offered.video);
            (offer.to_sdp_string(), offered.tracks, g.answers)
        };
        let errors = lock(&self.inner).errors.len();
        let offer = signaling::publish_offer(sdp, tracks, restart);
        self.signaling.send(serde_json::to_value(offer).expect("a client message"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            {
                let mut g = lock(&self.inner);
                if g.answers > answers {
                    g.sending = true;
                    let now = Instant::now();
                    (g.next_audio, g.next_video) = (now, now);
                    return Ok(());
                }
                if let Some(e) = g.errors[errors..].iter().find(|e| e["request"] == "publish_offer") {
                    return Err(e.clone());
                }
            }
            assert!(Instant::now() < deadline, "no publish_answer within 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A copy of what arrived so far.
    pub fn received(&self) -> Stats {
        lock(&self.inner).stats.clone()
    }

    /// Waits until `pred` holds for the received stats; panics with them after `timeout`.
    pub async fn wait_until(&self, what: &str, pred: impl Fn(&Stats) -> bool, timeout: Duration) -> Stats {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.received();
            if pred(&s) {
                return s;
            }
            if Instant::now() >= deadline {
                let g = lock(&self.inner);
                let (errors, offers, mlines, closed) = (&g.errors, g.offers, g.offered_mlines, g.signaling_closed);
                panic!(
                    "{what}: not within {timeout:?}; received: {}; subscribe offers answered: {offers} (the last with \
                     {mlines} m-lines); signaling closed: {closed}; server errors: {errors:?}",
                    s.summary()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `error` messages the server sent so far.
    pub fn errors(&self) -> Vec<Value> {
        lock(&self.inner).errors.clone()
    }

    /// Limits the subscriber connection's downlink to `bps` (a queue of at most
    /// [`DOWNLINK_QUEUE`], then drops); `None` lifts the limit. Only RTP is limited: ICE,
    /// DTLS and RTCP pass.
    pub fn limit_downlink(&self, bps: Option<u64>) {
        let mut g = lock(&self.inner);
        g.downlink = bps.map(|bps| Downlink { bps: bps.max(1), free_at: Instant::now(), queue: VecDeque::new() });
    }

    /// Whether each peer connection runs over ICE-TCP with an open connection: publisher,
    /// subscriber.
    pub fn tcp_open(&self) -> [bool; 2] {
        let g = lock(&self.inner);
        [&g.publisher, &g.subscriber].map(|p| p.tcp.as_ref().is_some_and(|l| !l.closed))
    }

    /// The server's UDP media address, from the candidates in its SDP.
    pub fn server_media_addr(&self) -> Option<SocketAddr> {
        lock(&self.inner).server_addrs.iter().next().copied()
    }

    /// The network goes away: nothing is sent or read on UDP, and the WebSocket is dropped
    /// without a close frame.
    pub fn drop_network(&mut self) {
        lock(&self.inner).network_down = true;
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Comes back after [`MediaClient::drop_network`]: the network returns and the WebSocket
    /// reconnects with the resume token (following `moved` to the meeting's node, as a
    /// client must in cluster mode). Returns the new `welcome` (or the refusal). If the
    /// welcome no longer lists this client's tracks, or the server's side of either peer
    /// connection stays silent for 3 s, it starts media over: `publish_offer` with
    /// `restart: true` on a new connection (the server then offers a new subscriber one).
    pub async fn resume(&mut self, app: &TestApp) -> Value {
        let url = format!("{}/api/v1/meetings/{}/ws", app.base.replace("http://", "ws://"), self.meeting_id);
        match self.reconnect(&url).await {
            Ok(welcome) => welcome,
            Err(Some(refusal)) => refusal,
            Err(None) => panic!("the socket closed before welcome"),
        }
    }

    /// Like [`MediaClient::resume`], retrying (every 250 ms, up to `within`) while the
    /// meeting is not reachable — as after its node died and before the cluster noticed.
    /// Returns the welcome.
    pub async fn resume_until_back(&mut self, app: &TestApp, within: Duration) -> Value {
        let url = format!("{}/api/v1/meetings/{}/ws", app.base.replace("http://", "ws://"), self.meeting_id);
        let deadline = Instant::now() + within;
        loop {
            let last = match self.reconnect(&url).await {
                Ok(welcome) => return welcome,
                Err(refusal) => refusal,
            };
            assert!(Instant::now() < deadline, "not back in the meeting within {within:?}; last answer: {last:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// One attempt: connects to `url` with the resume token, follows `moved`, and on a
    /// welcome restores signaling (and media, see [`MediaClient::resume`]). `Err(None)`:
    /// the node could not be reached or closed without a word.
    async fn reconnect(&mut self, url: &str) -> Result<Value, Option<Value>> {
        let query = format!("resume={}", self.resume_token);
        let mut url = format!("{url}?{query}");
        let (ws, first) = 'follow: {
            for _ in 0..3 {
                let Ok(Ok((mut ws, _))) =
                    tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(url.as_str())).await
                else {
                    return Err(None);
                };
                let first = loop {
                    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                        Ok(Some(Ok(Message::Text(t)))) => break serde_json::from_str::<Value>(&t).unwrap(),
                        Ok(Some(Ok(_))) => continue,
                        _ => return Err(None),
                    }
                };
                if first["type"] == "moved" {
                    url = format!("{}?{query}", first["ws_url"].as_str().unwrap());
                    continue;
                }
                break 'follow (ws, first);
            }
            return Err(None);
        };
        if first["type"] != "welcome" {
            return Err(Some(first));
        }
        self.welcome = first.clone();
        if let Some(t) = first["resume_token"].as_str() {
            self.resume_token = t.to_owned();
        }
        let was_publishing = {
            let mut g = lock(&self.inner);
            g.network_down = false;
            g.sending
        };
        let (tx, cmds) = mpsc::unbounded_channel();
        self.signaling.tx = tx;
        self.task = Some(tokio::spawn(signaling_task(ws, self.inner.clone(), cmds, self.events.clone())));
        let mine = first["tracks"]
            .as_array()
            .is_some_and(|ts| ts.iter().any(|t| t["participant_id"] == self.participant_id.as_str()));
        if was_publishing && !(mine && self.hears_server_since(Instant::now(), Duration::from_secs(3)).await) {
            self.republish().await;
        }
        Ok(first)
    }

    /// Whether both peer connections read a datagram from the server within `within` after `since`.
    async fn hears_server_since(&self, since: Instant, within: Duration) -> bool {
        let deadline = since + within;
        loop {
            if lock(&self.inner).last_rx.iter().all(|t| t.is_some_and(|t| t >= since)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts media over: a new publisher connection (new socket and DTLS session) offered
    /// with `restart: true`.
    pub async fn republish(&mut self) {
        if let Err(e) = self.try_republish().await {
            panic!("the server refused the restart: {e}");
        }
    }

    /// Like [`MediaClient::republish`]; the server's error frame if it refused the restart.
    pub async fn try_republish(&mut self) -> Result<(), Value> {
        self.new_publisher();
        self.publish_with(true).await
    }

    /// Drops the publisher connection for a new one, not yet offered: nothing is sent until
    /// the next publish.
    fn new_publisher(&self) {
        let mut g = lock(&self.inner);
        let options = g.publisher.options;
        g.publisher = Peer::new(Instant::now(), options);
        g.sending = false;
        g.pending = None;
        g.mids = None;
        g.seq.clear();
        g.last_keyframe = None;
        g.stats.publisher_connected = false;
        g.last_rx[0] = None;
    }

    /// Follows a `breakout_moved` the server sent (waiting for it): a new publisher
    /// connection, published afresh without `restart` on the same socket and seat (the
    /// subscriber follows the server's new offer by itself). Returns the message.
    pub async fn follow_breakout_move(&mut self) -> Value {
        let moved = self.signaling.expect("breakout_moved").await;
        self.new_publisher();
        if let Err(e) = self.publish_with(false).await {
            panic!("the server refused the publish after a breakout move: {e}");
        }
        moved
    }

    /// Leaves the meeting (`leave`) and stops.
    pub async fn leave(mut self) {
        self.signaling.send(json!({"type": "leave"}));
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if let Some(h) = self.thread.take() {
            let _ = h.join();
        }
    }
}

impl Drop for MediaClient {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The media thread: runs [`Inner::step`] whenever something is due, and at least every 2 ms
/// to read the sockets.
fn media_loop(inner: &Mutex<Inner>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let next = lock(inner).step(now);
        let wait = next.saturating_duration_since(Instant::now()).min(Duration::from_millis(2));
        std::thread::sleep(wait.max(Duration::from_micros(200)));
    }
}

/// Reads the WebSocket: applies `publish_answer`, answers `subscribe_offer`, records errors,
/// and forwards everything to the test; sends what the test sends.
async fn signaling_task(
    mut ws: Socket,
    inner: Arc<Mutex<Inner>>,
    mut cmds: mpsc::UnboundedReceiver<Value>,
    events: mpsc::UnboundedSender<Value>,
) {
    loop {
        tokio::select! {
            cmd = cmds.recv() => {
                let Some(v) = cmd else { return };
                if ws.send(Message::Text(v.to_string().into())).await.is_err() {
                    return;
                }
            }
            frame = ws.next() => {
                let v: Value = match frame {
                    Some(Ok(Message::Text(t))) => match serde_json::from_str(&t) {
                        Ok(v) => v,
                        Err(_) => continue,
                    },
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        lock(&inner).signaling_closed = true;
                        let _ = events.send(json!({"type": "_closed"}));
                        return;
                    }
                    Some(Ok(_)) => continue,
                };
                let reply = handle_server_message(&inner, &v);
                if let Some(reply) = reply {
                    if ws.send(Message::Text(reply.to_string().into())).await.is_err() {
                        return;
                    }
                }
                let _ = events.send(v);
            }
        }
    }
}

fn handle_server_message(inner: &Mutex<Inner>, v: &Value) -> Option<Value> {
    let message: ServerMessage = serde_json::from_value(v.clone()).ok()?;
    let mut g = lock(inner);
    let error = |request: &str, message: String| json!({"request": request, "code": "client", "message": message});
    match message {
        ServerMessage::PublishAnswer { sdp } => {
            g.server_addrs.extend(signaling::candidates(&sdp, "udp"));
            if let Err(e) = g.publisher.connect_tcp(&sdp) {
                g.errors.push(error("publish_offer", e));
                return None;
            }
            let Some(pending) = g.pending.take() else {
                g.errors.push(error("publish_offer", "unexpected answer".into()));
                return None;
            };
            if let Err(e) = signaling::accept_publish_answer(&mut g.publisher.conn.rtc, pending, &sdp) {
                g.errors.push(error("publish_offer", e));
                return None;
            }
            // str0m has checks to start now; the media loop only drives a peer when its
            // timeout is due, and the one it noted before the answer may be seconds away.
            g.publisher.conn.timeout = Instant::now();
            g.answers += 1;
            None
        }
        ServerMessage::SubscribeOffer { sdp, offer_id, .. } => {
            g.server_addrs.extend(signaling::candidates(&sdp, "udp"));
            let fp = fingerprint(&sdp);
            if g.sub_fingerprint.is_some() && fp != g.sub_fingerprint {
                // A new peer connection on the server: start over with a new one here too.
                let options = g.subscriber.options;
                g.subscriber = Peer::new(Instant::now(), options);
                g.stats.subscriber_connected = false;
            }
            g.sub_fingerprint = fp;
            if let Err(e) = g.subscriber.connect_tcp(&sdp) {
                g.errors.push(error("subscribe_offer", e));
                return None;
            }
            match signaling::answer_subscribe_offer(&mut g.subscriber.conn.rtc, &sdp, offer_id) {
                Ok(answer) => {
                    g.subscriber.conn.timeout = Instant::now(); // as for the publisher's answer
                    g.offers += 1;
                    g.offered_mlines = sdp.lines().filter(|l| l.starts_with("m=")).count();
                    serde_json::to_value(answer).ok()
                }
                Err(e) => {
                    g.errors.push(error("subscribe_offer", e));
                    None
                }
            }
        }
        ServerMessage::Error { .. } => {
            g.errors.push(v.clone());
            None
        }
        _ => None,
    }
}
