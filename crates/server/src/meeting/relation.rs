//! How a signed-in user stands to a meeting (host, co-host, invitee, attendee) and what that
//! lets them see: the one check behind the meeting, calendar, chat-history and file endpoints.

use crate::error::Result;
use crate::store::{MeetingRow, Store, UserRow};

/// The closest tie a user has to a meeting; later variants outrank earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Relation {
    None,
    Attendee,
    Invitee,
    CoHost,
    Host,
}

impl Relation {
    /// The name the API uses (`my_role` of a meeting).
    pub fn name(self) -> &'static str {
        match self {
            Relation::Host => "host",
            Relation::CoHost => "cohost",
            Relation::Invitee => "invitee",
            Relation::Attendee => "attendee",
            Relation::None => "none",
        }
    }
}

/// A user's relation to a meeting, plus whether they attended it: an invitee who came ranks
/// as an invitee but may still read what attendees read.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub relation: Relation,
    pub attended: bool,
}

impl Access {
    /// Looks up the user's ties to the meeting.
    pub async fn of(store: &Store, m: &MeetingRow, user: &UserRow) -> Result<Access> {
        let attended = store.attendance(m.id).await?.iter().any(|a| a.user_id.as_deref() == Some(user.id.as_str()));
        let relation = if m.host_id == user.id {
            Relation::Host
        } else if store.co_hosts(m.id).await?.contains(&user.id) {
            Relation::CoHost
        } else if store
            .invitees(m.id)
            .await?
            .iter()
            .any(|i| i.user_id.as_deref() == Some(user.id.as_str()) || i.email == user.email)
        {
            Relation::Invitee
        } else if attended {
            Relation::Attendee
        } else {
            Relation::None
        };
        Ok(Access { relation, attended })
    }

    /// Host or co-host: may edit the meeting and moderate it.
    pub fn moderates(self) -> bool {
        self.relation >= Relation::CoHost
    }

    /// The invitation itself (its calendar file): host, co-hosts and invitees.
    pub fn sees_invitation(self) -> bool {
        self.relation >= Relation::Invitee
    }

    /// What happened in the meeting (chat history, shared files): host, co-hosts and the
    /// people who attended.
    pub fn sees_records(self) -> bool {
        self.moderates() || self.attended
    }
}
