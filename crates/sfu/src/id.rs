//! Who a peer connection is: [`PeerId`] and [`PeerRole`].
//!
//! On its own, below everything else, because nearly every file names a peer: the io types
//! report peers connecting, errors name them, the demultiplexer routes to them and the room
//! keeps them. Kept in `peer.rs` they tied all of those into a loop with the peer itself.

use std::fmt;

use crate::ParticipantId;

/// Which of a participant's two peer connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerRole {
    /// The client offers and sends its tracks; the room answers.
    Publisher,
    /// The room offers the other participants' tracks; the client answers.
    Subscriber,
}

/// A peer connection: a participant and a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerId {
    /// The participant.
    pub participant: ParticipantId,
    /// Publisher or subscriber.
    pub role: PeerRole,
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = match self.role {
            PeerRole::Publisher => "pub",
            PeerRole::Subscriber => "sub",
        };
        write!(f, "{}/{role}", self.participant)
    }
}
