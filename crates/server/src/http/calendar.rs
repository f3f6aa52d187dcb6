//! Calendar integration: a meeting's `.ics`, my secret subscribable feed, reminder preferences.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AuthUser, Json};
use crate::auth::{random_secret, token_hash};
use crate::clock::from_ms;
use crate::error::{Error, ErrorBody, Result};
use crate::meeting::{Action, MeetingStatus};
use crate::notify::ics;
use crate::state::AppState;
use crate::store::{MeetingRow, UserRow};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(meeting_ics))
        .routes(routes!(feed_status, rotate_feed, revoke_feed))
        .routes(routes!(feed))
        .routes(routes!(get_preferences, put_preferences))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct FeedStatus {
    active: bool,
    created_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct FeedUrl {
    /// Secret URL to subscribe to in Google Calendar, Outlook or Apple Calendar. Shown once;
    /// rotating it makes the old one stop working.
    url: String,
    /// The same with the `webcal://` scheme, which opens calendar apps directly.
    webcal_url: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Preferences {
    /// Minutes before a meeting starts that a reminder is sent (0 turns reminders off).
    reminder_minutes: i64,
}

fn calendar_response(body: String, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"{filename}\"")),
            (header::CACHE_CONTROL, "private, max-age=60".to_owned()),
        ],
        body,
    )
        .into_response()
}

async fn event_parts(state: &AppState, m: &MeetingRow) -> Result<(Option<UserRow>, Vec<crate::store::InviteeRow>)> {
    Ok((state.store.user_by_id(&m.host_id).await?, state.store.invitees(m.id).await?))
}

/// One meeting as an iCalendar file (host, co-hosts and invitees).
#[utoipa::path(get, path = "/api/v1/meetings/{id}/calendar.ics", tag = "calendar", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, content_type = "text/calendar", description = "VCALENDAR with one VEVENT"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn meeting_ics(State(state): State<AppState>, auth: AuthUser, Path(id): Path<String>) -> Result<Response> {
    let m = super::meetings::authorized(&state, &auth.user, &id, Action::ReadInvitation).await?;
    let (host, invitees) = event_parts(&state, &m).await?;
    let ctx = ics::EventContext {
        host: host.as_ref(),
        invitees: &invitees,
        public_url: &state.config.public_url,
        cancelled: false,
        now: state.clock.now(),
    };
    Ok(calendar_response(ics::meeting_calendar(&m, "PUBLISH", &ctx), &format!("meeting-{}.ics", m.id)))
}

/// Whether I have a calendar feed.
#[utoipa::path(get, path = "/api/v1/users/me/calendar-feed", tag = "calendar", security(("bearer" = [])),
    responses((status = 200, body = FeedStatus), (status = 401, body = ErrorBody)))]
async fn feed_status(State(state): State<AppState>, auth: AuthUser) -> Result<axum::Json<FeedStatus>> {
    let created = state.store.calendar_feed_created(&auth.user.id).await?;
    Ok(axum::Json(FeedStatus { active: created.is_some(), created_at: created.map(from_ms) }))
}

/// Create my secret calendar feed URL, replacing (and revoking) any previous one.
#[utoipa::path(post, path = "/api/v1/users/me/calendar-feed", tag = "calendar", security(("bearer" = [])),
    responses((status = 201, body = FeedUrl), (status = 401, body = ErrorBody)))]
async fn rotate_feed(State(state): State<AppState>, auth: AuthUser) -> Result<(StatusCode, axum::Json<FeedUrl>)> {
    let token = random_secret();
    state.store.set_calendar_feed(&auth.user.id, Some(&token_hash(&token)), state.clock.now_ms()).await?;
    let url = format!("{}/calendar/{token}.ics", state.config.public_url);
    let webcal_url = url.replacen("https://", "webcal://", 1).replacen("http://", "webcal://", 1);
    Ok((StatusCode::CREATED, axum::Json(FeedUrl { url, webcal_url })))
}

/// Revoke my calendar feed; subscribed calendars stop updating.
#[utoipa::path(delete, path = "/api/v1/users/me/calendar-feed", tag = "calendar", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn revoke_feed(State(state): State<AppState>, auth: AuthUser) -> Result<StatusCode> {
    state.store.set_calendar_feed(&auth.user.id, None, state.clock.now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's upcoming meetings (hosting and invited) as a subscribable calendar. The secret
/// token in the URL is the only credential calendar apps can send.
#[utoipa::path(get, path = "/calendar/{file}", tag = "calendar",
    params(("file" = String, Path, description = "<token>.ics")),
    responses((status = 200, content_type = "text/calendar", description = "VCALENDAR"), (status = 404, body = ErrorBody)))]
async fn feed(State(state): State<AppState>, Path(file): Path<String>) -> Result<Response> {
    let not_found = || Error::not_found("feed_not_found", "no such calendar feed (it may have been revoked)");
    let token = file.strip_suffix(".ics").ok_or_else(not_found)?;
    let user_id = state.store.calendar_feed_owner(&token_hash(token)).await?.ok_or_else(not_found)?;
    let user = state.store.user_by_id(&user_id).await?.filter(|u| !u.disabled).ok_or_else(not_found)?;
    let now = state.clock.now();
    let meetings: Vec<MeetingRow> = state
        .store
        .meetings_of_user(&user, &[MeetingStatus::Scheduled, MeetingStatus::Live])
        .await?
        .into_iter()
        .filter(|m| m.schedule().ok().and_then(|s| s.current_or_next(now - chrono::Duration::days(30))).is_some())
        .collect();
    let mut parts = Vec::with_capacity(meetings.len());
    for m in &meetings {
        parts.push(event_parts(&state, m).await?);
    }
    let public_url = state.config.public_url.clone();
    let events = meetings.iter().zip(parts.iter()).map(|(m, (host, invitees))| {
        (m, ics::EventContext { host: host.as_ref(), invitees, public_url: &public_url, cancelled: false, now })
    });
    Ok(calendar_response(ics::feed(&format!("Convene – {}", user.display_name), events), "convene.ics"))
}

/// My notification preferences.
#[utoipa::path(get, path = "/api/v1/users/me/notifications", tag = "calendar", security(("bearer" = [])),
    responses((status = 200, body = Preferences), (status = 401, body = ErrorBody)))]
async fn get_preferences(State(state): State<AppState>, auth: AuthUser) -> Result<axum::Json<Preferences>> {
    Ok(axum::Json(Preferences { reminder_minutes: state.store.reminder_minutes(&auth.user.id).await? }))
}

/// Change my notification preferences.
#[utoipa::path(put, path = "/api/v1/users/me/notifications", tag = "calendar", security(("bearer" = [])),
    request_body = Preferences,
    responses((status = 200, body = Preferences), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_preferences(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(p): Json<Preferences>,
) -> Result<axum::Json<Preferences>> {
    if !(0..=7 * 24 * 60).contains(&p.reminder_minutes) {
        return Err(Error::invalid("invalid_reminder", "reminder_minutes must be between 0 (off) and 10080"));
    }
    state.store.set_reminder_minutes(&auth.user.id, p.reminder_minutes).await?;
    Ok(axum::Json(p))
}
