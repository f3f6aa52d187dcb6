//! What a publisher's browser hears back about its own sending: the transport-wide feedback
//! its send-side estimator needs to raise its upload rate (on either uplink:
//! `CONVENE_SFU_TEST_UPLINK`). NACKs for what the way in lost: tests/loss-recovery.rs.

mod common;

use std::time::Duration;

use common::Sim;
use convene_sfu::ParticipantId;
use str0m::bwe::Bitrate;

const PUBLISHER: ParticipantId = ParticipantId(1);
const VIEWER: ParticipantId = ParticipantId(2);

/// A publisher whose estimator starts at 300 kbit/s sends a simulcast camera of about
/// 2 Mbit/s for `seconds`; its estimates, in order.
fn upload_estimates(seconds: u64) -> Vec<u64> {
    let mut sim = Sim::new();
    sim.join_with(PUBLISHER, |c| c.enable_bwe(Some(Bitrate::kbps(300))));
    sim.join(VIEWER);
    let mid = sim.publish_simulcast(PUBLISHER);
    sim.connect_all();
    let mut frame = 0;
    sim.send_simulcast(PUBLISHER, mid, &mut frame, Duration::from_secs(seconds), &["q", "h", "f"]);
    sim.client(PUBLISHER).upload_estimates.clone()
}

#[test]
fn a_publishers_send_side_estimate_grows_on_the_sfus_transport_feedback() {
    let estimates = upload_estimates(6);
    assert!(estimates.len() >= 10, "the estimator is fed all along: {estimates:?}");
    let last = *estimates.last().unwrap();
    assert!(last >= 900_000, "a clear uplink lets the estimate grow from 300 kbit/s: {estimates:?}");
}
