//! Changing meetings: schedule (or start at once), edit, cancel, and the personal room.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::super::extract::{AuthUser, Json};
use super::view::{meeting_view, Conflict, MeetingView, MeetingWithConflicts};
use super::{announce, authorized};
use crate::account::normalize_email;
use crate::error::{Error, ErrorBody, Result};
use crate::meeting::{
    duration_of, new_passcode, parse_tz, validate_description, validate_title, Action, MeetingId, MeetingKind,
    MeetingStatus, Schedule, Settings, SettingsPatch,
};
use crate::notify::{self, MeetingChange};
use crate::state::AppState;
use crate::store::{InviteeRow, MeetingRow, NewMeeting, UserRow};

/// A scheduled start this far in the past is still accepted (clock skew, slow forms).
const START_GRACE_MINUTES: i64 = 5;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateMeeting {
    #[schema(example = "Team sync")]
    title: String,
    description: Option<String>,
    /// RFC 3339; omit for an instant meeting starting now.
    start_time: Option<DateTime<Utc>>,
    /// Give this or `end_time` (default 60).
    duration_minutes: Option<i64>,
    end_time: Option<DateTime<Utc>>,
    /// IANA time zone the meeting is planned in (recurrences expand in it). Default UTC.
    #[schema(example = "Europe/Paris")]
    timezone: Option<String>,
    /// An RRULE such as `FREQ=WEEKLY;BYDAY=MO;COUNT=10`.
    recurrence: Option<String>,
    /// E-mail addresses or user ids.
    #[serde(alias = "participants")]
    invitees: Option<Vec<String>>,
    /// User ids (or e-mails of accounts) who may manage the meeting with the host.
    co_hosts: Option<Vec<String>>,
    settings: Option<SettingsPatch>,
    /// Accepted for compatibility; must be the caller if given.
    host_id: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateMeeting {
    title: Option<String>,
    description: Option<String>,
    start_time: Option<DateTime<Utc>>,
    duration_minutes: Option<i64>,
    end_time: Option<DateTime<Utc>>,
    timezone: Option<String>,
    /// New RRULE; an empty string makes the meeting one-off.
    recurrence: Option<String>,
    #[serde(alias = "participants")]
    invitees: Option<Vec<String>>,
    /// Only the host may change co-hosts.
    co_hosts: Option<Vec<String>>,
    settings: Option<SettingsPatch>,
}

/// Schedule a meeting (or start an instant one by omitting `start_time`). Overlaps with the
/// host's other meetings come back in `conflicts`.
#[utoipa::path(post, path = "/api/v1/meetings", tag = "meetings", security(("bearer" = [])), request_body = CreateMeeting,
    responses((status = 201, body = MeetingWithConflicts), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_meeting(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<CreateMeeting>,
) -> Result<(StatusCode, axum::Json<MeetingWithConflicts>)> {
    let host = &auth.user;
    if req.host_id.as_deref().is_some_and(|h| h != host.id) {
        return Err(Error::forbidden("not_host", "meetings are created with yourself as host"));
    }
    let title = validate_title(&req.title)?;
    let description = validate_description(req.description.as_deref().unwrap_or(""))?;
    let tz_name = req.timezone.as_deref().unwrap_or("UTC").trim().to_owned();
    let tz = parse_tz(&tz_name)?;
    let now = state.clock.now();
    let (start, kind) = match req.start_time {
        Some(start) if start < now - Duration::minutes(START_GRACE_MINUTES) => {
            return Err(Error::invalid("start_in_past", "start_time is in the past"));
        }
        Some(start) => (start, MeetingKind::Scheduled),
        None => (now, MeetingKind::Instant),
    };
    let duration = duration_of(start, req.duration_minutes, req.end_time, Duration::minutes(60))?;
    let sched = Schedule::new(start, duration, tz, req.recurrence.as_deref())?;
    let settings = Settings::defaults_for(&state.config, host.e2ee_default)
        .patched(&req.settings.unwrap_or_default(), &state.config)?;
    let invitees = resolve_invitees(&state, req.invitees.as_deref().unwrap_or(&[]), host).await?;
    let co_hosts = resolve_co_hosts(&state, req.co_hosts.as_deref().unwrap_or(&[]), host).await?;
    let conflicts = conflicts_for(&state, &host.id, None, &sched).await?;
    reserve_mails(&state, host, invitees.len())?;

    let mut row = MeetingRow {
        id: 0,
        host_id: host.id.clone(),
        title,
        description,
        kind,
        start_at: sched.start.timestamp_millis(),
        end_at: sched.end().timestamp_millis(),
        timezone: tz_name,
        recurrence: sched.rrule.clone(),
        passcode: new_passcode(),
        settings: settings.to_stored(),
        status: MeetingStatus::Scheduled,
        sequence: 0,
        started_at: None,
        ended_at: None,
        created_at: now.timestamp_millis(),
        updated_at: now.timestamp_millis(),
    };
    insert_with_fresh_id(&state, &mut row, &co_hosts, &invitees).await?;
    tracing::info!(meeting_id = row.id, host = %host.id, "meeting scheduled");
    announce(&state, &row, "meeting.scheduled", MeetingChange::Scheduled).await;
    let meeting = meeting_view(&state, &row, now).await?;
    Ok((StatusCode::CREATED, axum::Json(MeetingWithConflicts { meeting, conflicts })))
}

/// Edit a meeting (host or co-host). Invitees, times and settings may all change.
#[utoipa::path(patch, path = "/api/v1/meetings/{id}", tag = "meetings", security(("bearer" = [])), request_body = UpdateMeeting,
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = MeetingWithConflicts), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn update_meeting(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<UpdateMeeting>,
) -> Result<axum::Json<MeetingWithConflicts>> {
    if req.co_hosts.is_some() {
        authorized(&state, &auth.user, &id, Action::ChangeCoHosts).await?;
    }
    let mut m = authorized(&state, &auth.user, &id, Action::Edit).await?;
    let timing_changed = req.start_time.is_some()
        || req.duration_minutes.is_some()
        || req.end_time.is_some()
        || req.timezone.is_some()
        || req.recurrence.is_some();
    if m.kind == MeetingKind::Personal && timing_changed {
        return Err(Error::invalid(
            "personal_room_untimed",
            "a personal room has no schedule; change its settings instead",
        ));
    }
    let host = state.store.user_by_id(&m.host_id).await?.ok_or_else(|| anyhow::anyhow!("host missing"))?;
    let now = state.clock.now();
    if let Some(t) = &req.title {
        m.title = validate_title(t)?;
    }
    if let Some(d) = &req.description {
        m.description = validate_description(d)?;
    }
    let old = m.schedule()?;
    let start = match req.start_time {
        Some(s) if s < now - Duration::minutes(START_GRACE_MINUTES) && s != old.start => {
            return Err(Error::invalid("start_in_past", "start_time is in the past"));
        }
        Some(s) => s,
        None => old.start,
    };
    let duration = duration_of(start, req.duration_minutes, req.end_time, old.duration)?;
    let tz_name = req.timezone.as_deref().map(str::trim).unwrap_or(&m.timezone).to_owned();
    let tz = parse_tz(&tz_name)?;
    let rrule = match &req.recurrence {
        Some(r) => Some(r.as_str()),
        None => m.recurrence.as_deref(),
    };
    let sched = Schedule::new(start, duration, tz, rrule)?;
    let settings = m.settings(&state.config).patched(&req.settings.unwrap_or_default(), &state.config)?;
    let invitees = match &req.invitees {
        Some(list) => resolve_invitees(&state, list, &host).await?,
        None => state.store.invitees(m.id).await?,
    };
    let co_hosts = match &req.co_hosts {
        Some(list) => resolve_co_hosts(&state, list, &host).await?,
        None => state.store.co_hosts(m.id).await?,
    };
    m.start_at = sched.start.timestamp_millis();
    m.end_at = sched.end().timestamp_millis();
    m.timezone = tz_name;
    m.recurrence = sched.rrule.clone();
    m.settings = settings.to_stored();
    m.updated_at = now.timestamp_millis();
    let previous_invitees = state.store.invitees(m.id).await?;
    // The mails go out in the name of whoever edits (a co-host too): it is their allowance.
    reserve_mails(&state, &auth.user, notify::mails_for_update(&previous_invitees, &invitees))?;
    state.store.update_meeting(NewMeeting { row: &m, co_hosts: &co_hosts, invitees: &invitees }).await?;
    let conflicts = match m.kind {
        MeetingKind::Personal => vec![],
        _ => conflicts_for(&state, &m.host_id, Some(m.id), &sched).await?,
    };
    let m = state.store.meeting(m.id).await?.ok_or_else(|| anyhow::anyhow!("meeting vanished"))?;
    let change = MeetingChange::Updated { previous_invitees: &previous_invitees };
    announce(&state, &m, "meeting.updated", change).await;
    Ok(axum::Json(MeetingWithConflicts { meeting: meeting_view(&state, &m, now).await?, conflicts }))
}

/// Cancel a meeting (host or co-host).
#[utoipa::path(delete, path = "/api/v1/meetings/{id}", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = MeetingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn cancel_meeting(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<MeetingView>> {
    let m = authorized(&state, &auth.user, &id, Action::Cancel).await?;
    let now = state.clock.now();
    // End a live session first: ending marks the meeting `ended`, cancelling then wins.
    state.live.end_meeting(&state, m.id, convene_protocol::EndReason::Cancelled).await;
    state.store.set_meeting_status(m.id, MeetingStatus::Cancelled, now.timestamp_millis()).await?;
    tracing::info!(meeting_id = m.id, "meeting cancelled");
    let m = state.store.meeting(m.id).await?.ok_or_else(|| anyhow::anyhow!("meeting vanished"))?;
    announce(&state, &m, "meeting.cancelled", MeetingChange::Cancelled).await;
    Ok(axum::Json(meeting_view(&state, &m, now).await?))
}

