//! A participant a host muted is not heard, whatever their client keeps sending; unmuting
//! lets their audio through again. Their video is unaffected.

mod common;

use common::{OnCamera, Sim};
use convene_sfu::ParticipantId;

const A: ParticipantId = ParticipantId(1);
const B: ParticipantId = ParticipantId(2);

#[test]
fn muted_audio_is_not_forwarded_until_unmuted() {
    let (mut sim, mut a) = OnCamera::start(A, B);
    let (audio_track, video_track) = (a.audio_track, a.video_track);
    let mut run = |sim: &mut Sim, secs: u64| a.run(sim, secs, |frame, _| frame.is_multiple_of(30), |_| {});

    run(&mut sim, 2);
    let heard = sim.client(B).received_for(audio_track).len();
    assert!(heard > 50, "B hears A before the mute ({heard})");

    sim.room.set_audio_muted(A, true).unwrap();
    let seen_before = sim.client(B).received_for(video_track).len();
    run(&mut sim, 2);
    let during = sim.client(B).received_for(audio_track).len();
    assert!(during <= heard + 2, "nothing more is heard while muted ({heard} → {during})");
    assert!(sim.client(B).received_for(video_track).len() > seen_before + 30, "video keeps flowing");

    sim.room.set_audio_muted(A, false).unwrap();
    run(&mut sim, 2);
    let after = sim.client(B).received_for(audio_track).len();
    assert!(after > during + 50, "unmuted audio flows again ({during} → {after})");
    let got = sim.client(B).received_for(audio_track);
    for pair in got.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "the mute leaves no gap that would read as loss");
    }
    assert!(sim.room.set_audio_muted(ParticipantId(9), true).is_err(), "unknown participants are refused");
}
