//! One peer connection, fenced so that its failure (or panic) only closes that peer: a str0m
//! `Rtc`, or Convene's own transport with an `Rtc` beside it for the SDP (a subscriber's
//! [`Link`], a publisher's [`Uplink`]).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::media::{KeyframeRequestKind, Mid, Rid};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Event, IceConnectionState, Rtc};

use crate::config::{DownlinkEstimate, RoomConfig};
use crate::downlink::link::Link;
use crate::downlink::Certificate;
use crate::error::SfuError;
use crate::id::{PeerId, PeerRole};
use crate::io::{Datagram, Output, Proto, Transmit};
use crate::published::Published;
use crate::uplink::link::Uplink;

/// A str0m `Rtc` with the room's settings, driven only through panic fences.
pub(crate) struct Peer {
    pub(crate) id: PeerId,
    rtc: Rtc,
    timeout: Instant,
    alive: bool,
    connected: bool,
    /// Time spent inside str0m, when the room meters it.
    spent: Option<Duration>,
    /// A subscriber's own transport ([`RoomConfig::own_downlink`]): it carries the packets
    /// and the `Rtc` only negotiates.
    link: Option<Box<Link>>,
    /// A publisher's own transport and session ([`RoomConfig::own_uplink`]).
    uplink: Option<Box<Uplink>>,
    /// Packets the uplink read, until the room drains the peer.
    published: Vec<Published>,
    /// The time the `Rtc` was last given (its clock: what it stamps packets it sends with).
    clock: Instant,
}

/// What a peer reports to the room. (Passed through the room's kept buffer and handled at
/// once, never stored: boxing str0m's large event would be an allocation per str0m packet.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum PeerEvent {
    /// Something str0m's `Rtc` (or a subscriber's link, in str0m's terms) reported.
    Str0m(Event),
    /// A publisher's packet the own uplink read.
    Packet(Published),
    /// A publisher's layer stopped arriving (`paused`) or came back.
    Layer { mid: Mid, rid: Option<Rid>, paused: bool },
}

/// Packets kept per outgoing video stream for retransmission until the room sets each
/// stream's own history ([`crate::room`], by source); str0m's default is 1000.
const SUBSCRIBER_VIDEO_SEND_BUFFER: usize = 256;

/// What draining a peer produced besides transmits and events.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    pub(crate) connected: bool,
    pub(crate) died: bool,
}

impl Peer {
    /// Builds an ICE-lite, RTP-mode peer with one host candidate per local address.
    pub(crate) fn new(id: PeerId, config: &RoomConfig, now: Instant) -> Result<Peer, SfuError> {
        let mut builder =
            Rtc::builder().set_ice_lite(true).set_rtp_mode(true).set_crypto_provider(convene_dtls::crypto_provider());
        if id.role == PeerRole::Subscriber {
            builder = builder.set_send_buffer_video(SUBSCRIBER_VIDEO_SEND_BUFFER);
            builder = match config.downlink_estimate {
                DownlinkEstimate::SenderSide => builder.enable_bwe(Some(Bitrate::bps(config.initial_bitrate_bps))),
                // Without the transport-wide sequence number the browser estimates on its
                // side (from abs-send-time) and sends REMB, which str0m reports as an estimate.
                DownlinkEstimate::Receiver => builder.set_extension_map(receiver_estimate_extensions()),
            };
        }
        let own = id.role == PeerRole::Subscriber
            && config.own_downlink
            && config.downlink_estimate == DownlinkEstimate::Receiver;
        let own_uplink = id.role == PeerRole::Publisher && config.own_uplink;
        let (mut link, mut uplink) = (None, None);
        // A certificate made ahead (str0m would make one on the spot, on the join's path).
        let cert = Certificate::fresh().ok_or_else(|| SfuError::InvalidCandidate("certificate".into()))?;
        let (der, key) = cert.der();
        builder =
            builder.set_dtls_cert(str0m::config::DtlsCert { certificate: der.to_vec(), private_key: key.to_vec() });
        if own || own_uplink {
            // The Rtc's SDP must name the transport's credentials and certificate.
            let creds = str0m::IceCreds::new();
            builder = builder.set_local_ice_credentials(creds.clone());
            let creds = crate::downlink::IceCreds { ufrag: creds.ufrag, pass: creds.pass };
            let unmade = || SfuError::InvalidCandidate("own transport".into());
            if own {
                link = Some(Box::new(Link::new(now, creds, &cert, &config.local_addrs).ok_or_else(unmade)?));
            } else {
                uplink = Some(Box::new(Uplink::new(now, creds, &cert, &config.local_addrs).ok_or_else(unmade)?));
            }
        }
        let mut rtc = builder.build(now);
        for &(proto, addr) in &config.local_addrs {
            let candidate = match proto {
                Proto::Udp => Candidate::host(addr, "udp"),
                Proto::Tcp => Candidate::builder().tcp().host(addr).tcptype(TcpType::Passive).build(),
            }
            .map_err(|e| SfuError::InvalidCandidate(format!("{addr}: {e}")))?;
            rtc.add_local_candidate(candidate).ok_or_else(|| SfuError::InvalidCandidate(addr.to_string()))?;
        }
        let spent = config.meter_str0m.then_some(Duration::ZERO);
        Ok(Peer {
            id,
            rtc,
            timeout: now,
            alive: true,
            connected: false,
            spent,
            link,
            uplink,
            published: Vec::new(),
            clock: now,
        })
    }

