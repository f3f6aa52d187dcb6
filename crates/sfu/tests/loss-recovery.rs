//! Packet loss on the way in and out is repaired by NACK and retransmission, also across a
//! simulcast layer switch.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{is_vp8_keyframe, Sim, Vp8Frame, SERVER};
use convene_sfu::{ParticipantId, Proto, RoomConfig};
use str0m::media::{Direction, MediaKind, Rid, Simulcast, SimulcastLayer};

const PUBLISHER: ParticipantId = ParticipantId(1);
const VIEWER: ParticipantId = ParticipantId(2);
const RIDS: [&str; 3] = ["q", "h", "f"];
const FRAME_BYTES: [usize; 3] = [600, 2_000, 6_000];

#[test]
fn a_lossy_network_still_delivers_every_packet_of_the_forwarded_layers() {
    let mut config = RoomConfig::new(vec![(Proto::Udp, SERVER)]);
    config.initial_bitrate_bps = 5_000_000;
    let mut sim = Sim::with_config(config);
    sim.latency = Duration::from_millis(15);
    sim.join(PUBLISHER);
    sim.join(VIEWER);
    let mid = sim.publish(PUBLISHER, |api| {
        let mut simulcast = Simulcast::new();
        for rid in RIDS {
            simulcast.add_send_layer(SimulcastLayer::new(rid));
        }
        api.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(simulcast))
    });
    sim.connect_all();
    let track = sim.track_of(PUBLISHER, mid);
    let now = sim.now;
    sim.room.set_preferred_size(now, VIEWER, track, 320, 180).unwrap();

    // One packet in 25 is lost, in both directions. (The estimator backs off under loss,
    // so the switch goes to the mid layer, which fits.)
    sim.drop_every = Some(25);
    let mut frame = 0u32;
    while sim.elapsed() < Duration::from_secs(6) {
        if frame == 60 {
            let now = sim.now;
            sim.room.set_preferred_size(now, VIEWER, track, 640, 360).unwrap();
        }
        let now = sim.now;
        let c = sim.client(PUBLISHER);
        let asked: Vec<Option<Rid>> = c.keyframe_requests.drain(..).map(|(_, r)| r.rid).collect();
        for (layer, rid) in RIDS.iter().enumerate() {
            let rid = Rid::from(*rid);
            let keyframe = frame == 0 || asked.contains(&Some(rid));
            let size = FRAME_BYTES[layer] * if keyframe { 3 } else { 1 };
            c.send_vp8_frame(now, mid, Some(rid), Vp8Frame { number: frame, keyframe, size, tag: layer as u8 });
        }
        frame += 1;
        sim.advance(Duration::from_millis(33));
    }
    // Let the last retransmissions land.
    sim.drop_every = None;
    sim.advance(Duration::from_millis(500));

    let got = sim.client(VIEWER).received_for(track);
    let seqs: BTreeSet<u64> = got.iter().map(|p| p.seq).collect();
    let (first, last) = (*seqs.first().unwrap(), *seqs.last().unwrap());
    assert!(seqs.len() > 200, "viewer got {} distinct packets", seqs.len());
    let missing: Vec<u64> = (first..=last).filter(|s| !seqs.contains(s)).collect();
    assert!(missing.is_empty(), "never repaired: {missing:?}");

    let mut by_seq = got.clone();
    by_seq.sort_by_key(|p| p.seq);
    by_seq.dedup_by_key(|p| p.seq);
    assert_eq!(by_seq[0].payload[6], 0, "the small tile starts on the low layer");
    assert!(by_seq.iter().any(|p| p.payload[6] == 1), "switched to the mid layer");
    // The estimator may also step down under loss; every change of layer is at a keyframe.
    for pair in by_seq.windows(2) {
        if pair[0].payload[6] != pair[1].payload[6] {
            assert!(is_vp8_keyframe(&pair[1].payload), "layer switch at seq {} is not at a keyframe", pair[1].seq);
        }
    }
}
