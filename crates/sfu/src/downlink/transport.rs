//! One connection's secure transport: ICE-lite, DTLS for the SRTP keys, SRTP out and SRTCP
//! in for a subscriber; SRTP and SRTCP in and SRTCP out for a publisher ([`crate::uplink`]),
//! sans IO.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use is::stun::StunMessage;
use is::{Candidate, IceAgent, IceAgentEvent, IceConnectionState, IceCreds, Protocol};

use super::certificate::Certificate;
use super::history::Kept;
use super::rtcp::{self, Feedback};
use super::rtp::{PayloadPatch, RtpHeader};
use super::srtp::{SrtpContext, SrtpProfile};
pub use super::stream::StreamIndex;
use super::stream::{Early, Stream, MAX_EARLY_PACKETS};
pub use super::transport_events::{Inbound, TransportEvent, TransportStats};
use crate::io::{Datagram, Proto, Transmit};

/// How often each stream's sender report goes out (RFC 3550 allows 5 s; browsers use ~1 s
/// for a round-trip estimate and lip sync).
const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The downlink transport of one subscriber connection.
pub struct Transport {
    ice: IceAgent,
    dtls: dimpl::Dtls,
    remote_fingerprint: Option<Vec<u8>>,
    srtp_out: Option<SrtpContext>,
    srtp_in: Option<SrtpContext>,
    /// Where media goes: ICE's nominated pair.
    path: Option<(Proto, SocketAddr, SocketAddr)>,
    /// Where DTLS answers go: the last path a DTLS record came on (the browser is the DTLS
    /// client and may start before ICE nominates).
    dtls_path: Option<(Proto, SocketAddr, SocketAddr)>,
    dtls_timeout: Option<Instant>,
    dtls_done: bool,
    /// This side opens the DTLS handshake, once ICE has a path for it.
    dtls_client: bool,
    /// The path of the first authenticated binding request: the peer is listening there, so
    /// the handshake can start before it nominates (saving a check interval per join).
    stun_path: Option<(Proto, SocketAddr, SocketAddr)>,
    dtls_started: bool,
    connected: bool,
    failed: bool,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TransportEvent>,
    scratch: Vec<u8>,
    /// A payload some descriptor bytes of which this subscriber's copy changes.
    patched: Vec<u8>,
    dtls_buf: Vec<u8>,
    feedback: Vec<Feedback>,
    stats: TransportStats,
    streams: Vec<Stream>,
    next_report: Option<Instant>,
    /// A send moved [`Transport::poll_timeout`] (scheduled the first sender report) since
    /// [`Transport::sent_only`] last said it had not.
    timeout_moved: bool,
    cname: String,
    /// Whether the peer's RTP is taken (a publisher's connection): decrypted packets and
    /// RTCP compounds wait in `inbound` for [`Transport::poll_inbound`].
    receiving: bool,
    inbound: VecDeque<Inbound>,
    /// Plain packets written before the transport was up (stream, extension bytes, packet),
    /// sent when it comes up.
    early: VecDeque<Early>,
}

/// At most this many binding requests waiting in the ICE agent are answered at once (a browser
/// sends a few per candidate pair while its answer is on the way).
const MAX_WAITING_REQUESTS: usize = 32;

impl Transport {
    /// An ICE-lite agent with `creds` and a host candidate per local address, and a DTLS 1.2
    /// server presenting `cert`.
    pub fn new(now: Instant, creds: IceCreds, cert: &Certificate, local: &[(Proto, SocketAddr)]) -> Option<Transport> {
        // The CNAME groups a connection's streams for the browser; the ufrag is unique and
        // already public in the SDP.
        let cname = format!("convene-{}", creds.ufrag);
        let mut ice = IceAgent::new(creds);
        ice.set_ice_lite(true);
        ice.set_controlling(false);
        for &(proto, addr) in local {
            let candidate = match proto {
                Proto::Udp => Candidate::host(addr, "udp").ok()?,
                Proto::Tcp => {
                    Candidate::builder().tcp().host(addr).tcptype(str0m_proto::TcpType::Passive).build().ok()?
                }
            };
            ice.add_local_candidate(candidate)?;
        }
        let config = convene_dtls::config(None).ok()?;
        let certificate = dimpl::DtlsCertificate {
            certificate: cert.inner.certificate.clone(),
            private_key: cert.inner.private_key.clone(),
        };
        let mut dtls = dimpl::Dtls::new_12(config, certificate, now);
        dtls.set_active(false);
        // dimpl draws its handshake random on its first timeout, and needs it before the
        // ClientHello arrives.
        dtls.handle_timeout(now).ok()?;
        Some(Transport {
            ice,
            dtls,
            remote_fingerprint: None,
            srtp_out: None,
            srtp_in: None,
            path: None,
            dtls_path: None,
            dtls_timeout: None,
            dtls_done: false,
            dtls_client: false,
            stun_path: None,
            dtls_started: false,
            connected: false,
            failed: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            scratch: Vec::with_capacity(1500),
            patched: Vec::new(),
            dtls_buf: vec![0; 2048],
            feedback: Vec::new(),
            stats: TransportStats::default(),
            streams: Vec::new(),
            next_report: None,
            timeout_moved: false,
            cname,
            early: VecDeque::new(),
            receiving: false,
            inbound: VecDeque::new(),
        })
    }

