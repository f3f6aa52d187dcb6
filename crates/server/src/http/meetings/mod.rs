//! Meetings: schedule, edit, cancel, list, personal room, attendance and joining by ID +
//! passcode. Handlers parse, ask [`authorize`](crate::meeting::authorize), call and render.

mod edit;
mod join;
mod polls;
mod read;
mod view;

use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) use join::{pass_the_door, Door};
pub(crate) use view::{meeting_view, MeetingView};

use crate::clock::from_ms;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::meeting::{authorize, Access, Action, Actor, MeetingId};
use crate::notify::MeetingChange;
use crate::state::AppState;
use crate::store::{MeetingRow, UserRow};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(edit::create_meeting, read::list_meetings))
        .routes(routes!(edit::personal_room))
        .routes(routes!(read::get_meeting, edit::update_meeting, edit::cancel_meeting))
        .routes(routes!(read::occurrences))
        .routes(routes!(read::attendance))
        .routes(routes!(join::join_meeting))
        .routes(routes!(super::ws::meeting_ws))
        .routes(routes!(read::chat_history))
        .routes(routes!(polls::polls))
}

/// The meeting a path names.
pub(super) async fn load(state: &AppState, raw_id: &str) -> Result<MeetingRow> {
    let id = MeetingId::parse(raw_id)?;
    state.store.meeting(id.get()).await?.ok_or_else(|| Error::not_found("meeting_not_found", "no meeting has that ID"))
}

/// How `user` stands to meeting `m`.
pub(super) async fn access(state: &AppState, m: &MeetingRow, user: &UserRow) -> Result<Access> {
    state.store.access(m.id, &m.host_id, user).await
}

/// The meeting a path names, if `user` may do `action` with it.
pub(super) async fn authorized(
    state: &AppState,
    user: &UserRow,
    raw_id: &str,
    action: Action<'_>,
) -> Result<MeetingRow> {
    let m = load(state, raw_id).await?;
    let actor = Actor::account(access(state, &m, user).await?);
    authorize(&actor, &m.facts(&state.config), action)?;
    Ok(m)
}

/// Tells invitees (mail + calendar) and subscribers (webhooks) about a change. The change
/// itself is already saved; failing to queue mail is logged, not reported to the caller.
async fn announce(state: &AppState, m: &MeetingRow, kind: &'static str, change: MeetingChange<'_>) {
    if let Err(e) = crate::notify::meeting_changed(state, m, change).await {
        tracing::error!(meeting_id = m.id, error = %e, "could not queue meeting mails");
    }
    let data = serde_json::json!({
        "meeting": {
            "meeting_id": m.id, "title": m.title, "status": m.status.as_str(), "host_id": m.host_id,
            "start_time": from_ms(m.start_at), "end_time": from_ms(m.end_at), "timezone": m.timezone,
            "recurrence": m.recurrence, "sequence": m.sequence,
        }
    });
    state.events.emit(Event::new(kind, state.clock.now(), Some(m.id), Some(m.host_id.clone()), data));
}
