//! A room whose runtime is overloaded sheds video step by step — lower simulcast layers
//! first, then every camera but the active speaker's — switching at keyframes with the
//! stream continuous, never audio; and takes the steps back when told.

mod common;

use std::time::Duration;

use common::{is_vp8_keyframe, opus, vp8, Got, Sim, RIDS, SERVER};
use convene_sfu::{ParticipantId, Proto, RoomConfig, Shedding};
use str0m::format::Codec;

const PUBLISHER: ParticipantId = ParticipantId(1);
const VIEWER: ParticipantId = ParticipantId(2);

fn layer(p: &Got) -> u8 {
    p.payload[6]
}

#[test]
fn shedding_lowers_the_layer_at_keyframes_and_lifting_it_brings_the_layer_back() {
    let mut config = RoomConfig::new(vec![(Proto::Udp, SERVER)]);
    config.initial_bitrate_bps = 5_000_000;
    let mut sim = Sim::with_config(config);
    sim.join(PUBLISHER);
    sim.join(VIEWER);
    let mid = sim.publish_simulcast(PUBLISHER);
    let track = sim.track_of(PUBLISHER, mid);
    let now = sim.now;
    sim.room.set_preferred_size(now, VIEWER, track, 1280, 720).unwrap();
    let mut frame = 0;
    let mut run =
        |sim: &mut Sim, secs: u64| sim.send_simulcast(PUBLISHER, mid, &mut frame, Duration::from_secs(secs), &RIDS);
    run(&mut sim, 2);
    let layers_now =
        |sim: &Sim, from: usize| -> Vec<u8> { sim.clients[1].received_for(track)[from..].iter().map(layer).collect() };
    assert_eq!(layers_now(&sim, 0).last(), Some(&2), "unloaded, the large tile gets the top layer");

    let mut seen = sim.client(VIEWER).received_for(track).len();
    // Shedding tells the estimator to expect less and its estimate follows the traffic down;
    // lifting it restores the estimate from before, so the top layer is back within seconds.
    for (level, top, secs) in [(Shedding::LowerLayers, 1, 2), (Shedding::LowestLayer, 0, 2), (Shedding::None, 2, 2)] {
        let now = sim.now;
        sim.room.set_shedding(now, level);
        assert_eq!(sim.room.shedding(), level);
        run(&mut sim, secs);
        let got = layers_now(&sim, seen);
        assert!(got.len() > 20, "{level:?}: video keeps flowing ({} packets)", got.len());
        assert_eq!(got.last(), Some(&top), "{level:?}: the viewer ends on layer {top}");
        seen = sim.client(VIEWER).received_for(track).len();
    }
    let all = sim.client(VIEWER).received_for(track);
    for pair in all.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "sequence numbers continue across every switch");
        if layer(&pair[0]) != layer(&pair[1]) {
            assert!(is_vp8_keyframe(&pair[1].payload), "every switch is at a keyframe");
        }
    }
}

#[test]
fn the_last_step_keeps_only_the_active_speakers_camera_and_every_voice() {
    const TALKER: ParticipantId = ParticipantId(1);
    const QUIET: ParticipantId = ParticipantId(3);
    let mut sim = Sim::new();
    for who in [TALKER, VIEWER, QUIET] {
        sim.join(who);
    }
    let (talker_audio, talker_video) = sim.publish_audio_video(TALKER);
    let (quiet_audio, quiet_video) = sim.publish_audio_video(QUIET);
    sim.connect_all();
    let tracks = [talker_audio, talker_video, quiet_audio, quiet_video];
    let [ta, tv, qa, qv] = [(TALKER, tracks[0]), (TALKER, tracks[1]), (QUIET, tracks[2]), (QUIET, tracks[3])]
        .map(|(who, mid)| sim.track_of(who, mid));

    let mut n = 0u32;
    let mut answered = [0usize; 2];
    let mut run = |sim: &mut Sim, secs: u64| {
        let until = sim.elapsed() + Duration::from_secs(secs);
        while sim.elapsed() < until {
            let now = sim.now;
            for (i, (who, audio, video, level, tag)) in
                [(TALKER, talker_audio, talker_video, -20, 0xA), (QUIET, quiet_audio, quiet_video, -60, 0xC)]
                    .into_iter()
                    .enumerate()
            {
                let c = sim.client(who);
                let (opus_pt, vp8_pt) = (c.pt(Codec::Opus), c.pt(Codec::Vp8));
                c.send(now, audio, None, opus(opus_pt, n, Some(level)));
                if n.is_multiple_of(2) {
                    let asked = c.keyframe_requests.len() > answered[i];
                    answered[i] = c.keyframe_requests.len();
                    c.send(now, video, None, vp8(vp8_pt, n / 2, n == 0 || asked, tag));
                }
            }
            n += 1;
            sim.advance(Duration::from_millis(20));
        }
    };
    run(&mut sim, 2);
    let count = |sim: &mut Sim| [ta, tv, qa, qv].map(|t| sim.client(VIEWER).received_for(t).len());
    let before = count(&mut sim);
    assert!(before.iter().all(|c| *c > 20), "everything flows unloaded: {before:?}");

    let now = sim.now;
    sim.room.set_shedding(now, Shedding::SpeakerVideoOnly);
    run(&mut sim, 2);
    let during = count(&mut sim);
    assert!(during[1] > before[1] + 40, "the speaker's camera goes on: {before:?} → {during:?}");
    assert!(during[3] <= before[3] + 2, "other cameras pause: {before:?} → {during:?}");
    assert!(during[0] > before[0] + 80 && during[2] > before[2] + 80, "every voice goes on: {during:?}");

    let now = sim.now;
    sim.room.set_shedding(now, Shedding::None);
    run(&mut sim, 2);
    let after = count(&mut sim);
    assert!(after[3] > during[3] + 40, "the quiet camera comes back: {during:?} → {after:?}");
    let quiet = sim.client(VIEWER).received_for(qv);
    assert!(is_vp8_keyframe(&quiet[during[3]].payload), "at a keyframe");
}

