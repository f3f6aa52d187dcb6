//! A subscriber transport of Convene's own: ICE, DTLS-SRTP, RTP and RTCP for the downlink.
//!
//! Issue 19: str0m's per-connection session work (streams walked on every timeout and poll,
//! one pacer release per timeout) is most of the media core's cost per forwarded packet. A
//! subscriber connection only sends media it did not encode and only hears feedback, so it
//! needs far less than a full WebRTC session: an ICE-lite agent ([`is`]), DTLS ([`dimpl`])
//! for the SRTP keys, SRTP with str0m-proto's ciphers (aws-lc-rs), and RTCP.
//! SDP stays with str0m.

pub mod buffers;
mod certificate;
mod history;
pub(crate) mod link;
pub mod rtcp;
pub mod rtp;
pub mod srtp;
mod stream;
pub mod transport;
mod transport_events;

pub use certificate::Certificate;
pub use is::IceCreds;
pub use rtp::{PayloadPatch, RtpHeader};
pub use transport::{Inbound, StreamIndex, Transport, TransportEvent, TransportStats};
