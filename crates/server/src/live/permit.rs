//! The room's side of [`crate::meeting::authorize`]: a client message that the sender's seat
//! does not allow is answered with an error frame naming the request, and nothing changes.

use convene_protocol::Participant;

use super::{Acted, Refused};
use crate::error::Error;
use crate::meeting::{authorize_seated, Action};

/// Refuses `req` unless `me` is the host or a co-host.
pub(super) fn moderator(me: &Participant, req: &'static str) -> Acted {
    seat_allows(me, Action::Moderate, req)
}

/// Refuses `req` unless `me` is the host.
pub(super) fn host_only(me: &Participant, req: &'static str) -> Acted {
    seat_allows(me, Action::Lead, req)
}

/// Refuses `req` unless `me` may record the meeting on their own device.
pub(super) fn local_recorder(me: &Participant, req: &'static str) -> Acted {
    seat_allows(me, Action::RecordLocally, req)
}

/// Whether `p` may record the meeting on their own device (after a change of role or permission).
pub(super) fn may_record_locally(p: &Participant) -> bool {
    authorize_seated(p, Action::RecordLocally).is_ok()
}

fn seat_allows(me: &Participant, action: Action<'_>, req: &'static str) -> Acted {
    authorize_seated(me, action).map_err(|e| refused(e, req))
}

/// A refusal met while handling `req`, as its error frame: a client error keeps its code and
/// message; anything else is logged and reported as `internal`.
pub(super) fn refused(e: Error, req: &'static str) -> Refused {
    match e {
        Error::Client { code, message, .. } => (code, message, req),
        other => {
            tracing::error!(error = %other, request = req, "a room request failed");
            ("internal", "that could not be done; try again".to_owned(), req)
        }
    }
}
