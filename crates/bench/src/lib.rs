//! `convene-bench`: simulated meeting participants (real WebRTC peers on str0m) that load an
//! SFU — Convene through its HTTP + WebSocket protocol, or Janus's VideoRoom — and measure
//! what a user would feel (join time, latency, loss) next to what the server spent (CPU
//! seconds, memory).
//!
//! `scenario` says who joins and what they send; `run` drives one scenario against one
//! `target` (a server process it starts, or one already running) and returns a `report`.
//! `engine` runs many peer connections on a few threads; `synth` makes the media and `probe`
//! the marker each packet carries; `remb` the estimate a subscriber reports when Convene
//! leaves the estimating to it; `stats` turns arrivals into numbers; `minutes` the soak's account minute by minute, with `machine_speed` how fast the machine was; `downlink` times one subscriber connection's send path, str0m's against Convene's own
//! transport; `ceiling` is the
//! machine's own limit: a plain UDP forwarder with no crypto.
#![warn(unreachable_pub)]

pub mod ceiling;
mod convene;
pub mod downlink;
mod engine;
pub mod error;
pub mod inproc;
mod janus;
pub mod machine_speed;
pub mod minutes;
mod net;
mod peer;
mod plan;
pub mod probe;
pub mod procstat;
mod remb;
pub mod report;
pub mod run;
pub mod scenario;
pub mod sojourn;
pub mod stats;
pub mod synth;
pub mod target;

pub use error::{Error, Result};
