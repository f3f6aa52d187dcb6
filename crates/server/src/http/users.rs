//! Accounts: registration, sign-in, sessions, profile, export and erasure (passwords are
//! passwords.rs).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AuthUser, ClientIp, Json};
use super::meetings::{meeting_view, MeetingView};
use super::reply::Message;
use super::{refresh_cookie, verification};
use crate::account::{self, normalize_display_name, normalize_email, normalize_username};
use crate::auth::{password, random_secret, token, token_hash};
use crate::avatar;
use crate::clock::from_ms;
use crate::error::{Error, ErrorBody, Result};
use crate::meeting::MeetingStatus;
use crate::state::AppState;
use crate::store::{RefreshOutcome, UserRow};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(get_me, update_me, delete_me))
        .routes(routes!(export_me))
        .routes(routes!(public_profile))
}

// ----- shapes -----

#[derive(Deserialize, ToSchema)]
pub(crate) struct RegisterRequest {
    #[schema(example = "john_doe")]
    username: String,
    #[schema(example = "john@example.com")]
    email: String,
    #[schema(example = "a long passphrase")]
    password: String,
    /// Shown to others in meetings; defaults to the username.
    display_name: Option<String>,
}

/// An account as its owner (or an admin) sees it.
#[derive(Serialize, ToSchema)]
pub(crate) struct Me {
    user_id: String,
    username: String,
    email: String,
    display_name: String,
    /// `admin` or `user`.
    role: String,
    /// `none`, `blur` or `image`.
    default_background: String,
    /// The fixed ID of this user's personal meeting room.
    personal_meeting_id: i64,
    avatar_url: Option<String>,
    /// Whether the owner opened the link mailed to `email`. Until then invitations to the
    /// address do not show up and the account cannot send any.
    email_verified: bool,
    disabled: bool,
    /// Meetings I schedule are end-to-end encrypted unless I say otherwise (the server's
    /// `e2ee_policy` may force or forbid it).
    e2ee_default: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&UserRow> for Me {
    fn from(u: &UserRow) -> Me {
        Me {
            user_id: u.id.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            role: u.role.clone(),
            default_background: u.default_background.clone(),
            personal_meeting_id: u.personal_meeting_id,
            avatar_url: avatar::url_of(u),
            email_verified: u.email_verified(),
            disabled: u.disabled,
            e2ee_default: u.e2ee_default,
            created_at: from_ms(u.created_at),
            updated_at: from_ms(u.updated_at),
        }
    }
}

/// What anyone signed in may see of an account.
#[derive(Serialize, ToSchema)]
pub(crate) struct PublicProfile {
    user_id: String,
    username: String,
    display_name: String,
    avatar_url: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginRequest {
    /// E-mail address (or use `username`).
    email: Option<String>,
    username: Option<String>,
    password: String,
    /// Where the refresh token goes: `body` (default; non-browser clients keep it themselves)
    /// or `cookie` (browsers: an HttpOnly cookie the page's script cannot read, left out of
    /// the body).
    refresh_token_in: Option<RefreshTransport>,
}

#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RefreshTransport {
    #[default]
    Body,
    Cookie,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct LoginResponse {
    /// Access token (JWT) for `Authorization: Bearer`.
    token: String,
    token_type: &'static str,
    user_id: String,
    /// Seconds until `token` expires (3600).
    expires_in: i64,
    /// Single-use token for `POST /users/refresh`; each use returns a new one. Absent when it
    /// travels in the `convene_refresh` cookie instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    refresh_expires_in: i64,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct RefreshRequest {
    /// The refresh token; browsers send `{}` and the `convene_refresh` cookie instead.
    refresh_token: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateMeRequest {
    display_name: Option<String>,
    /// `none`, `blur` or `image`.
    default_background: Option<String>,
    /// Schedule my meetings end-to-end encrypted by default.
    e2ee_default: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct DeleteMeRequest {
    /// The account's password, to confirm.
    password: String,
}

// ----- validation -----

pub(super) fn limit_ip(state: &AppState, ip: &str) -> Result<()> {
    match state.limits.auth_per_ip.hit(ip, state.clock.now_ms()) {
        Some(wait) => Err(Error::too_many(wait, "too many attempts from your address; try again later")),
        None => Ok(()),
    }
}

fn user_agent(headers: &HeaderMap) -> String {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").chars().take(200).collect()
}

/// The answer carrying a new token pair: the refresh token in the body, or in the cookie.
fn with_tokens(tokens: LoginResponse, transport: RefreshTransport) -> Response {
    match transport {
        RefreshTransport::Body => axum::Json(tokens).into_response(),
        RefreshTransport::Cookie => {
            let cookie = refresh_cookie::set(tokens.refresh_token.as_deref().unwrap_or(""));
            let tokens = LoginResponse { refresh_token: None, ..tokens };
            ([(header::SET_COOKIE, cookie)], axum::Json(tokens)).into_response()
        }
    }
}

async fn issue_tokens(state: &AppState, user_id: &str, session_id: &str) -> Result<LoginResponse> {
    let now = state.clock.now();
    let token = state.keys.access_token(user_id, session_id, now.timestamp())?;
    let refresh_token = random_secret();
    let expires = now.timestamp_millis() + token::REFRESH_TTL_SECS * 1000;
    state.store.add_refresh_token(&token_hash(&refresh_token), session_id, now.timestamp_millis(), expires).await?;
    Ok(LoginResponse {
        token,
        token_type: "Bearer",
        user_id: user_id.to_owned(),
        expires_in: token::ACCESS_TTL_SECS,
        refresh_token: Some(refresh_token),
        refresh_expires_in: token::REFRESH_TTL_SECS,
    })
}

// ----- handlers -----

/// Create an account and mail a link verifying its address; sign in right away. The first
/// account on a server becomes its administrator (its address counts as verified). The answer
/// is the same whether or not the address already has an account (its owner gets a mail
/// instead): registration does not tell who has an account here.
#[utoipa::path(post, path = "/api/v1/users/register", tag = "accounts", request_body = RegisterRequest,
    responses((status = 202, body = Message, description = "check your mail"),
        (status = 409, description = "username taken", body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 403, description = "registration closed", body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<RegisterRequest>,
) -> Result<(StatusCode, axum::Json<Message>)> {
    limit_ip(&state, &ip)?;
    let username = normalize_username(&req.username)?;
    let email = normalize_email(&req.email)?;
    let display_name = normalize_display_name(req.display_name.as_deref().unwrap_or(&username))?;
    password::check_policy(&req.password, &username, &email)?;
    if !state.config.allow_registration && state.store.count_users().await? > 0 {
        return Err(Error::forbidden(
            "registration_closed",
            "registration is closed on this server; ask an administrator",
        ));
    }
    let hash = password::hash(&req.password).await?;
    let new = account::NewAccount {
        username: &username,
        email: &email,
        password_hash: &hash,
        display_name: &display_name,
        role: None,
        email_verified: false,
        now_ms: state.clock.now_ms(),
    };
    match account::create(&state.store, new).await {
        Ok(user) if user.email_verified() => {
            // The first account: nobody to prove the address to yet.
            state.store.link_invitations(&user.email, &user.id).await?;
            tracing::info!(user_id = %user.id, role = %user.role, "account registered");
        }
        Ok(user) => {
            verification::send_link(&state, &user, &user.email).await?;
            tracing::info!(user_id = %user.id, role = %user.role, "account registered; verification mailed");
        }
        Err(Error::Client { code: "email_taken", .. }) => {
            if let Some(existing) = state.store.user_by_email(&email).await? {
                verification::tell_owner(&state, &existing).await?;
            }
        }
        Err(e) => return Err(e),
    }
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Message::new(format!(
            "check your mail: we sent a link to {email} to confirm your address. You can sign in now."
        ))),
    ))
}

/// Sign in with e-mail (or username) and password.
#[utoipa::path(post, path = "/api/v1/users/login", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody),
        (status = 403, description = "account disabled", body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> Result<Response> {
    limit_ip(&state, &ip)?;
    let login = req.email.as_deref().or(req.username.as_deref()).map(str::trim).unwrap_or("").to_lowercase();
    if login.is_empty() {
        return Err(Error::invalid("invalid_body", "give email (or username) and password"));
    }
    let user = if login.contains('@') {
        state.store.user_by_email(&login).await?
    } else {
        state.store.user_by_username(&login).await?
    };
    let account_key = user.as_ref().map_or_else(|| format!("login:{login}"), |u| u.id.clone());
    let now_ms = state.clock.now_ms();
    if let Some(wait) = state.limits.login_failures.blocked(&account_key, now_ms) {
        return Err(Error::too_many(wait, "too many failed sign-ins for this account; try again later"));
    }
    let stored = user.as_ref().map_or(password::DUMMY_HASH.as_str(), |u| u.password_hash.as_str());
    let ok = password::verify(&req.password, stored).await? && user.is_some();
    let Some(user) = user.filter(|_| ok) else {
        state.limits.login_failures.record(&account_key, now_ms);
        return Err(Error::unauthorized("invalid_credentials", "wrong e-mail/username or password"));
    };
    if user.disabled {
        return Err(Error::forbidden("account_disabled", "this account has been disabled by an administrator"));
    }
    state.limits.login_failures.clear(&account_key);
    let session_id = uuid::Uuid::new_v4().to_string();
    state.store.create_session(&session_id, &user.id, &user_agent(&headers), &ip, now_ms).await?;
    tracing::info!(user_id = %user.id, "signed in");
    let tokens = issue_tokens(&state, &user.id, &session_id).await?;
    Ok(with_tokens(tokens, req.refresh_token_in.unwrap_or_default()))
}

/// Trade a refresh token for a new access token and a new refresh token. A refresh token
/// works once; presenting it again ends the whole session (it must have leaked). Browsers
/// send `{}` with the `convene_refresh` cookie and get the next one as a cookie again.
#[utoipa::path(post, path = "/api/v1/users/refresh", tag = "accounts", request_body = RefreshRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody)))]
async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<RefreshRequest>,
) -> Result<Response> {
    let (presented, transport) = match req.refresh_token {
        Some(t) => (t, RefreshTransport::Body),
        None => match refresh_cookie::read(&headers) {
            Some(t) => (t, RefreshTransport::Cookie),
            None => return Err(Error::unauthorized("missing_refresh_token", "send refresh_token (or its cookie)")),
        },
    };
    let result = rotate(&state, &presented).await;
    match (result, transport) {
        (Ok(tokens), transport) => Ok(with_tokens(tokens, transport)),
        // A refused cookie is of no more use: drop it so the browser stops sending it.
        (Err(e), RefreshTransport::Cookie) => {
            let mut resp = e.into_response();
            resp.headers_mut().insert(header::SET_COOKIE, refresh_cookie::clear());
            Ok(resp)
        }
        (Err(e), RefreshTransport::Body) => Err(e),
    }
}

async fn rotate(state: &AppState, presented: &str) -> Result<LoginResponse> {
    match state.store.consume_refresh_token(&token_hash(presented), state.clock.now_ms()).await? {
        RefreshOutcome::Rotated { session_id, user_id } => {
            let user = state.store.user_by_id(&user_id).await?;
            if user.is_none_or(|u| u.disabled) {
                return Err(Error::unauthorized("account_disabled", "this account is disabled"));
            }
            issue_tokens(state, &user_id, &session_id).await
        }
        RefreshOutcome::Reused => {
            tracing::warn!("refresh token reused; session revoked");
            Err(Error::unauthorized(
                "refresh_token_reused",
                "this refresh token was already used; the session has been ended for safety",
            ))
        }
        RefreshOutcome::Invalid => {
            Err(Error::unauthorized("invalid_refresh_token", "refresh token is invalid or expired"))
        }
    }
}

/// Sign out: ends this session; its access and refresh tokens stop working, and the
/// browser's refresh cookie is removed.
#[utoipa::path(post, path = "/api/v1/users/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(State(state): State<AppState>, auth: AuthUser) -> Result<Response> {
    state.store.revoke_session(&auth.session_id, state.clock.now_ms()).await?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, refresh_cookie::clear())]).into_response())
}