/// My personal meeting room: always there, always the same ID.
#[utoipa::path(get, path = "/api/v1/meetings/personal", tag = "meetings", security(("bearer" = [])),
    responses((status = 200, body = MeetingView), (status = 401, body = ErrorBody)))]
pub(super) async fn personal_room(State(state): State<AppState>, auth: AuthUser) -> Result<axum::Json<MeetingView>> {
    let now = state.clock.now();
    let u = &auth.user;
    if let Some(m) = state.store.personal_meeting(&u.id).await? {
        return Ok(axum::Json(meeting_view(&state, &m, now).await?));
    }
    let settings = Settings::defaults_for(&state.config, u.e2ee_default);
    let row = MeetingRow {
        id: u.personal_meeting_id,
        host_id: u.id.clone(),
        title: format!("{}'s personal room", u.display_name),
        description: String::new(),
        kind: MeetingKind::Personal,
        start_at: now.timestamp_millis(),
        end_at: now.timestamp_millis() + i64::from(settings.duration_limit_minutes) * 60_000,
        timezone: "UTC".into(),
        recurrence: None,
        passcode: new_passcode(),
        settings: settings.to_stored(),
        status: MeetingStatus::Scheduled,
        sequence: 0,
        started_at: None,
        ended_at: None,
        created_at: now.timestamp_millis(),
        updated_at: now.timestamp_millis(),
    };
    match state.store.insert_meeting(NewMeeting { row: &row, co_hosts: &[], invitees: &[] }).await {
        // Two first requests raced; the other one created it.
        Ok(()) | Err(Error::Client { code: "id_collision", .. }) => {}
        Err(e) => return Err(e),
    }
    let m = state.store.personal_meeting(&u.id).await?.ok_or_else(|| anyhow::anyhow!("personal room vanished"))?;
    Ok(axum::Json(meeting_view(&state, &m, now).await?))
}

