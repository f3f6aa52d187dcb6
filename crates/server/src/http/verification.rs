//! E-mail verification: the one-time link mailed at registration (or on request, or to a new
//! address), and opening it. Invitations count only for verified addresses (see
//! `meeting::Access`), so nobody inherits them by registering someone else's address.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AuthUser, Json};
use super::reply::Message;
use crate::account::normalize_email;
use crate::auth::{password, random_secret, token_hash};
use crate::error::{Error, ErrorBody, Result};
use crate::state::AppState;
use crate::store::{UserRow, Verification};

/// Verification links are valid for a day.
const VERIFY_TTL_SECS: i64 = 24 * 3600;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(change_email))
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct VerifyRequest {
    /// The `token` of the link in the verification mail.
    token: String,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct ChangeEmailRequest {
    /// The new address; it replaces the current one once its link is opened.
    #[schema(example = "john@example.org")]
    email: String,
    /// The account's password, to confirm.
    password: String,
}

/// Mails a one-time link verifying `email` for `user`, unless that address already got
/// several account mails this hour (then silently nothing: the caller's answer must not
/// change with it).
pub(super) async fn send_link(state: &AppState, user: &UserRow, email: &str) -> Result<()> {
    if state.limits.account_mails.hit(email, state.clock.now_ms()).is_some() {
        tracing::info!(user_id = %user.id, "verification mail skipped: this address got enough mail this hour");
        return Ok(());
    }
    let secret = random_secret();
    let now = state.clock.now_ms();
    state
        .store
        .add_email_verification(&token_hash(&secret), &user.id, email, now, now + VERIFY_TTL_SECS * 1000)
        .await?;
    let link = format!("{}/#/verify-email?token={secret}", state.config.public_url);
    crate::notify::verify_email(state, user, email, &link).await
}

/// Tells the owner of `existing`'s address that someone tried to claim it (registration or
/// a change of address), at most a few times an hour per address.
pub(super) async fn tell_owner(state: &AppState, existing: &UserRow) -> Result<()> {
    if state.limits.account_mails.hit(&existing.email, state.clock.now_ms()).is_some() {
        return Ok(());
    }
    crate::notify::already_registered(state, existing).await
}

/// Open a verification link: the address it was sent to becomes the account's verified
/// address (for a change of address, the new address replaces the old one now).
#[utoipa::path(post, path = "/api/v1/users/verify-email", tag = "accounts", request_body = VerifyRequest,
    responses((status = 200, body = Message), (status = 400, description = "invalid, used or expired link", body = ErrorBody),
        (status = 409, description = "another account took the new address meanwhile", body = ErrorBody)))]
async fn verify_email(State(state): State<AppState>, Json(req): Json<VerifyRequest>) -> Result<axum::Json<Message>> {
    match state.store.consume_email_verification(&token_hash(req.token.trim()), state.clock.now_ms()).await? {
        Verification::Verified(user_id) => {
            tracing::info!(%user_id, "e-mail address verified");
            Ok(axum::Json(Message::new("your e-mail address is confirmed")))
        }
        Verification::Invalid => Err(Error::bad_request(
            "invalid_verification_token",
            "this link is invalid, used or expired; sign in and ask for a new one",
        )),
        Verification::Taken => {
            Err(Error::conflict("email_taken", "another account has this address now; your address is unchanged"))
        }
    }
}

/// Send the verification link again, to my current (unverified) address.
#[utoipa::path(post, path = "/api/v1/users/me/verification", tag = "accounts", security(("bearer" = [])),
    responses((status = 202, body = Message), (status = 401, body = ErrorBody),
        (status = 409, description = "already verified", body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn resend_verification(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<(StatusCode, axum::Json<Message>)> {
    let user = &auth.user;
    if user.email_verified() {
        return Err(Error::conflict("already_verified", "your e-mail address is already confirmed"));
    }
    if let Some(wait) = state.limits.account_mails.blocked(&user.email, state.clock.now_ms()) {
        return Err(Error::too_many(wait, "we sent several links to this address already; try again later"));
    }
    send_link(&state, user, &user.email).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(Message::new(format!("a new link is on its way to {}", user.email)))))
}

/// Change my e-mail address. The new address gets a verification link and replaces the old
/// one only when that link is opened; until then nothing changes. The answer is the same
/// whether or not another account has the address.
#[utoipa::path(put, path = "/api/v1/users/me/email", tag = "accounts", security(("bearer" = [])), request_body = ChangeEmailRequest,
    responses((status = 202, body = Message), (status = 401, body = ErrorBody), (status = 403, description = "wrong password", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn change_email(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<ChangeEmailRequest>,
) -> Result<(StatusCode, axum::Json<Message>)> {
    if !password::verify(&req.password, &auth.user.password_hash).await? {
        return Err(Error::forbidden("wrong_password", "password is wrong"));
    }
    let email = normalize_email(&req.email)?;
    if email == auth.user.email {
        return Err(Error::invalid("same_email", "that is already your address"));
    }
    if let Some(wait) = state.limits.account_mails.blocked(&email, state.clock.now_ms()) {
        return Err(Error::too_many(wait, "we sent several mails to this address already; try again later"));
    }
    match state.store.user_by_email(&email).await? {
        Some(existing) => tell_owner(&state, &existing).await?,
        None => send_link(&state, &auth.user, &email).await?,
    }
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Message::new(format!(
            "check your mail at {email}: your address changes when you open the link we sent there"
        ))),
    ))
}