/// The step before the last keeps [`VIDEO_SLOTS`] cameras: the most recent speakers'. Five
/// people with cameras take turns talking; the one who spoke longest ago pauses, and when they
/// talk again they get a slot back and the next least recent speaker pauses. Every voice goes on.
#[test]
fn fewer_video_slots_pause_the_least_recently_speaking_cameras() {
    use convene_sfu::VIDEO_SLOTS;
    const WATCHER: ParticipantId = ParticipantId(9);
    let people: Vec<ParticipantId> = (1..=5).map(ParticipantId).collect();
    assert_eq!(people.len(), VIDEO_SLOTS + 1);
    let mut sim = Sim::new();
    for who in people.iter().chain([&WATCHER]) {
        sim.join(*who);
    }
    let mids: Vec<_> = people.iter().map(|who| sim.publish_audio_video(*who)).collect();
    sim.connect_all();
    let tracks: Vec<_> =
        people.iter().zip(&mids).map(|(who, (a, v))| (sim.track_of(*who, *a), sim.track_of(*who, *v))).collect();

    let mut n = 0u32;
    let mut answered = vec![0usize; people.len()];
    // `talker` talks (the others' microphones are open in silence) for `secs`.
    let mut run = |sim: &mut Sim, talker: Option<usize>, secs: f64| {
        let until = sim.elapsed() + Duration::from_secs_f64(secs);
        while sim.elapsed() < until {
            let now = sim.now;
            for (i, (who, (audio, video))) in people.iter().zip(&mids).enumerate() {
                let c = sim.client(*who);
                let (opus_pt, vp8_pt) = (c.pt(Codec::Opus), c.pt(Codec::Vp8));
                let level = if talker == Some(i) { -20 } else { -90 };
                c.send(now, *audio, None, opus(opus_pt, n, Some(level)));
                if n.is_multiple_of(2) {
                    let asked = c.keyframe_requests.len() > answered[i];
                    answered[i] = c.keyframe_requests.len();
                    c.send(now, *video, None, vp8(vp8_pt, n / 2, n == 0 || asked, 0x10 + i as u8));
                }
            }
            n += 1;
            sim.advance(Duration::from_millis(20));
        }
    };
    // Turns: 1, 2, 3, 4, 5 — person 1 spoke longest ago.
    for i in 0..people.len() {
        run(&mut sim, Some(i), 1.6);
    }
    let counts = |sim: &mut Sim| -> Vec<(usize, usize)> {
        tracks
            .iter()
            .map(|(a, v)| (sim.client(WATCHER).received_for(*a).len(), sim.client(WATCHER).received_for(*v).len()))
            .collect()
    };
    let before = counts(&mut sim);
    assert!(before.iter().all(|(a, v)| *a > 50 && *v > 20), "everything flows unloaded: {before:?}");

    let now = sim.now;
    sim.room.set_shedding(now, Shedding::FewerVideos);
    run(&mut sim, Some(4), 2.0);
    let during = counts(&mut sim);
    let grew = |from: &[(usize, usize)], to: &[(usize, usize)]| -> Vec<bool> {
        from.iter().zip(to).map(|(f, t)| t.1 > f.1 + 20).collect()
    };
    assert_eq!(
        grew(&before, &during),
        [false, true, true, true, true],
        "person 1's camera pauses: {before:?} → {during:?}"
    );
    assert!(before.iter().zip(&during).all(|(f, t)| t.0 > f.0 + 80), "every voice goes on: {during:?}");

    // Person 1 talks again: their camera takes a slot back; person 2 is now the least recent.
    run(&mut sim, Some(0), 1.5);
    let settled = counts(&mut sim);
    run(&mut sim, Some(0), 2.0);
    let after = counts(&mut sim);
    assert_eq!(grew(&settled, &after), [true, false, true, true, true], "{settled:?} → {after:?}");
    let first = sim.client(WATCHER).received_for(tracks[0].1);
    assert!(is_vp8_keyframe(&first[during[0].1].payload), "person 1's camera resumes at a keyframe");

    // Load gone: every camera again.
    let now = sim.now;
    sim.room.set_shedding(now, Shedding::None);
    run(&mut sim, None, 2.0);
    let restored = counts(&mut sim);
    assert_eq!(grew(&after, &restored), [true; 5], "{after:?} → {restored:?}");
}
