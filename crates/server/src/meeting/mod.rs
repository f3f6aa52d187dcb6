//! Meetings as a domain, free of HTTP and SQL: identifiers, status and kind, settings,
//! schedules, roles, and [`authorize`] — the one place that says who may do what.

mod access;
mod authorize;
mod details;
mod ids;
mod lifecycle;
mod schedule;
mod settings;

pub use access::{Access, Relation, Ties};
pub use authorize::{authorize, authorize_seated, Action, Actor, Meeting, RecordingFacts};
/// The one vocabulary for someone's part in a meeting, from the join ticket to the room
/// (`host`, `cohost`, `participant`, `guest`): the signaling protocol's own.
pub use convene_protocol::Role;
pub use details::{duration_of, validate_description, validate_title};
pub use ids::{new_passcode, passcode_matches, MeetingId};
pub use lifecycle::{Closed, Lifecycle, MeetingKind, MeetingStatus};
pub use schedule::parse_tz;
pub use schedule::{Occurrence, Schedule};
pub use settings::{RecordingAccess, Settings, SettingsPatch};

/// The time zone of a stored meeting (validated on write; UTC if it somehow is not).
pub fn schedule_tz(name: &str) -> chrono_tz::Tz {
    name.parse().unwrap_or(chrono_tz::UTC)
}
