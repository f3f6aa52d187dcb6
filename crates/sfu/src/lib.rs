//! Convene's media core: a selective forwarding unit (SFU) on [str0m], with no IO.
//!
//! # How it fits together
//!
//! A [`Room`] holds every participant of one meeting. Each participant has two peer
//! connections (LiveKit's design, which avoids offer glare):
//!
//! * a **publisher** connection: the client offers the tracks it sends (microphone, camera,
//!   screen share, with up to three simulcast layers for video) and the room answers with
//!   [`Room::publish_offer`];
//! * a **subscriber** connection: the room offers one send-only m-line per track of the
//!   *other* participants ([`RoomEvent::SubscribeOffer`]) and the client answers with
//!   [`Room::subscribe_answer`].
//!
//! Both are ICE-lite with a host candidate for each local address in [`RoomConfig`], and
//! run str0m in RTP mode: packets are forwarded as they come, with sequence numbers and
//! timestamps rewritten per subscriber so that switching simulcast layers is seamless.
//!
//! # Driving a room
//!
//! The room never reads the clock and never touches a socket. The runtime owns both:
//!
//! ```no_run
//! use std::time::Instant;
//! use convene_sfu::{Datagram, Input, Output, ParticipantId, Proto, Room, RoomConfig};
//!
//! let addr = "192.0.2.10:3478".parse().unwrap();
//! let mut room = Room::new(Instant::now(), RoomConfig::new(vec![(Proto::Udp, addr)]));
//! room.add_participant(Instant::now(), ParticipantId(1)).unwrap();
//! # let offer_from_signaling = String::new();
//! let answer = room.publish_offer(Instant::now(), ParticipantId(1), &offer_from_signaling);
//!
//! loop {
//!     // 1. Drain everything the room wants done.
//!     let deadline = loop {
//!         match room.poll_output() {
//!             Output::Transmit(t) => { /* socket.send_to(&t.contents, t.destination) */ }
//!             Output::Event(e) => { /* tell signaling: offers, tracks, active speaker… */ }
//!             Output::Timeout(at) => break at,
//!         }
//!     };
//!     // 2. Wait for a datagram or the deadline, then feed it in.
//!     # let (buf, source) = (vec![0u8], addr);
//!     let input = Input::Receive(Datagram { proto: Proto::Udp, source, destination: addr, contents: &buf });
//!     room.handle_input(Instant::now(), input);
//!     # let _ = deadline;
//! }
//! ```
//!
//! Datagrams from every peer can arrive on one shared port: the room finds the peer from the
//! ICE ufrag of the first STUN request on a path, then from the path itself
//! ([`Room::route`]). Unknown or malformed datagrams are dropped and counted
//! ([`Room::dropped_datagrams`]).
//!
//! # What the room decides
//!
//! * which simulcast layer each subscriber gets, from the tile size it asked for
//!   ([`Room::set_preferred_size`], 0×0 hides the tile) and its estimated bandwidth, switching
//!   only on a keyframe, with hysteresis, and away from layers the publisher stopped sending;
//! * which layers nobody watches ([`RoomEvent::LayersWanted`]), so the publisher can stop
//!   encoding them;
//! * when to ask a publisher for a keyframe: on layer switches and when a subscriber lost a
//!   picture, at most once per track and layer every 500 ms;
//! * who the active speaker is, from RTP audio levels, with a one-second hold.
//!
//! Tracks are announced ([`RoomEvent::TrackPublished`]) as soon as the publisher's offer is
//! accepted; the other participants get a [`RoomEvent::SubscribeOffer`] at once.
//!
//! A subscriber may instead take a fixed set of *slots* ([`Room::add_participant_with`],
//! [`Subscription::Slots`]): [`AUDIO_SLOTS`] audio m-lines carrying the loudest microphones
//! and a video m-line per tile it shows, offered once; the room switches what each carries
//! and says so with [`RoomEvent::SlotMap`]. Joins and leaves then renegotiate nobody.
//!
//! A panic inside str0m closes only the peer connection it happened in.
//!
//! # Overload
//!
//! A runtime that cannot keep up sets a [`Shedding`] level with [`Room::set_shedding`]: the
//! room then caps the simulcast layers it forwards, then forwards only the cameras of the
//! [`VIDEO_SLOTS`] most recent speakers, and at the last level only the active speaker's
//! camera. Audio is never shed.
//!
//! # Recording
//!
//! While [`Room::set_recording`] is on, the room queues a copy of every packet it forwards
//! ([`RecordedPacket`]: audio, and one simulcast layer of each video track) for the runtime
//! to drain with [`Room::poll_recorded`] and hand to a recorder off the forwarding path.
//!
//! [str0m]: https://docs.rs/str0m
#![warn(unreachable_pub, missing_docs)]

mod audible;
mod bitrate;
pub mod codec;
mod config;
mod demux;
pub mod downlink;
mod error;
mod forwarder;
#[doc(hidden)]
pub mod fuzzing;
mod id;
mod io;
mod keyframe;
mod layer_selector;
mod maps;
mod munger;
mod pacing;
mod packet_cache;
mod peer;
mod published;
mod receiver_estimate;
mod recording;
mod room;
mod shedding;
mod slots;
mod speaker;
mod track;
pub mod uplink;

use std::fmt;

pub use audible::{crowded, DEFAULT_AUDIBLE_LIMIT, DEFAULT_CROWD};
pub use config::{DownlinkEstimate, Forwarding, RoomConfig};
pub use demux::stun_local_ufrag;
pub use error::SfuError;
pub use id::{PeerId, PeerRole};
pub use io::{Datagram, Input, Output, Proto, RoomEvent, Transmit};
pub use recording::{RecordedCodec, RecordedPacket, LAYER_GONE};
pub use room::Room;
pub use shedding::{Shedding, VIDEO_SLOTS};
pub use slots::{Subscription, AUDIO_SLOTS, MAX_VIDEO_SLOTS};
pub use track::{Source, TrackId, TrackKind};

/// A participant, numbered by the runtime (unique within a room).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub u64);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{}", self.0)
    }
}
