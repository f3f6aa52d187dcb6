//! Who may do what with a meeting: [`authorize`] is the one place that says it, for the
//! HTTP API, the meeting WebSocket, shared files, recordings and calendar files alike.
//!
//! An [`Actor`] is what is known of whoever asks: their account's standing to the meeting
//! ([`Access`]) and, if they are in the live meeting, their seat (role and permissions).
//! Each refusal has one error code and one message, whichever door it is met at.

use convene_protocol::{Participant, Role};

use super::access::Access;
use super::lifecycle::{Lifecycle, MeetingKind};
use super::settings::RecordingAccess;
use crate::error::{Error, Result};

/// Everything a meeting's permissions look at besides the actor.
#[derive(Debug, Clone, Copy)]
pub struct Meeting {
    pub lifecycle: Lifecycle,
    /// People without an account may join (with the passcode).
    pub allow_guests: bool,
}

/// A seat in the live meeting, as permissions see it.
#[derive(Debug, Clone, Copy)]
struct Seat {
    role: Role,
    signed_in: bool,
    local_recording_allowed: bool,
}

/// Whoever asks.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    account: Option<Access>,
    seat: Option<Seat>,
}

impl Actor {
    /// Someone without an account (a guest at the door).
    pub fn anonymous() -> Actor {
        Actor::default()
    }

    /// A signed-in account with its standing to the meeting.
    pub fn account(access: Access) -> Actor {
        Actor { account: Some(access), seat: None }
    }

    /// Someone in the live meeting, by their seat.
    pub fn seated(p: &Participant) -> Actor {
        Actor::default().with_seat(Some(p))
    }

    /// The same actor, also holding `seat` in the live meeting (if any).
    pub fn with_seat(mut self, seat: Option<&Participant>) -> Actor {
        self.seat = seat.map(|p| Seat {
            role: p.role,
            signed_in: p.user_id.is_some(),
            local_recording_allowed: p.local_recording_allowed,
        });
        self
    }

    /// The role a ticket gives: host and co-hosts by the meeting's record, guests without an
    /// account, everyone else a participant.
    pub fn role_on_entry(&self) -> Role {
        match self.account.as_ref().map(|a| a.relation) {
            None => Role::Guest,
            Some(super::Relation::Host) => Role::Host,
            Some(super::Relation::CoHost) => Role::Cohost,
            Some(_) => Role::Participant,
        }
    }

    /// Host or co-host: by the role held in the room, or by the meeting's record.
    fn moderates(&self) -> bool {
        self.seat.is_some_and(|s| s.role.is_moderator()) || self.account.as_ref().is_some_and(Access::moderates)
    }

    fn relation(&self) -> super::Relation {
        self.account.as_ref().map_or(super::Relation::None, |a| a.relation)
    }

    fn user_id(&self) -> Option<&str> {
        self.account.as_ref().map(|a| a.user_id.as_str())
    }
}

/// A recording, as permissions see it.
#[derive(Debug, Clone, Copy)]
pub struct RecordingFacts<'a> {
    /// The meeting's host when it was recorded.
    pub host_id: &'a str,
    /// Whoever recorded it on their own device (client recordings).
    pub made_on_device_by: Option<&'a str>,
    pub access: Option<RecordingAccess>,
}

