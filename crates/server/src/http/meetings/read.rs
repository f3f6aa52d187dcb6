//! Reading meetings: my lists, one meeting, its occurrences, attendance and chat history.

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;

use super::super::extract::{AuthUser, Query};
use super::super::{Page, PageQuery};
use super::view::{meeting_view, people_count, AttendanceView, ChatView, MeetingListItem, MeetingView, OccurrenceView};
use super::{access, authorized};
use crate::clock::from_ms;
use crate::error::{Error, ErrorBody, Result};
use crate::meeting::{Action, MeetingStatus};
use crate::state::AppState;
use crate::store::MeetingRow;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// `upcoming` (default), `live` or `past`.
    scope: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OccurrencesQuery {
    /// How many (1-100, default 10).
    count: Option<u16>,
}

/// My meetings: `upcoming` (hosting or invited, soonest first), `live`, or `past` (held, most
/// recent first, with attendance counts).
#[utoipa::path(get, path = "/api/v1/meetings", tag = "meetings", security(("bearer" = [])), params(ListQuery, PageQuery),
    responses((status = 200, body = Page<MeetingListItem>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn list_meetings(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<ListQuery>,
    Query(page): Query<PageQuery>,
) -> Result<axum::Json<Page<MeetingListItem>>> {
    use MeetingStatus::{Cancelled, Ended, Live, Scheduled};
    let page = page.validate()?;
    let now = state.clock.now();
    let u = &auth.user;
    // (sort key, meeting): ascending for upcoming, descending for past.
    let mut chosen: Vec<(i64, MeetingRow)> = match q.scope.as_deref().unwrap_or("upcoming") {
        "upcoming" => state
            .store
            // A recurring meeting is `ended` between occurrences; its series goes on.
            .meetings_of_user(u, &[Scheduled, Live, Ended])
            .await?
            .into_iter()
            .filter(|m| m.lifecycle().closed().is_none())
            .filter_map(|m| {
                let next = m.schedule().ok()?.current_or_next(now);
                match (m.status, next) {
                    (Live, _) => Some((m.started_at.unwrap_or(m.start_at), m)),
                    (_, Some(o)) => Some((o.start.timestamp_millis(), m)),
                    _ => None,
                }
            })
            .collect(),
        "live" => state
            .store
            .meetings_of_user(u, &[Live])
            .await?
            .into_iter()
            .map(|m| (m.started_at.unwrap_or(m.start_at), m))
            .collect(),
        "past" => state
            .store
            .meetings_of_user(u, &[Scheduled, Ended, Cancelled])
            .await?
            .into_iter()
            .filter(|m| m.started_at.is_some())
            .map(|m| (-m.ended_at.or(m.started_at).unwrap_or(m.start_at), m))
            .collect(),
        other => {
            return Err(Error::bad_request("invalid_scope", format!("scope {other:?} is not upcoming, live or past")));
        }
    };
    chosen.sort_by_key(|(k, m)| (*k, m.id));
    let total = chosen.len() as i64;
    let mut items = Vec::new();
    for (_, m) in chosen.into_iter().skip(page.offset() as usize).take(page.size as usize) {
        let my_role = access(&state, &m, u).await?.relation.name().to_owned();
        let attendee_count = people_count(&state.store.attendance(m.id).await?);
        items.push(MeetingListItem { meeting: meeting_view(&state, &m, now).await?, my_role, attendee_count });
    }
    Ok(axum::Json(page.wrap(items, total)))
}

/// One meeting, for its host, co-hosts, invitees and attendees.
#[utoipa::path(get, path = "/api/v1/meetings/{id}", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = MeetingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn get_meeting(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<MeetingView>> {
    let m = authorized(&state, &auth.user, &id, Action::View).await?;
    Ok(axum::Json(meeting_view(&state, &m, state.clock.now()).await?))
}

/// The next occurrences of a (recurring) meeting.
#[utoipa::path(get, path = "/api/v1/meetings/{id}/occurrences", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID"), OccurrencesQuery),
    responses((status = 200, body = Vec<OccurrenceView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn occurrences(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<OccurrencesQuery>,
) -> Result<axum::Json<Vec<OccurrenceView>>> {
    let m = authorized(&state, &auth.user, &id, Action::View).await?;
    let count = q.count.unwrap_or(10);
    if !(1..=100).contains(&count) {
        return Err(Error::bad_request("invalid_query", "count must be between 1 and 100"));
    }
    let list = m.schedule()?.occurrences_after(state.clock.now(), count);
    Ok(axum::Json(list.into_iter().map(Into::into).collect()))
}

/// Who attended, when and for how long (host and co-hosts).
#[utoipa::path(get, path = "/api/v1/meetings/{id}/attendance", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = Vec<AttendanceView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn attendance(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<AttendanceView>>> {
    let m = authorized(&state, &auth.user, &id, Action::SeeAttendance).await?;
    let now = state.clock.now_ms();
    let rows = state.store.attendance(m.id).await?;
    let stays = state.store.breakout_stays(m.id).await?;
    Ok(axum::Json(rows.into_iter().map(|a| AttendanceView::of(a, now, &stays)).collect()))
}

/// The meeting's chat, oldest first, for its host, co-hosts and the people who attended.
/// Private messages appear only to their sender and recipient.
#[utoipa::path(get, path = "/api/v1/meetings/{id}/chat", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID"), PageQuery),
    responses((status = 200, body = Page<ChatView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn chat_history(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<axum::Json<Page<ChatView>>> {
    let page = page.validate()?;
    let m = authorized(&state, &auth.user, &id, Action::ReadRecords).await?;
    let viewer = crate::store::Viewer { participant_id: None, user_id: Some(&auth.user.id) };
    let (rows, total) = state.store.chat_for(m.id, &viewer, page.size, page.offset()).await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        items.push(ChatView {
            file: crate::live::shared_file(&state.store, r).await,
            message_id: r.id.clone(),
            from_name: r.from_name.clone(),
            from_user_id: r.from_user_id.clone(),
            to_name: r.to_name.clone(),
            private: r.to_participant.is_some(),
            text: r.text.clone(),
            sent_at: from_ms(r.sent_at),
            room: r.breakout_room.and_then(|k| u32::try_from(k).ok()),
        });
    }
    Ok(axum::Json(page.wrap(items, total)))
}
