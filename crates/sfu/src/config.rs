//! [`RoomConfig`]: how a room reaches the network and how it forwards.
//!
//! Its own file because each peer connection is built from it as well as the room: defined
//! in the room, it made the peer and the room import each other.

use std::net::SocketAddr;

use crate::audible::{DEFAULT_AUDIBLE_LIMIT, DEFAULT_CROWD};
use crate::io::Proto;

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
    /// Measure the time spent inside str0m ([`Room::str0m_time`](crate::Room::str0m_time)).
    /// For benchmarks: it reads the clock around every str0m call, the only place the room
    /// does.
    pub meter_str0m: bool,
    /// Where a subscriber's bandwidth estimate comes from.
    pub downlink_estimate: DownlinkEstimate,
    /// Send subscribers' media through Convene's own transport ([`crate::downlink`]) instead
    /// of str0m's `Rtc`, which then only writes the SDP. Used only with
    /// [`DownlinkEstimate::Receiver`]: the own transport has no send-side estimator (with
    /// [`DownlinkEstimate::SenderSide`] it is ignored and str0m carries the packets).
    pub own_downlink: bool,
    /// Read publishers' media with Convene's own transport and session ([`crate::uplink`])
    /// instead of str0m's `Rtc`, which then only reads offers and writes answers.
    pub own_uplink: bool,
}

/// Where the estimate of a subscriber's downlink comes from: it picks the simulcast layers the
/// subscriber gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownlinkEstimate {
    /// The SFU estimates from the subscriber's transport-wide feedback (TWCC, libwebrtc's
    /// send-side estimator as str0m implements it) and paces what it sends to the estimate,
    /// probing with padding for the layers the tiles want. Only on str0m's transport.
    SenderSide,
    /// The subscriber's browser estimates from the abs-send-time of what arrives and reports it
    /// in REMB; the SFU neither paces nor pads (about a third less work per forwarded packet in
    /// str0m, bench/RESULTS.md). A receiver's estimate only grows to 1.5× what it receives, so
    /// the layers are handed out one tile at a time instead of as equal shares.
    Receiver,
}

/// How a server carries media, as it is configured: where the estimate that picks
/// subscribers' layers comes from, and whose transport sends their packets and reads
/// publishers'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarding {
    /// Where a subscriber's bandwidth estimate comes from.
    pub estimate: DownlinkEstimate,
    /// Convene's own transport ([`crate::downlink`]) for subscribers instead of str0m's; only
    /// with [`DownlinkEstimate::Receiver`].
    pub own_downlink: bool,
    /// Convene's own transport and session ([`crate::uplink`]) for publishers instead of
    /// str0m's.
    pub own_uplink: bool,
}

impl Default for Forwarding {
    /// The browser's estimate on Convene's own transport both ways: about half the server
    /// CPU per forwarded packet of str0m's transport with its sender-side estimate
    /// (bench/RESULTS.md), and a viewer whose link narrows moves down a layer and back up at
    /// least as fast (tests/e2e/downlink.test.mjs: 2 s and 2 s, against 3–5 s and 2–5 s).
    fn default() -> Forwarding {
        Forwarding { estimate: DownlinkEstimate::Receiver, own_downlink: true, own_uplink: true }
    }
}

impl Forwarding {
    /// Subscribers on str0m's transport with its sender-side estimate (TWCC, pacing, padding
    /// probes); publishers stay on the own uplink.
    pub const STR0M_SENDER_SIDE: Forwarding =
        Forwarding { estimate: DownlinkEstimate::SenderSide, own_downlink: false, own_uplink: true };

    /// Sets a room's configuration to carry media this way.
    pub fn apply(self, config: &mut RoomConfig) {
        config.downlink_estimate = self.estimate;
        config.own_downlink = self.own_downlink;
        config.own_uplink = self.own_uplink;
    }
}

impl RoomConfig {
    /// A configuration with these local addresses, a 1 Mbit/s starting estimate and the
    /// default [`Forwarding`].
    pub fn new(local_addrs: Vec<(Proto, SocketAddr)>) -> RoomConfig {
        let Forwarding { estimate, own_downlink, own_uplink } = Forwarding::default();
        RoomConfig {
            local_addrs,
            initial_bitrate_bps: 1_000_000,
            audible_limit: DEFAULT_AUDIBLE_LIMIT,
            crowd: DEFAULT_CROWD,
            meter_str0m: false,
            downlink_estimate: estimate,
            own_downlink,
            own_uplink,
        }
    }
}
