//! Joining a meeting by ID and passcode: the join ticket for the meeting's WebSocket.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::extract::{AuthUser, ClientIp, Json, MaybeAuth};
use super::{access, load};
use crate::auth::token::{TicketClaims, TICKET_TTL_SECS};
use crate::error::{Error, ErrorBody, Result};
use crate::meeting::{authorize, passcode_matches, Action, Actor, Role};
use crate::state::AppState;
use crate::store::MeetingRow;

#[derive(Deserialize, ToSchema, Default)]
pub(crate) struct JoinRequest {
    /// Not needed by the host and co-hosts.
    passcode: Option<String>,
    /// Required for guests; defaults to the account's display name.
    display_name: Option<String>,
    /// A random id the client keeps (e.g. in local storage), so a guest a host removed
    /// cannot simply join again.
    client_id: Option<String>,
    /// The client can take part in end-to-end encrypted meetings (docs/e2ee.md). Required
    /// to join one; ignored elsewhere.
    e2ee: Option<E2eeHello>,
    /// Receive the others' media on a fixed set of slots instead of one m-line per track
    /// (docs/protocol.md §2e). Absent: one m-line per track.
    slots: Option<SlotsHello>,
}

/// A client's request for a slot subscription, kept for its whole stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SlotsHello {
    /// Video slots: the most videos the client shows at once, 0 to 25 (audio slots are
    /// always 3).
    #[schema(maximum = 25)]
    video: u32,
}

/// A client's announcement that it can do end-to-end encryption.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct E2eeHello {
    /// The E2EE protocol version: 1.
    version: u32,
    /// The client's public identity key for this stay: a P-256 public key, uncompressed
    /// (65 bytes), base64url without padding (87 characters).
    identity_key: String,
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
    #[schema(value_type = String)]
    role: Role,
    display_name: String,
    ws_url: String,
    /// STUN / TURN servers for the browser's `RTCPeerConnection` (empty when none are set up).
    ice_servers: Vec<crate::turn::IceServer>,
    /// The meeting is end-to-end encrypted: encrypt media with the identity announced in
    /// the request (docs/e2ee.md).
    e2ee: bool,
}

/// Join by meeting ID and passcode, signed in or (when the meeting allows) as a guest.
/// Returns a short-lived ticket for the meeting's WebSocket.
#[utoipa::path(post, path = "/api/v1/meetings/{id}/join", tag = "meetings", request_body = JoinRequest,
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = JoinTicket),
        (status = 401, description = "`guests_not_allowed`: sign in to join", body = ErrorBody),
        (status = 403, description = "`wrong_passcode`, `passcode_required`, `meeting_locked`, `meeting_full`, `removed`, \
            `e2ee_unsupported` (the meeting is end-to-end encrypted and the request did not announce `e2ee`)", body = ErrorBody),
        (status = 404, description = "`meeting_not_found`", body = ErrorBody),
        (status = 409, description = "`meeting_not_started`: the host has not arrived and the meeting does not allow joining before the host; try again", body = ErrorBody),
        (status = 410, description = "`meeting_cancelled`, `meeting_ended`", body = ErrorBody),
        (status = 422, description = "`display_name_required` (guests), `invalid_display_name`, `invalid_e2ee_identity`, \
            `invalid_slots` (`slots.video` over 25)", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many wrong passcodes from this address (see `Retry-After`)", body = ErrorBody),
        (status = 503, description = "`server_busy`: the media server is overloaded (see `Retry-After`)", body = ErrorBody)))]
