//! Who may come into a live meeting now: the one check behind both the HTTP join (before a
//! ticket is issued) and the room (when the ticket is presented), so the two cannot disagree.
//!
//! Moderators — the host and co-hosts — run the meeting, so a lock, a missing host or a full
//! room never keeps them out; everyone else meets those three in that order. Someone a host
//! removed is kept out whatever their role ([`not_removed`]).

use convene_protocol::Role;

use crate::error::{Error, Result};
use crate::meeting::Settings;
use crate::services::Services;
use crate::store::{MeetingRow, Store};

/// Why a room refused a connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    TicketUsed,
    UnknownResume,
    Closed,
    Locked,
    Full,
    HostAbsent,
}

/// The room as the door sees it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Door {
    pub(crate) locked: bool,
    /// People seated (the waiting room does not count).
    pub(crate) seated: usize,
    /// A host or co-host is seated.
    pub(crate) moderator_present: bool,
}

/// Whether someone with `role` may come into a room with `settings` as `door` finds it. A room
/// not yet open is [`Door::default`]: unlocked, empty, no host.
pub(crate) fn admission(role: Role, settings: &Settings, door: Door) -> std::result::Result<(), Refusal> {
    if role.is_moderator() {
        return Ok(());
    }
    if door.locked {
        return Err(Refusal::Locked);
    }
    if door.seated >= settings.max_participants as usize {
        return Err(Refusal::Full);
    }
    if !door.moderator_present && !settings.join_before_host {
        return Err(Refusal::HostAbsent);
    }
    Ok(())
}

/// What a refusal at the door tells the client (HTTP join and socket alike).
pub(crate) fn refusal_error(r: Refusal) -> Error {
    match r {
        Refusal::TicketUsed => {
            Error::conflict("ticket_used", "this join ticket was already used; join again for a new one")
        }
        Refusal::Locked => Error::forbidden("meeting_locked", "the host has locked this meeting"),
        Refusal::Full => Error::forbidden("meeting_full", "this meeting is full"),
        Refusal::HostAbsent => {
            Error::conflict("meeting_not_started", "the host has not started this meeting yet; try again in a moment")
        }
        Refusal::Closed | Refusal::UnknownResume => {
            let (code, message) = crate::meeting::Closed::Ended.code_and_message();
            Error::gone(code, message)
        }
    }
}

/// A resume token that no longer names a seat.
pub(crate) fn seat_gone() -> Error {
    Error::unauthorized("resume_expired", "that seat is gone; join the meeting again")
}

/// The meeting, if people may be in it now.
pub(crate) async fn joinable(state: &Services, meeting_id: i64) -> Result<MeetingRow> {
    let m = state
        .store
        .meeting(meeting_id)
        .await?
        .ok_or_else(|| Error::not_found("meeting_not_found", "no meeting has that ID"))?;
    crate::meeting::authorize(
        &crate::meeting::Actor::anonymous(),
        &m.facts(&state.config),
        crate::meeting::Action::Join,
    )?;
    Ok(m)
}

/// A removal is remembered under the account (`user:…`) …
pub(crate) fn user_subject(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// … and under the random id a guest's browser keeps (`client:…`).
pub(crate) fn client_subject(client_id: &str) -> String {
    format!("client:{client_id}")
}

/// Refuses someone a host removed from the meeting: the one ban check, for the HTTP join and
/// the room's door alike.
pub(crate) async fn not_removed(
    store: &Store,
    meeting_id: i64,
    user_id: Option<&str>,
    client_id: Option<&str>,
) -> Result<()> {
    let subjects: Vec<String> = user_id.map(user_subject).into_iter().chain(client_id.map(client_subject)).collect();
    if store.is_banned(meeting_id, &subjects).await? {
        return Err(Error::forbidden("removed", "a host removed you from this meeting; you cannot rejoin it"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_participants: u32, join_before_host: bool) -> Settings {
        Settings {
            waiting_room: false,
            join_before_host,
            mute_on_entry: false,
            allow_guests: true,
            max_participants,
            duration_limit_minutes: 60,
            auto_record: false,
            e2ee: false,
            recording_access: crate::meeting::RecordingAccess::Host,
            peer_to_peer: true,
            captions: false,
        }
    }

    #[test]
    fn moderators_always_enter_and_others_meet_lock_capacity_and_host() {
        let full = Door { locked: false, seated: 2, moderator_present: true };
        let s = settings(2, false);
        for role in [Role::Host, Role::Cohost] {
            assert_eq!(admission(role, &s, full), Ok(()), "{role:?} of a full meeting");
            assert_eq!(admission(role, &s, Door { locked: true, ..full }), Ok(()));
            assert_eq!(admission(role, &s, Door::default()), Ok(()), "{role:?} opens the room");
        }
        for role in [Role::Participant, Role::Guest] {
            assert_eq!(admission(role, &s, full), Err(Refusal::Full));
            assert_eq!(admission(role, &s, Door { locked: true, ..full }), Err(Refusal::Locked));
            assert_eq!(admission(role, &s, Door::default()), Err(Refusal::HostAbsent));
            assert_eq!(admission(role, &settings(2, true), Door::default()), Ok(()));
            assert_eq!(admission(role, &s, Door { seated: 1, ..full }), Ok(()));
        }
    }
}
