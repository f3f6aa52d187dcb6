//! The receive side of a publisher connection of Convene's own (issue 19; the default,
//! `RoomConfig::own_uplink`).
//!
//! A publisher's connection on str0m runs a whole `str0m::Rtc`, about a quarter of the media
//! core's instructions per forwarded packet besides its SRTP. What a publisher connection has
//! to do is small and known: unprotect SRTP, read each RTP header and the negotiated
//! extensions, learn which SSRC carries which mid and rid (and which repairs which), unwrap
//! RTX, ask for what is missing (NACK), report reception (RR), give the browser's send-side
//! estimator its transport-wide feedback and request keyframes (PLI). `link` joins these
//! parts with the downlink's transport set to receive; SDP stays with str0m, as for
//! subscribers ([`crate::downlink`]).

pub(crate) mod link;
pub mod negotiated;
pub mod register;
pub mod rtp;
pub mod session;
pub mod streams;
pub mod twcc;
