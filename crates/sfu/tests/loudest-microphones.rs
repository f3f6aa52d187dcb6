//! A room with more open microphones than its limit forwards only the loudest: the others'
//! silence and room noise never reach anyone (their m-lines are not even offered until they
//! are heard), and a held-back microphone that starts talking is heard once a place frees,
//! its stream continuing without a gap.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{opus, Sim};
use convene_sfu::{ParticipantId, Proto, RoomConfig, RoomEvent, TrackId};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};

const PEOPLE: [ParticipantId; 5] =
    [ParticipantId(1), ParticipantId(2), ParticipantId(3), ParticipantId(4), ParticipantId(5)];
const LISTENER: ParticipantId = ParticipantId(5);

struct Meeting {
    sim: Sim,
    mics: Vec<(ParticipantId, Mid)>,
    tracks: Vec<TrackId>,
    n: u32,
}

/// Five people with microphones in a room that forwards at most `limit` of them once it has
/// more than `crowd`.
fn meeting(limit: usize, crowd: usize) -> Meeting {
    let addr: SocketAddr = "10.0.0.1:3478".parse().unwrap();
    let mut config = RoomConfig::new(vec![(Proto::Udp, addr)]);
    config.audible_limit = limit;
    config.crowd = crowd;
    let mut sim = Sim::with_config(config);
    for who in PEOPLE {
        sim.join(who);
    }
    let mut mics = vec![];
    for who in PEOPLE {
        let mid = sim.publish(who, |api| api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        mics.push((who, mid));
    }
    sim.connect_all();
    let tracks = mics.iter().map(|&(who, mid)| sim.track_of(who, mid)).collect();
    Meeting { sim, mics, tracks, n: 0 }
}

impl Meeting {
    /// Everyone sends 20 ms Opus packets at these levels (dBov) for `duration`.
    fn speak(&mut self, levels: [i8; 5], duration: Duration) {
        let end = self.sim.elapsed() + duration;
        while self.sim.elapsed() < end {
            let now = self.sim.now;
            for (&(who, mid), level) in self.mics.iter().zip(levels) {
                let c = self.sim.client(who);
                let pt = c.pt(Codec::Opus);
                c.send(now, mid, None, opus(pt, self.n, Some(level)));
            }
            self.n += 1;
            self.sim.advance(Duration::from_millis(20));
        }
    }

    /// The tracks offered to the listener so far.
    fn offered(&self) -> Vec<TrackId> {
        let mut offered: Vec<TrackId> = self
            .sim
            .events_matching(|e| matches!(e, RoomEvent::SubscribeOffer { participant, .. } if *participant == LISTENER))
            .into_iter()
            .flat_map(|e| match e {
                RoomEvent::SubscribeOffer { tracks, .. } => tracks.into_iter().map(|(_, t)| t).collect(),
                _ => vec![],
            })
            .collect();
        offered.sort();
        offered.dedup();
        offered
    }

    /// How many packets of each person's microphone the listener received.
    fn heard(&mut self) -> Vec<usize> {
        let tracks = self.tracks.clone();
        tracks.iter().map(|t| self.sim.client(LISTENER).received_for(*t).len()).collect()
    }
}

const TALK: i8 = -20;
const SILENT: i8 = -127;

#[test]
fn only_the_loudest_microphones_reach_people_and_a_returning_talker_continues_without_a_gap() {
    let mut m = meeting(2, 0);
    // People 1 and 2 talk, 3 and 4 have their microphones open in silence.
    m.speak([TALK, TALK, SILENT, SILENT, SILENT], Duration::from_secs(2));
    let heard = m.heard();
    assert!(heard[0] > 80 && heard[1] > 80, "the two talkers are heard: {heard:?}");
    assert!(heard[2] <= 2 && heard[3] <= 2, "open but silent microphones are not forwarded: {heard:?}");
    let first_stretch = m.sim.client(LISTENER).received_for(m.tracks[0]);
    // Microphones published once the room had more than two were not even offered: the
    // listener's connection carries only those it may hear.
    let offered = m.offered();
    assert!(offered.contains(&m.tracks[0]) && offered.contains(&m.tracks[1]), "{offered:?}");
    assert!(!offered.contains(&m.tracks[2]) && !offered.contains(&m.tracks[3]), "{offered:?}");

    // Person 1 stops and person 3 starts: 3 is heard once 1 has been silent a while.
    let before = m.heard();
    m.speak([SILENT, TALK, TALK, SILENT, SILENT], Duration::from_secs(3));
    let heard = m.heard();
    assert!(heard[2] > before[2] + 40, "the new talker is heard: {before:?} → {heard:?}");
    assert!(heard[1] > before[1] + 140, "the one still talking is never cut: {before:?} → {heard:?}");
    assert!(heard[0] < before[0] + 100, "the one who stopped gives the place up: {before:?} → {heard:?}");
    assert!(heard[3] <= before[3] + 2);
    let offered = m.offered();
    assert!(offered.contains(&m.tracks[2]), "person 3 was offered once heard: {offered:?}");
    assert!(!offered.contains(&m.tracks[3]), "person 4 never spoke: {offered:?}");

    // Person 3 stops, person 1 talks again: 1's stream continues where it left off.
    let before = m.heard();
    m.speak([TALK, TALK, SILENT, SILENT, SILENT], Duration::from_secs(3));
    let heard = m.heard();
    assert!(heard[0] > before[0] + 40, "person 1 is heard again: {before:?} → {heard:?}");

    let all = m.sim.client(LISTENER).received_for(m.tracks[0]);
    for pair in all.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "no gap in sequence numbers across the pause");
    }
    let i = (1..all.len())
        .find(|&i| all[i].at - all[i - 1].at > Duration::from_millis(500))
        .expect("person 1's stream paused and resumed");
    assert!(i >= first_stretch.len(), "the pause came after the first stretch");
    let paused = all[i].at - all[i - 1].at;
    let ts_step = all[i].ts.wrapping_sub(all[i - 1].ts);
    let expected = paused.as_millis() as u32 * 48;
    assert!(ts_step.abs_diff(expected) <= 960 * 2, "timestamps advance by the pause: {ts_step} vs {expected}");
}

#[test]
fn a_room_within_its_limit_or_crowd_size_or_without_a_limit_forwards_every_microphone() {
    for (limit, crowd) in [(5, 0), (2, 5), (0, 0)] {
        let mut m = meeting(limit, crowd);
        m.speak([TALK, SILENT, SILENT, SILENT, SILENT], Duration::from_secs(2));
        let heard = m.heard();
        assert_eq!(m.offered().len(), 4, "limit {limit}, crowd {crowd}: every microphone is offered");
        for (i, h) in heard.iter().take(4).enumerate() {
            assert!(
                *h > 80,
                "limit {limit}, crowd {crowd}: person {} is forwarded, silence included: {heard:?}",
                i + 1
            );
        }
    }
}
