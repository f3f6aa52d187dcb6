//! The one error type of the media core.

use crate::id::PeerId;
use crate::ParticipantId;

/// Why a call into the [`Room`](crate::Room) was refused.
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    /// No participant with this id is in the room.
    #[error("unknown participant {0}")]
    UnknownParticipant(ParticipantId),

    /// A participant with this id is already in the room.
    #[error("participant {0} is already in the room")]
    DuplicateParticipant(ParticipantId),

    /// The SDP text could not be parsed.
    #[error("malformed SDP: {0}")]
    MalformedSdp(String),

    /// str0m refused the offer or answer.
    #[error("negotiation failed: {0}")]
    Negotiation(#[source] str0m::RtcError),

    /// An answer arrived while no offer was outstanding.
    #[error("no subscribe offer is outstanding for participant {0}")]
    NoPendingOffer(ParticipantId),

    /// The answer names an offer that is no longer outstanding (it was replaced, e.g. by a
    /// media restart); the outstanding offer, if any, still waits for its own answer.
    #[error("the answer is to offer {answered}, which is no longer outstanding")]
    StaleAnswer {
        /// The offer the answer names.
        answered: u64,
    },

    /// A local candidate address was refused by str0m.
    #[error("invalid local candidate {0}")]
    InvalidCandidate(String),

    /// The peer connection failed or panicked and was disconnected.
    #[error("peer {0} is disconnected")]
    PeerGone(PeerId),
}
