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
    /// [`DownlinkEstimate::Receiver`]: the own transport has no send-side estimator.
    pub own_downlink: bool,
}

/// Where the estimate of a subscriber's downlink comes from: it picks the simulcast layers the
/// subscriber gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DownlinkEstimate {
    /// The SFU estimates from the subscriber's transport-wide feedback (TWCC, libwebrtc's
    /// send-side estimator as str0m implements it) and paces what it sends to the estimate,
    /// probing with padding for the layers the tiles want.
    #[default]
    SenderSide,
    /// The subscriber's browser estimates from the abs-send-time of what arrives and reports it
    /// in REMB; the SFU neither paces nor pads (about a third less work per forwarded packet in
    /// str0m, bench/RESULTS.md). A receiver's estimate only grows to 1.5× what it receives, so
    /// the layers are handed out one tile at a time instead of as equal shares.
    Receiver,
}

/// How subscribers' connections are carried, as a server is configured: where the estimate
/// that picks their layers comes from, and whose transport sends their packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Downlink {
    /// Where a subscriber's bandwidth estimate comes from.
    pub estimate: DownlinkEstimate,
    /// Convene's own transport ([`crate::downlink`]) instead of str0m's; only with
    /// [`DownlinkEstimate::Receiver`].
    pub own_transport: bool,
}

impl Downlink {
    /// Sets a room's configuration to carry subscribers this way.
    pub fn apply(self, config: &mut RoomConfig) {
        config.downlink_estimate = self.estimate;
        config.own_downlink = self.own_transport;
    }
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
            downlink_estimate: DownlinkEstimate::default(),
            own_downlink: false,
        }
    }
}
