//! With the browser's own estimate (`DownlinkEstimate::Receiver`, REMB) a viewer's layers
//! follow its tile until the browser reports congestion, drop to what the report allows, and
//! climb back as the room probes with media once the congestion is over.

mod common;

use std::time::Duration;

use common::{Got, Sim, Vp8Frame, SERVER};
use convene_sfu::{DownlinkEstimate, ParticipantId, Proto, RoomConfig, TrackId};
use str0m::bwe::Bitrate;
use str0m::media::{Mid, Rid};

const PUBLISHER: ParticipantId = ParticipantId(1);
const VIEWER: ParticipantId = ParticipantId(2);

fn layer(p: &Got) -> u8 {
    p.payload[6]
}

/// The viewer's browser reports `bps` (REMB) for what it receives of `track`.
fn report(sim: &mut Sim, track: TrackId, bps: u64) {
    let c = sim.client(VIEWER);
    let mid = c.sub_tracks.iter().find(|(_, t)| **t == track).map(|(m, _)| Mid::from(m.as_str()));
    let mid = mid.expect("the viewer has the track");
    let mut api = c.subscriber.rtc.direct_api();
    api.stream_rx_by_mid(mid, None).expect("the viewer receives it").request_remb(Bitrate::bps(bps));
}

/// Sends every layer for `seconds`, the viewer reporting `bps(second)` once a second.
fn run(sim: &mut Sim, mid: Mid, track: TrackId, frame: &mut u32, seconds: u32, bps: impl Fn(u32) -> u64) {
    for s in 0..seconds {
        report(sim, track, bps(s));
        sim.send_simulcast(PUBLISHER, mid, frame, Duration::from_secs(1), &common::RIDS);
    }
}

/// The layers received since `from` (an index into what the viewer got), in order, each once.
fn layers_since(sim: &mut Sim, track: TrackId, from: usize) -> Vec<u8> {
    let mut seen: Vec<u8> = sim.client(VIEWER).received_for(track)[from..].iter().map(layer).collect();
    seen.dedup();
    seen
}

#[test]
fn layers_follow_the_tile_drop_on_reported_congestion_and_climb_back_by_probing() {
    let mut sim = Sim::with_receiver_estimate(RoomConfig::new(vec![(Proto::Udp, SERVER)]));
    sim.latency = Duration::from_millis(20);
    sim.join(PUBLISHER);
    sim.join(VIEWER);
    let mid = sim.publish_simulcast(PUBLISHER);
    let track = sim.track_of(PUBLISHER, mid);
    let now = sim.now;
    sim.room.set_preferred_size(now, VIEWER, track, 1280, 720).unwrap();
    let mut frame = 0;

    // No report of congestion, no limit: the large tile gets the top layer at once (the
    // SFU's own estimate would start at 1 Mbit/s: the middle). A browser starts its estimate
    // at what arrives and raises it slowly.
    run(&mut sim, mid, track, &mut frame, 3, |s| 1_600_000 + 20_000 * u64::from(s));
    let got = sim.client(VIEWER).received_for(track);
    assert!(got.len() > 100, "the viewer got {} packets", got.len());
    assert_eq!(layers_since(&mut sim, track, 0), [2], "the top layer from the start");

    // Congestion: the estimate falls below what is sent (the top layer, ~1.5 Mbit/s).
    let before = sim.client(VIEWER).received_for(track).len();
    run(&mut sim, mid, track, &mut frame, 2, |_| 300_000);
    let after = sim.client(VIEWER).received_for(track);
    assert_eq!(layers_since(&mut sim, track, before), [2, 0], "down to the quarter layer that fits 300 kbit/s");
    assert!(common::is_vp8_keyframe(&after[after.iter().rposition(|p| layer(p) != 0).unwrap() + 1].payload));

    // The congestion is over, but the browser's estimate creeps up (10 kbit/s a second): the
    // room probes with media, a step at a time, back to the top layer.
    let before = sim.client(VIEWER).received_for(track).len();
    run(&mut sim, mid, track, &mut frame, 25, |s| 310_000 + 10_000 * u64::from(s));
    assert_eq!(layers_since(&mut sim, track, before), [0, 1, 2], "back up through the middle layer");
    let got = sim.client(VIEWER).received_for(track);
    for pair in got.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "sequence numbers continue across every switch");
    }

    // A probe the link refuses: the estimate falls again, and the layers with it.
    let before = got.len();
    run(&mut sim, mid, track, &mut frame, 2, |_| 250_000);
    assert_eq!(layers_since(&mut sim, track, before), [2, 0]);
}