    /// The local ICE ufrag clients put first in their STUN USERNAME, and the password
    /// they sign their requests with.
    pub(crate) fn ice_credentials(&mut self) -> (String, String) {
        let creds = self.rtc.direct_api().local_ice_credentials();
        (creds.ufrag, creds.pass)
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive
    }

    /// When this peer next needs [`Peer::handle_timeout`].
    pub(crate) fn timeout(&self) -> Option<Instant> {
        self.alive.then_some(self.timeout)
    }

    /// Time spent inside str0m so far (zero unless the room meters it).
    pub(crate) fn str0m_time(&self) -> Duration {
        self.spent.unwrap_or_default()
    }

    /// Runs `f` on the `Rtc`; a panic inside str0m marks the peer dead instead of unwinding.
    pub(crate) fn with_rtc<R>(&mut self, f: impl FnOnce(&mut Rtc) -> R) -> Result<R, SfuError> {
        if !self.alive {
            return Err(SfuError::PeerGone(self.id));
        }
        // Benchmarks only (RoomConfig::meter_str0m): the one clock read of the media core.
        let started = self.spent.is_some().then(Instant::now);
        let result = catch_unwind(AssertUnwindSafe(|| f(&mut self.rtc)));
        if let (Some(spent), Some(started)) = (self.spent.as_mut(), started) {
            *spent += started.elapsed();
        }
        match result {
            Ok(r) => Ok(r),
            Err(_) => {
                tracing::error!(peer = %self.id, "str0m panicked; disconnecting the peer");
                self.alive = false;
                Err(SfuError::PeerGone(self.id))
            }
        }
    }

    /// The own transport and the `Rtc` that negotiates for it, if this subscriber has one.
    pub(crate) fn link(&mut self) -> Option<(&mut Link, &mut Rtc)> {
        let alive = self.alive;
        self.link.as_deref_mut().filter(|_| alive).map(|l| (l, &mut self.rtc))
    }

    /// After the room wrote packets to this subscriber: with its own link, the datagrams go
    /// to `out` now, while the link is still in the cache; whether the peer still needs a
    /// full [`Peer::drain`] (always, on str0m's session).
    pub(crate) fn hand_over_sent(&mut self, out: &mut VecDeque<Output>) -> bool {
        match self.link() {
            Some((link, _)) => link.hand_over_sent(|t| out.push_back(Output::Transmit(t))),
            None => true,
        }
    }

    /// Runs `f` on the own transport behind the same panic fence as str0m.
    fn with_link<R>(&mut self, f: impl FnOnce(&mut Link) -> R) -> Option<R> {
        let link = self.link.as_deref_mut().filter(|_| self.alive)?;
        let result = catch_unwind(AssertUnwindSafe(|| f(link)));
        self.fenced(result)
    }

    /// Runs `f` on the own uplink (with the `Rtc` that negotiates for it and the packets
    /// read so far) behind the same panic fence.
    fn with_uplink<R>(&mut self, f: impl FnOnce(&mut Uplink, &mut Rtc, &mut Vec<Published>) -> R) -> Option<R> {
        let uplink = self.uplink.as_deref_mut().filter(|_| self.alive)?;
        let (rtc, published) = (&mut self.rtc, &mut self.published);
        let result = catch_unwind(AssertUnwindSafe(|| f(uplink, rtc, published)));
        self.fenced(result)
    }

    fn fenced<R>(&mut self, result: std::thread::Result<R>) -> Option<R> {
        match result {
            Ok(r) => Some(r),
            Err(_) => {
                tracing::error!(peer = %self.id, "own transport panicked; disconnecting the peer");
                self.alive = false;
                None
            }
        }
    }

    /// Tells the own uplink what an accepted offer (`offer`, answered with `answer`) settled
    /// for the m-lines `mids`.
    pub(crate) fn offer_accepted(&mut self, now: Instant, offer: &str, answer: &str, mids: &[Mid]) {
        self.with_uplink(|up, rtc, _| up.answered(now, rtc, offer, answer, mids));
    }

