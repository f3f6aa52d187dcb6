//! What the server sends.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::*;

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message on every connection.
    Welcome {
        protocol: u32,
        /// My participant id (the same after a resume).
        participant_id: String,
        role: Role,
        /// Present this as `?resume=` to get the seat back after a lost connection.
        resume_token: String,
        /// `true` when this connection took over an existing seat.
        resumed: bool,
        /// Seconds a lost connection keeps its seat.
        reconnect_grace_seconds: u64,
        meeting: MeetingInfo,
        /// Everyone in the meeting, me included.
        participants: Vec<Participant>,
        tracks: Vec<Track>,
        chat: Vec<ChatMessage>,
        /// Polls I may see: open ones, ones with shared results (moderators: all).
        #[serde(default)]
        polls: Vec<Poll>,
    },
    /// Someone entered (not sent for reconnects).
    ParticipantJoined {
        participant: Participant,
    },
    /// Someone's state changed, or their `reconnecting` flipped.
    ParticipantUpdated {
        participant: Participant,
    },
    /// Someone is gone for good.
    ParticipantLeft {
        participant_id: String,
        reason: LeaveReason,
    },
    /// Media: a track others can receive appeared.
    TrackPublished {
        track: Track,
    },
    /// Media: a track went away.
    TrackUnpublished {
        track_id: String,
    },
    /// Media: the answer to my `publish_offer`.
    PublishAnswer {
        sdp: String,
    },
    /// Media: an offer for my subscribing peer connection; reply with `subscribe_answer`.
    SubscribeOffer {
        sdp: String,
        /// Which remote track each offered m-line carries (empty for slots: `slot_map` says).
        #[serde(default)]
        tracks: Vec<OfferedTrack>,
        /// Names the offer; echo it in `subscribe_answer`.
        offer_id: u64,
    },
    /// Media, slot subscriptions only (docs/protocol.md §2e): which track each slot of my
    /// subscribing connection carries now — after its offer and whenever that changes. Show
    /// each slot's stream in the tile of the track it carries.
    SlotMap {
        /// Every slot, in the order of the offer's m-lines.
        slots: Vec<MediaSlot>,
    },
    /// Media: the loudest speaker changed (`null`: nobody speaks).
    ActiveSpeaker {
        participant_id: Option<String>,
    },
    /// Something to tell the user, e.g. `ending_soon` (the duration limit is near).
    Warning {
        code: String,
        /// Text to show.
        message: String,
        seconds_left: Option<i64>,
    },
    /// The meeting is over for everyone; the server closes with 4000.
    MeetingEnded {
        reason: EndReason,
    },
    /// The answer to `ping`, with its `id`.
    Pong {
        id: Option<u64>,
    },
    /// First frame for someone held in the waiting room; `welcome` follows on admission.
    Waiting {
        participant_id: String,
        meeting_title: String,
        resume_token: String,
    },
    /// To moderators: who is in the waiting room now.
    WaitingRoom {
        waiting: Vec<WaitingPerson>,
    },
    ChatMessage {
        message: ChatMessage,
    },
    Reaction {
        participant_id: String,
        emoji: String,
    },
    /// A moderator acted: `target` is the participant affected (none for room-wide actions).
    HostAction {
        action: HostAction,
        by: String,
        target: Option<String>,
    },
    /// Meeting-wide state changed (lock, recording).
    MeetingUpdated {
        locked: bool,
        recording: bool,
    },
    /// Cluster mode: this meeting is hosted by another node. The only frame on the
    /// connection, followed by close code 4302; connect to `ws_url` with the same query
    /// (`?ticket=` or `?resume=`; the ticket was not used up).
    Moved {
        ws_url: String,
        node_id: String,
    },
    /// End-to-end encrypted meetings: a sealed key blob another participant sent me.
    E2eeKey {
        /// The participant who sealed it.
        from: String,
        #[schemars(schema_with = "crate::schema::e2ee_blob")]
        blob: String,
    },
    /// A message was refused; nothing changed. `request` names the offending message type.
    /// Also the only frame before the close of a refused connection (see docs/protocol.md).
    Error {
        /// What went wrong, e.g. `not_allowed`, `invalid_message`, `removed`.
        code: String,
        message: String,
        request: Option<String>,
        /// `rate_limited`: how long until a message of this kind is accepted again, in ms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// Media: connect directly to `peer` (`mode: p2p`; the side with `offerer: true` sends
    /// `p2p_offer`), or use the SFU (`mode: sfu`, with the `reason`). Sent to each member of
    /// a pair when the meeting's media mode changes for them.
    P2pMode {
        mode: MediaMode,
        /// The other participant (`p2p` only).
        #[serde(default)]
        peer: Option<String>,
        /// Names this pairing; echoed in every `p2p_*` message of it.
        session: u64,
        /// Whether this side makes the offer (`p2p` only).
        #[serde(default)]
        offerer: bool,
        /// Why the SFU (`sfu` only): `participants`, `recording`, `host_enforcement`,
        /// `failed`, `off`, `reconnecting`.
        #[serde(default)]
        reason: Option<String>,
    },
    /// The other member's `p2p_offer`, relayed.
    P2pOffer {
        from: String,
        session: u64,
        sdp: String,
    },
    /// The other member's `p2p_answer`, relayed.
    P2pAnswer {
        from: String,
        session: u64,
        sdp: String,
    },
    /// The other member's `p2p_candidate`, relayed.
    P2pCandidate {
        from: String,
        session: u64,
        candidate: Option<IceCandidate>,
    },
    // --- live captions (docs/protocol.md §2c) ---
    /// Live captions were turned on or off (`by`: the moderator's participant id; `null`
    /// when the meeting's setting or the server did it).
    CaptionsUpdated {
        on: bool,
        by: Option<String>,
    },
    /// A caption line of what `participant_id` is saying. Partial captions
    /// (`is_final: false`) of one `utterance` replace each other; the final one replaces them
    /// (with empty `text` it withdraws them). Times in ms since captions started in this
    /// meeting.
    Caption {
        participant_id: String,
        utterance: u64,
        text: String,
        is_final: bool,
        start_ms: u64,
        end_ms: u64,
    },
    // --- polls (docs/protocol.md §5d) ---
    /// A poll was created, someone voted (moderators and the voter), it ended, or its
    /// results were shared: the poll as I may see it now.
    PollUpdated {
        poll: Poll,
    },
    // --- breakout rooms (docs/protocol.md §2d) ---
    /// The breakout rooms as they are now, to everyone, on every change (`open: false`
    /// once everyone is back).
    BreakoutState {
        breakouts: Breakouts,
    },
    /// I was moved to room `room` (0: the main room): close both peer connections and
    /// publish afresh (`publish_offer` without `restart`) — the same socket and seat; the
    /// server already took me out of the old room's media. `tracks` replaces the tracks I
    /// knew (those of the room I am now in).
    BreakoutMoved {
        room: u32,
        name: String,
        tracks: Vec<Track>,
    },
    /// A moderator's message to all rooms.
    BreakoutBroadcast {
        from: String,
        from_name: String,
        text: String,
    },
    /// To moderators: someone in a breakout room asks for help.
    BreakoutHelp {
        participant_id: String,
        display_name: String,
        room: u32,
        room_name: String,
    },
}

