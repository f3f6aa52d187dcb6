//! A subscriber's picture loss reaches the publisher, throttled per track.

mod common;

use std::time::Duration;

use common::{vp8, Sim};
use convene_sfu::{ParticipantId, TrackId};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid};

const PUBLISHER: ParticipantId = ParticipantId(1);
const VIEWER: ParticipantId = ParticipantId(2);

fn send_video(sim: &mut Sim, mid: Mid, frame: &mut u32, duration: Duration) {
    let end = sim.elapsed() + duration;
    while sim.elapsed() < end {
        let now = sim.now;
        let c = sim.client(PUBLISHER);
        let pt = c.pt(Codec::Vp8);
        c.send(now, mid, None, vp8(pt, *frame, *frame == 0, 7));
        *frame += 1;
        sim.advance(Duration::from_millis(10));
    }
}

/// A publisher with one camera track and a viewer, both connected.
fn publisher_and_viewer() -> (Sim, Mid, TrackId) {
    let mut sim = Sim::new();
    sim.join(PUBLISHER);
    sim.join(VIEWER);
    let mid = sim.publish(PUBLISHER, |api| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
    sim.connect_all();
    let track = sim.track_of(PUBLISHER, mid);
    (sim, mid, track)
}

#[test]
fn a_burst_of_subscriber_plis_becomes_one_request_now_and_one_coalesced() {
    let (mut sim, mid, track) = publisher_and_viewer();
    let mut frame = 0;
    send_video(&mut sim, mid, &mut frame, Duration::from_secs(2));
    assert!(!sim.client(VIEWER).received_for(track).is_empty());

    let viewer_mid = sim.client(VIEWER).received_for(track)[0].mid.unwrap();
    sim.client(PUBLISHER).keyframe_requests.clear();
    let burst_start = sim.now;

    // Ten picture-loss indications within 100 ms.
    for _ in 0..10 {
        let c = sim.client(VIEWER);
        let mut api = c.subscriber.rtc.direct_api();
        api.stream_rx_by_mid(viewer_mid, None).expect("receiving stream").request_keyframe(KeyframeRequestKind::Pli);
        send_video(&mut sim, mid, &mut frame, Duration::from_millis(10));
    }
    send_video(&mut sim, mid, &mut frame, Duration::from_millis(900));

    let got: Vec<Duration> = sim.client(PUBLISHER).keyframe_requests.iter().map(|(at, _)| *at - burst_start).collect();
    assert_eq!(got.len(), 2, "one request at once and one coalesced: {got:?}");
    assert!(got[0] < Duration::from_millis(50), "the first goes out at once: {got:?}");
    assert!(got[1] >= Duration::from_millis(500), "the second waits for the interval: {got:?}");
    assert!(sim.client(PUBLISHER).keyframe_requests.iter().all(|(_, r)| r.mid == mid));
}

/// Sends a 30 fps frame every 33 ms of `duration`, a keyframe whenever the room asked for
/// one since the last frame (as an encoder does), advancing in 5 ms steps.
fn send_video_answering_requests(
    sim: &mut Sim,
    mid: Mid,
    frame: &mut u32,
    next_frame: &mut Duration,
    duration: Duration,
) {
    let end = sim.elapsed() + duration;
    while sim.elapsed() < end {
        if sim.elapsed() >= *next_frame {
            let now = sim.now;
            let c = sim.client(PUBLISHER);
            let keyframe = *frame == 0 || !c.keyframe_requests.is_empty();
            c.keyframe_requests.clear();
            let pt = c.pt(Codec::Vp8);
            c.send(now, mid, None, vp8(pt, *frame, keyframe, 7));
            *frame += 1;
            *next_frame += Duration::from_millis(33);
        }
        sim.advance(Duration::from_millis(5));
    }
}

#[test]
fn newcomers_get_their_first_picture_soon_even_just_after_another_joined() {
    let (mut sim, mid, track) = publisher_and_viewer();
    let (mut frame, mut next_frame) = (0, sim.elapsed());
    send_video_answering_requests(&mut sim, mid, &mut frame, &mut next_frame, Duration::from_secs(2));
    assert!(!sim.client(VIEWER).received_for(track).is_empty());

    // Five people join 150 ms apart: each arrives after the previous one's keyframe came
    // and long before the 500 ms picture-loss interval has passed.
    let before = sim.events_matching(|e| matches!(e, convene_sfu::RoomEvent::KeyframeRequested { .. })).len();
    let mut joined = Vec::new();
    for n in 0..5u64 {
        let id = ParticipantId(10 + n);
        sim.join(id);
        joined.push((id, sim.now));
        send_video_answering_requests(&mut sim, mid, &mut frame, &mut next_frame, Duration::from_millis(150));
    }
    send_video_answering_requests(&mut sim, mid, &mut frame, &mut next_frame, Duration::from_millis(500));

    for (id, at) in joined {
        let first = sim
            .client(id)
            .received_for(track)
            .into_iter()
            .find(|g| common::is_vp8_keyframe(&g.payload))
            .unwrap_or_else(|| panic!("{id} never got a picture"));
        let waited = first.at - at;
        assert!(waited < Duration::from_millis(250), "{id} waited {waited:?} for its first picture");
    }
    let requests =
        sim.events_matching(|e| matches!(e, convene_sfu::RoomEvent::KeyframeRequested { .. })).len() - before;
    assert!(requests <= 5, "at most one keyframe request per newcomer: {requests}");
}

/// Sends one frame every 10 ms for `duration`, a keyframe only when `keyframe_now` (an
/// encoder slow to answer requests, or a request still on its way).
fn send_frames(sim: &mut Sim, mid: Mid, frame: &mut u32, keyframe_now: bool, duration: Duration) {
    let end = sim.elapsed() + duration;
    let mut first = true;
    while sim.elapsed() < end {
        let now = sim.now;
        let c = sim.client(PUBLISHER);
        let pt = c.pt(Codec::Vp8);
        c.send(now, mid, None, vp8(pt, *frame, keyframe_now && first, 7));
        first = false;
        *frame += 1;
        sim.advance(Duration::from_millis(10));
    }
}

#[test]
fn a_newcomer_gets_the_last_keyframe_and_what_followed_at_once_if_it_is_recent() {
    let (mut sim, mid, track) = publisher_and_viewer();
    let mut frame = 0;
    send_frames(&mut sim, mid, &mut frame, true, Duration::from_secs(2));
    // A keyframe, then 100 ms of frames; then someone joins, and no keyframe comes for 2 s.
    send_frames(&mut sim, mid, &mut frame, true, Duration::from_millis(100));
    const RECENT: ParticipantId = ParticipantId(10);
    sim.join(RECENT);
    let joined = sim.now;
    send_frames(&mut sim, mid, &mut frame, false, Duration::from_secs(2));

    let got = sim.client(RECENT).received_for(track);
    let first = got.first().expect("the newcomer got video");
    assert!(common::is_vp8_keyframe(&first.payload), "it starts with a keyframe");
    assert!(
        first.at - joined < Duration::from_millis(300),
        "at once, not at the next keyframe: {:?}",
        first.at - joined
    );
    let seqs: Vec<u64> = got.iter().map(|g| g.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "no gap from the keyframe on: {seqs:?}");
    assert!(got.len() > 150, "and everything after it: {}", got.len());
}

#[test]
fn a_keyframe_older_than_the_cache_is_not_replayed() {
    let (mut sim, mid, track) = publisher_and_viewer();
    let mut frame = 0;
    send_frames(&mut sim, mid, &mut frame, true, Duration::from_secs(2));
    // The last keyframe is 2 s old: a newcomer waits for the next one.
    const LATE: ParticipantId = ParticipantId(11);
    sim.join(LATE);
    send_frames(&mut sim, mid, &mut frame, false, Duration::from_secs(1));
    assert!(sim.client(LATE).received_for(track).is_empty(), "nothing it could decode");
    send_frames(&mut sim, mid, &mut frame, true, Duration::from_millis(200));
    let got = sim.client(LATE).received_for(track);
    assert!(got.first().is_some_and(|g| common::is_vp8_keyframe(&g.payload)), "the next keyframe starts its picture");
}

#[test]
fn a_newcomer_gets_the_cached_picture_even_if_the_publisher_sends_nothing_more() {
    // A shared screen that does not change sends no frames: a newcomer must not wait for one.
    let (mut sim, mid, track) = publisher_and_viewer();
    let mut frame = 0;
    send_frames(&mut sim, mid, &mut frame, true, Duration::from_secs(1));
    send_frames(&mut sim, mid, &mut frame, true, Duration::from_millis(50));
    let sent_before = frame;
    let asked_before = sim.events_matching(|e| matches!(e, convene_sfu::RoomEvent::KeyframeRequested { .. })).len();
    const NEWCOMER: ParticipantId = ParticipantId(12);
    sim.join(NEWCOMER);
    let joined = sim.now;
    for _ in 0..30 {
        sim.advance(Duration::from_millis(10));
    }
    assert_eq!(frame, sent_before, "the publisher sent nothing after the join");

    let got = sim.client(NEWCOMER).received_for(track);
    let first = got.first().expect("the newcomer got the cached picture");
    assert!(common::is_vp8_keyframe(&first.payload), "it starts with the keyframe");
    assert!(first.at - joined < Duration::from_millis(300), "{:?}", first.at - joined);
    assert_eq!(got.len(), 5, "the keyframe and the four frames after it, each once: {}", got.len());
    let asked = sim.events_matching(|e| matches!(e, convene_sfu::RoomEvent::KeyframeRequested { .. })).len();
    assert_eq!(asked, asked_before, "the cache made a keyframe request needless");
}

#[test]
fn a_cache_gone_quiet_is_not_replayed_to_a_newcomer() {
    // A layer paused or a publisher gone quiet a second ago: its cached picture is no start.
    let (mut sim, mid, track) = publisher_and_viewer();
    let mut frame = 0;
    send_frames(&mut sim, mid, &mut frame, true, Duration::from_millis(200));
    for _ in 0..100 {
        sim.advance(Duration::from_millis(10));
    }
    const LATE: ParticipantId = ParticipantId(13);
    sim.join(LATE);
    for _ in 0..30 {
        sim.advance(Duration::from_millis(10));
    }
    assert!(sim.client(LATE).received_for(track).is_empty(), "nothing from a second-old cache");
    send_frames(&mut sim, mid, &mut frame, true, Duration::from_millis(100));
    let got = sim.client(LATE).received_for(track);
    assert!(got.first().is_some_and(|g| common::is_vp8_keyframe(&g.payload)), "the next keyframe starts its picture");
}