/// My account.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn get_me(auth: AuthUser) -> axum::Json<Me> {
    axum::Json(Me::from(&auth.user))
}

/// Change my display name, default background or end-to-end encryption default.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "accounts", security(("bearer" = [])), request_body = UpdateMeRequest,
    responses((status = 200, body = Me), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_me(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<UpdateMeRequest>,
) -> Result<axum::Json<Me>> {
    let display_name = match req.display_name {
        Some(d) => normalize_display_name(&d)?,
        None => auth.user.display_name.clone(),
    };
    let background = req.default_background.unwrap_or_else(|| auth.user.default_background.clone());
    if !matches!(background.as_str(), "none" | "blur" | "image") {
        return Err(Error::invalid("invalid_background", "default_background must be none, blur or image"));
    }
    state.store.update_profile(&auth.user.id, &display_name, &background, state.clock.now_ms()).await?;
    if let Some(on) = req.e2ee_default {
        state.store.set_e2ee_default(&auth.user.id, on, state.clock.now_ms()).await?;
    }
    let user = state.store.user_by_id(&auth.user.id).await?.ok_or_else(|| anyhow::anyhow!("user vanished"))?;
    Ok(axum::Json(Me::from(&user)))
}

/// Everything Convene stores about me, as JSON (GDPR export).
#[utoipa::path(get, path = "/api/v1/users/me/export", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Object, description = "account, sessions, meetings, invitations, attendance"), (status = 401, body = ErrorBody)))]
async fn export_me(State(state): State<AppState>, auth: AuthUser) -> Result<Response> {
    let u = &auth.user;
    let sessions: Vec<_> = state
        .store
        .sessions_of(&u.id)
        .await?
        .into_iter()
        .map(|s| {
            serde_json::json!({
                "session_id": s.id, "created_at": from_ms(s.created_at), "last_used_at": from_ms(s.last_used_at),
                "revoked_at": s.revoked_at.map(from_ms), "user_agent": s.user_agent, "ip": s.ip,
            })
        })
        .collect();
    let now = state.clock.now();
    let mut hosted: Vec<MeetingView> = Vec::new();
    let mut invited: Vec<MeetingView> = Vec::new();
    let all = state
        .store
        .meetings_of_user(
            u,
            &[MeetingStatus::Scheduled, MeetingStatus::Live, MeetingStatus::Ended, MeetingStatus::Cancelled],
        )
        .await?;
    for m in &all {
        let view = meeting_view(&state, m, now).await?;
        if m.host_id == u.id {
            hosted.push(view)
        } else {
            invited.push(view)
        }
    }
    if let Some(pmr) = state.store.personal_meeting(&u.id).await? {
        hosted.push(meeting_view(&state, &pmr, now).await?);
    }
    let attendance: Vec<_> = state
        .store
        .attendance_of_user(&u.id)
        .await?
        .into_iter()
        .map(|a| {
            serde_json::json!({
                "meeting_id": a.meeting_id, "display_name": a.display_name, "role": a.role,
                "joined_at": from_ms(a.joined_at), "left_at": a.left_at.map(from_ms),
            })
        })
        .collect();
    let body = serde_json::json!({
        "exported_at": now,
        "account": Me::from(u),
        "has_avatar": u.avatar_etag.is_some(),
        "sessions": sessions,
        "meetings_hosted": hosted,
        "meetings_invited": invited,
        "attendance": attendance,
    });
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_static("attachment; filename=\"convene-export.json\""),
    );
    Ok(resp)
}