pub(super) async fn join_meeting(
    State(state): State<AppState>,
    MaybeAuth(auth): MaybeAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    Json(req): Json<JoinRequest>,
) -> Result<axum::Json<JoinTicket>> {
    let now = state.clock.now();
    let Door { meeting: m, actor, .. } =
        pass_the_door(&state, auth.as_ref(), &ip, &id, req.passcode.as_deref()).await?;
    // Before the waiting room and the ticket: a client that cannot decrypt never gets in.
    let e2ee_on = state.live.room(m.id).map_or_else(|| m.settings(&state.config).e2ee, |r| r.settings.e2ee);
    let e2ee_identity = crate::live::e2ee::identity_on_entry(
        e2ee_on,
        req.e2ee.as_ref().map(|h| h.version),
        req.e2ee.as_ref().map(|h| h.identity_key.as_str()),
    )?;
    let video_slots = req.slots.as_ref().map(|s| video_slots(s.video)).transpose()?;
    let (sub, default_name) = match &auth {
        Some(a) => (a.user.id.clone(), Some(a.user.display_name.clone())),
        None => (format!("guest:{}", uuid::Uuid::new_v4()), None),
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
    let role = actor.role_on_entry();
    let client_id: Option<String> =
        req.client_id.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(|c| c.chars().take(64).collect());
    let user_id = auth.as_ref().map(|a| a.user.id.as_str());
    state.live.admission_problem(&state, &m, role, user_id, client_id.as_deref()).await?;
    let claims = TicketClaims {
        sub,
        mid: m.id,
        name: display_name.clone(),
        role,
        cid: client_id,
        e2v: e2ee_identity.is_some().then_some(crate::live::e2ee::VERSION),
        e2k: e2ee_identity.clone(),
        vsl: video_slots,
        jti: uuid::Uuid::new_v4().to_string(),
        iat: now.timestamp(),
        iat_ms: now.timestamp_millis(),
        exp: now.timestamp() + TICKET_TTL_SECS,
        aud: "join".into(),
        iss: "convene".into(),
    };
    Ok(axum::Json(JoinTicket {
        ticket: state.keys.ticket(&claims)?,
        expires_in: TICKET_TTL_SECS,
        meeting_id: m.id,
        title: m.title.clone(),
        role,
        display_name,
        ws_url: format!("/api/v1/meetings/{}/ws", m.id),
        ice_servers: state.turn.ice_servers(&claims.sub, now),
        e2ee: e2ee_identity.is_some(),
    }))
}

/// The video slots a join asks for, if the media server allows that many.
fn video_slots(video: u32) -> Result<u8> {
    let max = crate::media::MAX_VIDEO_SLOTS;
    u8::try_from(video)
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(|| Error::invalid("invalid_slots", format!("slots.video is 0 to {max}, not {video}")))
}

/// Who got past a meeting's door: the meeting, who they are to it, and whether they run it.
pub(in crate::http) struct Door {
    pub meeting: MeetingRow,
    pub actor: Actor,
    /// Host or co-host: no passcode asked, and they see who waits.
    pub moderator: bool,
}

/// The one door into a meeting, for the join and the pre-join preview alike: the limit on
/// wrong passcodes per address (unknown IDs count too, so IDs cannot be probed faster than
/// passcodes), the meeting's own refusals (cancelled, ended), the passcode unless the caller
/// runs the meeting, and guests only where the meeting allows them.
pub(in crate::http) async fn pass_the_door(
    state: &AppState,
    auth: Option<&AuthUser>,
    ip: &str,
    raw_id: &str,
    passcode: Option<&str>,
) -> Result<Door> {
    let now_ms = state.clock.now_ms();
    let key = format!("passcode:{ip}");
    if let Some(wait) = state.limits.passcode_failures.blocked(&key, now_ms) {
        return Err(Error::too_many(wait, "too many wrong passcodes from your address; try again later"));
    }
    let m = match load(state, raw_id).await {
        Err(e) if e.status() == StatusCode::NOT_FOUND => {
            state.limits.passcode_failures.record(&key, now_ms);
            return Err(e);
        }
        other => other?,
    };
    let facts = m.facts(&state.config);
    let actor = match auth {
        Some(a) => Actor::account(access(state, &m, &a.user).await?),
        None => Actor::anonymous(),
    };
    authorize(&actor, &facts, Action::Join)?;
    let moderator = authorize(&actor, &facts, Action::SkipPasscode).is_ok();
    if !moderator {
        let given = passcode.unwrap_or("").trim();
        if !passcode_matches(&m.passcode, given) {
            state.limits.passcode_failures.record(&key, now_ms);
            return Err(if given.is_empty() {
                Error::forbidden("passcode_required", "this meeting needs a passcode")
            } else {
                Error::forbidden("wrong_passcode", "the passcode is wrong")
            });
        }
    }
    if auth.is_none() {
        authorize(&actor, &facts, Action::JoinAsGuest)?;
    }
    Ok(Door { meeting: m, actor, moderator })
}
