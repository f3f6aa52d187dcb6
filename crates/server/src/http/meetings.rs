//! Meetings: schedule, edit, cancel, list, personal room, attendance and joining by ID + passcode.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AuthUser, ClientIp, Json, MaybeAuth, Query};
use super::users::normalize_email;
use super::{Page, PageQuery};
use crate::auth::token::{TicketClaims, TICKET_TTL_SECS};
use crate::clock::from_ms;
use crate::error::{Error, ErrorBody, Result};
use crate::events::Event;
use crate::meeting::{
    new_meeting_id, new_passcode, passcode_matches, schedule_of, Access, Occurrence, Relation, Schedule, Settings,
    SettingsPatch,
};
use crate::notify::MeetingChange;
use crate::state::AppState;
use crate::store::{AttendanceRow, InviteeRow, MeetingRow, NewMeeting, UserRow};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_meeting, list_meetings))
        .routes(routes!(personal_room))
        .routes(routes!(get_meeting, update_meeting, cancel_meeting))
        .routes(routes!(occurrences))
        .routes(routes!(attendance))
        .routes(routes!(join_meeting))
        .routes(routes!(super::ws::meeting_ws))
        .routes(routes!(chat_history))
}

const MAX_INVITEES: usize = 500;
/// A scheduled start this far in the past is still accepted (clock skew, slow forms).
const START_GRACE_MINUTES: i64 = 5;

// ----- shapes -----

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
    meeting_id: i64,
    title: String,
    start_time: DateTime<Utc>,
    end_time: DateTime<Utc>,
}

/// A created or updated meeting, with any overlaps with the host's other meetings.
#[derive(Serialize, ToSchema)]
pub(crate) struct MeetingWithConflicts {
    #[serde(flatten)]
    meeting: MeetingView,
    /// Overlapping meetings of the same host; a warning, not an error.
    conflicts: Vec<Conflict>,
}

/// One entry of a meeting list.
#[derive(Serialize, ToSchema)]
pub(crate) struct MeetingListItem {
    #[serde(flatten)]
    meeting: MeetingView,
    /// `host`, `cohost`, `invitee` or `attendee`.
    my_role: String,
    /// People who joined (past meetings).
    attendee_count: usize,
}

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

#[derive(Serialize, ToSchema)]
pub(crate) struct AttendanceView {
    user_id: Option<String>,
    display_name: String,
    role: String,
    joined_at: DateTime<Utc>,
    left_at: Option<DateTime<Utc>>,
    /// Seconds present (until now if still there).
    duration_seconds: i64,
}

#[derive(Deserialize, ToSchema, Default)]
pub(crate) struct JoinRequest {
    /// Not needed by the host and co-hosts.
    passcode: Option<String>,
    /// Required for guests; defaults to the account's display name.
    display_name: Option<String>,
    /// A random id the client keeps (e.g. in local storage), so a guest a host removed
    /// cannot simply join again.
    client_id: Option<String>,
}

/// Permission to open the meeting's WebSocket.
#[derive(Serialize, ToSchema)]
pub(crate) struct JoinTicket {
    /// Short-lived signed ticket for `GET /api/v1/meetings/{id}/ws?ticket=…`.
    ticket: String,
    expires_in: i64,
    meeting_id: i64,
    title: String,
    /// `host`, `cohost`, `participant` or `guest`.
    role: String,
    display_name: String,
    ws_url: String,
}

// ----- helpers -----

fn parse_id(raw: &str) -> Result<i64> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    digits
        .parse::<i64>()
        .ok()
        .filter(|n| (1_000_000_000..=99_999_999_999).contains(n))
        .ok_or_else(|| Error::not_found("meeting_not_found", "no meeting has that ID"))
}

pub(super) async fn load(state: &AppState, id: &str) -> Result<MeetingRow> {
    let id = parse_id(id)?;
    state.store.meeting(id).await?.ok_or_else(|| Error::not_found("meeting_not_found", "no meeting has that ID"))
}