impl ServerMessage {
    pub fn error(code: &str, message: impl Into<String>, request: Option<&str>) -> ServerMessage {
        ServerMessage::Error {
            code: code.into(),
            message: message.into(),
            request: request.map(str::to_owned),
            retry_after_ms: None,
        }
    }

    /// The answer to a message over its sender's rate (docs/protocol.md §5).
    pub fn rate_limited(request: &str, retry_after_ms: u64) -> ServerMessage {
        ServerMessage::Error {
            code: "rate_limited".into(),
            message: format!("too many {request} messages; wait a moment before sending more"),
            request: Some(request.to_owned()),
            retry_after_ms: Some(retry_after_ms.max(1)),
        }
    }

    /// The `type` tag, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerMessage::Welcome { .. } => "welcome",
            ServerMessage::ParticipantJoined { .. } => "participant_joined",
            ServerMessage::ParticipantUpdated { .. } => "participant_updated",
            ServerMessage::ParticipantLeft { .. } => "participant_left",
            ServerMessage::TrackPublished { .. } => "track_published",
            ServerMessage::TrackUnpublished { .. } => "track_unpublished",
            ServerMessage::PublishAnswer { .. } => "publish_answer",
            ServerMessage::SubscribeOffer { .. } => "subscribe_offer",
            ServerMessage::SlotMap { .. } => "slot_map",
            ServerMessage::ActiveSpeaker { .. } => "active_speaker",
            ServerMessage::Warning { .. } => "warning",
            ServerMessage::MeetingEnded { .. } => "meeting_ended",
            ServerMessage::Pong { .. } => "pong",
            ServerMessage::Error { .. } => "error",
            ServerMessage::Waiting { .. } => "waiting",
            ServerMessage::WaitingRoom { .. } => "waiting_room",
            ServerMessage::ChatMessage { .. } => "chat_message",
            ServerMessage::Reaction { .. } => "reaction",
            ServerMessage::HostAction { .. } => "host_action",
            ServerMessage::MeetingUpdated { .. } => "meeting_updated",
            ServerMessage::Moved { .. } => "moved",
            ServerMessage::E2eeKey { .. } => "e2ee_key",
            ServerMessage::P2pMode { .. } => "p2p_mode",
            ServerMessage::P2pOffer { .. } => "p2p_offer",
            ServerMessage::P2pAnswer { .. } => "p2p_answer",
            ServerMessage::P2pCandidate { .. } => "p2p_candidate",
            ServerMessage::CaptionsUpdated { .. } => "captions_updated",
            ServerMessage::Caption { .. } => "caption",
            ServerMessage::PollUpdated { .. } => "poll_updated",
            ServerMessage::BreakoutState { .. } => "breakout_state",
            ServerMessage::BreakoutMoved { .. } => "breakout_moved",
            ServerMessage::BreakoutBroadcast { .. } => "breakout_broadcast",
            ServerMessage::BreakoutHelp { .. } => "breakout_help",
        }
    }
}
