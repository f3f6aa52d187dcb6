//! Convene's signaling protocol: the JSON messages exchanged on the meeting WebSocket.
//!
//! Every message is one JSON object with a `"type"` field. The client sends
//! [`ClientMessage`]s, the server [`ServerMessage`]s. The first server message on every
//! connection is [`ServerMessage::Welcome`], carrying [`PROTOCOL_VERSION`]. `docs/protocol.md`
//! describes the order of messages, errors and an example session; this crate is the
//! authoritative shape. No I/O here: the server and test clients share these types.
#![warn(unreachable_pub)]

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[doc(hidden)]
pub mod fuzzing;
mod schema;
pub use schema::{schema, schema_json};

/// Bumped on incompatible changes. Version 1 is the first.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest text frame the server accepts; larger ones get a `message_too_large` error.
///
/// SDP dominates: a subscriber answer carries one m-section (~600 bytes) per remote track,
/// so a full 100-person meeting (100 microphones, a few cameras) needs well over 64 KB.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Longest `e2ee_key` blob, in base64url characters (a sealed key is about 115).
pub const MAX_E2EE_BLOB_CHARS: usize = 1024;

/// Whether `key` has the form of an E2EE identity key: a P-256 public key in uncompressed
/// form (65 bytes) as base64url without padding, 87 characters. The server checks the form
/// only; the browsers check that it is a point on the curve.
pub fn is_e2ee_identity(key: &str) -> bool {
    key.len() == 87 && key.bytes().all(is_base64url)
}

/// Whether `blob` is non-empty base64url text (the length limit is checked apart).
pub fn is_base64url_text(blob: &str) -> bool {
    !blob.is_empty() && blob.bytes().all(is_base64url)
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// A participant's role in a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Host,
    Cohost,
    Participant,
    Guest,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        [Role::Host, Role::Cohost, Role::Participant, Role::Guest].into_iter().find(|r| r.as_str() == s)
    }

    /// The role's name on the wire (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Host => "host",
            Role::Cohost => "cohost",
            Role::Participant => "participant",
            Role::Guest => "guest",
        }
    }

    /// Host and co-hosts manage the meeting.
    pub fn is_moderator(self) -> bool {
        matches!(self, Role::Host | Role::Cohost)
    }
}

/// What others see of a participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Participant {
    /// Stable for the whole stay, including reconnects (`p_…`).
    pub participant_id: String,
    /// The account, or `null` for guests.
    pub user_id: Option<String>,
    pub display_name: String,
    /// The account's profile photo (a path on this server), or `null` for guests and
    /// accounts without one.
    #[serde(default)]
    pub avatar_url: Option<String>,
    pub role: Role,
    /// RFC 3339 time the participant entered.
    #[schemars(schema_with = "schema::time")]
    pub joined_at: String,
    pub muted: bool,
    pub camera_on: bool,
    pub hand_raised: bool,
    pub presenting: bool,
    /// `true` while the participant's connection is lost and may come back (up to the
    /// reconnect grace period).
    pub reconnecting: bool,
    /// A moderator allowed this participant to record the meeting on their own device
    /// (hosts and co-hosts may always, guests never).
    #[serde(default)]
    pub local_recording_allowed: bool,
    /// `true` while this participant records the meeting on their device (everyone sees it).
    #[serde(default)]
    pub recording_locally: bool,
    /// End-to-end encrypted meetings: the participant's public identity key for this stay
    /// (P-256, uncompressed, base64url; see docs/e2ee.md). `null` in other meetings.
    #[serde(default)]
    #[schemars(schema_with = "schema::e2ee_identity")]
    pub e2ee_identity: Option<String>,
}

impl Participant {
    /// Whether this participant may record the meeting on their device: moderators always,
    /// others when a moderator allowed it. Guests never (an upload needs an account).
    pub fn may_record_locally(&self) -> bool {
        self.user_id.is_some() && (self.role.is_moderator() || self.local_recording_allowed)
    }
}

