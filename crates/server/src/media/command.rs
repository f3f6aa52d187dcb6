//! What signaling (through `Media`) and the router ask of a media worker, as messages on its
//! queue: one variant a request, answers on a oneshot where the caller waits.

use std::net::SocketAddr;

use convene_protocol::PublishedTrack;
use tokio::sync::oneshot;

use super::{AnswerRefused, MediaError, Subscription};

/// What signaling (through [`super::Media`]) and the router ask of a worker.
pub(super) enum Command {
    Join {
        meeting: i64,
        participant: String,
        subscription: Subscription,
    },
    Leave {
        meeting: i64,
        participant: String,
    },
    EndRoom {
        meeting: i64,
    },
    Publish {
        meeting: i64,
        participant: String,
        sdp: String,
        tracks: Vec<PublishedTrack>,
        reply: oneshot::Sender<Result<String, MediaError>>,
    },
    SubscribeAnswer {
        meeting: i64,
        participant: String,
        sdp: String,
        offer_id: Option<u64>,
        reply: oneshot::Sender<Result<(), AnswerRefused>>,
    },
    VideoSize {
        meeting: i64,
        participant: String,
        track: u64,
        width: u32,
        height: u32,
    },
    /// Forward a participant's audio or not (the authoritative mute).
    Muted {
        meeting: i64,
        participant: String,
        muted: bool,
    },
    /// Forward a participant's camera or not (a host stopped it; the participant turned it
    /// back on).
    VideoStopped {
        meeting: i64,
        participant: String,
        stopped: bool,
    },
    /// Copy the room's forwarded packets to the recorder, or stop.
    Recording {
        meeting: i64,
        on: bool,
    },
    /// Copy the room's microphones to the captioner, or stop (live captions).
    Captions {
        meeting: i64,
        on: bool,
    },
    /// An ICE-TCP connection closed: forget its path.
    TcpClosed {
        remote: SocketAddr,
    },
    /// The runtime is shutting down.
    Stop,
}
