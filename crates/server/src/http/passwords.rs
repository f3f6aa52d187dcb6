//! Passwords: changing my own, and resetting a forgotten one by a mailed link. Either way
//! every other session ends, on live connections too.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AuthUser, ClientIp, Json};
use super::reply::Message;
use super::users::limit_ip;
use crate::account::normalize_email;
use crate::auth::{password, random_secret, token, token_hash};
use crate::error::{Error, ErrorBody, Result};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(change_password))
        .routes(routes!(request_password_reset))
        .routes(routes!(confirm_password_reset))
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct ChangePasswordRequest {
    current_password: String,
    new_password: String,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct ResetRequest {
    email: String,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct ResetConfirm {
    token: String,
    new_password: String,
}

/// Change my password; my other sessions are signed out.
#[utoipa::path(post, path = "/api/v1/users/me/password", tag = "accounts", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 204), (status = 403, description = "current password wrong", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<ChangePasswordRequest>,
) -> Result<StatusCode> {
    if !password::verify(&req.current_password, &auth.user.password_hash).await? {
        return Err(Error::forbidden("wrong_password", "current password is wrong"));
    }
    password::check_policy(&req.new_password, &auth.user.username, &auth.user.email)?;
    let hash = password::hash(&req.new_password).await?;
    let now = state.clock.now_ms();
    state.store.set_password_hash(&auth.user.id, &hash, now).await?;
    state.store.revoke_sessions_of(&auth.user.id, Some(&auth.session_id), now).await?;
    crate::live::revocation::revoke(
        &state,
        &state.live,
        &auth.user.id,
        crate::live::revocation::Revoked::PasswordChanged,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ask for a password-reset e-mail. Always answers 202, so it cannot be used to learn which
/// addresses have accounts.
#[utoipa::path(post, path = "/api/v1/users/password-reset", tag = "accounts", request_body = ResetRequest,
    responses((status = 202, body = Message), (status = 429, body = ErrorBody)))]
async fn request_password_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<ResetRequest>,
) -> Result<(StatusCode, axum::Json<Message>)> {
    limit_ip(&state, &ip)?;
    let email = normalize_email(&req.email)?;
    if let Some(user) = state.store.user_by_email(&email).await?.filter(|u| !u.disabled) {
        let secret = random_secret();
        let now = state.clock.now_ms();
        state.store.add_password_reset(&token_hash(&secret), &user.id, now, now + token::RESET_TTL_SECS * 1000).await?;
        let link = format!("{}/#/reset-password?token={secret}", state.config.public_url);
        crate::notify::password_reset(&state, &user, &link).await?;
    }
    Ok((StatusCode::ACCEPTED, axum::Json(Message::new("if an account has that address, a reset link is on its way"))))
}

/// Set a new password with the token from the reset e-mail. Signs out every session.
#[utoipa::path(post, path = "/api/v1/users/password-reset/confirm", tag = "accounts", request_body = ResetConfirm,
    responses((status = 204), (status = 400, description = "invalid or expired token", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn confirm_password_reset(State(state): State<AppState>, Json(req): Json<ResetConfirm>) -> Result<StatusCode> {
    password::check_policy(&req.new_password, "", "")?;
    let now = state.clock.now_ms();
    let user_id = state.store.consume_password_reset(&token_hash(&req.token), now).await?.ok_or_else(|| {
        Error::bad_request("invalid_reset_token", "this reset link is invalid, used or expired; ask for a new one")
    })?;
    let hash = password::hash(&req.new_password).await?;
    state.store.set_password_hash(&user_id, &hash, now).await?;
    state.store.revoke_sessions_of(&user_id, None, now).await?;
    crate::live::revocation::revoke(&state, &state.live, &user_id, crate::live::revocation::Revoked::PasswordChanged)
        .await?;
    // The link came to the account's address: that proves the address. It is also how the
    // owner of an address takes back an account someone else registered with it.
    if let Some(user) = state.store.user_by_id(&user_id).await? {
        state.store.mark_email_verified(&user.id, &user.email, now).await?;
    }
    state.limits.login_failures.clear(&user_id);
    Ok(StatusCode::NO_CONTENT)
}
