//! What the client sends, and how a client frame is read.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::*;

/// What the client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Keep-alive / latency probe; answered with `pong` carrying the same `id`.
    Ping {
        #[serde(default)]
        id: Option<u64>,
    },
    /// Change my own state (only the fields given).
    SetState {
        #[serde(default)]
        muted: Option<bool>,
        #[serde(default)]
        camera_on: Option<bool>,
        #[serde(default)]
        hand_raised: Option<bool>,
        /// Recording on my device started (`true`) or stopped (`false`); `true` only for a
        /// participant who may record locally (a moderator, or allowed by one).
        #[serde(default)]
        recording_locally: Option<bool>,
    },
    /// Media: the offer of the client's publishing peer connection, and what each of its
    /// m-lines carries. Answered by `publish_answer`.
    PublishOffer {
        sdp: String,
        tracks: Vec<PublishedTrack>,
        /// Start media over (new peer connections after ICE failed): the server drops this
        /// participant's old connections first.
        #[serde(default)]
        restart: bool,
    },
    /// Media: the client's answer to a `subscribe_offer`.
    SubscribeAnswer {
        sdp: String,
        /// The `offer_id` of the offer answered (absent: whichever offer is outstanding).
        #[serde(default)]
        offer_id: Option<u64>,
    },
    /// Media: the size a remote video track is shown at, so the server sends a fitting layer
    /// (0×0 = not visible: pause it).
    SetVideoSize { track_id: String, width: u32, height: u32 },
    /// Leave the meeting for good (no reconnect grace).
    Leave,
    /// Send a chat message to everyone, or privately to one participant.
    ChatSend {
        /// 1 to 4000 characters (surrounding white space is trimmed).
        #[schemars(length(min = 1, max = 4000))]
        text: String,
        /// A participant id: a private message to them.
        #[serde(default)]
        to: Option<String>,
    },
    /// A floating emoji reaction.
    React {
        #[schemars(schema_with = "crate::schema::reaction")]
        emoji: String,
    },
    // --- moderator controls (host and co-hosts; `end_meeting` and `transfer_host`: host) ---
    /// Mute one participant.
    Mute { participant_id: String },
    /// Mute everyone but the moderators.
    MuteAll,
    /// Ask one participant (or, without `participant_id`, everyone muted) to unmute.
    AskUnmute {
        #[serde(default)]
        participant_id: Option<String>,
    },
    /// Turn off someone's camera.
    StopVideo { participant_id: String },
    /// Lower someone's hand, or everyone's without `participant_id`.
    LowerHand {
        #[serde(default)]
        participant_id: Option<String>,
    },
    /// Remove a participant; they cannot rejoin this meeting.
    Remove { participant_id: String },
    /// Lock or unlock the meeting (no new joins while locked).
    Lock { locked: bool },
    /// Let someone in from the waiting room.
    Admit { participant_id: String },
    /// Let everyone in from the waiting room.
    AdmitAll,
    /// Refuse someone in the waiting room.
    Deny { participant_id: String },
    /// Make a participant co-host (`cohost`) or a plain participant again (`participant`).
    SetRole {
        participant_id: String,
        #[schemars(schema_with = "crate::schema::assignable_role")]
        role: Role,
    },
    /// Hand the host role to someone else (host only).
    TransferHost { participant_id: String },
    /// End the meeting for everyone (host only).
    EndMeeting,
    /// Start (`true`) or stop (`false`) recording the meeting on the server (host or
    /// co-host). Everyone is told with `meeting_updated`.
    Record { recording: bool },
    /// Allow (or no longer allow) a signed-in participant to record the meeting on their
    /// device (host or co-host). Disallowing stops a recording in progress.
    AllowLocalRecording { participant_id: String, allowed: bool },
    /// End-to-end encrypted meetings: a sealed key blob for one other participant. The
    /// server relays it as `e2ee_key` to `to` only and never reads it (docs/e2ee.md).
    E2eeKey {
        /// The participant the blob is sealed for.
        to: String,
        /// base64url, at most [`MAX_E2EE_BLOB_CHARS`] characters.
        #[schemars(schema_with = "crate::schema::e2ee_blob")]
        blob: String,
    },
    // --- peer-to-peer for two (docs/protocol.md §2b) ---
    /// This client can connect to one other participant directly (sent after `welcome`);
    /// without it the meeting never leaves the SFU for this participant.
    P2pCapable,
    /// The offer of the direct connection, to the other member of the current pair.
    P2pOffer {
        /// The other participant of the pair.
        to: String,
        /// The `session` of the `p2p_mode` this belongs to.
        session: u64,
        sdp: String,
    },
    /// The answer to a `p2p_offer`, to the other member of the current pair.
    P2pAnswer { to: String, session: u64, sdp: String },
    /// A trickled ICE candidate of the direct connection (`null`: gathering is complete).
    P2pCandidate {
        to: String,
        session: u64,
        #[serde(default)]
        candidate: Option<IceCandidate>,
    },
    /// The direct connection carries media (`connected: true`), or could not be made
    /// (`connected: false`): the server moves the pair to the SFU.
    P2pStatus { session: u64, connected: bool },
    // --- live captions (docs/protocol.md §2c) ---
    /// Turn the server's live captions on or off for everyone (host or co-host). Refused
    /// in end-to-end encrypted meetings (`e2ee_no_server_captions`: the server cannot hear
    /// them) and when the server runs no captions engine (`captions_unavailable`).
    /// Everyone is told with `captions_updated`.
    Captions { on: bool },
    // --- polls (docs/protocol.md §5d; creating, ending and sharing: host and co-hosts) ---
    /// Start a poll: everyone gets `poll_updated`.
    PollCreate {
        /// 1 to 300 characters.
        #[schemars(length(min = 1, max = 300))]
        question: String,
        /// 2 to 10 different options of 1 to 100 characters each.
        #[schemars(length(min = 2, max = 10))]
        options: Vec<String>,
        /// Several options may be chosen.
        #[serde(default)]
        multiple: bool,
        /// Nobody sees who chose what.
        #[serde(default)]
        anonymous: bool,
    },
    /// Vote in an open poll, or change my vote: `choices` replaces what I chose before
    /// (exactly one option unless the poll is `multiple`).
    PollVote { poll_id: String, choices: Vec<u32> },
    /// Stop taking votes.
    PollEnd { poll_id: String },
    /// Show an ended poll's results to everyone.
    PollShare { poll_id: String },
    // --- breakout rooms (docs/protocol.md §2d; host and co-hosts unless said) ---
    /// Open `rooms` breakout rooms and send people to them: `auto` splits everyone but the
    /// moderators evenly, `manual` follows `assignments` (the rest stay in the main room),
    /// `choose` lets each participant pick with `breakout_choose`.
    BreakoutOpen {
        /// 2 to 50.
        #[schemars(range(min = 2, max = 50))]
        rooms: u32,
        assign: BreakoutAssign,
        /// Room names, in order (missing ones are "Room N").
        #[serde(default)]
        names: Vec<String>,
        /// `manual`: who goes where.
        #[serde(default)]
        assignments: Vec<BreakoutAssignment>,
        /// Close the rooms by themselves after this many minutes (1 to 720), with a
        /// `breakout_ending` warning 60 s before.
        #[serde(default)]
        #[schemars(range(min = 1, max = 720))]
        minutes: Option<u32>,
    },
    /// Rename an open room.
    BreakoutRename {
        room: u32,
        /// 1 to 60 characters.
        #[schemars(length(min = 1, max = 60))]
        name: String,
    },
    /// Move someone to room `room` (0: the main room) while the rooms are open.
    BreakoutMove { participant_id: String, room: u32 },
    /// Go to room `room` myself (0: back to the main room, always allowed). A participant
    /// may pick a room only when the rooms were opened with `assign: choose`; a moderator
    /// may visit any room.
    BreakoutChoose { room: u32 },
    /// A message shown in every room.
    BreakoutBroadcast {
        #[schemars(length(min = 1, max = 500))]
        text: String,
    },
    /// Anyone in a breakout room: ask the moderators to come (they get `breakout_help`).
    BreakoutHelp,
    /// Close all rooms: everyone is told the countdown, then returns to the main room.
    BreakoutClose {
        /// Seconds before everyone returns (0 to 300, default 60).
        #[serde(default)]
        #[schemars(range(max = 300))]
        countdown_seconds: Option<u32>,
    },
}