pub(crate) async fn meeting_view(state: &AppState, m: &MeetingRow, now: DateTime<Utc>) -> Result<MeetingView> {
    let host_name = state.store.user_by_id(&m.host_id).await?.map(|u| u.display_name);
    let next_occurrences = match m.status.as_str() {
        "cancelled" | "ended" if m.kind != "personal" && m.recurrence.is_none() => vec![],
        _ => schedule_of(m).map(|s| s.occurrences_after(now, 5)).unwrap_or_default(),
    };
    Ok(MeetingView {
        meeting_id: m.id,
        title: m.title.clone(),
        description: m.description.clone(),
        kind: m.kind.clone(),
        status: m.status.clone(),
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
        settings: Settings::from_stored(&m.settings, &state.config),
        sequence: m.sequence,
        started_at: m.started_at.map(from_ms),
        ended_at: m.ended_at.map(from_ms),
        created_at: from_ms(m.created_at),
        updated_at: from_ms(m.updated_at),
    })
}

fn validate_title(raw: &str) -> Result<String> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > 200 || t.chars().any(char::is_control) {
        return Err(Error::invalid("invalid_title", "title must be 1-200 printable characters"));
    }
    Ok(t.to_owned())
}

fn validate_description(raw: &str) -> Result<String> {
    if raw.chars().count() > 5000 {
        return Err(Error::invalid("invalid_description", "description is limited to 5000 characters"));
    }
    Ok(raw.trim().to_owned())
}

