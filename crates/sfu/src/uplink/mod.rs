//! The receive side of a publisher connection of Convene's own (issue 19), being built.
//!
//! Subscribers already leave str0m's session for [`crate::downlink`]; a publisher's
//! connection still runs a whole `str0m::Rtc`, about a quarter of the media core's
//! instructions per forwarded packet besides its SRTP. What a publisher connection has to do
//! is small and known: unprotect SRTP, read each RTP header and the negotiated extensions,
//! learn which SSRC carries which mid and rid (and which repairs which), unwrap RTX, ask for
//! what is missing (NACK), report reception (RR), give the browser's send-side estimator its
//! transport-wide feedback and request keyframes (PLI). SDP stays with str0m, as for
//! subscribers. The parts arrive here one by one, each tested on its own, before a
//! transport joins them and the room uses it.

pub(crate) mod link;
pub mod negotiated;
pub mod register;
pub mod rtp;
pub mod session;
pub mod streams;
pub mod twcc;
