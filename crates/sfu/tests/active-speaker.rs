//! The active speaker follows RTP audio levels, with hysteresis.

mod common;

use std::time::Duration;

use common::{opus, Sim};
use convene_sfu::{ParticipantId, RoomEvent};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};

const ALICE: ParticipantId = ParticipantId(1);
const BOB: ParticipantId = ParticipantId(2);
const CAROL: ParticipantId = ParticipantId(3);

/// Sends 20 ms Opus packets with the given levels (dBov) for `duration`.
fn speak(sim: &mut Sim, mics: &[(ParticipantId, Mid)], levels: [i8; 3], n: &mut u32, duration: Duration) {
    let end = sim.elapsed() + duration;
    while sim.elapsed() < end {
        let now = sim.now;
        for (&(who, mid), level) in mics.iter().zip(levels) {
            let c = sim.client(who);
            let pt = c.pt(Codec::Opus);
            c.send(now, mid, None, opus(pt, *n, Some(level)));
        }
        *n += 1;
        sim.advance(Duration::from_millis(20));
    }
}

fn speakers(sim: &Sim) -> Vec<(Duration, Option<ParticipantId>)> {
    sim.events
        .iter()
        .filter_map(|(at, e)| match e {
            RoomEvent::ActiveSpeaker { participant } => Some((*at - sim.start, *participant)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_speaker_changes_only_after_someone_else_is_louder_for_a_second() {
    let mut sim = Sim::new();
    let mut mics = vec![];
    for who in [ALICE, BOB, CAROL] {
        sim.join(who);
    }
    for who in [ALICE, BOB, CAROL] {
        let mid = sim.publish(who, |api| api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        mics.push((who, mid));
    }
    sim.connect_all();
    let mut n = 0;

    // Alice talks.
    speak(&mut sim, &mics, [-20, -127, -127], &mut n, Duration::from_secs(2));
    assert_eq!(speakers(&sim).iter().map(|(_, p)| *p).collect::<Vec<_>>(), [Some(ALICE)]);

    // Bob coughs loudly for 400 ms: no change.
    speak(&mut sim, &mics, [-20, -5, -127], &mut n, Duration::from_millis(400));
    speak(&mut sim, &mics, [-20, -127, -127], &mut n, Duration::from_secs(1));
    assert_eq!(speakers(&sim).len(), 1);

    // Bob talks over Alice for two seconds: he takes over, but not before a second.
    let bob_starts = sim.elapsed();
    speak(&mut sim, &mics, [-30, -10, -127], &mut n, Duration::from_secs(2));
    let changes = speakers(&sim);
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[1].1, Some(BOB));
    assert!(changes[1].0 - bob_starts >= Duration::from_secs(1), "{changes:?}");

    // Everyone falls silent: Bob stays the speaker.
    speak(&mut sim, &mics, [-127, -127, -127], &mut n, Duration::from_secs(3));
    assert_eq!(speakers(&sim).len(), 2);

    // Bob leaves: nobody is speaking.
    let now = sim.now;
    sim.room.remove_participant(now, BOB);
    sim.pump();
    assert_eq!(speakers(&sim).last().unwrap().1, None);
}