/// Resolves invitees given as e-mails or user ids; unknown user ids are an error.
async fn resolve_invitees(state: &AppState, raw: &[String], host: &UserRow) -> Result<Vec<InviteeRow>> {
    if raw.len() > MAX_INVITEES {
        return Err(Error::invalid("too_many_invitees", format!("at most {MAX_INVITEES} invitees")));
    }
    let mut out: BTreeMap<String, Option<String>> = BTreeMap::new();
    for entry in raw {
        let (email, user_id) = if entry.contains('@') {
            let email = normalize_email(entry)?;
            let user_id = state.store.user_by_email(&email).await?.map(|u| u.id);
            (email, user_id)
        } else {
            let user = state.store.user_by_id(entry.trim()).await?.ok_or_else(|| {
                Error::invalid("unknown_user", format!("invitee {entry:?} is neither an e-mail address nor a user id"))
            })?;
            (user.email, Some(user.id))
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

/// Works out start and duration from the three optional fields.
fn timing(
    start: DateTime<Utc>,
    duration_minutes: Option<i64>,
    end_time: Option<DateTime<Utc>>,
    fallback: Duration,
) -> Result<Duration> {
    match (duration_minutes, end_time) {
        (Some(_), Some(_)) => Err(Error::invalid("ambiguous_duration", "give duration_minutes or end_time, not both")),
        (Some(m), None) => Ok(Duration::minutes(m)),
        (None, Some(end)) if end <= start => {
            Err(Error::invalid("invalid_end_time", "end_time must be after start_time"))
        }
        (None, Some(end)) => Ok(end - start),
        (None, None) => Ok(fallback),
    }
}

async fn conflicts_for(state: &AppState, host_id: &str, me: Option<i64>, sched: &Schedule) -> Result<Vec<Conflict>> {
    let mut out = Vec::new();
    for other in state.store.active_meetings_of_host(host_id).await? {
        if Some(other.id) == me {
            continue;
        }
        let Ok(their) = schedule_of(&other) else { continue };
        if let Some(o) = sched.first_overlap(&their) {
            out.push(Conflict { meeting_id: other.id, title: other.title, start_time: o.start, end_time: o.end });
        }
    }
    Ok(out)
}

/// Tells invitees (mail + calendar) and subscribers (webhooks) about a change. The change
/// itself is already saved; failing to queue mail is logged, not reported to the caller.
async fn announce(state: &AppState, m: &MeetingRow, kind: &'static str, change: MeetingChange<'_>) {
    if let Err(e) = crate::notify::meeting_changed(state, m, change).await {
        tracing::error!(meeting_id = m.id, error = %e, "could not queue meeting mails");
    }
    let data = serde_json::json!({
        "meeting": {
            "meeting_id": m.id, "title": m.title, "status": m.status, "host_id": m.host_id,
            "start_time": from_ms(m.start_at), "end_time": from_ms(m.end_at), "timezone": m.timezone,
            "recurrence": m.recurrence, "sequence": m.sequence,
        }
    });
    state.events.emit(Event::new(kind, state.clock.now(), Some(m.id), Some(m.host_id.clone()), data));
}

/// One chat message as the history lists it.
#[derive(Serialize, ToSchema)]
pub(crate) struct ChatView {
    message_id: String,
    from_name: String,
    from_user_id: Option<String>,
    /// The recipient of a private message (`null`: to everyone).
    to_name: Option<String>,
    private: bool,
    text: String,
    sent_at: DateTime<Utc>,
    /// A shared file the message announces.
    #[schema(value_type = Option<Object>)]
    file: Option<convene_protocol::SharedFile>,
}

// ----- handlers -----

/// Schedule a meeting (or start an instant one by omitting `start_time`). Overlaps with the
/// host's other meetings come back in `conflicts`.
#[utoipa::path(post, path = "/api/v1/meetings", tag = "meetings", security(("bearer" = [])), request_body = CreateMeeting,
    responses((status = 201, body = MeetingWithConflicts), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_meeting(
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
    let tz = crate::meeting::parse_tz(&tz_name)?;
    let now = state.clock.now();
    let (start, kind) = match req.start_time {
        Some(start) if start < now - Duration::minutes(START_GRACE_MINUTES) => {
            return Err(Error::invalid("start_in_past", "start_time is in the past"));
        }
        Some(start) => (start, "scheduled"),
        None => (now, "instant"),
    };
    let duration = timing(start, req.duration_minutes, req.end_time, Duration::minutes(60))?;
    let sched = Schedule::new(start, duration, tz, req.recurrence.as_deref())?;
    let settings = Settings::defaults(&state.config).patched(&req.settings.unwrap_or_default(), &state.config)?;
    let invitees = resolve_invitees(&state, req.invitees.as_deref().unwrap_or(&[]), host).await?;
    let co_hosts = resolve_co_hosts(&state, req.co_hosts.as_deref().unwrap_or(&[]), host).await?;
    let conflicts = conflicts_for(&state, &host.id, None, &sched).await?;

    let mut row = MeetingRow {
        id: 0,
        host_id: host.id.clone(),
        title,
        description,
        kind: kind.into(),
        start_at: sched.start.timestamp_millis(),
        end_at: sched.end().timestamp_millis(),
        timezone: tz_name,
        recurrence: sched.rrule.clone(),
        passcode: new_passcode(),
        settings: settings.to_stored(),
        status: "scheduled".into(),
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

/// How many people attended: a signed-in user who left and came back counts once; guests
/// have no identity across visits, so each guest visit counts.
fn people_count(rows: &[AttendanceRow]) -> usize {
    let users: std::collections::BTreeSet<&str> = rows.iter().filter_map(|a| a.user_id.as_deref()).collect();
    users.len() + rows.iter().filter(|a| a.user_id.is_none()).count()
}

async fn insert_with_fresh_id(
    state: &AppState,
    row: &mut MeetingRow,
    co_hosts: &[String],
    invitees: &[InviteeRow],
) -> Result<()> {
    for _ in 0..8 {
        row.id = new_meeting_id();
        match state.store.insert_meeting(NewMeeting { row, co_hosts, invitees }).await {
            Err(Error::Client { code: "id_collision", .. }) => continue,
            other => return other,
        }
    }
    Err(anyhow::anyhow!("could not draw a free meeting id").into())
}

/// My meetings: `upcoming` (hosting or invited, soonest first), `live`, or `past` (held, most
/// recent first, with attendance counts).
#[utoipa::path(get, path = "/api/v1/meetings", tag = "meetings", security(("bearer" = [])), params(ListQuery, PageQuery),
    responses((status = 200, body = Page<MeetingListItem>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_meetings(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<ListQuery>,
    Query(page): Query<PageQuery>,
) -> Result<axum::Json<Page<MeetingListItem>>> {
    let page = page.validate()?;
    let now = state.clock.now();
    let u = &auth.user;
    // (sort key, meeting): ascending for upcoming, descending for past.
    let mut chosen: Vec<(i64, MeetingRow)> = match q.scope.as_deref().unwrap_or("upcoming") {
        "upcoming" => state
            .store
            // A recurring meeting is `ended` between occurrences; its series goes on.
            .meetings_of_user(&u.id, &u.email, &["scheduled", "live", "ended"])
            .await?
            .into_iter()
            .filter_map(|m| {
                let next = schedule_of(&m).ok()?.current_or_next(now);
                match (m.status.as_str(), next) {
                    ("live", _) => Some((m.started_at.unwrap_or(m.start_at), m)),
                    ("ended", _) if m.recurrence.is_none() => None,
                    (_, Some(o)) => Some((o.start.timestamp_millis(), m)),
                    _ => None,
                }
            })
            .collect(),
        "live" => state
            .store
            .meetings_of_user(&u.id, &u.email, &["live"])
            .await?
            .into_iter()
            .map(|m| (m.started_at.unwrap_or(m.start_at), m))
            .collect(),
        "past" => state
            .store
            .meetings_of_user(&u.id, &u.email, &["scheduled", "ended", "cancelled"])
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
        let my_role = Access::of(&state.store, &m, u).await?.relation.name().to_owned();
        let attendee_count = people_count(&state.store.attendance(m.id).await?);
        items.push(MeetingListItem { meeting: meeting_view(&state, &m, now).await?, my_role, attendee_count });
    }
    Ok(axum::Json(page.wrap(items, total)))
}

/// My personal meeting room: always there, always the same ID.
#[utoipa::path(get, path = "/api/v1/meetings/personal", tag = "meetings", security(("bearer" = [])),
    responses((status = 200, body = MeetingView), (status = 401, body = ErrorBody)))]
async fn personal_room(State(state): State<AppState>, auth: AuthUser) -> Result<axum::Json<MeetingView>> {
    let now = state.clock.now();
    let u = &auth.user;
    if let Some(m) = state.store.personal_meeting(&u.id).await? {
        return Ok(axum::Json(meeting_view(&state, &m, now).await?));
    }
    let settings = Settings::defaults(&state.config);
    let row = MeetingRow {
        id: u.personal_meeting_id,
        host_id: u.id.clone(),
        title: format!("{}'s personal room", u.display_name),
        description: String::new(),
        kind: "personal".into(),
        start_at: now.timestamp_millis(),
        end_at: now.timestamp_millis() + i64::from(settings.duration_limit_minutes) * 60_000,
        timezone: "UTC".into(),
        recurrence: None,
        passcode: new_passcode(),
        settings: settings.to_stored(),
        status: "scheduled".into(),
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

/// One meeting, for its host, co-hosts, invitees and attendees.
#[utoipa::path(get, path = "/api/v1/meetings/{id}", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = MeetingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_meeting(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<MeetingView>> {
    let m = load(&state, &id).await?;
    if Access::of(&state.store, &m, &auth.user).await?.relation == Relation::None {
        return Err(Error::forbidden(
            "not_invited",
            "you are not the host of, invited to or an attendee of this meeting",
        ));
    }
    Ok(axum::Json(meeting_view(&state, &m, state.clock.now()).await?))
}

/// Edit a meeting (host or co-host). Invitees, times and settings may all change.
#[utoipa::path(patch, path = "/api/v1/meetings/{id}", tag = "meetings", security(("bearer" = [])), request_body = UpdateMeeting,
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = MeetingWithConflicts), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_meeting(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<UpdateMeeting>,
) -> Result<axum::Json<MeetingWithConflicts>> {
    let mut m = load(&state, &id).await?;
    let rel = Access::of(&state.store, &m, &auth.user).await?.relation;
    if rel < Relation::CoHost {
        return Err(Error::forbidden("not_host", "only the host or a co-host may edit this meeting"));
    }
    if req.co_hosts.is_some() && rel != Relation::Host {
        return Err(Error::forbidden("not_host", "only the host may change co-hosts"));
    }
    match m.status.as_str() {
        "cancelled" => return Err(Error::conflict("meeting_cancelled", "this meeting was cancelled")),
        "ended" if m.recurrence.is_none() && m.kind != "personal" => {
            return Err(Error::conflict("meeting_ended", "this meeting has ended"));
        }
        _ => {}
    }
    let timing_changed = req.start_time.is_some()
        || req.duration_minutes.is_some()
        || req.end_time.is_some()
        || req.timezone.is_some()
        || req.recurrence.is_some();
    if m.kind == "personal" && timing_changed {
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
    let old = schedule_of(&m)?;
    let start = match req.start_time {
        Some(s) if s < now - Duration::minutes(START_GRACE_MINUTES) && s != old.start => {
            return Err(Error::invalid("start_in_past", "start_time is in the past"));
        }
        Some(s) => s,
        None => old.start,
    };
    let duration = timing(start, req.duration_minutes, req.end_time, old.duration)?;
    let tz_name = req.timezone.as_deref().map(str::trim).unwrap_or(&m.timezone).to_owned();
    let tz = crate::meeting::parse_tz(&tz_name)?;
    let rrule = match &req.recurrence {
        Some(r) => Some(r.as_str()),
        None => m.recurrence.as_deref(),
    };
    let sched = Schedule::new(start, duration, tz, rrule)?;
    let settings =
        Settings::from_stored(&m.settings, &state.config).patched(&req.settings.unwrap_or_default(), &state.config)?;
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
    state.store.update_meeting(NewMeeting { row: &m, co_hosts: &co_hosts, invitees: &invitees }).await?;
    let conflicts =
        if m.kind == "personal" { vec![] } else { conflicts_for(&state, &m.host_id, Some(m.id), &sched).await? };
    let m = state.store.meeting(m.id).await?.ok_or_else(|| anyhow::anyhow!("meeting vanished"))?;
    let change = MeetingChange::Updated { previous_invitees: &previous_invitees };
    announce(&state, &m, "meeting.updated", change).await;
    Ok(axum::Json(MeetingWithConflicts { meeting: meeting_view(&state, &m, now).await?, conflicts }))
}

/// Cancel a meeting (host or co-host).
#[utoipa::path(delete, path = "/api/v1/meetings/{id}", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = MeetingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_meeting(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<MeetingView>> {
    let m = load(&state, &id).await?;
    if !Access::of(&state.store, &m, &auth.user).await?.moderates() {
        return Err(Error::forbidden("not_host", "only the host or a co-host may cancel this meeting"));
    }
    if m.kind == "personal" {
        return Err(Error::conflict("personal_room", "your personal room cannot be cancelled"));
    }
    if m.status == "cancelled" {
        return Err(Error::conflict("meeting_cancelled", "this meeting is already cancelled"));
    }
    if m.status == "ended" && m.recurrence.is_none() {
        return Err(Error::conflict("meeting_ended", "this meeting has already ended"));
    }
    let now = state.clock.now();
    // End a live session first: ending marks the meeting `ended`, cancelling then wins.
    state.live.end_meeting(&state, m.id, convene_protocol::EndReason::Cancelled).await;
    state.store.cancel_meeting(m.id, now.timestamp_millis()).await?;
    tracing::info!(meeting_id = m.id, "meeting cancelled");
    let m = state.store.meeting(m.id).await?.ok_or_else(|| anyhow::anyhow!("meeting vanished"))?;
    announce(&state, &m, "meeting.cancelled", MeetingChange::Cancelled).await;
    Ok(axum::Json(meeting_view(&state, &m, now).await?))
}

/// The next occurrences of a (recurring) meeting.
#[utoipa::path(get, path = "/api/v1/meetings/{id}/occurrences", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID"), OccurrencesQuery),
    responses((status = 200, body = Vec<OccurrenceView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn occurrences(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<OccurrencesQuery>,
) -> Result<axum::Json<Vec<OccurrenceView>>> {
    let m = load(&state, &id).await?;
    if Access::of(&state.store, &m, &auth.user).await?.relation == Relation::None {
        return Err(Error::forbidden("not_invited", "you are not invited to this meeting"));
    }
    let count = q.count.unwrap_or(10);
    if !(1..=100).contains(&count) {
        return Err(Error::bad_request("invalid_query", "count must be between 1 and 100"));
    }
    let list = schedule_of(&m)?.occurrences_after(state.clock.now(), count);
    Ok(axum::Json(list.into_iter().map(Into::into).collect()))
}

/// Who attended, when and for how long (host and co-hosts).
#[utoipa::path(get, path = "/api/v1/meetings/{id}/attendance", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = Vec<AttendanceView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn attendance(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<AttendanceView>>> {
    let m = load(&state, &id).await?;
    if !Access::of(&state.store, &m, &auth.user).await?.moderates() {
        return Err(Error::forbidden("not_host", "only the host or a co-host may see attendance"));
    }
    let now = state.clock.now_ms();
    let rows = state.store.attendance(m.id).await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|a| AttendanceView {
                duration_seconds: (a.left_at.unwrap_or(now) - a.joined_at).max(0) / 1000,
                user_id: a.user_id,
                display_name: a.display_name,
                role: a.role,
                joined_at: from_ms(a.joined_at),
                left_at: a.left_at.map(from_ms),
            })
            .collect(),
    ))
}

/// Join by meeting ID and passcode, signed in or (when the meeting allows) as a guest.
/// Returns a short-lived ticket for the meeting's WebSocket.
#[utoipa::path(post, path = "/api/v1/meetings/{id}/join", tag = "meetings", request_body = JoinRequest,
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = JoinTicket),
        (status = 401, description = "`guests_not_allowed`: sign in to join", body = ErrorBody),
        (status = 403, description = "`wrong_passcode`, `passcode_required`, `meeting_locked`, `meeting_full`, `removed`", body = ErrorBody),
        (status = 404, description = "`meeting_not_found`", body = ErrorBody),
        (status = 409, description = "`meeting_not_started`: the host has not arrived and the meeting does not allow joining before the host; try again", body = ErrorBody),
        (status = 410, description = "`meeting_cancelled`, `meeting_ended`", body = ErrorBody),
        (status = 422, description = "`display_name_required` (guests), `invalid_display_name`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many wrong passcodes from this address (see `Retry-After`)", body = ErrorBody)))]