#[test]
fn what_the_viewer_gets_carries_abs_send_time_and_no_transport_wide_sequence() {
    let cases = [
        (DownlinkEstimate::Receiver, false, false),
        (DownlinkEstimate::Receiver, true, false),
        (DownlinkEstimate::SenderSide, false, true),
    ];
    for (estimate, own_downlink, twcc) in cases {
        let mut config = RoomConfig::new(vec![(Proto::Udp, SERVER)]);
        config.downlink_estimate = estimate;
        config.own_downlink = own_downlink;
        let mut sim = Sim::exactly(config);
        sim.join(PUBLISHER);
        sim.join(VIEWER);
        let mid = sim.publish_simulcast(PUBLISHER);
        let track = sim.track_of(PUBLISHER, mid);
        let mut frame = 0;
        sim.send_simulcast(PUBLISHER, mid, &mut frame, Duration::from_millis(500), &common::RIDS);
        let received = sim.client(VIEWER).received_for(track);
        assert!(received.len() > 10, "{estimate:?} (own {own_downlink}): the viewer got {} packets", received.len());
        // The browser's estimator needs abs-send-time; a transport-wide sequence number would
        // make it send transport feedback instead of REMB.
        assert!(
            received.iter().all(|g| g.abs_send_time),
            "{estimate:?} (own {own_downlink}): abs-send-time on every packet"
        );
        assert!(received.iter().all(|g| g.transport_cc == twcc), "{estimate:?}: transport-wide sequence {twcc}");
    }
}

#[test]
fn under_a_limit_the_tiles_get_it_one_after_the_other_not_in_equal_shares() {
    let mut sim = Sim::with_receiver_estimate(RoomConfig::new(vec![(Proto::Udp, SERVER)]));
    sim.latency = Duration::from_millis(20);
    let publishers = [ParticipantId(1), ParticipantId(3), ParticipantId(4)];
    for p in publishers {
        sim.join(p);
    }
    sim.join(VIEWER);
    let mids: Vec<Mid> = publishers.iter().map(|&p| sim.publish_simulcast(p)).collect();
    let tracks: Vec<TrackId> = publishers.iter().zip(&mids).map(|(&p, &m)| sim.track_of(p, m)).collect();
    let mut frame = 0;
    let mut send = |sim: &mut Sim, seconds: u32, bps: u64| {
        for _ in 0..seconds {
            report(sim, tracks[0], bps);
            for _ in 0..30 {
                for (&p, &m) in publishers.iter().zip(&mids) {
                    send_frame(sim, p, m, frame);
                }
                frame += 1;
                sim.advance(Duration::from_millis(33));
            }
        }
    };
    // Three large tiles on the top layer (4.3 Mbit/s), then the browser reports congestion at
    // 950 kbit/s: equal shares (317 kbit/s each) would put every tile on the quarter layer;
    // in turn, one gets the half layer and the others the quarter.
    send(&mut sim, 2, 5_000_000);
    send(&mut sim, 2, 950_000);
    let last: Vec<u8> = tracks.iter().map(|&t| layer(sim.client(VIEWER).received_for(t).last().unwrap())).collect();
    let mut sorted = last.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 0, 1], "one tile on the half layer, the others on the quarter: {last:?}");
}

/// One frame on every layer from `publisher` (a keyframe first and whenever asked), as
/// [`Sim::send_simulcast`] sends them.
fn send_frame(sim: &mut Sim, publisher: ParticipantId, mid: Mid, frame: u32) {
    let now = sim.now;
    let c = sim.client(publisher);
    let asked: Vec<Option<Rid>> = c.keyframe_requests.drain(..).map(|(_, r)| r.rid).collect();
    for (layer, rid) in common::RIDS.iter().enumerate() {
        let rid = Rid::from(*rid);
        let keyframe = frame == 0 || asked.contains(&Some(rid));
        let size = common::SIMULCAST_FRAME_BYTES[layer] * if keyframe { 3 } else { 1 };
        c.send_vp8_frame(now, mid, Some(rid), Vp8Frame { number: frame, keyframe, size, tag: layer as u8 });
    }
}