    /// Asks the publisher for a keyframe (PLI) of a layer, through whichever session reads
    /// it; false if the layer never sent (or the peer is gone).
    pub(crate) fn request_keyframe(&mut self, now: Instant, mid: Mid, rid: Option<Rid>) -> bool {
        if self.uplink.is_some() {
            let rid = rid.as_ref().map(|r| r.as_bytes());
            return self.with_uplink(|up, _, _| up.request_keyframe(now, mid.as_bytes(), rid)).unwrap_or(false);
        }
        let asked = self.with_rtc(|rtc| {
            let mut api = rtc.direct_api();
            let stream = api.stream_rx_by_mid(mid, rid)?;
            stream.request_keyframe(KeyframeRequestKind::Pli);
            Some(())
        });
        matches!(asked, Ok(Some(())))
    }

    /// Feeds a datagram the demultiplexer routed here. Returns false if str0m rejected it.
    pub(crate) fn handle_receive(&mut self, now: Instant, d: &Datagram<'_>) -> bool {
        if self.link.is_some() {
            return self.with_link(|l| l.handle_receive(now, d)).unwrap_or(false);
        }
        if self.uplink.is_some() {
            return self
                .with_uplink(|up, _, published| {
                    up.handle_receive(now, d, |r, layer| published.push(Published::of_uplink(now, r, layer)))
                })
                .unwrap_or(false);
        }
        let Ok(contents) = d.contents.try_into() else {
            return false;
        };
        let receive = Receive {
            proto: match d.proto {
                Proto::Udp => Protocol::Udp,
                Proto::Tcp => Protocol::Tcp,
            },
            source: d.source,
            destination: d.destination,
            contents,
        };
        self.clock = now;
        let result = self.with_rtc(|rtc| rtc.handle_input(str0m::Input::Receive(now, receive)));
        match result {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.id, error = %e, "datagram rejected");
                false
            }
            Err(_) => false,
        }
    }

    /// Brings a str0m `Rtc`'s clock to `now` before the room writes packets to it: str0m stamps
    /// what it sends with the time of its last input, and a stamp up to a pacer interval old
    /// reads to its sender-side estimator as queuing delay that is not there (an overuse that
    /// cut one subscriber's estimate to a fifth in the SFU suite).
    pub(crate) fn catch_up(&mut self, now: Instant) {
        if self.clock < now && self.link.is_none() && self.uplink.is_none() {
            self.handle_timeout(now);
        }
    }

    /// Advances the peer's clock.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.link.is_some() {
            self.with_link(|l| l.handle_timeout(now));
            return;
        }
        if self.uplink.is_some() {
            self.with_uplink(|up, _, _| up.handle_timeout(now));
            return;
        }
        self.clock = now;
        if let Ok(Err(e)) = self.with_rtc(|rtc| rtc.handle_input(str0m::Input::Timeout(now))) {
            tracing::warn!(peer = %self.id, error = %e, "peer failed");
            self.alive = false;
        }
    }

    /// Polls the `Rtc` until it has nothing left: transmits go to `out`, events to `events`
    /// (the room's buffer, kept between calls: a publisher reports every packet as an event,
    /// and a fresh list per packet was an allocation per packet).
    pub(crate) fn drain(&mut self, out: &mut VecDeque<Output>, events: &mut Vec<PeerEvent>) -> Drained {
        let mut drained = Drained::default();
        let was_alive = self.alive;
        if self.link.is_some() {
            // The Rtc never carries packets here: the link's transport is the connection.
            let polled = self.with_link(|l| {
                let drained = l.drain(|t| out.push_back(Output::Transmit(t)));
                (drained, l.poll_timeout())
            });
            if let Some((mut link_drained, timeout)) = polled {
                events.extend(link_drained.events.drain(..).map(PeerEvent::Str0m));
                self.transport_drained(timeout, link_drained.connected, link_drained.failed, &mut drained);
            }
            drained.died = was_alive && !self.alive;
            return drained;
        }
        if self.uplink.is_some() {
            self.drain_uplink(out, events, &mut drained);
            drained.died = was_alive && !self.alive;
            return drained;
        }
        while self.alive {
            let polled = match self.with_rtc(|rtc| rtc.poll_output()) {
                Ok(Ok(o)) => o,
                Ok(Err(e)) => {
                    tracing::warn!(peer = %self.id, error = %e, "peer failed");
                    self.alive = false;
                    break;
                }
                Err(_) => break,
            };
            match polled {
                str0m::Output::Timeout(t) => {
                    self.timeout = t;
                    break;
                }
                str0m::Output::Transmit(t) => out.push_back(Output::Transmit(Transmit {
                    proto: match t.proto {
                        Protocol::Udp => Proto::Udp,
                        _ => Proto::Tcp,
                    },
                    source: t.source,
                    destination: t.destination,
                    contents: t.contents.into(),
                })),
                str0m::Output::Event(Event::Connected) => {
                    self.connected = true;
                    drained.connected = true;
                }
                str0m::Output::Event(Event::IceConnectionStateChange(IceConnectionState::Disconnected)) => {
                    self.alive = false;
                }
                str0m::Output::Event(e) => events.push(PeerEvent::Str0m(e)),
            }
        }
        if self.alive && !self.rtc.is_alive() {
            self.alive = false;
        }
        drained.died = was_alive && !self.alive;
        drained
    }

    /// [`Peer::drain`] for a publisher on the own uplink.
    fn drain_uplink(&mut self, out: &mut VecDeque<Output>, events: &mut Vec<PeerEvent>, drained: &mut Drained) {
        events.extend(self.published.drain(..).map(PeerEvent::Packet));
        let polled = self.with_uplink(|up, _, _| {
            let drained = up.drain(|t| out.push_back(Output::Transmit(t)));
            (drained, up.poll_timeout())
        });
        let Some((up, timeout)) = polled else { return };
        self.transport_drained(timeout, up.connected, up.failed, drained);
        events.extend(up.layers.into_iter().map(|(mid, rid, paused)| PeerEvent::Layer { mid, rid, paused }));
    }

    /// What draining an own transport (either link) found: its next timeout, whether it came
    /// up, whether it ended.
    fn transport_drained(&mut self, timeout: Option<Instant>, connected: bool, ended: bool, drained: &mut Drained) {
        // Nothing scheduled (not yet started): look again in a second.
        self.timeout = timeout.unwrap_or(self.timeout + Duration::from_secs(1));
        if connected && !self.connected {
            self.connected = true;
            drained.connected = true;
        }
        if ended {
            self.alive = false;
        }
    }

    /// Closes the connection (best effort; a panicking peer is simply dropped).
    pub(crate) fn close(&mut self, out: &mut VecDeque<Output>) {
        if self.alive {
            let _ = self.with_rtc(|rtc| rtc.disconnect());
            self.drain(out, &mut Vec::new());
            self.alive = false;
        }
    }
}

