//! While recording is on, the room hands the runtime a copy of every packet it forwards:
//! all audio, and one layer of each video track — the highest the publisher sends, entered
//! at a keyframe. Nothing is copied while recording is off.

mod common;

use std::time::Duration;

use common::{opus, vp8, OnCamera, Sim, Vp8Frame};
use convene_sfu::{ParticipantId, RecordedCodec, RecordedPacket, Source, TrackKind};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Rid, Simulcast, SimulcastLayer};

const A: ParticipantId = ParticipantId(1);
const B: ParticipantId = ParticipantId(2);
const RIDS: [&str; 3] = ["q", "h", "f"];

fn drain(sim: &mut Sim, into: &mut Vec<RecordedPacket>) {
    while let Some(p) = sim.room.poll_recorded() {
        into.push(p);
    }
}

#[test]
fn audio_and_video_are_copied_only_while_recording() {
    let (mut sim, mut a) = OnCamera::start(A, B);
    let (audio_track, video_track) = (a.audio_track, a.video_track);
    let mut got = Vec::new();
    let mut run = |sim: &mut Sim, got: &mut Vec<RecordedPacket>, secs: u64| {
        a.run(sim, secs, |frame, _| frame.is_multiple_of(15), |sim| drain(sim, got));
    };

    run(&mut sim, &mut got, 1);
    assert!(got.is_empty(), "nothing is copied before recording starts");
    assert!(!sim.room.is_recording());

    sim.room.set_recording(true);
    run(&mut sim, &mut got, 2);
    let audio_copies: Vec<_> = got.iter().filter(|p| p.track_id == audio_track).collect();
    let video_copies: Vec<_> = got.iter().filter(|p| p.track_id == video_track).collect();
    assert!(audio_copies.len() > 80, "about 100 audio packets in 2 s, got {}", audio_copies.len());
    assert!(video_copies.len() > 30, "about 50 video packets in 2 s, got {}", video_copies.len());
    let a = audio_copies[0];
    assert_eq!(
        (a.participant, a.kind, a.source, a.codec, a.clock_rate),
        (A, TrackKind::Audio, Source::Microphone, RecordedCodec::Opus, 48_000)
    );
    let v = video_copies[0];
    assert_eq!(
        (v.participant, v.kind, v.source, v.codec, v.clock_rate),
        (A, TrackKind::Video, Source::Camera, RecordedCodec::Vp8, 90_000)
    );
    assert!(v.keyframe_start, "the video copy starts at a keyframe");
    assert!(video_copies.windows(2).all(|w| w[1].seq > w[0].seq), "in order");
    assert!(audio_copies.iter().all(|p| !p.payload.is_empty()));

    sim.room.set_recording(false);
    let before = got.len();
    run(&mut sim, &mut got, 1);
    assert_eq!(got.len(), before, "nothing is copied after recording stopped");
    assert!(sim.client(B).received_for(audio_track).len() > 150, "forwarding went on all along");
}

#[test]
fn a_lone_publisher_is_recorded_too() {
    let mut sim = Sim::new();
    sim.join(A);
    let audio = sim.publish(A, |api| api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
    sim.connect_all();
    sim.room.set_recording(true);
    let mut got = Vec::new();
    for n in 0..50 {
        let now = sim.now;
        let c = sim.client(A);
        let pt = c.pt(Codec::Opus);
        c.send(now, audio, None, opus(pt, n, None));
        sim.advance(Duration::from_millis(20));
        drain(&mut sim, &mut got);
    }
    assert!(got.len() > 40, "recorded {} packets with nobody else in the room", got.len());
}

#[test]
fn simulcast_records_the_highest_layer_entered_at_a_keyframe() {
    let mut sim = Sim::new();
    sim.join(A);
    sim.join(B);
    let mid = sim.publish(A, |api| {
        let mut simulcast = Simulcast::new();
        for rid in RIDS {
            simulcast.add_send_layer(SimulcastLayer::new(rid));
        }
        api.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(simulcast))
    });
    sim.connect_all();
    sim.room.set_recording(true);
    let mut got = Vec::new();
    // Only the low layer at first; the high layer starts later with a delta frame, and
    // sends its first keyframe at frame 45.
    for frame in 0..90u32 {
        let now = sim.now;
        let c = sim.client(A);
        c.send_vp8_frame(
            now,
            mid,
            Some(Rid::from("q")),
            Vp8Frame { number: frame, keyframe: frame % 30 == 0, size: 600, tag: 0 },
        );
        if frame >= 30 {
            c.send_vp8_frame(
                now,
                mid,
                Some(Rid::from("f")),
                Vp8Frame { number: frame, keyframe: frame == 45, size: 3_000, tag: 2 },
            );
        }
        sim.advance(Duration::from_millis(33));
        drain(&mut sim, &mut got);
    }
    let layers: Vec<u8> = got.iter().map(|p| p.layer).collect();
    let first_high = layers.iter().position(|l| *l == 2).expect("the high layer is recorded");
    assert!(got[first_high].keyframe_start, "switched up at the high layer's keyframe");
    assert!(layers[..first_high].iter().all(|l| *l == 0), "the low layer before");
    assert!(layers[first_high..].iter().all(|l| *l == 2), "only the high layer after: {layers:?}");
    assert!(got[0].keyframe_start, "the recording starts at a keyframe");
}

#[test]
fn recording_mid_stream_asks_the_publisher_for_a_keyframe() {
    let mut sim = Sim::new();
    sim.join(A);
    sim.join(B);
    let video = sim.publish(A, |api| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
    sim.connect_all();
    let track = sim.track_of(A, video);
    let mut got = Vec::new();
    let mut n = 0u32;
    // Only the first frame is a keyframe; the publisher sends one more only when asked.
    let mut send = |sim: &mut Sim, got: &mut Vec<RecordedPacket>, frames: u32| {
        for _ in 0..frames {
            let now = sim.now;
            let c = sim.client(A);
            let asked = !c.keyframe_requests.is_empty();
            c.keyframe_requests.clear();
            let pt = c.pt(Codec::Vp8);
            c.send(now, video, None, vp8(pt, n, n == 0 || asked, 0xA));
            n += 1;
            sim.advance(Duration::from_millis(33));
            drain(sim, got);
        }
    };
    send(&mut sim, &mut got, 30);
    sim.room.set_recording(true);
    send(&mut sim, &mut got, 30);
    assert!(
        !sim.events_matching(
            |e| matches!(e, convene_sfu::RoomEvent::KeyframeRequested { track_id, .. } if *track_id == track)
        )
        .is_empty(),
        "the room asked for a keyframe for the recording"
    );
    assert!(got.len() > 20, "recorded from the requested keyframe on: {}", got.len());
    assert!(got[0].keyframe_start);
}
