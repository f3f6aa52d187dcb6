//! How meetings look in the API: the views and their building.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::from_ms;
use crate::error::Result;
use crate::meeting::{Occurrence, Settings};
use crate::state::AppState;
use crate::store::{AttendanceRow, MeetingRow};

#[derive(Serialize, ToSchema, Clone)]
pub(crate) struct OccurrenceView {
    start_time: DateTime<Utc>,
    end_time: DateTime<Utc>,
}

impl From<Occurrence> for OccurrenceView {
    fn from(o: Occurrence) -> Self {
        OccurrenceView { start_time: o.start, end_time: o.end }
    }
}

#[derive(Serialize, ToSchema, Clone)]
pub(crate) struct InviteeView {
    email: String,
    user_id: Option<String>,
}

/// A meeting as its host, co-hosts and invitees see it.
#[derive(Serialize, ToSchema)]
pub(crate) struct MeetingView {
    /// Numeric meeting ID people type to join (10 digits; 11 for personal rooms).
    #[schema(example = 8412345678_i64)]
    meeting_id: i64,
    title: String,
    description: String,
    /// `scheduled`, `instant` or `personal`.
    kind: String,
    /// `scheduled`, `live`, `ended` or `cancelled`.
    status: String,
    host_id: String,
    host_name: Option<String>,
    start_time: DateTime<Utc>,
    end_time: DateTime<Utc>,
    duration_minutes: i64,
    timezone: String,
    recurrence: Option<String>,
    /// The running or next occurrences (up to 5).
    next_occurrences: Vec<OccurrenceView>,
    passcode: String,
    /// Link that opens the meeting with the passcode filled in.
    join_url: String,
    invitees: Vec<InviteeView>,
    co_hosts: Vec<String>,
    settings: Settings,
    /// Bumped on every change (the calendar SEQUENCE).
    sequence: i64,
    started_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Another meeting of the same host that overlaps.
#[derive(Serialize, ToSchema)]
pub(crate) struct Conflict {
    pub(super) meeting_id: i64,
    pub(super) title: String,
    pub(super) start_time: DateTime<Utc>,
    pub(super) end_time: DateTime<Utc>,
}

/// A created or updated meeting, with any overlaps with the host's other meetings.
#[derive(Serialize, ToSchema)]
pub(crate) struct MeetingWithConflicts {
    #[serde(flatten)]
    pub(super) meeting: MeetingView,
    /// Overlapping meetings of the same host; a warning, not an error.
    pub(super) conflicts: Vec<Conflict>,
}

/// One entry of a meeting list.
#[derive(Serialize, ToSchema)]
pub(crate) struct MeetingListItem {
    #[serde(flatten)]
    pub(super) meeting: MeetingView,
    /// `host`, `cohost`, `invitee` or `attendee`.
    pub(super) my_role: String,
    /// People who joined (past meetings).
    pub(super) attendee_count: usize,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AttendanceView {
    user_id: Option<String>,
    display_name: String,
    role: String,
    joined_at: DateTime<Utc>,
    left_at: Option<DateTime<Utc>>,
    /// Seconds present (until now if still there).
    duration_seconds: i64,
    /// The breakout rooms this attendee was in, in order.
    breakout_rooms: Vec<BreakoutStayView>,
}

/// A stay in a breakout room.
#[derive(Serialize, ToSchema)]
pub(crate) struct BreakoutStayView {
    room: i64,
    room_name: String,
    entered_at: DateTime<Utc>,
    left_at: Option<DateTime<Utc>>,
}

impl AttendanceView {
    pub(super) fn of(a: AttendanceRow, now_ms: i64, stays: &[crate::store::BreakoutStay]) -> AttendanceView {
        AttendanceView {
            breakout_rooms: stays
                .iter()
                .filter(|s| s.attendance_id == a.id)
                .map(|s| BreakoutStayView {
                    room: s.room,
                    room_name: s.room_name.clone(),
                    entered_at: from_ms(s.entered_at),
                    left_at: s.left_at.map(from_ms),
                })
                .collect(),
            duration_seconds: (a.left_at.unwrap_or(now_ms) - a.joined_at).max(0) / 1000,
            user_id: a.user_id,
            display_name: a.display_name,
            role: a.role,
            joined_at: from_ms(a.joined_at),
            left_at: a.left_at.map(from_ms),
        }
    }
}

/// One chat message as the history lists it.
#[derive(Serialize, ToSchema)]
pub(crate) struct ChatView {
    pub(super) message_id: String,
    pub(super) from_name: String,
    pub(super) from_user_id: Option<String>,
    /// The recipient of a private message (`null`: to everyone).
    pub(super) to_name: Option<String>,
    pub(super) private: bool,
    pub(super) text: String,
    pub(super) sent_at: DateTime<Utc>,
    /// A shared file the message announces.
    #[schema(value_type = Option<Object>)]
    pub(super) file: Option<convene_protocol::SharedFile>,
    /// Sent to everyone in this breakout room (1-based; its name is in the attendance);
    /// absent: the main room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) room: Option<u32>,
}

/// The API view of a stored meeting at time `now`.
pub(crate) async fn meeting_view(state: &AppState, m: &MeetingRow, now: DateTime<Utc>) -> Result<MeetingView> {
    let host_name = state.store.user_by_id(&m.host_id).await?.map(|u| u.display_name);
    let next_occurrences = match m.lifecycle().closed() {
        Some(_) => vec![],
        None => m.schedule().map(|s| s.occurrences_after(now, 5)).unwrap_or_default(),
    };
    Ok(MeetingView {
        meeting_id: m.id,
        title: m.title.clone(),
        description: m.description.clone(),
        kind: m.kind.as_str().into(),
        status: m.status.as_str().into(),
        host_id: m.host_id.clone(),
        host_name,
        start_time: from_ms(m.start_at),
        end_time: from_ms(m.end_at),
        duration_minutes: (m.end_at - m.start_at) / 60_000,
        timezone: m.timezone.clone(),
        recurrence: m.recurrence.clone(),
        next_occurrences: next_occurrences.into_iter().map(Into::into).collect(),
        passcode: m.passcode.clone(),
        join_url: format!("{}/j/{}?pwd={}", state.config.public_url, m.id, m.passcode),
        invitees: state
            .store
            .invitees(m.id)
            .await?
            .into_iter()
            .map(|i| InviteeView { email: i.email, user_id: i.user_id })
            .collect(),
        co_hosts: state.store.co_hosts(m.id).await?,
        settings: m.settings(&state.config),
        sequence: m.sequence,
        started_at: m.started_at.map(from_ms),
        ended_at: m.ended_at.map(from_ms),
        created_at: from_ms(m.created_at),
        updated_at: from_ms(m.updated_at),
    })
}

/// How many people attended: a signed-in user who left and came back counts once; guests
/// have no identity across visits, so each guest visit counts.
pub(super) fn people_count(rows: &[AttendanceRow]) -> usize {
    let users: std::collections::BTreeSet<&str> = rows.iter().filter_map(|a| a.user_id.as_deref()).collect();
    users.len() + rows.iter().filter(|a| a.user_id.is_none()).count()
}