/// What someone wants to do.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// See the meeting (details, occurrences).
    View,
    /// Its calendar file: the invitation itself.
    ReadInvitation,
    /// Change its details or settings.
    Edit,
    /// Change who co-hosts it.
    ChangeCoHosts,
    Cancel,
    SeeAttendance,
    /// What happened in it: chat history, shared files.
    ReadRecords,
    /// Ask for a join ticket (the meeting must not be over).
    Join,
    /// Enter without the passcode.
    SkipPasscode,
    /// Enter without an account.
    JoinAsGuest,
    /// Start or stop the server recording.
    Record,
    /// A moderator's control in the room: mute, stop video, remove, lock, admit, …
    Moderate,
    /// The host's own controls: roles, hand-over, ending the meeting for everyone.
    Lead,
    /// Record the meeting on one's own device.
    RecordLocally,
    WatchRecording(RecordingFacts<'a>),
    /// Change who may watch a recording, or delete it.
    ManageRecording(RecordingFacts<'a>),
}

/// Whether `actor` may do `action` with `meeting`; the refusal says why.
pub fn authorize(actor: &Actor, meeting: &Meeting, action: Action<'_>) -> Result<()> {
    if !allowed(actor, meeting.allow_guests, action) {
        return Err(refusal(actor, action));
    }
    lifecycle(meeting.lifecycle, action)
}

/// [`authorize`] for someone in the live meeting asking for what their seat alone decides:
/// [`Action::Moderate`], [`Action::Lead`] or [`Action::RecordLocally`]. The meeting is
/// running (they are in it), which its lifecycle allows for all three.
pub fn authorize_seated(p: &Participant, action: Action<'_>) -> Result<()> {
    debug_assert!(matches!(action, Action::Moderate | Action::Lead | Action::RecordLocally));
    let actor = Actor::seated(p);
    if allowed(&actor, false, action) {
        Ok(())
    } else {
        Err(refusal(&actor, action))
    }
}

fn allowed(actor: &Actor, allow_guests: bool, action: Action<'_>) -> bool {
    use super::Relation as R;
    match action {
        Action::View => actor.relation() > R::None,
        Action::ReadInvitation => actor.relation() >= R::Invitee,
        Action::Edit | Action::Cancel | Action::SeeAttendance | Action::Record | Action::Moderate => actor.moderates(),
        Action::ChangeCoHosts => actor.relation() == R::Host,
        Action::ReadRecords => actor.moderates() || actor.account.as_ref().is_some_and(|a| a.attended),
        Action::Join => true,
        Action::SkipPasscode => actor.account.as_ref().is_some_and(Access::moderates),
        Action::JoinAsGuest => allow_guests,
        Action::Lead => actor.seat.is_some_and(|s| s.role == Role::Host),
        Action::RecordLocally => {
            actor.seat.is_some_and(|s| s.signed_in && (s.role.is_moderator() || s.local_recording_allowed))
        }
        Action::WatchRecording(r) => manages(actor, r) || watches(actor, r),
        Action::ManageRecording(r) => manages(actor, r),
    }
}

/// The meeting's host, and for a recording made on a device also whoever made it.
fn manages(actor: &Actor, r: RecordingFacts<'_>) -> bool {
    actor.user_id().is_some_and(|u| u == r.host_id || r.made_on_device_by == Some(u))
}

/// What the recording's access setting lets this account watch.
fn watches(actor: &Actor, r: RecordingFacts<'_>) -> bool {
    match (r.access, &actor.account) {
        (Some(RecordingAccess::Organisation), Some(_)) => true,
        (Some(RecordingAccess::Participants), Some(a)) => a.attended,
        _ => false,
    }
}

/// What the meeting's place in its life allows, for an actor who may otherwise act.
fn lifecycle(life: Lifecycle, action: Action<'_>) -> Result<()> {
    let closed = life.closed();
    match action {
        Action::Join => match closed {
            Some(c) => Err(gone(c.code_and_message())),
            None => Ok(()),
        },
        Action::Cancel if life.kind == MeetingKind::Personal => {
            Err(Error::conflict("personal_room", "your personal room cannot be cancelled"))
        }
        Action::Edit | Action::Cancel => match closed {
            Some(c) => {
                let (code, message) = c.code_and_message();
                Err(Error::conflict(code, message))
            }
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

fn gone((code, message): (&'static str, &'static str)) -> Error {
    Error::gone(code, message)
}

fn refusal(actor: &Actor, action: Action<'_>) -> Error {
    let not_host = |what: &str| Error::forbidden("not_host", format!("only the host or a co-host may {what}"));
    match action {
        Action::View => {
            Error::forbidden("not_invited", "you are not the host of, invited to or an attendee of this meeting")
        }
        Action::ReadInvitation => Error::forbidden("not_invited", "you are not the host of or invited to this meeting"),
        Action::Edit => not_host("edit this meeting"),
        Action::Cancel => not_host("cancel this meeting"),
        Action::SeeAttendance => not_host("see attendance"),
        Action::Record => not_host("record this meeting"),
        Action::ChangeCoHosts => Error::forbidden("not_host", "only the host may change co-hosts"),
        Action::ReadRecords => Error::forbidden(
            "not_attended",
            "only the host, co-hosts and people who attended can see what was shared in this meeting",
        ),
        Action::Join | Action::SkipPasscode => Error::forbidden("passcode_required", "this meeting needs a passcode"),
        Action::JoinAsGuest => {
            Error::unauthorized("guests_not_allowed", "this meeting is for signed-in users only; sign in to join")
        }
        Action::Moderate => Error::forbidden("not_allowed", "only the host or a co-host can do that"),
        Action::Lead => Error::forbidden("not_allowed", "only the host can do that"),
        Action::RecordLocally => match actor.seat {
            None => Error::forbidden("not_in_meeting", "only people in the meeting can record it"),
            Some(s) if !s.signed_in => Error::forbidden(
                "local_recording_not_allowed",
                "guests cannot record: a recording is uploaded to an account",
            ),
            Some(_) => {
                Error::forbidden("local_recording_not_allowed", "the host has not allowed you to record this meeting")
            }
        },
        Action::WatchRecording(_) => Error::forbidden("not_allowed", "the host has not shared this recording with you"),
        Action::ManageRecording(_) => {
            Error::forbidden("not_host", "only the meeting's host (or whoever recorded it) can change this recording")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::{MeetingStatus, Relation};

    fn meeting(status: MeetingStatus) -> Meeting {
        Meeting { lifecycle: Lifecycle { status, kind: MeetingKind::Scheduled, recurring: false }, allow_guests: true }
    }

    fn account(relation: Relation, attended: bool) -> Actor {
        Actor::account(Access { user_id: "u".into(), relation, attended })
    }

    fn seat(role: Role, user: Option<&str>) -> Participant {
        serde_json::from_value(serde_json::json!({
            "participant_id": "p_1", "user_id": user, "display_name": "P", "role": role,
            "joined_at": "", "muted": false, "camera_on": false, "hand_raised": false,
            "presenting": false, "reconnecting": false,
        }))
        .unwrap()
    }

    fn code(r: Result<()>) -> &'static str {
        match r {
            Ok(()) => "ok",
            Err(Error::Client { code, .. }) => code,
            Err(_) => "internal",
        }
    }

    #[test]
    fn permission_comes_before_the_meeting_state() {
        let ended = meeting(MeetingStatus::Ended);
        assert_eq!(code(authorize(&account(Relation::Invitee, false), &ended, Action::Edit)), "not_host");
        assert_eq!(code(authorize(&account(Relation::CoHost, false), &ended, Action::Edit)), "meeting_ended");
        assert_eq!(code(authorize(&Actor::anonymous(), &ended, Action::Join)), "meeting_ended");
        let cancelled = meeting(MeetingStatus::Cancelled);
        assert_eq!(code(authorize(&account(Relation::Host, false), &cancelled, Action::Cancel)), "meeting_cancelled");
    }

    #[test]
    fn a_co_host_moderates_by_record_or_by_seat() {
        let live = meeting(MeetingStatus::Live);
        assert_eq!(code(authorize(&account(Relation::CoHost, false), &live, Action::Record)), "ok");
        let promoted = account(Relation::Invitee, true).with_seat(Some(&seat(Role::Cohost, Some("u"))));
        assert_eq!(code(authorize(&promoted, &live, Action::Record)), "ok");
        assert_eq!(code(authorize(&account(Relation::Invitee, true), &live, Action::Record)), "not_host");
        let participant = Actor::seated(&seat(Role::Participant, Some("u")));
        assert_eq!(code(authorize(&participant, &live, Action::Moderate)), "not_allowed");
        let cohost = Actor::seated(&seat(Role::Cohost, Some("u")));
        assert_eq!(code(authorize(&cohost, &live, Action::Moderate)), "ok");
        assert_eq!(code(authorize(&cohost, &live, Action::Lead)), "not_allowed");
    }

    #[test]
    fn records_and_recordings_follow_attendance_and_access() {
        let held = meeting(MeetingStatus::Ended);
        assert_eq!(code(authorize(&account(Relation::Invitee, false), &held, Action::ReadRecords)), "not_attended");
        assert_eq!(code(authorize(&account(Relation::Invitee, true), &held, Action::ReadRecords)), "ok");
        let rec = |access| RecordingFacts { host_id: "h", made_on_device_by: None, access: Some(access) };
        let attendee = account(Relation::Attendee, true);
        let outsider = account(Relation::None, false);
        let watch = |a: &Actor, r| code(authorize(a, &held, Action::WatchRecording(r)));
        assert_eq!(watch(&attendee, rec(RecordingAccess::Participants)), "ok");
        assert_eq!(watch(&outsider, rec(RecordingAccess::Participants)), "not_allowed");
        assert_eq!(watch(&outsider, rec(RecordingAccess::Organisation)), "ok");
        assert_eq!(watch(&attendee, rec(RecordingAccess::Host)), "not_allowed");
        let mine = RecordingFacts { host_id: "h", made_on_device_by: Some("u"), access: None };
        assert_eq!(code(authorize(&attendee, &held, Action::ManageRecording(mine))), "ok");
        assert_eq!(code(authorize(&attendee, &held, Action::ManageRecording(rec(RecordingAccess::Host)))), "not_host");
    }

    #[test]
    fn only_signed_in_seats_record_locally() {
        let live = meeting(MeetingStatus::Live);
        let guest = Actor::seated(&seat(Role::Guest, None));
        assert_eq!(code(authorize(&guest, &live, Action::RecordLocally)), "local_recording_not_allowed");
        assert_eq!(code(authorize(&Actor::anonymous(), &live, Action::RecordLocally)), "not_in_meeting");
        let host = Actor::seated(&seat(Role::Host, Some("u")));
        assert_eq!(code(authorize(&host, &live, Action::RecordLocally)), "ok");
        // In the room (authorize_seated): moderators always, others once a moderator allowed it.
        let mut p = seat(Role::Participant, Some("u"));
        assert_eq!(code(authorize_seated(&p, Action::RecordLocally)), "local_recording_not_allowed");
        p.local_recording_allowed = true;
        assert_eq!(code(authorize_seated(&p, Action::RecordLocally)), "ok");
        p.local_recording_allowed = false;
        p.role = Role::Cohost;
        assert_eq!(code(authorize_seated(&p, Action::RecordLocally)), "ok");
        assert_eq!(code(authorize_seated(&p, Action::Moderate)), "ok");
        assert_eq!(code(authorize_seated(&p, Action::Lead)), "not_allowed");
        p.user_id = None;
        assert_eq!(code(authorize_seated(&p, Action::RecordLocally)), "local_recording_not_allowed");
        assert_eq!(Actor::anonymous().role_on_entry(), Role::Guest);
        assert_eq!(account(Relation::CoHost, false).role_on_entry(), Role::Cohost);
        assert_eq!(account(Relation::Invitee, false).role_on_entry(), Role::Participant);
    }
}