    /// The peer's ICE credentials and certificate fingerprint (SHA-256), from its SDP, and
    /// whether this side is the DTLS client (the peer answered `a=setup:passive`; browsers
    /// answer `active`, so the transport is the server unless told).
    pub fn set_remote(&mut self, now: Instant, creds: IceCreds, fingerprint: Vec<u8>, dtls_client: bool) {
        self.ice.set_remote_credentials(creds);
        self.remote_fingerprint = Some(fingerprint);
        if dtls_client && !self.dtls_client {
            self.dtls_client = true;
            self.dtls.set_active(true);
        }
        // A browser's checks often come before its answer has reached the room: they wait in
        // the agent until now.
        self.answer_checks(now);
    }

    /// Whether [`Transport::set_remote`] was called.
    pub fn has_remote(&self) -> bool {
        self.remote_fingerprint.is_some()
    }

    /// Declares an outgoing stream: its SSRC and clock rate, the RTX SSRC and payload type
    /// that resends use, and how much history is kept for them (`packets`, age).
    pub fn add_stream(
        &mut self,
        ssrc: u32,
        clock_rate: u32,
        rtx: Option<(u32, u8)>,
        history: Option<(usize, Duration)>,
    ) -> StreamIndex {
        self.streams.push(Stream::new(ssrc, clock_rate, rtx, history));
        StreamIndex(self.streams.len() - 1)
    }

    /// Sets (or changes) the RTX SSRC and payload type `stream`'s resends go out on.
    pub fn set_rtx(&mut self, stream: StreamIndex, ssrc: u32, payload_type: u8) {
        if let Some(s) = self.streams.get_mut(stream.0) {
            s.rtx = Some((ssrc, payload_type));
        }
    }

    /// Takes the peer's RTP and RTCP from now on (a publisher's connection), for
    /// [`Transport::poll_inbound`]; a subscriber's transport drops stray RTP.
    pub fn set_receiving(&mut self) {
        self.receiving = true;
    }

    /// The next decrypted packet or compound from the peer, when receiving.
    pub fn poll_inbound(&mut self) -> Option<Inbound> {
        self.inbound.pop_front()
    }

    /// Whether media can be sent.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// What was sent and dropped so far.
    pub fn stats(&self) -> TransportStats {
        self.stats
    }

    /// Feeds one received datagram (RFC 7983 demultiplexing by its first byte). Returns false
    /// if it was not for this transport or was rejected.
    pub fn handle_receive(&mut self, now: Instant, d: &Datagram<'_>) -> bool {
        let (proto, source, destination, data) = (d.proto, d.source, d.destination, d.contents);
        if self.failed {
            return false;
        }
        let accepted = match data.first() {
            Some(0..=3) => self.handle_stun(now, d),
            Some(20..=63) => {
                self.dtls_path = Some((proto, destination, source));
                self.handle_dtls(now, data)
            }
            Some(128..=191) if data.len() >= 2 && (192..=223).contains(&data[1]) => self.handle_srtcp(now, data),
            Some(128..=191) if self.receiving => self.handle_srtp(data),
            _ => false,
        };
        if !accepted {
            self.stats.unknown_dropped += 1;
        }
        self.drain(now);
        accepted
    }

    fn handle_stun(&mut self, now: Instant, d: &Datagram<'_>) -> bool {
        let (proto, source, destination) = (d.proto, d.source, d.destination);
        let Ok(message) = StunMessage::parse(d.contents) else {
            return false;
        };
        if !self.ice.accepts_message(&message) {
            return false;
        }
        let packet = is::stun::StunPacket { proto: to_ice(proto), source, destination, message };
        let handled = self.ice.handle_packet(now, packet);
        if handled && self.stun_path.is_none() {
            self.stun_path = Some((proto, destination, source));
        }
        self.answer_checks(now);
        handled
    }

