//! Two participants each publish Opus and VP8 and receive each other's packets intact.

mod common;

use std::time::Duration;

use common::{is_vp8_keyframe, opus, vp8, Sim};
use convene_sfu::{ParticipantId, RoomEvent, Source, TrackKind};
use str0m::format::Codec;
use str0m::media::Frequency;

const A: ParticipantId = ParticipantId(1);
const B: ParticipantId = ParticipantId(2);

#[test]
fn two_participants_receive_each_others_audio_and_video() {
    let mut sim = Sim::new();
    sim.join(A);
    sim.join(B);
    let (a_audio, a_video) = sim.publish_audio_video(A);
    let (b_audio, b_video) = sim.publish_audio_video(B);
    sim.connect_all();

    let published = sim.events_matching(|e| matches!(e, RoomEvent::TrackPublished { .. }));
    assert_eq!(published.len(), 4);
    let sources: Vec<Source> = published
        .iter()
        .map(|e| match e {
            RoomEvent::TrackPublished { source, .. } => *source,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(sources, [Source::Microphone, Source::Camera, Source::Microphone, Source::Camera]);
    let kinds: Vec<TrackKind> = published
        .iter()
        .map(|e| match e {
            RoomEvent::TrackPublished { kind, .. } => *kind,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == TrackKind::Audio).count(), 2);

    // 6 s of 20 ms Opus and 33 ms VP8 frames (a keyframe each second) from both.
    let mut n = 0u32;
    while sim.elapsed() < Duration::from_secs(6) {
        let now = sim.now;
        for (who, audio, video, tag) in [(A, a_audio, a_video, 0xA), (B, b_audio, b_video, 0xB)] {
            let c = sim.client(who);
            let (opus_pt, vp8_pt) = (c.pt(Codec::Opus), c.pt(Codec::Vp8));
            c.send(now, audio, None, opus(opus_pt, n, Some(-30)));
            if n.is_multiple_of(2) {
                let frame = n / 2;
                c.send(now, video, None, vp8(vp8_pt, frame, frame.is_multiple_of(30), tag));
            }
        }
        n += 1;
        sim.advance(Duration::from_millis(20));
    }

    let a_video_track = sim.track_of(A, a_video);
    let a_audio_track = sim.track_of(A, a_audio);
    let b_video_track = sim.track_of(B, b_video);

    let b_gets_audio = sim.client(B).received_for(a_audio_track);
    let b_gets_video = sim.client(B).received_for(a_video_track);
    let a_gets_video = sim.client(A).received_for(b_video_track);
    assert!(b_gets_audio.len() > 100, "B got {} audio packets from A", b_gets_audio.len());
    assert!(b_gets_video.len() > 50, "B got {} video packets from A", b_gets_video.len());
    assert!(a_gets_video.len() > 50, "A got {} video packets from B", a_gets_video.len());

    // Payloads arrive byte for byte; video starts at a keyframe and the sequence is gap-free.
    assert!(b_gets_audio.iter().all(|p| p.payload[..3] == [0xF8, 0xFF, 0xFE]));
    assert!(is_vp8_keyframe(&b_gets_video[0].payload));
    assert!(b_gets_video.iter().all(|p| p.payload[6] == 0xA));
    assert!(a_gets_video.iter().all(|p| p.payload[6] == 0xB));
    for pair in b_gets_video.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
    // Nobody receives their own media.
    assert!(sim.client(A).received_for(a_video_track).is_empty());
}

#[test]
fn payload_types_are_mapped_between_publisher_and_subscriber() {
    let mut sim = Sim::new();
    // The publisher numbers its codecs unlike str0m's defaults (as Firefox does).
    sim.join_with(A, |config| {
        let mut config = config.clear_codecs();
        let codecs = config.codec_config();
        codecs.add_config(109.into(), None, Codec::Opus, Frequency::FORTY_EIGHT_KHZ, Some(2), Default::default());
        codecs.add_config(120.into(), Some(124.into()), Codec::Vp8, Frequency::NINETY_KHZ, None, Default::default());
        config
    });
    sim.join(B);
    let (audio, video) = sim.publish_audio_video(A);
    sim.connect_all();
    assert_eq!(sim.client(A).pt(Codec::Vp8), 120.into());

    for n in 0..100u32 {
        let now = sim.now;
        let c = sim.client(A);
        let (opus_pt, vp8_pt) = (c.pt(Codec::Opus), c.pt(Codec::Vp8));
        c.send(now, audio, None, opus(opus_pt, n, None));
        c.send(now, video, None, vp8(vp8_pt, n, n == 0, 0xA));
        sim.advance(Duration::from_millis(20));
    }
    let (audio_track, video_track) = (sim.track_of(A, audio), sim.track_of(A, video));
    let b = sim.client(B);
    let b_vp8 = b.subscriber.rtc.codec_config().find(|p| p.spec().codec == Codec::Vp8).unwrap().pt();
    let got_video = b.received_for(video_track);
    assert!(got_video.len() > 90 && b.received_for(audio_track).len() > 90);
    assert!(got_video.iter().all(|p| p.pt == b_vp8), "B sees its own VP8 payload type {b_vp8}");
}