/// Resolves invitees given as e-mails or user ids; unknown user ids are an error. An
/// invitation is linked to an account only if that account has verified the address (else
/// it links when the owner verifies it).
async fn resolve_invitees(state: &AppState, raw: &[String], host: &UserRow) -> Result<Vec<InviteeRow>> {
    let max = state.config.max_invitees as usize;
    if raw.len() > max {
        // Not a 429: the same request will never fit, however long one waits.
        return Err(Error::invalid("too_many_invitees", format!("a meeting may have at most {max} invitees")));
    }
    let mut out: BTreeMap<String, Option<String>> = BTreeMap::new();
    for entry in raw {
        let (email, user_id) = if entry.contains('@') {
            let email = normalize_email(entry)?;
            let user_id = state.store.user_by_email(&email).await?.filter(UserRow::email_verified).map(|u| u.id);
            (email, user_id)
        } else {
            let user = state.store.user_by_id(entry.trim()).await?.ok_or_else(|| {
                Error::invalid("unknown_user", format!("invitee {entry:?} is neither an e-mail address nor a user id"))
            })?;
            let verified = user.email_verified();
            (user.email, verified.then_some(user.id))
        };
        if email != host.email {
            out.insert(email, user_id);
        }
    }
    Ok(out.into_iter().map(|(email, user_id)| InviteeRow { email, user_id }).collect())
}