    /// Answers the binding requests waiting in the ICE agent, which answers one per timeout
    /// (a check interval, 50 ms, apart): each is a wait in someone's join.
    fn answer_checks(&mut self, now: Instant) {
        for _ in 0..MAX_WAITING_REQUESTS {
            let queued = self.transmits.len();
            self.ice.handle_timeout(now);
            self.drain(now);
            if self.transmits.len() == queued {
                break;
            }
        }
    }

    fn handle_dtls(&mut self, now: Instant, data: &[u8]) -> bool {
        // dimpl reads its clock from the last timeout: bring it to now first.
        let result = self.dtls.handle_timeout(now).and_then(|()| self.dtls.handle_packet(data));
        if let Err(e) = result {
            tracing::debug!(error = %e, "downlink DTLS failed");
            self.fail("dtls");
            return false;
        }
        self.poll_dtls(now);
        true
    }

    fn handle_srtp(&mut self, data: &[u8]) -> bool {
        let Some(srtp) = self.srtp_in.as_mut() else {
            return false;
        };
        let mut plain = super::buffers::take();
        if srtp.unprotect_rtp_into(data, &mut plain) {
            self.stats.rtp_received += 1;
            self.inbound.push_back(Inbound::Rtp(plain));
        } else {
            super::buffers::recycle(plain);
            self.stats.srtp_rejected += 1;
        }
        true
    }

    fn handle_srtcp(&mut self, now: Instant, data: &[u8]) -> bool {
        let Some(srtcp) = self.srtp_in.as_mut() else {
            return false;
        };
        let Some(plain) = srtcp.unprotect_rtcp(data) else {
            self.stats.srtp_rejected += 1;
            return true;
        };
        if self.receiving {
            // A publisher's RTCP (its sender reports) is its session's to read.
            self.inbound.push_back(Inbound::Rtcp(plain));
            return true;
        }
        self.feedback.clear();
        if !rtcp::parse(&plain, &mut self.feedback) {
            self.stats.rtcp_malformed += 1;
        }
        let mut feedback = std::mem::take(&mut self.feedback);
        for item in feedback.drain(..) {
            match item {
                // Resends are this transport's job; the room never sees a NACK.
                Feedback::Nack { ssrc, seqs } => self.resend(now, ssrc, &seqs),
                other => self.events.push_back(TransportEvent::Feedback(other)),
            }
        }
        self.feedback = feedback;
        true
    }

    /// Drains DTLS output: records to send, the peer's certificate, the keys.
    fn poll_dtls(&mut self, now: Instant) {
        loop {
            match self.dtls.poll_output(&mut self.dtls_buf) {
                dimpl::Output::Packet(p) => {
                    if let Some((proto, source, destination)) = self.dtls_path.or(self.path) {
                        self.transmits.push_back(Transmit { proto, source, destination, contents: p.to_vec() });
                    }
                }
                dimpl::Output::BufferTooSmall { needed } => self.dtls_buf.resize(needed, 0),
                dimpl::Output::Timeout(at) => {
                    self.dtls_timeout = Some(at.max(now));
                    break;
                }
                dimpl::Output::PeerCert(der) => {
                    let actual = dimpl::certificate::calculate_fingerprint(der);
                    if self.remote_fingerprint.as_deref() != Some(&actual[..]) {
                        self.fail("certificate does not match the SDP fingerprint");
                        return;
                    }
                }
                dimpl::Output::KeyingMaterial(material, profile) => {
                    let pair = SrtpProfile::from_dimpl(profile)
                        .and_then(|p| SrtpContext::pair_from_keying_material(p, &material, self.dtls_client));
                    match pair {
                        Some((out, inbound)) => {
                            self.srtp_out = Some(out);
                            self.srtp_in = Some(inbound);
                        }
                        None => {
                            self.fail("unusable SRTP keys");
                            return;
                        }
                    }
                }
                dimpl::Output::Connected => self.dtls_done = true,
                _ => {}
            }
        }
    }

    fn fail(&mut self, why: &'static str) {
        if !self.failed {
            self.failed = true;
            self.connected = false;
            self.events.push_back(TransportEvent::Failed(why));
        }
    }

