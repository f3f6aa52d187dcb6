//! How a signed-in user stands to a meeting (host, co-host, invitee, attendee): the facts
//! every permission of an account rests on. The store supplies the ties ([`Ties`]); the
//! rule that turns them into a standing is here, in one place.

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

/// What the store found of one account's ties to one meeting.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ties {
    pub co_host: bool,
    /// Invited by account.
    pub invited_by_id: bool,
    /// Invited by the e-mail address the account has.
    pub invited_by_email: bool,
    /// The account was in the meeting at some point.
    pub attended: bool,
    /// The account's address is verified; until it is, invitations do not count for it
    /// (anyone can register any address).
    pub email_verified: bool,
}

/// A user's relation to a meeting, plus whether they attended it: an invitee who came ranks
/// as an invitee but may still read what attendees read.
#[derive(Debug, Clone)]
pub struct Access {
    pub user_id: String,
    pub relation: Relation,
    pub attended: bool,
}

impl Access {
    /// The standing of account `user_id` to a meeting hosted by `host_id`, given its ties to
    /// it. An invitation counts for the account that has the address it was sent to, once
    /// that account has verified it.
    pub fn of(host_id: &str, user_id: &str, ties: Ties) -> Access {
        let relation = if host_id == user_id {
            Relation::Host
        } else if ties.co_host {
            Relation::CoHost
        } else if (ties.invited_by_id || ties.invited_by_email) && ties.email_verified {
            Relation::Invitee
        } else if ties.attended {
            Relation::Attendee
        } else {
            Relation::None
        };
        Access { user_id: user_id.to_owned(), relation, attended: ties.attended }
    }

    /// Host or co-host by the meeting's own record.
    pub(super) fn moderates(&self) -> bool {
        self.relation >= Relation::CoHost
    }
}
