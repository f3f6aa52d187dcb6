//! What the messages talk about: participants, tracks, the meeting, chat, and the reasons and
//! actions the server names.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    #[schemars(schema_with = "crate::schema::time")]
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
    #[schemars(schema_with = "crate::schema::e2ee_identity")]
    pub e2ee_identity: Option<String>,
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
    #[schemars(schema_with = "crate::schema::track_kind")]
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
    #[schemars(schema_with = "crate::schema::time")]
    pub started_at: String,
    /// Seconds until the duration limit ends the meeting.
    pub time_left_seconds: i64,
    #[schemars(schema_with = "crate::schema::meeting_settings")]
    pub settings: serde_json::Value,
    pub locked: bool,
    pub recording: bool,
    /// Live captions are on (`caption` messages come).
    #[serde(default)]
    pub captions: bool,
    /// This server runs a captions engine, so a moderator may turn captions on (`false`: no
    /// captions control to show).
    #[serde(default)]
    pub captions_available: bool,
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
    #[schemars(schema_with = "crate::schema::time")]
    pub sent_at: String,
    /// A shared file this message announces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<SharedFile>,
    /// Sent in breakout room `room` (seen by its members only); absent in the main room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<u32>,
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
    #[schemars(schema_with = "crate::schema::time")]
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

/// One m-line of a slot subscription (docs/protocol.md §2e) and the track it carries now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MediaSlot {
    /// The slot's m-line in the `subscribe_offer` that offered it.
    pub mid: String,
    /// `audio` or `video`; a slot never changes kind.
    #[schemars(schema_with = "crate::schema::track_kind")]
    pub kind: String,
    /// The track (see `track_published`) the slot carries now; `null`: idle, nothing comes.
    pub track_id: Option<String>,
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

// --- polls (issue 21) ---

/// Longest poll question, in characters.
pub const MAX_POLL_QUESTION_CHARS: usize = 300;
/// Longest poll option, in characters.
pub const MAX_POLL_OPTION_CHARS: usize = 100;
/// How many options a poll has: at least 2, at most 10.
pub const MIN_POLL_OPTIONS: usize = 2;
pub const MAX_POLL_OPTIONS: usize = 10;

/// Whether a poll still takes votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PollStatus {
    Open,
    Ended,
}

/// A poll as one participant sees it: results only for moderators, or for everyone once a
/// moderator shared them; who chose what only for moderators, and never in anonymous polls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Poll {
    /// `poll_…`, unique in the meeting.
    pub poll_id: String,
    pub question: String,
    /// The options, in order; votes name them by index.
    pub options: Vec<String>,
    /// Several options may be chosen (`false`: exactly one).
    pub multiple: bool,
    /// Nobody, moderators included, sees who chose what; it is never stored.
    pub anonymous: bool,
    pub status: PollStatus,
    /// The results were shared with everyone.
    pub shared: bool,
    /// RFC 3339 time it was created.
    #[schemars(schema_with = "crate::schema::time")]
    pub created_at: String,
    /// The options I chose (indexes; empty: I have not voted).
    pub my_choices: Vec<u32>,
    /// Counts per option and who voted, when I may see them.
    pub results: Option<PollResults>,
}

/// A poll's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PollResults {
    /// Votes per option, in the order of `options`.
    pub counts: Vec<u32>,
    /// How many people voted.
    pub voters: u32,
    /// Who chose what (moderators only, and never for an anonymous poll).
    pub ballots: Option<Vec<PollBallot>>,
}

/// One person's choices in a poll that is not anonymous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PollBallot {
    pub display_name: String,
    /// The voter's account (`null`: a guest).
    pub user_id: Option<String>,
    pub choices: Vec<u32>,
}

// --- breakout rooms (docs/protocol.md §2d) ---

/// Fewest and most breakout rooms a meeting may open at once.
pub const BREAKOUT_ROOMS: std::ops::RangeInclusive<u32> = 2..=50;

/// How people are sent to breakout rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakoutAssign {
    /// Everyone but the moderators, split evenly in order of arrival.
    Auto,
    /// As the moderator's `assignments` say.
    Manual,
    /// Each participant picks a room.
    Choose,
}

/// One person sent to one room by `breakout_open`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BreakoutAssignment {
    pub participant_id: String,
    /// 1 to the number of rooms (0: stays in the main room).
    pub room: u32,
}

/// One breakout room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BreakoutRoom {
    /// 1 to the number of rooms.
    pub room: u32,
    pub name: String,
    /// Who is in it now.
    pub participants: Vec<String>,
}

/// The breakout rooms of a meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Breakouts {
    pub open: bool,
    pub assign: BreakoutAssign,
    pub rooms: Vec<BreakoutRoom>,
    /// Seconds until the timer closes the rooms, if one runs.
    pub seconds_left: Option<i64>,
    /// Seconds until everyone returns, once "close all" was asked.
    pub closing_in: Option<i64>,
}
