//! Meetings as a domain: identifiers, settings, schedules and who stands how to a meeting,
//! free of HTTP and SQL.

mod ids;
mod relation;
mod schedule;
mod settings;

pub use ids::{new_meeting_id, new_passcode, new_personal_meeting_id, passcode_matches};
pub use relation::{Access, Relation};
pub use schedule::parse_tz;
pub use schedule::{Occurrence, Schedule};
pub use settings::{RecordingAccess, Settings, SettingsPatch};

/// The time zone of a stored meeting (validated on write; UTC if it somehow is not).
pub fn schedule_tz(name: &str) -> chrono_tz::Tz {
    name.parse().unwrap_or(chrono_tz::UTC)
}

/// The schedule of a stored meeting.
pub fn schedule_of(m: &crate::store::MeetingRow) -> crate::error::Result<Schedule> {
    Schedule::new(
        crate::clock::from_ms(m.start_at),
        chrono::Duration::milliseconds(m.end_at - m.start_at),
        schedule_tz(&m.timezone),
        m.recurrence.as_deref(),
    )
}