/// Erase my account. Meetings I host are cancelled. Needs my password.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "accounts", security(("bearer" = [])), request_body = DeleteMeRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, description = "last administrator", body = ErrorBody)))]
async fn delete_me(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<DeleteMeRequest>,
) -> Result<StatusCode> {
    if !password::verify(&req.password, &auth.user.password_hash).await? {
        return Err(Error::forbidden("wrong_password", "password is wrong"));
    }
    if auth.user.is_admin() && state.store.count_admins().await? <= 1 {
        return Err(Error::conflict(
            "last_admin",
            "you are the only administrator; promote someone else before deleting your account",
        ));
    }
    state.store.delete_user(&auth.user, state.clock.now_ms()).await?;
    crate::live::revocation::revoke(&state, &state.live, &auth.user.id, crate::live::revocation::Revoked::Deleted)
        .await?;
    tracing::info!(user_id = %auth.user.id, "account deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Someone's public profile.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = PublicProfile), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn public_profile(
    State(state): State<AppState>,
    _auth: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<PublicProfile>> {
    let u = state.store.user_by_id(&id).await?.ok_or_else(|| Error::not_found("user_not_found", "no such user"))?;
    Ok(axum::Json(PublicProfile {
        user_id: u.id.clone(),
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        avatar_url: avatar::url_of(&u),
        created_at: from_ms(u.created_at),
    }))
}