async fn resolve_co_hosts(state: &AppState, raw: &[String], host: &UserRow) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in raw {
        let user = if entry.contains('@') {
            state.store.user_by_email(&normalize_email(entry)?).await?
        } else {
            state.store.user_by_id(entry.trim()).await?
        };
        let user = user.ok_or_else(|| Error::invalid("unknown_user", format!("co-host {entry:?} has no account")))?;
        if user.id != host.id && !out.contains(&user.id) {
            out.push(user.id);
        }
    }
    Ok(out)
}

async fn conflicts_for(state: &AppState, host_id: &str, me: Option<i64>, sched: &Schedule) -> Result<Vec<Conflict>> {
    let mut out = Vec::new();
    for other in state.store.active_meetings_of_host(host_id).await? {
        if Some(other.id) == me {
            continue;
        }
        let Ok(their) = other.schedule() else { continue };
        if let Some(o) = sched.first_overlap(&their) {
            out.push(Conflict { meeting_id: other.id, title: other.title, start_time: o.start, end_time: o.end });
        }
    }
    Ok(out)
}

async fn insert_with_fresh_id(
    state: &AppState,
    row: &mut MeetingRow,
    co_hosts: &[String],
    invitees: &[InviteeRow],
) -> Result<()> {
    for _ in 0..8 {
        row.id = MeetingId::new_scheduled().get();
        match state.store.insert_meeting(NewMeeting { row, co_hosts, invitees }).await {
            Err(Error::Client { code: "id_collision", .. }) => continue,
            other => return other,
        }
    }
    Err(anyhow::anyhow!("could not draw a free meeting id").into())
}

/// Reserves `count` outgoing mails for `sender` before a request queues them: an account
/// whose address is unverified sends none (403), and each account has an hourly allowance
/// (`--mails-per-hour`, 429 with `Retry-After` past it).
fn reserve_mails(state: &AppState, sender: &UserRow, count: usize) -> Result<()> {
    if count == 0 {
        return Ok(());
    }
    if !sender.email_verified() {
        return Err(crate::error::Error::forbidden(
            "email_unverified",
            "confirm your e-mail address first (use the link we sent you) to send invitations",
        ));
    }
    let count = u32::try_from(count).unwrap_or(u32::MAX);
    match state.limits.mails.take(&sender.id, count, state.clock.now_ms()) {
        Some(wait) => Err(crate::error::Error::too_many(
            wait,
            format!(
                "this would send {count} mails; accounts may send {} per hour. Try again later",
                state.config.mails_per_hour
            ),
        )),
        None => Ok(()),
    }
}
