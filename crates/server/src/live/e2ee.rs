//! End-to-end encrypted meetings on the live side (docs/e2ee.md): only clients that announced
//! the capability get in, each participant's public identity key travels with them, and sealed
//! key blobs go from one participant to another through the server, which checks where they
//! go and how big they are, and never reads them.

use convene_protocol::{is_base64url_text, is_e2ee_identity, Participant, ServerMessage, MAX_E2EE_BLOB_CHARS};

use super::Room;
use crate::error::{Error, Result};
use crate::services::Services;

/// The E2EE protocol version this server speaks (`e2ee.version` in the join request).
pub(crate) const VERSION: u32 = 1;

/// A refused client message: error code, text, request type (as `Live::act` answers).
type Refused = (&'static str, String, &'static str);

/// The refusal of a client that cannot take part in an end-to-end encrypted meeting.
pub(crate) fn unsupported() -> Error {
    Error::forbidden(
        "e2ee_unsupported",
        "This meeting is end-to-end encrypted. Join from a browser that supports it \
         (Chrome or Edge 86+, Firefox 117+, Safari 15.4+).",
    )
}

/// Checks a join's capability announcement against the meeting: in an E2EE meeting it must
/// announce version 1 with a well-formed identity key, which the participant then carries;
/// elsewhere the key is ignored (`None`).
pub(crate) fn identity_on_entry(meeting_e2ee: bool, version: Option<u32>, key: Option<&str>) -> Result<Option<String>> {
    if !meeting_e2ee {
        return Ok(None);
    }
    match (version, key) {
        (Some(VERSION), Some(key)) if is_e2ee_identity(key) => Ok(Some(key.to_owned())),
        (Some(VERSION), Some(key)) => check_identity(key).map(|()| None),
        _ => Err(unsupported()),
    }
}

/// A resumed connection from a reloaded page brings a new identity key: everyone learns it
/// from `participant_updated` (their clients treat it as a leave and a join).
/// The key's form is checked first, with [`check_identity`].
pub(crate) fn replace_identity(room: &Room, participant_id: &str, key: &str) {
    if !room.settings.e2ee || !is_e2ee_identity(key) {
        return;
    }
    let changed = room.participant(participant_id).is_some_and(|p| p.e2ee_identity.as_deref() != Some(key));
    if changed {
        if let Some(p) = room.update(participant_id, |p| p.e2ee_identity = Some(key.to_owned())) {
            room.broadcast(&ServerMessage::ParticipantUpdated { participant: p }, None);
        }
    }
}

/// Refuses an identity key of the wrong form (before a resume takes the seat over).
pub(crate) fn check_identity(key: &str) -> Result<()> {
    if is_e2ee_identity(key) {
        return Ok(());
    }
    Err(Error::invalid(
        "invalid_e2ee_identity",
        "e2ee_identity must be a P-256 public key, uncompressed, in base64url (87 characters)",
    ))
}

/// Relays a sealed key blob from `me` to one other participant of the same meeting.
pub(crate) fn relay(
    state: &Services,
    room: &Room,
    me: &Participant,
    to: &str,
    blob: &str,
) -> std::result::Result<(), Refused> {
    const REQ: &str = "e2ee_key";
    if !room.settings.e2ee {
        return Err(("e2ee_not_enabled", "this meeting is not end-to-end encrypted".into(), REQ));
    }
    if blob.len() > MAX_E2EE_BLOB_CHARS {
        return Err((
            "e2ee_blob_too_large",
            format!("a key blob is at most {MAX_E2EE_BLOB_CHARS} characters ({} given)", blob.len()),
            REQ,
        ));
    }
    if !is_base64url_text(blob) {
        return Err(("invalid_message", "e2ee_key: blob must be base64url text".into(), REQ));
    }
    if to == me.participant_id || room.participant(to).is_none() {
        return Err(("unknown_participant", format!("no other participant {to:?} in this meeting"), REQ));
    }
    // Each leave makes every client send one blob (and an acknowledgement) to each other.
    let limit = 4 * room.settings.max_participants + 16;
    if !room.e2ee_blobs.spend(&me.participant_id, limit, state.clock.now_ms()) {
        return Err(("rate_limited", "too many key blobs; slow down".into(), REQ));
    }
    room.send_to(to, ServerMessage::E2eeKey { from: me.participant_id.clone(), blob: blob.to_owned() });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_needs_the_capability_only_in_e2ee_meetings() {
        let key = "B".repeat(87);
        assert_eq!(identity_on_entry(false, None, None).unwrap(), None);
        assert_eq!(identity_on_entry(false, Some(1), Some(&key)).unwrap(), None);
        assert_eq!(identity_on_entry(true, Some(1), Some(&key)).unwrap(), Some(key.clone()));
        let code = |r: Result<Option<String>>| match r {
            Err(Error::Client { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(identity_on_entry(true, None, None)), "e2ee_unsupported");
        assert_eq!(code(identity_on_entry(true, Some(2), Some(&key))), "e2ee_unsupported");
        assert_eq!(code(identity_on_entry(true, Some(1), Some("short"))), "invalid_e2ee_identity");
    }
}
