//! The values that cross the boundary between the room and the runtime that owns the sockets.

use std::net::SocketAddr;
use std::time::Instant;

use crate::id::PeerId;
use crate::track::{Source, TrackId, TrackKind};
use crate::ParticipantId;

/// The transport a datagram travelled on.
///
/// For TCP the runtime removes and adds the RFC 4571 length framing; the room only sees
/// whole packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// Plain UDP.
    Udp,
    /// ICE-TCP (RFC 6544), one framed packet at a time.
    Tcp,
}

/// A packet the runtime read from a socket.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// The transport it arrived on.
    pub proto: Proto,
    /// The remote address it came from.
    pub source: SocketAddr,
    /// The local address it arrived at (one of [`RoomConfig::local_addrs`](crate::RoomConfig)).
    pub destination: SocketAddr,
    /// The bytes, without any TCP framing.
    pub contents: &'a [u8],
}

/// Something that happened to the room's outside world.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A datagram arrived.
    Receive(Datagram<'a>),
    /// The time returned by the last [`Output::Timeout`] has passed (early is fine).
    Timeout,
}

/// A packet the runtime must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The transport to send it on.
    pub proto: Proto,
    /// The local address to send from.
    pub source: SocketAddr,
    /// The remote address to send to.
    pub destination: SocketAddr,
    /// The bytes, without any TCP framing.
    pub contents: Vec<u8>,
}

/// Something the signaling layer of the runtime needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    /// Send this offer to the participant's subscriber peer connection and hand its answer
    /// to [`Room::subscribe_answer`](crate::Room::subscribe_answer).
    SubscribeOffer {
        /// Who must answer.
        participant: ParticipantId,
        /// The offer, as SDP text.
        sdp: String,
        /// Which remote track each offered m-line carries: `(mid, track)`.
        tracks: Vec<(String, TrackId)>,
        /// Names this offer (unique in the room); the answer must carry it, so an answer
        /// to an offer that was since replaced is told apart and refused harmlessly.
        offer_id: u64,
    },
    /// A participant started sending a track.
    TrackPublished {
        /// The publisher.
        participant: ParticipantId,
        /// The room-wide id of the track.
        track_id: TrackId,
        /// The publisher's mid for it.
        mid: String,
        /// Audio or video.
        kind: TrackKind,
        /// Microphone, camera or screen share.
        source: Source,
        /// The simulcast layers, lowest first; empty without simulcast.
        rids: Vec<String>,
    },
    /// A track is gone (its publisher left or disconnected).
    TrackUnpublished {
        /// The publisher.
        participant: ParticipantId,
        /// The track.
        track_id: TrackId,
    },
    /// The set of simulcast layers some subscriber receives changed; the client may stop
    /// encoding the others (`RTCRtpEncodingParameters.active = false`).
    LayersWanted {
        /// The publisher.
        participant: ParticipantId,
        /// The track.
        track_id: TrackId,
        /// The rids still wanted, lowest first; empty when nobody watches.
        rids: Vec<String>,
    },
    /// The loudest participant changed.
    ActiveSpeaker {
        /// The new active speaker, `None` once the last one has left.
        participant: Option<ParticipantId>,
    },
    /// A peer connection completed ICE and DTLS.
    PeerConnected {
        /// Which peer connection.
        peer: PeerId,
    },
    /// A peer connection failed, timed out or misbehaved, and was closed.
    PeerDisconnected {
        /// Which peer connection.
        peer: PeerId,
    },
    /// What each slot of a slot subscriber ([`crate::Subscription::Slots`]) carries now: sent
    /// after its offer, its answer, and every change. The client shows each slot's track in
    /// the tile of the track it carries.
    SlotMap {
        /// The subscriber.
        participant: ParticipantId,
        /// Every slot: its mid, its kind, and the track it carries (`None`: idle).
        slots: Vec<(String, TrackKind, Option<TrackId>)>,
    },
    /// The room asked a publisher for a keyframe (after throttling).
    KeyframeRequested {
        /// The publisher.
        participant: ParticipantId,
        /// The track.
        track_id: TrackId,
        /// The simulcast layer, if any.
        rid: Option<String>,
    },
}

/// What the runtime must do next, from [`Room::poll_output`](crate::Room::poll_output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a packet.
    Transmit(Transmit),
    /// Tell the signaling layer.
    Event(RoomEvent),
    /// Nothing more to do now: call [`Room::handle_input`](crate::Room::handle_input) with
    /// [`Input::Timeout`] at this time, or earlier when a datagram arrives.
    Timeout(Instant),
}
