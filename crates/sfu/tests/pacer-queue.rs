//! Video the subscriber's estimate does not cover is not held for seconds in the pacer:
//! a congestion episode costs a bounded delay, and once it is over the delay goes with it.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Sim, Vp8Frame, SERVER};
use convene_sfu::{ParticipantId, Proto, RoomConfig};
use str0m::media::{Direction, MediaKind, Mid};

const PUBLISHER: ParticipantId = ParticipantId(1);
const VIEWER: ParticipantId = ParticipantId(2);
/// About 1.2 Mbit/s at 30 fps, one layer: the room cannot step down to a cheaper one.
const FRAME_BYTES: usize = 5_000;

/// Sends 30 fps of single-layer video for `duration`, a keyframe first and whenever asked;
/// remembers when each frame was sent.
fn send_camera(sim: &mut Sim, mid: Mid, frame: &mut u32, sent: &mut HashMap<u32, Instant>, duration: Duration) {
    let end = sim.elapsed() + duration;
    while sim.elapsed() < end {
        let now = sim.now;
        let c = sim.client(PUBLISHER);
        let asked = !c.keyframe_requests.is_empty();
        c.keyframe_requests.clear();
        let keyframe = *frame == 0 || asked;
        let size = if keyframe { FRAME_BYTES * 3 } else { FRAME_BYTES };
        c.send_vp8_frame(now, mid, None, Vp8Frame { number: *frame, keyframe, size, tag: 0 });
        sent.insert(*frame, now);
        *frame += 1;
        sim.advance(Duration::from_millis(33));
    }
}

/// How long each packet the viewer received since `since` took from the publisher's send.
fn delays(sim: &mut Sim, track: convene_sfu::TrackId, sent: &HashMap<u32, Instant>, since: Instant) -> Vec<Duration> {
    sim.client(VIEWER)
        .received_for(track)
        .iter()
        .filter(|g| g.at >= since)
        .map(|g| {
            let frame = u32::from(g.payload[7]) << 8 | u32::from(g.payload[8]);
            g.at - sent[&frame]
        })
        .collect()
}

#[test]
fn a_congestion_episode_does_not_leave_seconds_of_video_queued_for_the_viewer() {
    let mut config = RoomConfig::new(vec![(Proto::Udp, SERVER)]);
    config.initial_bitrate_bps = 3_000_000;
    let mut sim = Sim::with_config(config);
    sim.latency = Duration::from_millis(10);
    sim.join(PUBLISHER);
    sim.join(VIEWER);
    let mid = sim.publish(PUBLISHER, |api| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
    sim.connect_all();
    let track = sim.track_of(PUBLISHER, mid);
    let mut frame = 0;
    let mut sent = HashMap::new();

    send_camera(&mut sim, mid, &mut frame, &mut sent, Duration::from_secs(2));
    let start = sim.now - Duration::from_secs(1);
    let calm = delays(&mut sim, track, &sent, start);
    assert!(calm.len() > 60, "the viewer got {} packets", calm.len());
    let calm_max = calm.iter().max().unwrap();
    assert!(*calm_max < Duration::from_millis(100), "before congestion the delay is the wire's: {calm_max:?}");

    // The viewer's link drops to half the camera's rate for 3 s: its estimate falls well
    // below what the (single-layer) camera sends.
    let viewer_addr = sim.client(VIEWER).sub_addr;
    sim.set_link(viewer_addr, 600_000);
    send_camera(&mut sim, mid, &mut frame, &mut sent, Duration::from_secs(3));
    sim.set_link(viewer_addr, 100_000_000);

    // The link is back; the estimate recovers only slowly. What the viewer gets from 1 s
    // on must not be seconds old.
    send_camera(&mut sim, mid, &mut frame, &mut sent, Duration::from_secs(1));
    let since = sim.now;
    send_camera(&mut sim, mid, &mut frame, &mut sent, Duration::from_secs(3));
    let after = delays(&mut sim, track, &sent, since);
    assert!(after.len() > 200, "video keeps flowing after congestion: {} packets", after.len());
    let mut sorted = after.clone();
    sorted.sort();
    let p99 = sorted[sorted.len() * 99 / 100];
    let max = *sorted.last().unwrap();
    assert!(
        max < Duration::from_millis(400),
        "after congestion the viewer's delay stays bounded: p99 {p99:?}, max {max:?}"
    );
}