/// Where a published track comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrackSource {
    Microphone,
    Camera,
    Screen,
    ScreenAudio,
}

/// A published media track others can receive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Track {
    pub track_id: String,
    pub participant_id: String,
    /// `audio` or `video`.
    #[schemars(schema_with = "schema::track_kind")]
    pub kind: String,
    pub source: TrackSource,
    /// Video published in several qualities (simulcast).
    pub simulcast: bool,
    pub muted: bool,
}

/// Meeting facts a client needs to render the room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MeetingInfo {
    pub meeting_id: i64,
    pub title: String,
    pub host_id: String,
    /// RFC 3339 time the meeting went live.
    #[schemars(schema_with = "schema::time")]
    pub started_at: String,
    /// Seconds until the duration limit ends the meeting.
    pub time_left_seconds: i64,
    #[schemars(schema_with = "schema::meeting_settings")]
    pub settings: serde_json::Value,
    pub locked: bool,
    pub recording: bool,
}

/// A chat message (see the meeting-life protocol additions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatMessage {
    pub message_id: String,
    pub from: String,
    pub from_name: String,
    /// `null` for everyone; a participant id for a private message.
    pub to: Option<String>,
    pub text: String,
    /// RFC 3339 time the message was sent.
    #[schemars(schema_with = "schema::time")]
    pub sent_at: String,
    /// A shared file this message announces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<SharedFile>,
}

/// A file shared in the meeting chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SharedFile {
    pub file_id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    /// Download path (relative to the server); needs the participant's credentials.
    pub url: String,
}

/// Someone in the waiting room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WaitingPerson {
    pub participant_id: String,
    pub display_name: String,
    pub user_id: Option<String>,
    /// RFC 3339 time they started waiting.
    #[schemars(schema_with = "schema::time")]
    pub since: String,
}

/// What a moderator did, as the affected people are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostAction {
    Muted,
    MutedAll,
    AskedToUnmute,
    VideoStopped,
    Removed,
    HandLowered,
    Promoted,
    Demoted,
    /// A moderator allowed the target to record on their device.
    LocalRecordingAllowed,
    /// A moderator withdrew the target's permission to record on their device.
    LocalRecordingDisallowed,
    MadeHost,
    Locked,
    Unlocked,
}

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
        #[schemars(schema_with = "schema::reaction")]
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
        #[schemars(schema_with = "schema::assignable_role")]
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
        #[schemars(schema_with = "schema::e2ee_blob")]
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
}

/// An ICE candidate as the browser's `RTCIceCandidate.toJSON()` gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IceCandidate {
    /// The `candidate:` attribute (at most 512 characters; empty: end of candidates).
    #[schemars(length(max = 512))]
    pub candidate: String,
    #[serde(default, rename = "sdpMid")]
    pub sdp_mid: Option<String>,
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_m_line_index: Option<u32>,
    #[serde(default, rename = "usernameFragment")]
    pub username_fragment: Option<String>,
}

/// How media flows for a participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaMode {
    /// Through the SFU (the default).
    Sfu,
    /// Directly to the one other participant (`peer`).
    P2p,
}

/// Emoji accepted by `react`.
pub const REACTIONS: &[&str] = &["👍", "👏", "❤️", "😂", "😮", "🎉", "🤔", "👋"];

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 4000;

/// One m-line of a subscribe offer: the remote track it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OfferedTrack {
    pub mid: String,
    pub track_id: String,
}

/// One m-line of a publish offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PublishedTrack {
    pub mid: String,
    pub source: TrackSource,
    #[serde(default)]
    pub muted: bool,
}

/// Why a participant left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// They left.
    Left,
    /// Their connection was lost and did not come back within the grace period.
    Disconnected,
    /// A host removed them.
    Removed,
    /// The meeting ended.
    MeetingEnded,
}

