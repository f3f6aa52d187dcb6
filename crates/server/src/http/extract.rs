//! Request extractors that answer bad input in the API's JSON error shape.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::UserRow;

/// JSON body; syntax errors are 400, wrong shapes 422, wrong content type 415, too big 413.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => {
                let status = rejection.status();
                let code = match status {
                    StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                    StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
                    _ => "malformed_json",
                };
                Err(Error::client(status, code, super::hardening::echo(&rejection.body_text())))
            }
        }
    }
}

/// Query string; anything unparsable is a 400.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|r| Error::bad_request("invalid_query", super::hardening::echo(&r.body_text())))
    }
}

/// A raw upload body, limited by the route's `DefaultBodyLimit`.
pub struct Upload(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        Bytes::from_request(req, state).await.map(Upload).map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::client(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "upload is too large")
            } else {
                Error::bad_request("bad_upload", super::hardening::echo(&r.body_text()))
            }
        })
    }
}

/// The client's IP: the socket peer, or the first `X-Forwarded-For` hop when the server is
/// configured to trust its proxy.
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        if state.config.trust_proxy {
            if let Some(first) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                return Ok(ClientIp(first.to_owned()));
            }
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(ClientIp(ip))
    }
}

/// A signed-in, enabled user with a live session.
pub struct AuthUser {
    pub user: UserRow,
    pub session_id: String,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer(parts)?
            .ok_or_else(|| Error::unauthorized("missing_token", "sign in first: send Authorization: Bearer <token>"))?;
        authenticate(state, token).await
    }
}

/// A signed-in user if the request carries a token; an invalid token is still an error.
pub struct MaybeAuth(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeAuth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        match bearer(parts)? {
            Some(token) => Ok(MaybeAuth(Some(authenticate(state, token).await?))),
            None => Ok(MaybeAuth(None)),
        }
    }
}

/// A signed-in administrator.
pub struct AdminUser(pub AuthUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let auth = AuthUser::from_request_parts(parts, state).await?;
        if !auth.user.is_admin() {
            return Err(Error::forbidden("admin_only", "only administrators may do this"));
        }
        Ok(AdminUser(auth))
    }
}

fn bearer(parts: &Parts) -> Result<Option<&str>> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| Error::unauthorized("invalid_token", "malformed Authorization header"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| Error::unauthorized("invalid_token", "Authorization must be 'Bearer <token>'"))?;
    Ok(Some(token.trim()))
}

/// Checks an access token and that its session and account are still good.
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser> {
    let claims = state.keys.verify_access(token, state.clock.now().timestamp())?;
    let session = state.store.session(&claims.sid).await?;
    let live = session.is_some_and(|s| s.revoked_at.is_none() && s.user_id == claims.sub);
    let user = state.store.user_by_id(&claims.sub).await?;
    // Checked before the session: disabling an account also ends its sessions, and the
    // client should learn why rather than be told to sign in again.
    if user.as_ref().is_some_and(|u| u.disabled) {
        return Err(Error::unauthorized("account_disabled", "this account has been disabled by an administrator"));
    }
    if !live {
        return Err(Error::unauthorized("session_ended", "this session has ended; sign in again"));
    }
    let user = user.ok_or_else(|| Error::unauthorized("invalid_token", "this account no longer exists"))?;
    Ok(AuthUser { user, session_id: claims.sid })
}