/// Parses a client frame, telling apart bad JSON, unknown types and bad fields.
pub fn parse_client(text: &str) -> Result<ClientMessage, ParseError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ParseError::Malformed(e.to_string()))?;
    let Some(kind) = value.get("type").and_then(|t| t.as_str()).map(str::to_owned) else {
        return Err(ParseError::Malformed("a message is a JSON object with a string \"type\"".into()));
    };
    serde_json::from_value(value).map_err(|e| {
        if e.to_string().starts_with("unknown variant") {
            ParseError::UnknownType(kind)
        } else {
            ParseError::InvalidFields(kind, e.to_string())
        }
    })
}

/// Why a client frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Malformed(String),
    UnknownType(String),
    InvalidFields(String, String),
}

impl ParseError {
    /// The error frame to answer with.
    pub fn to_message(&self) -> ServerMessage {
        match self {
            ParseError::Malformed(why) => ServerMessage::error("malformed_message", why.clone(), None),
            ParseError::UnknownType(kind) => {
                ServerMessage::error("unknown_message_type", format!("no message type {kind:?}"), Some(kind))
            }
            ParseError::InvalidFields(kind, why) => {
                ServerMessage::error("invalid_message", format!("{kind}: {why}"), Some(kind))
            }
        }
    }
}