/// Why a meeting ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The host ended it for everyone.
    EndedByHost,
    /// The duration limit passed.
    DurationLimit,
    /// Everyone left.
    Empty,
    /// The host cancelled the meeting.
    Cancelled,
}

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
        /// Which remote track each offered m-line carries.
        #[serde(default)]
        tracks: Vec<OfferedTrack>,
        /// Names the offer; echo it in `subscribe_answer`.
        offer_id: u64,
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
        #[schemars(schema_with = "schema::e2ee_blob")]
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
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_by_type() {
        assert_eq!(parse_client(r#"{"type":"ping","id":7}"#), Ok(ClientMessage::Ping { id: Some(7) }));
        assert_eq!(
            parse_client(r#"{"type":"set_state","muted":true}"#),
            Ok(ClientMessage::SetState {
                muted: Some(true),
                camera_on: None,
                hand_raised: None,
                recording_locally: None
            })
        );
        assert_eq!(parse_client(r#"{"type":"leave"}"#), Ok(ClientMessage::Leave));
    }

    #[test]
    fn local_recording_messages_and_who_may_record() {
        assert_eq!(
            parse_client(r#"{"type":"allow_local_recording","participant_id":"p_1","allowed":true}"#),
            Ok(ClientMessage::AllowLocalRecording { participant_id: "p_1".into(), allowed: true })
        );
        assert!(matches!(
            parse_client(r#"{"type":"set_state","recording_locally":true}"#),
            Ok(ClientMessage::SetState { recording_locally: Some(true), .. })
        ));
        // Older servers' participants (without the fields) still parse.
        let old = r#"{"participant_id":"p_1","user_id":"u","display_name":"A","role":"participant",
            "joined_at":"","muted":false,"camera_on":false,"hand_raised":false,"presenting":false,"reconnecting":false}"#;
        let mut p: Participant = serde_json::from_str(old).unwrap();
        assert!(!p.local_recording_allowed && !p.recording_locally);
        assert!(!p.may_record_locally());
        p.local_recording_allowed = true;
        assert!(p.may_record_locally());
        p.local_recording_allowed = false;
        p.role = Role::Cohost;
        assert!(p.may_record_locally(), "moderators may always");
        p.user_id = None;
        assert!(!p.may_record_locally(), "guests never: the upload needs an account");
    }

    #[test]
    fn e2ee_forms() {
        assert_eq!(
            parse_client(r#"{"type":"e2ee_key","to":"p_1","blob":"AAA"}"#),
            Ok(ClientMessage::E2eeKey { to: "p_1".into(), blob: "AAA".into() })
        );
        assert!(is_e2ee_identity(&"B".repeat(87)));
        assert!(!is_e2ee_identity(&"B".repeat(86)));
        assert!(!is_e2ee_identity(&format!("{}=", "B".repeat(86))));
        assert!(is_base64url_text("a-_Z09"));
        assert!(!is_base64url_text("") && !is_base64url_text("a+b") && !is_base64url_text("a b"));
    }

    #[test]
    fn bad_frames_are_classified() {
        assert!(matches!(parse_client("{not json"), Err(ParseError::Malformed(_))));
        assert!(matches!(parse_client(r#"{"no":"type"}"#), Err(ParseError::Malformed(_))));
        assert_eq!(parse_client(r#"{"type":"fly"}"#), Err(ParseError::UnknownType("fly".into())));
        assert!(
            matches!(parse_client(r#"{"type":"set_state","muted":"yes"}"#), Err(ParseError::InvalidFields(k, _)) if k == "set_state")
        );
        assert!(matches!(parse_client(r#"{"type":"ping","extra":1}"#), Err(ParseError::InvalidFields(..))));
    }

    #[test]
    fn server_messages_carry_their_type_tag() {
        let json = serde_json::to_value(ServerMessage::Pong { id: Some(1) }).unwrap();
        assert_eq!(json["type"], "pong");
        let err = serde_json::to_value(ServerMessage::error("x", "y", Some("ping"))).unwrap();
        assert_eq!(err["type"], "error");
        assert_eq!(err["request"], "ping");
    }
}
