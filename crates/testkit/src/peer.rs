//! A participant's peer connection as a browser runs it, on str0m in RTP mode: the media
//! tests and the bench all play participants with [`ClientPeer`], whatever carries its
//! packets (UDP or ICE-TCP sockets, mio, a simulated wire on a fake clock).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use convene_protocol::{PublishedTrack, TrackSource};
use str0m::change::SdpApi;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use crate::synth::RIDS;

/// How a client peer is configured.
#[derive(Debug, Clone, Copy)]
pub struct PeerOptions {
    /// Negotiate transport-wide sequence numbers (TWCC), as browsers do. Without them the
    /// SFU gets no feedback to estimate the bandwidth with.
    pub twcc: bool,
}

impl Default for PeerOptions {
    fn default() -> PeerOptions {
        PeerOptions { twcc: true }
    }
}

/// The str0m configuration of a client peer: RTP mode (packets as they come, no frame
/// reassembly), DTLS on the process's one validated configuration (`convene_dtls`) and,
/// without `twcc`, no transport-wide sequence numbers.
pub fn config(options: PeerOptions) -> RtcConfig {
    let mut config = Rtc::builder().set_rtp_mode(true).set_crypto_provider(convene_dtls::crypto_provider());
    if !options.twcc {
        let mut exts = ExtensionMap::empty();
        for (id, ext) in ExtensionMap::standard().iter() {
            if *ext != Extension::TransportSequenceNumber {
                exts.set(id, ext.clone());
            }
        }
        config = config.set_extension_map(exts);
    }
    config
}

/// What a drain of the peer produced, besides its next timeout. (Handed straight to the
/// caller's closure, never stored: the size of the event variant does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Polled {
    /// A packet to send.
    Transmit(Transmit),
    /// Something happened (connected, an RTP packet, a keyframe request…).
    Event(Event),
}

/// One client peer connection: str0m and the bookkeeping every driver of it needs.
pub struct ClientPeer {
    /// The connection (for SDP, writing RTP, looking up mids and codecs).
    pub rtc: Rtc,
    /// When str0m next wants [`ClientPeer::handle_timeout`].
    pub timeout: Instant,
    /// Why str0m gave up on the connection, once it did; a dead peer is never called again.
    pub dead: Option<String>,
    /// The latest time str0m was given: it must never go back.
    fed: Instant,
}

impl ClientPeer {
    /// A peer configured by `config` (see [`config`]), created at `now`.
    pub fn new(now: Instant, config: RtcConfig) -> ClientPeer {
        ClientPeer { rtc: config.build(now), timeout: now, dead: None, fed: now }
    }

    /// A peer with a UDP host candidate at `local`.
    pub fn udp(now: Instant, options: PeerOptions, local: SocketAddr) -> Result<ClientPeer, String> {
        let mut peer = ClientPeer::new(now, config(options));
        let candidate = Candidate::host(local, "udp").map_err(|e| e.to_string())?;
        peer.rtc.add_local_candidate(candidate).ok_or("str0m refused the host candidate")?;
        Ok(peer)
    }

    /// Whether str0m still runs the connection.
    pub fn is_alive(&self) -> bool {
        self.dead.is_none()
    }

    /// Feeds a packet that arrived at `at` (never earlier than what str0m already saw) if the
    /// connection accepts it. Returns whether it did.
    pub fn receive(
        &mut self,
        at: Instant,
        proto: Protocol,
        source: SocketAddr,
        local: SocketAddr,
        bytes: &[u8],
    ) -> bool {
        if self.dead.is_some() {
            return false;
        }
        let Ok(contents) = bytes.try_into() else { return false };
        let at = at.max(self.fed);
        self.fed = at;
        let input = Input::Receive(at, Receive { proto, source, destination: local, contents });
        if !self.rtc.accepts(&input) {
            return false;
        }
        if let Err(e) = self.rtc.handle_input(input) {
            self.dead = Some(e.to_string());
        }
        true
    }

    /// Advances str0m's clock to `now` (its timers: ICE, RTCP, retransmissions, pacing).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.dead.is_some() {
            return;
        }
        let now = now.max(self.fed);
        self.fed = now;
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            self.dead = Some(e.to_string());
        }
    }

    /// Polls str0m until it wants a timeout (it needs a full drain after every input), handing
    /// each transmit and event to `f` with the connection. A dead peer asks for no timeout.
    pub fn drain(&mut self, mut f: impl FnMut(&mut Rtc, Polled)) {
        while self.dead.is_none() {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.timeout = t;
                    return;
                }
                Ok(Output::Transmit(t)) => f(&mut self.rtc, Polled::Transmit(t)),
                Ok(Output::Event(e)) => f(&mut self.rtc, Polled::Event(e)),
                Err(e) => self.dead = Some(e.to_string()),
            }
        }
        self.timeout = self.fed + Duration::from_secs(3600);
    }

    /// The payload type negotiated for `codec`, if any.
    pub fn pt(&self, codec: Codec) -> Option<Pt> {
        self.rtc.codec_config().find(|p| p.spec().codec == codec).map(|p| p.pt())
    }
}

/// The m-lines of a publisher's offer and what signaling says of them.
#[derive(Debug, Clone, Default)]
pub struct Offered {
    /// The microphone's mid.
    pub audio: Option<Mid>,
    /// The camera's mid.
    pub video: Option<Mid>,
    /// For `publish_offer`: each mid and its source.
    pub tracks: Vec<PublishedTrack>,
}

/// Adds a microphone (Opus) and a camera sending three simulcast layers ([`RIDS`], lowest
/// first) to a publisher's offer, each if asked for.
pub fn offer_microphone_and_camera(api: &mut SdpApi, audio: bool, video: bool) -> Offered {
    let mut offered = Offered::default();
    if audio {
        let mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        offered.tracks.push(PublishedTrack { mid: mid.to_string(), source: TrackSource::Microphone, muted: false });
        offered.audio = Some(mid);
    }
    if video {
        let mut simulcast = Simulcast::new();
        for rid in RIDS {
            simulcast.add_send_layer(SimulcastLayer::new(rid));
        }
        let mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(simulcast));
        offered.tracks.push(PublishedTrack { mid: mid.to_string(), source: TrackSource::Camera, muted: false });
        offered.video = Some(mid);
    }
    offered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_twcc_the_offer_has_no_transport_wide_sequence_numbers() {
        let now = Instant::now();
        let local: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        for twcc in [true, false] {
            let mut peer = ClientPeer::udp(now, PeerOptions { twcc }, local).unwrap();
            let mut api = peer.rtc.sdp_api();
            let offered = offer_microphone_and_camera(&mut api, true, true);
            let (offer, _) = api.apply().unwrap();
            let sdp = offer.to_sdp_string();
            assert_eq!(sdp.contains("transport-wide-cc"), twcc, "{sdp}");
            assert_eq!(offered.tracks.len(), 2);
            assert!(sdp.contains("a=simulcast:send q;h;f"), "{sdp}");
        }
    }

    #[test]
    fn a_dead_peer_takes_nothing_and_wants_no_timeout() {
        let now = Instant::now();
        let local: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let mut peer = ClientPeer::udp(now, PeerOptions::default(), local).unwrap();
        peer.dead = Some("gone".into());
        assert!(!peer.receive(now, Protocol::Udp, local, local, &[0x16, 0xfe, 0xfd]));
        peer.drain(|_, _| panic!("nothing is polled from a dead peer"));
        assert!(peer.timeout > now + Duration::from_secs(60));
    }
}