/// The RTP header extensions of a subscriber whose browser estimates its own downlink: str0m's
/// standard set (Chrome's) without the transport-wide sequence number, so that the browser
/// falls back to its receive-side estimator (on abs-send-time) and reports in REMB.
fn receiver_estimate_extensions() -> ExtensionMap {
    let standard = ExtensionMap::standard();
    let mut map = ExtensionMap::empty();
    for id in 1..=16u8 {
        match standard.lookup(id) {
            Some(Extension::TransportSequenceNumber) | None => {}
            Some(ext) => map.set(id, ext.clone()),
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParticipantId;

    fn peer(now: Instant) -> Peer {
        let config = RoomConfig::new(vec![(Proto::Udp, "192.0.2.1:3478".parse().unwrap())]);
        let id = PeerId { participant: ParticipantId(7), role: PeerRole::Subscriber };
        Peer::new(id, &config, now).unwrap()
    }

    #[test]
    fn a_panic_inside_str0m_only_kills_that_peer() {
        let now = Instant::now();
        let mut p = peer(now);
        let mut out = VecDeque::new();
        let mut events = Vec::new();
        p.drain(&mut out, &mut events);
        assert!(events.is_empty());

        let result = p.with_rtc(|_| -> () { panic!("str0m bug") });
        assert!(matches!(result, Err(SfuError::PeerGone(_))));
        assert!(!p.is_alive());
        assert_eq!(p.timeout(), None, "a dead peer wants no more timeouts");
        assert!(matches!(p.with_rtc(|_| ()), Err(SfuError::PeerGone(_))), "and is never called again");
    }

    #[test]
    fn every_local_address_becomes_a_candidate() {
        let now = Instant::now();
        let config = RoomConfig::new(vec![
            (Proto::Udp, "192.0.2.1:3478".parse().unwrap()),
            (Proto::Tcp, "192.0.2.1:443".parse().unwrap()),
        ]);
        let id = PeerId { participant: ParticipantId(1), role: PeerRole::Publisher };
        assert!(Peer::new(id, &config, now).is_ok());
        let bad = RoomConfig::new(vec![(Proto::Udp, "0.0.0.0:3478".parse().unwrap())]);
        assert!(matches!(Peer::new(id, &bad, now), Err(SfuError::InvalidCandidate(_))));
    }
}