    /// Collects ICE's packets and events and decides whether media can flow.
    fn drain(&mut self, now: Instant) {
        while let Some(t) = self.ice.poll_transmit() {
            let proto = match t.proto {
                Protocol::Tcp => Proto::Tcp,
                _ => Proto::Udp,
            };
            self.transmits.push_back(Transmit {
                proto,
                source: t.source,
                destination: t.destination,
                contents: t.contents.into(),
            });
        }
        while let Some(event) = self.ice.poll_event() {
            match event {
                IceAgentEvent::NominatedSend { proto, source, destination } => {
                    let proto = if proto == Protocol::Tcp { Proto::Tcp } else { Proto::Udp };
                    self.path = Some((proto, source, destination));
                }
                IceAgentEvent::IceConnectionStateChange(IceConnectionState::Disconnected) if self.connected => {
                    self.connected = false;
                    self.events.push_back(TransportEvent::Disconnected);
                }
                _ => {}
            }
        }
        if self.dtls_client && !self.dtls_started && self.path.or(self.stun_path).is_some() {
            self.dtls_started = true;
            self.dtls_path = self.path.or(self.stun_path);
            if self.dtls.handle_timeout(now).is_err() {
                self.fail("dtls");
            }
            self.poll_dtls(now);
        }
        let ready = !self.failed
            && self.dtls_done
            && self.srtp_out.is_some()
            && self.path.is_some()
            && self.ice.state().is_connected();
        if ready && !self.connected {
            self.connected = true;
            self.events.push_back(TransportEvent::Connected);
            while let Some(Early { stream, extensions, header, payload, patch }) = self.early.pop_front() {
                if let (Some(history), [_, marker, s0, s1, t0, t1, t2, t3, ..]) =
                    (self.streams.get_mut(stream.0).and_then(|s| s.history.as_mut()), &header[..])
                {
                    let fields =
                        (u16::from_be_bytes([*s0, *s1]), u32::from_be_bytes([*t0, *t1, *t2, *t3]), marker & 0x80 != 0);
                    history.remember(now, fields, &header[12..12 + extensions], &payload, patch);
                }
                self.scratch = header;
                self.protect_and_queue(&payload, patch);
            }
        }
    }

