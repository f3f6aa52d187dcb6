//! Convene's test kit: what the server's media tests, the SFU's simulated-time tests and the
//! bench share to play a meeting participant.
//!
//! * [`peer`]: a peer connection as a browser runs it — str0m in RTP mode, with or without
//!   transport-wide congestion control feedback — fed packets and timeouts by whoever owns
//!   the network (real sockets, a simulated wire), and the publisher's offer of a
//!   microphone and a three-layer simulcast camera.
//! * [`synth`]: synthetic media: Opus packets and VP8 simulcast frames with valid RFC 7741
//!   payload descriptors and VP8 frame headers, each carrying a marker the caller chooses
//!   (who sent it, a probe with its send time…) so the receiving side can tell what arrived.
//! * [`fuzz`]: the fuzz targets' corpora and seeded mutations of them, replayed through the
//!   targets' entry points on stable Rust.
//! * [`signaling`]: the media messages of the meeting WebSocket, typed with
//!   `convene_protocol` rather than read as untyped JSON.
//!
//! Checking received VP8 (keyframes, picture ids) uses the SFU's own parser,
//! `convene_sfu::codec`.
#![warn(unreachable_pub, missing_docs)]

pub mod fuzz;
pub mod peer;
pub mod signaling;
pub mod synth;
