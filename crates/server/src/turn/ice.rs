//! The `ice_servers` of a join ticket: what a browser puts in `RTCPeerConnection`'s
//! `iceServers` (the same shape, plus when the credential expires).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::credentials::Credential;

/// A STUN or TURN server for `RTCPeerConnection({iceServers})`.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port?transport=udp|tcp` or `turns:host:port?transport=tcp`.
    pub urls: Vec<String>,
    /// TURN username (`<expiry unix time>:<user>`, the TURN REST API convention).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password for `username`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// When the TURN servers stop accepting this credential; a new join ticket brings fresh ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl IceServer {
    pub(super) fn stun(urls: Vec<String>) -> IceServer {
        IceServer { urls, username: None, credential: None, expires_at: None }
    }

    pub(super) fn turn(urls: Vec<String>, c: Credential) -> IceServer {
        IceServer {
            urls,
            expires_at: DateTime::from_timestamp(c.expires_at, 0),
            username: Some(c.username),
            credential: Some(c.password),
        }
    }
}