    /// Advances ICE consent checks and DTLS retransmissions.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.failed {
            return;
        }
        self.ice.handle_timeout(now);
        if self.next_report.is_some_and(|at| at <= now) {
            self.next_report = Some(now + REPORT_INTERVAL);
            self.send_reports(now);
        }
        if self.dtls_timeout.is_some_and(|at| at <= now) {
            self.dtls_timeout = None;
            if let Err(e) = self.dtls.handle_timeout(now) {
                tracing::debug!(error = %e, "downlink DTLS timed out");
                self.fail("dtls");
            } else {
                self.poll_dtls(now);
            }
        }
        self.drain(now);
    }

    /// When [`Transport::handle_timeout`] is next due.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if self.failed {
            return None;
        }
        [self.ice.poll_timeout(), self.dtls_timeout, self.next_report.filter(|_| self.connected)]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next packet to put on the wire.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Whether everything the sends since the last look left behind is the datagrams of
    /// [`Transport::poll_transmit`]: connected, with no event waiting and the timeout where
    /// it was. A sender that has just written packets may then hand them on and skip a full
    /// poll (a fan-out to 98 viewers otherwise walks every viewer's transport twice).
    pub fn sent_only(&mut self) -> bool {
        self.connected && !self.failed && self.events.is_empty() && !std::mem::take(&mut self.timeout_moved)
    }

    /// The next thing the room must know.
    pub fn poll_event(&mut self) -> Option<TransportEvent> {
        self.events.pop_front()
    }

    /// Sends one RTP packet of `stream` (its SSRC replaces the header's): writes the header,
    /// keeps the packet for resends, protects it with SRTP and queues it for the nominated
    /// path. The shared `payload` is read in place (copied only if `patch` changes it).
    pub fn send_rtp(
        &mut self,
        now: Instant,
        stream: StreamIndex,
        header: &RtpHeader<'_>,
        payload: &Arc<[u8]>,
        patch: PayloadPatch,
    ) -> bool {
        if self.failed {
            return false;
        }
        let Some(s) = self.streams.get_mut(stream.0) else {
            return false;
        };
        self.scratch.clear();
        RtpHeader { ssrc: s.ssrc, ..*header }.write(&mut self.scratch);
        let start = self.scratch.len();
        let extensions = start - 12;
        s.payload_type = header.payload_type;
        s.packets = s.packets.wrapping_add(1);
        s.octets = s.octets.wrapping_add(payload.len() as u32);
        s.last = Some((header.timestamp, now));
        if self.next_report.is_none() {
            self.next_report = Some(now + REPORT_INTERVAL);
            self.timeout_moved = true;
        }
        self.stats.rtp_sent += 1;
        if !self.connected {
            // Before the keys exist (a newcomer's first keyframe often comes then): kept,
            // within bounds, and sent once connected, as str0m's send queue does. Kept for
            // resends from when it is really sent.
            if self.early.len() == MAX_EARLY_PACKETS {
                self.early.pop_front();
            }
            let header = self.scratch.clone();
            self.early.push_back(Early { stream, extensions, header, payload: payload.clone(), patch });
            return true;
        }
        if let Some(history) = s.history.as_mut() {
            let fields = (header.sequence, header.timestamp, header.marker);
            history.remember(now, fields, &self.scratch[12..start], payload, patch);
        }
        self.protect_and_queue(payload, patch)
    }

    /// Resends what a NACK asks for, on the stream's RTX SSRC: the original sequence number
    /// first in the payload (RFC 4588 §4).
    fn resend(&mut self, now: Instant, ssrc: u32, sequences: &[u16]) {
        let Some(s) = self.streams.iter_mut().find(|s| s.ssrc == ssrc) else { return };
        let (Some((rtx_ssrc, rtx_pt)), Some(history)) = (s.rtx, s.history.as_ref()) else { return };
        for &sequence in sequences {
            let Some(Kept { timestamp, marker, extensions, payload, patch }) = history.get(now, sequence) else {
                continue;
            };
            s.rtx_sequence = s.rtx_sequence.wrapping_add(1);
            self.scratch.clear();
            let header = RtpHeader {
                payload_type: rtx_pt,
                marker,
                sequence: s.rtx_sequence,
                timestamp,
                ssrc: rtx_ssrc,
                extensions: &[],
            };
            header.write(&mut self.scratch);
            // The original header extensions stay in the RTX packet's header; the original
            // sequence number goes before the payload.
            if !extensions.is_empty() {
                self.scratch[0] |= 0x10;
            }
            self.scratch.extend_from_slice(extensions);
            self.scratch.extend_from_slice(&sequence.to_be_bytes());
            let start = self.scratch.len();
            self.scratch.extend_from_slice(payload);
            patch.apply(&mut self.scratch[start..]);
            self.stats.rtx_sent += 1;
            let Some(srtp) = self.srtp_out.as_mut() else { return };
            let Some((proto, source, destination)) = self.path else { return };
            let mut contents = super::buffers::take();
            if srtp.protect_rtp(&self.scratch, &mut contents) {
                self.transmits.push_back(Transmit { proto, source, destination, contents });
            }
        }
    }

    /// Protects the header in `scratch` and `payload` (patched first, if `patch` says so)
    /// and queues the packet.
    fn protect_and_queue(&mut self, payload: &[u8], patch: PayloadPatch) -> bool {
        let (Some(srtp), Some((proto, source, destination))) = (self.srtp_out.as_mut(), self.path) else {
            return false;
        };
        let payload = if patch.is_empty() {
            payload
        } else {
            self.patched.clear();
            self.patched.extend_from_slice(payload);
            patch.apply(&mut self.patched);
            &self.patched[..]
        };
        let mut contents = super::buffers::take();
        if !srtp.protect_rtp_parts(&self.scratch, payload, &mut contents) {
            super::buffers::recycle(contents);
            return false;
        }
        self.transmits.push_back(Transmit { proto, source, destination, contents });
        true
    }

    /// Sends a sender report with a CNAME for every stream that sent media.
    fn send_reports(&mut self, now: Instant) {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut compound = Vec::new();
        for s in &self.streams {
            s.write_report(now, wall, &self.cname, &mut compound);
        }
        if !compound.is_empty() {
            self.send_rtcp(&compound);
        }
    }

    /// Sends a plain compound RTCP packet (sender reports) with SRTCP.
    pub fn send_rtcp(&mut self, compound: &[u8]) -> bool {
        let (Some(srtp), Some((proto, source, destination)), true) =
            (self.srtp_out.as_mut(), self.path, self.connected)
        else {
            return false;
        };
        let mut contents = Vec::with_capacity(compound.len() + 32);
        if !srtp.protect_rtcp(compound, &mut contents) {
            return false;
        }
        self.transmits.push_back(Transmit { proto, source, destination, contents });
        true
    }
}

fn to_ice(proto: Proto) -> Protocol {
    match proto {
        Proto::Udp => Protocol::Udp,
        Proto::Tcp => Protocol::Tcp,
    }
}