async fn join_meeting(
    State(state): State<AppState>,
    MaybeAuth(auth): MaybeAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    Json(req): Json<JoinRequest>,
) -> Result<axum::Json<JoinTicket>> {
    let now = state.clock.now();
    let now_ms = now.timestamp_millis();
    let key = format!("passcode:{ip}");
    if let Some(wait) = state.limits.passcode_failures.blocked(&key, now_ms) {
        return Err(Error::too_many(wait, "too many wrong passcodes from your address; try again later"));
    }
    // Unknown IDs count as failures too, so IDs cannot be probed faster than passcodes.
    let m = match load(&state, &id).await {
        Err(e) if e.status() == StatusCode::NOT_FOUND => {
            state.limits.passcode_failures.record(&key, now_ms);
            return Err(e);
        }
        other => other?,
    };
    match m.status.as_str() {
        "cancelled" => return Err(Error::gone("meeting_cancelled", "this meeting was cancelled by its host")),
        "ended" if m.recurrence.is_none() && m.kind != "personal" => {
            return Err(Error::gone("meeting_ended", "this meeting has ended"));
        }
        _ => {}
    }
    let settings = Settings::from_stored(&m.settings, &state.config);
    let rel = match &auth {
        Some(a) => Access::of(&state.store, &m, &a.user).await?.relation,
        None => Relation::None,
    };
    if rel < Relation::CoHost {
        let given = req.passcode.as_deref().unwrap_or("").trim();
        if !passcode_matches(&m.passcode, given) {
            state.limits.passcode_failures.record(&key, now_ms);
            return Err(if given.is_empty() {
                Error::forbidden("passcode_required", "this meeting needs a passcode")
            } else {
                Error::forbidden("wrong_passcode", "the passcode is wrong")
            });
        }
    }
    let (sub, role, default_name) = match &auth {
        Some(a) => {
            let role = match rel {
                Relation::Host => "host",
                Relation::CoHost => "cohost",
                _ => "participant",
            };
            (a.user.id.clone(), role, Some(a.user.display_name.clone()))
        }
        None if settings.allow_guests => (format!("guest:{}", uuid::Uuid::new_v4()), "guest", None),
        None => {
            return Err(Error::unauthorized(
                "guests_not_allowed",
                "this meeting is for signed-in users only; sign in to join",
            ));
        }
    };
    let display_name = match req.display_name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) if name.chars().count() <= 64 && !name.chars().any(char::is_control) => name.to_owned(),
        Some(_) => {
            return Err(Error::invalid("invalid_display_name", "display name must be 1-64 printable characters"))
        }
        None => {
            default_name.ok_or_else(|| Error::invalid("display_name_required", "guests must give a display_name"))?
        }
    };
    let role_enum = convene_protocol::Role::parse(role).unwrap_or(convene_protocol::Role::Guest);
    let client_id: Option<String> =
        req.client_id.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(|c| c.chars().take(64).collect());
    let client_id = client_id.as_deref();
    let user_id = auth.as_ref().map(|a| a.user.id.as_str());
    state.live.admission_problem(&state, &m, role_enum, user_id, client_id).await?;
    let claims = TicketClaims {
        sub,
        mid: m.id,
        name: display_name.clone(),
        role: role.into(),
        cid: client_id.map(str::to_owned),
        jti: uuid::Uuid::new_v4().to_string(),
        iat: now.timestamp(),
        exp: now.timestamp() + TICKET_TTL_SECS,
        aud: "join".into(),
        iss: "convene".into(),
    };
    Ok(axum::Json(JoinTicket {
        ticket: state.keys.ticket(&claims)?,
        expires_in: TICKET_TTL_SECS,
        meeting_id: m.id,
        title: m.title.clone(),
        role: role.into(),
        display_name,
        ws_url: format!("/api/v1/meetings/{}/ws", m.id),
    }))
}

/// The meeting's chat, oldest first, for its host, co-hosts and the people who attended.
/// Private messages appear only to their sender and recipient.
#[utoipa::path(get, path = "/api/v1/meetings/{id}/chat", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID"), PageQuery),
    responses((status = 200, body = Page<ChatView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn chat_history(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<axum::Json<Page<ChatView>>> {
    let page = page.validate()?;
    let m = load(&state, &id).await?;
    if !Access::of(&state.store, &m, &auth.user).await?.sees_records() {
        return Err(Error::forbidden(
            "not_attended",
            "only the host, co-hosts and people who attended can read this chat",
        ));
    }
    let viewer = crate::store::Viewer { participant_id: None, user_id: Some(&auth.user.id) };
    let (rows, total) = state.store.chat_for(m.id, &viewer, page.size, page.offset()).await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        items.push(ChatView {
            file: crate::live::shared_file(&state, r).await,
            message_id: r.id.clone(),
            from_name: r.from_name.clone(),
            from_user_id: r.from_user_id.clone(),
            to_name: r.to_name.clone(),
            private: r.to_participant.is_some(),
            text: r.text.clone(),
            sent_at: from_ms(r.sent_at),
        });
    }
    Ok(axum::Json(page.wrap(items, total)))
}
