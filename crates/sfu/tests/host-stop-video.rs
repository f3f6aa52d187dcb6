//! A participant whose video a host stopped is not seen, whatever their client keeps
//! sending; once they turn the camera on again their video comes back at a keyframe (asked
//! of the publisher at once), with no gap in the subscriber's sequence numbers. Their audio
//! is unaffected.

mod common;

use common::{is_vp8_keyframe, OnCamera, Sim};
use convene_sfu::ParticipantId;

const A: ParticipantId = ParticipantId(1);
const B: ParticipantId = ParticipantId(2);

#[test]
fn stopped_video_is_not_forwarded_until_the_camera_is_on_again() {
    let (mut sim, mut a) = OnCamera::start(A, B);
    let (audio_track, video_track) = (a.audio_track, a.video_track);

    // A's camera sends a keyframe first and then only when asked (as browsers do between
    // their rare periodic ones), so a keyframe after the resume can only come from a request.
    let mut answered = 0usize;
    let mut run = |sim: &mut Sim, secs: u64| {
        let keyframe = |frame: u32, c: &common::Client| {
            let asked = c.keyframe_requests.len() > answered;
            answered = c.keyframe_requests.len();
            frame == 0 || asked
        };
        a.run(sim, secs, keyframe, |_| {});
    };

    run(&mut sim, 2);
    let seen = sim.client(B).received_for(video_track).len();
    assert!(seen > 40, "B sees A before the stop ({seen})");

    sim.room.set_video_stopped(A, true).unwrap();
    let heard_before = sim.client(B).received_for(audio_track).len();
    run(&mut sim, 2);
    let during = sim.client(B).received_for(video_track).len();
    assert!(during <= seen + 2, "nothing more is seen while stopped ({seen} → {during})");
    let heard = sim.client(B).received_for(audio_track).len();
    assert!(heard > heard_before + 80, "audio keeps flowing ({heard_before} → {heard})");

    let requests_before = sim.client(A).keyframe_requests.len();
    sim.room.set_video_stopped(A, false).unwrap();
    run(&mut sim, 2);
    let got = sim.client(B).received_for(video_track);
    assert!(got.len() > during + 40, "video flows again once the camera is on ({during} → {})", got.len());
    assert!(sim.client(A).keyframe_requests.len() > requests_before, "the publisher is asked for a keyframe");
    assert!(is_vp8_keyframe(&got[during].payload), "it comes back at a keyframe");
    for pair in got.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "the stop leaves no gap that would read as loss");
    }
    assert!(sim.room.set_video_stopped(ParticipantId(9), true).is_err(), "unknown participants are refused");
}

#[test]
fn someone_joining_while_the_camera_is_stopped_is_not_shown_its_last_picture() {
    let (mut sim, mut a) = OnCamera::start(A, B);
    let video_track = a.video_track;
    // A keyframe every few frames: the cache always holds a recent one.
    a.run(&mut sim, 2, |frame, _| frame % 5 == 0, |_| {});
    assert!(!sim.client(B).received_for(video_track).is_empty(), "B sees A before the stop");

    // Stopped, and someone joins at once: the layer cache still holds A's last keyframe.
    sim.room.set_video_stopped(A, true).unwrap();
    const C: ParticipantId = ParticipantId(3);
    sim.join(C);
    a.run(&mut sim, 1, |frame, _| frame % 30 == 0, |_| {});
    assert!(sim.client(C).received_for(video_track).is_empty(), "nothing of a stopped camera, old or new");

    sim.room.set_video_stopped(A, false).unwrap();
    a.run(&mut sim, 2, |frame, _| frame % 30 == 0, |_| {});
    let got = sim.client(C).received_for(video_track);
    assert!(got.first().is_some_and(|g| is_vp8_keyframe(&g.payload)), "C sees A from a keyframe once it is on");
}
