//! Per-meeting settings, their defaults and their bounds.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::{Config, E2eePolicy};
use crate::error::{Error, Result};

/// How a meeting behaves when people join it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Settings {
    /// Hold people in a waiting room until a host admits them.
    pub waiting_room: bool,
    /// Let participants in before the host arrives.
    pub join_before_host: bool,
    /// Participants enter muted.
    pub mute_on_entry: bool,
    /// People without an account may join with the link and passcode.
    pub allow_guests: bool,
    /// At most this many people at once (capped server-wide, 100 by default).
    pub max_participants: u32,
    /// The meeting ends this many minutes after it starts.
    pub duration_limit_minutes: u32,
    /// Start recording when the meeting goes live.
    pub auto_record: bool,
    /// Who may watch this meeting's recordings besides the host.
    pub recording_access: RecordingAccess,
    /// End-to-end encrypted: media is encrypted in the browsers with keys the server never
    /// holds; server recording is off and only clients that can do it may join
    /// (docs/e2ee.md). The server's `e2ee_policy` may force or forbid it.
    #[serde(default)]
    pub e2ee: bool,
    /// Two participants connect directly (peer-to-peer) instead of through the SFU while
    /// nothing needs the server's media (docs/architecture.md "Peer-to-peer for two").
    pub peer_to_peer: bool,
    /// Live captions start when the meeting goes live ("Live captions"; hosts can still turn
    /// them on or off in the room). Not with `e2ee`: the server cannot hear those meetings.
    #[serde(default)]
    pub captions: bool,
}

/// Who may watch a meeting's recordings (the host always may).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingAccess {
    /// Only the host.
    Host,
    /// The host and everyone signed in who attended the meeting.
    Participants,
    /// Everyone with an account on this server.
    Organisation,
}

impl RecordingAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingAccess::Host => "host",
            RecordingAccess::Participants => "participants",
            RecordingAccess::Organisation => "organisation",
        }
    }

    pub fn parse(s: &str) -> Option<RecordingAccess> {
        match s {
            "host" => Some(RecordingAccess::Host),
            "participants" => Some(RecordingAccess::Participants),
            "organisation" => Some(RecordingAccess::Organisation),
            _ => None,
        }
    }
}

/// A partial update of [`Settings`]; omitted fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub waiting_room: Option<bool>,
    pub join_before_host: Option<bool>,
    pub mute_on_entry: Option<bool>,
    pub allow_guests: Option<bool>,
    pub max_participants: Option<u32>,
    pub duration_limit_minutes: Option<u32>,
    pub auto_record: Option<bool>,
    pub recording_access: Option<RecordingAccess>,
    pub e2ee: Option<bool>,
    pub peer_to_peer: Option<bool>,
    pub captions: Option<bool>,
}

impl Settings {
    pub fn defaults(cfg: &Config) -> Settings {
        Settings {
            waiting_room: false,
            join_before_host: false,
            mute_on_entry: false,
            allow_guests: true,
            max_participants: cfg.max_participants,
            duration_limit_minutes: cfg.default_duration_limit,
            auto_record: false,
            recording_access: RecordingAccess::Participants,
            e2ee: cfg.e2ee_policy == E2eePolicy::Require,
            peer_to_peer: cfg.peer_to_peer,
            captions: false,
        }
    }

    /// The defaults for a meeting `host` schedules: the server's, with the host's own choice
    /// of end-to-end encryption where the server policy leaves it to them.
    pub fn defaults_for(cfg: &Config, host_e2ee_default: bool) -> Settings {
        let mut s = Settings::defaults(cfg);
        s.e2ee = match cfg.e2ee_policy {
            E2eePolicy::Allow => host_e2ee_default,
            E2eePolicy::Require => true,
            E2eePolicy::Forbid => false,
        };
        s
    }

    /// Applies a patch and checks the result against the server's limits.
    pub fn patched(&self, patch: &SettingsPatch, cfg: &Config) -> Result<Settings> {
        let s = Settings {
            waiting_room: patch.waiting_room.unwrap_or(self.waiting_room),
            join_before_host: patch.join_before_host.unwrap_or(self.join_before_host),
            mute_on_entry: patch.mute_on_entry.unwrap_or(self.mute_on_entry),
            allow_guests: patch.allow_guests.unwrap_or(self.allow_guests),
            max_participants: patch.max_participants.unwrap_or(self.max_participants),
            duration_limit_minutes: patch.duration_limit_minutes.unwrap_or(self.duration_limit_minutes),
            auto_record: patch.auto_record.unwrap_or(self.auto_record),
            recording_access: patch.recording_access.unwrap_or(self.recording_access),
            e2ee: patch.e2ee.unwrap_or(self.e2ee),
            peer_to_peer: patch.peer_to_peer.unwrap_or(self.peer_to_peer),
            captions: patch.captions.unwrap_or(self.captions),
        };
        match (cfg.e2ee_policy, s.e2ee) {
            (E2eePolicy::Require, false) => {
                return Err(Error::invalid(
                    "e2ee_required",
                    "this server requires every meeting to be end-to-end encrypted",
                ))
            }
            (E2eePolicy::Forbid, true) => {
                return Err(Error::invalid(
                    "e2ee_forbidden",
                    "this server does not allow end-to-end encrypted meetings",
                ))
            }
            _ => {}
        }
        if s.e2ee && s.auto_record {
            return Err(Error::invalid(
                "e2ee_no_server_recording",
                "an end-to-end encrypted meeting cannot be recorded on the server: turn auto_record off \
                 (participants may still record on their devices)",
            ));
        }
        if patch.captions == Some(true) && cfg.captions.is_none() {
            return Err(Error::invalid(
                "captions_unavailable",
                "this server does not run live captions (its operator sets --captions-engine)",
            ));
        }
        if s.e2ee && s.captions {
            return Err(Error::invalid(
                "e2ee_no_server_captions",
                "Captions are unavailable in end-to-end encrypted meetings: the server cannot hear them \
                 (turn captions off)",
            ));
        }
        if !(2..=cfg.max_participants).contains(&s.max_participants) {
            return Err(Error::invalid(
                "invalid_max_participants",
                format!("max_participants must be between 2 and {}", cfg.max_participants),
            ));
        }
        if !(1..=cfg.max_duration_limit).contains(&s.duration_limit_minutes) {
            return Err(Error::invalid(
                "invalid_duration_limit",
                format!("duration_limit_minutes must be between 1 and {}", cfg.max_duration_limit),
            ));
        }
        Ok(s)
    }

    /// Reads stored settings, falling back to defaults for fields added later. A server
    /// policy set after the meeting was scheduled wins over its stored `e2ee` (and a forced
    /// E2EE turns its `auto_record` off).
    pub fn from_stored(json: &str, cfg: &Config) -> Settings {
        let mut patch: SettingsPatch = serde_json::from_str(json).unwrap_or_default();
        match cfg.e2ee_policy {
            E2eePolicy::Allow => {}
            E2eePolicy::Require => patch.e2ee = Some(true),
            E2eePolicy::Forbid => patch.e2ee = Some(false),
        }
        if patch.e2ee == Some(true) {
            patch.auto_record = Some(false);
            patch.captions = Some(false);
        }
        let defaults = Settings::defaults(cfg);
        defaults.patched(&patch, cfg).unwrap_or(defaults)
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
