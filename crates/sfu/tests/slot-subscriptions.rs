//! A slot subscriber's connection is negotiated once — three audio slots and the video slots
//! it asked for — however many people join, publish and leave. The room decides what each
//! slot carries (the loudest microphones; the speaker's and recent speakers' cameras, minus
//! hidden tiles), says so in a slot map, and moving a slot to another track keeps its
//! numbering continuous and starts the new picture at a keyframe.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{is_vp8_keyframe, opus, Got, Sim, Vp8Frame};
use convene_sfu::{ParticipantId, RoomEvent, TrackId, TrackKind};
use str0m::format::Codec;
use str0m::media::Mid;

const PEOPLE: [ParticipantId; 5] =
    [ParticipantId(1), ParticipantId(2), ParticipantId(3), ParticipantId(4), ParticipantId(5)];
const LISTENER: ParticipantId = ParticipantId(9);

const LOUD: i8 = -10;
const TALK: i8 = -35;
const SILENT: i8 = -127;

struct Meeting {
    sim: Sim,
    /// Each person's microphone and camera mids and tracks.
    people: Vec<(ParticipantId, Mid, Mid, TrackId, TrackId)>,
    /// 20 ms steps so far.
    n: u32,
}

/// The listener joins first with two video slots; five people join after it and publish a
/// microphone and a camera each.
fn meeting() -> Meeting {
    let mut sim = Sim::new();
    sim.join_slots(LISTENER, 2);
    let mut people = vec![];
    for who in PEOPLE {
        sim.join(who);
        let (audio, video) = sim.publish_audio_video(who);
        people.push((who, audio, video));
    }
    sim.connect_all();
    let people = people
        .into_iter()
        .map(|(who, audio, video)| (who, audio, video, sim.track_of(who, audio), sim.track_of(who, video)))
        .collect();
    Meeting { sim, people, n: 0 }
}

impl Meeting {
    /// Everyone talks at these levels (dBov) and sends 25 fps video for `duration`; a
    /// camera sends a keyframe first and whenever the room asks. Payloads name the sender:
    /// an audio packet's last byte, a video packet's byte at offset 6.
    fn run(&mut self, levels: [i8; 5], duration: Duration) {
        let end = self.sim.elapsed() + duration;
        while self.sim.elapsed() < end {
            let now = self.sim.now;
            for (&(who, audio, video, _, _), level) in self.people.iter().zip(levels) {
                let (n, c) = (self.n, self.sim.client(who));
                let mut packet = opus(c.pt(Codec::Opus), n, Some(level));
                packet.payload.push(who.0 as u8);
                // Timestamps from a base of each sender's own.
                packet.ts = packet.ts.wrapping_add(who.0 as u32 * 100_003);
                c.send(now, audio, None, packet);
                if n % 2 == 0 {
                    let asked = !c.keyframe_requests.is_empty();
                    c.keyframe_requests.clear();
                    let frame = Vp8Frame { number: n / 2, keyframe: n == 0 || asked, size: 600, tag: who.0 as u8 };
                    c.send_vp8_frame(now, video, None, frame);
                }
            }
            self.n += 1;
            self.sim.advance(Duration::from_millis(20));
        }
    }

    /// The listener's slot map: what each mid carries now.
    fn slots(&mut self, kind: TrackKind) -> Vec<Option<TrackId>> {
        let map = &self.sim.client(LISTENER).slot_map;
        let mut slots: Vec<(&String, Option<TrackId>)> =
            map.iter().filter(|(_, (k, _))| *k == kind).map(|(m, (_, t))| (m, *t)).collect();
        slots.sort();
        slots.into_iter().map(|(_, t)| t).collect()
    }

    /// The mid carrying `track` for the listener.
    fn slot_of(&mut self, track: TrackId) -> Option<String> {
        let map = &self.sim.client(LISTENER).slot_map;
        map.iter().find(|(_, (_, t))| *t == Some(track)).map(|(m, _)| m.clone())
    }

    /// What the listener received on `mid`, with the sender each packet names.
    fn received_on(&mut self, mid: &str, kind: TrackKind) -> Vec<(ParticipantId, Got)> {
        let received = &self.sim.client(LISTENER).received;
        let on = received.iter().filter(|g| g.mid.is_some_and(|m| *m == *mid));
        let sender = |g: &Got| match kind {
            TrackKind::Audio => g.payload.last().copied(),
            TrackKind::Video => g.payload.get(6).copied(),
        };
        on.map(|g| (ParticipantId(u64::from(sender(g).unwrap())), g.clone())).collect()
    }

    /// Audio packets per sender the listener received in the last `window`.
    fn heard_lately(&mut self, window: Duration) -> HashMap<ParticipantId, usize> {
        let since = self.sim.now - window;
        let mids: Vec<String> = {
            let map = &self.sim.client(LISTENER).slot_map;
            map.iter().filter(|(_, (k, _))| *k == TrackKind::Audio).map(|(m, _)| m.clone()).collect()
        };
        let mut heard = HashMap::new();
        for mid in mids {
            for (who, g) in self.received_on(&mid, TrackKind::Audio) {
                if g.at >= since {
                    *heard.entry(who).or_insert(0) += 1;
                }
            }
        }
        heard
    }

    fn offers_to_listener(&self) -> Vec<RoomEvent> {
        self.sim
            .events_matching(|e| matches!(e, RoomEvent::SubscribeOffer { participant, .. } if *participant == LISTENER))
    }

    fn camera(&self, who: ParticipantId) -> TrackId {
        self.people.iter().find(|p| p.0 == who).unwrap().4
    }

    fn microphone(&self, who: ParticipantId) -> TrackId {
        self.people.iter().find(|p| p.0 == who).unwrap().3
    }
}

/// Every packet on a slot follows the one before by one sequence number, across switches.
fn assert_continuous(packets: &[(ParticipantId, Got)], what: &str) {
    for pair in packets.windows(2) {
        assert_eq!(pair[1].1.seq, pair[0].1.seq + 1, "{what}: a gap between {:?} and {:?}", pair[0].0, pair[1].0);
    }
}

#[test]
fn the_slots_are_offered_once_and_carry_the_loudest_microphones_and_the_speakers_cameras() {
    let mut m = meeting();
    let offers = m.offers_to_listener();
    assert_eq!(offers.len(), 1, "five joins and ten tracks renegotiated nothing: {}", offers.len());
    let RoomEvent::SubscribeOffer { sdp, tracks, .. } = &offers[0] else { unreachable!() };
    assert_eq!(sdp.matches("m=audio").count(), 3, "three audio slots");
    assert_eq!(sdp.matches("m=video").count(), 2, "the two video slots asked for");
    assert!(tracks.is_empty(), "slots name no track in the offer: {tracks:?}");

    // 1 talks loudest, 2 and 3 talk, 4 and 5 are silent.
    m.run([LOUD, TALK, TALK, SILENT, SILENT], Duration::from_secs(3));
    let mut audio = m.slots(TrackKind::Audio);
    audio.sort();
    let mut talkers: Vec<Option<TrackId>> = PEOPLE[..3].iter().map(|p| Some(m.microphone(*p))).collect();
    talkers.sort();
    assert_eq!(audio, talkers, "the audio slots carry the three talkers");
    let heard = m.heard_lately(Duration::from_secs(1));
    for who in &PEOPLE[..3] {
        assert!(heard.get(who).copied().unwrap_or(0) >= 45, "{who} is heard: {heard:?}");
    }
    assert!(!heard.contains_key(&PEOPLE[3]) && !heard.contains_key(&PEOPLE[4]), "the silent are not: {heard:?}");

    // The speaker's camera has a slot, the earliest other the second one.
    let video = m.slots(TrackKind::Video);
    assert!(video.contains(&Some(m.camera(PEOPLE[0]))), "the speaker's camera: {video:?}");
    assert!(video.contains(&Some(m.camera(PEOPLE[1]))), "then the earliest published: {video:?}");
    let second = m.slot_of(m.camera(PEOPLE[1])).unwrap();
    let before = m.received_on(&second, TrackKind::Video);
    assert!(before.len() > 30, "the second camera flows: {}", before.len());
    assert!(before.iter().all(|(who, _)| *who == PEOPLE[1]));
    assert!(is_vp8_keyframe(&before[0].1.payload), "the slot's picture starts at a keyframe");

    // 1 stops, 4 takes over loudest: 4 is heard in 1's place and its camera takes 2's slot
    // (1, who spoke just before, keeps a slot).
    let first_mic = m.slot_of(m.microphone(PEOPLE[0])).unwrap();
    m.run([SILENT, TALK, TALK, LOUD, SILENT], Duration::from_secs(3));
    let heard = m.heard_lately(Duration::from_secs(1));
    assert!(heard.get(&PEOPLE[3]).copied().unwrap_or(0) >= 45, "the new talker is heard: {heard:?}");
    assert!(!heard.contains_key(&PEOPLE[0]), "the one who stopped gave the slot up: {heard:?}");
    assert_eq!(m.slot_of(m.microphone(PEOPLE[3])), Some(first_mic.clone()), "in the slot that was 1's");
    let on_first = m.received_on(&first_mic, TrackKind::Audio);
    assert_continuous(&on_first, "audio slot");
    let switch = on_first.windows(2).find(|w| w[0].0 != w[1].0).expect("the slot switched source");
    let (elapsed, step) = (switch[1].1.at - switch[0].1.at, switch[1].1.ts.wrapping_sub(switch[0].1.ts));
    let expected = elapsed.as_millis() as u32 * 48;
    assert!(step.abs_diff(expected) <= 960 * 2, "the timestamp advances by the time between: {step} vs {expected}");

    let video = m.slots(TrackKind::Video);
    assert!(video.contains(&Some(m.camera(PEOPLE[3]))), "the new speaker's camera: {video:?}");
    assert!(video.contains(&Some(m.camera(PEOPLE[0]))), "the last speaker's stays: {video:?}");
    assert_eq!(m.slot_of(m.camera(PEOPLE[3])), Some(second.clone()), "in the slot that was 2's");
    let after = m.received_on(&second, TrackKind::Video);
    assert_continuous(&after, "video slot");
    let first_new = after.iter().position(|(who, _)| *who == PEOPLE[3]).expect("4's picture arrives");
    assert!(is_vp8_keyframe(&after[first_new].1.payload), "the new picture starts at a keyframe");
    assert!(after[first_new..].iter().all(|(who, _)| *who == PEOPLE[3]), "nothing of 2 after the switch");
    assert_eq!(m.offers_to_listener().len(), 1, "still one offer");
}

#[test]
fn a_leaving_publisher_a_hidden_tile_or_a_stopped_camera_frees_a_slot_for_the_next_without_renegotiating() {
    let mut m = meeting();
    m.run([LOUD, TALK, TALK, SILENT, SILENT], Duration::from_secs(2));
    assert!(m.slots(TrackKind::Video).contains(&Some(m.camera(PEOPLE[1]))));

    // 2 leaves: the slot that carried its camera goes to the next camera, 3's.
    let now = m.sim.now;
    m.sim.room.remove_participant(now, PEOPLE[1]);
    m.run([LOUD, SILENT, TALK, SILENT, SILENT], Duration::from_secs(1));
    let video = m.slots(TrackKind::Video);
    assert!(!video.contains(&Some(m.camera(PEOPLE[1]))), "the gone camera left its slot: {video:?}");
    assert!(video.contains(&Some(m.camera(PEOPLE[2]))), "the next camera took it: {video:?}");
    assert!(!m.slots(TrackKind::Audio).contains(&Some(m.microphone(PEOPLE[1]))), "nor its microphone");

    // The listener hides 3's tile: 4's camera takes its slot, and 3's stops arriving.
    let hidden = m.camera(PEOPLE[2]);
    let slot = m.slot_of(hidden).unwrap();
    let now = m.sim.now;
    m.sim.room.set_preferred_size(now, LISTENER, hidden, 0, 0).unwrap();
    m.sim.pump();
    m.run([LOUD, SILENT, TALK, SILENT, SILENT], Duration::from_secs(1));
    let video = m.slots(TrackKind::Video);
    assert!(!video.contains(&Some(hidden)), "a hidden tile has no slot: {video:?}");
    assert_eq!(m.slot_of(m.camera(PEOPLE[3])), Some(slot.clone()), "4's camera took the slot: {video:?}");
    let on_slot = m.received_on(&slot, TrackKind::Video);
    assert_continuous(&on_slot, "video slot");
    let last = on_slot.last().unwrap();
    assert_eq!(last.0, PEOPLE[3], "the slot shows 4 now");

    // A host stops 1's camera: the slot goes to 5's meanwhile.
    let stopped = m.camera(PEOPLE[0]);
    assert!(m.slots(TrackKind::Video).contains(&Some(stopped)));
    m.sim.room.set_video_stopped(PEOPLE[0], true).unwrap();
    m.sim.pump();
    m.run([LOUD, SILENT, TALK, SILENT, SILENT], Duration::from_secs(1));
    let video = m.slots(TrackKind::Video);
    assert!(!video.contains(&Some(stopped)), "a stopped camera has no slot: {video:?}");
    assert!(video.contains(&Some(m.camera(PEOPLE[4]))), "5's camera took it: {video:?}");
    assert_eq!(m.offers_to_listener().len(), 1, "no renegotiation for the leave, the hidden tile or the stop");
}

#[test]
fn one_of_four_talkers_hears_the_other_three() {
    // The listener talks too, with 1, 2 and 3; 4 and 5 are silent. Being among the loudest
    // must not cost the listener one of the others: its three slots carry 1, 2 and 3.
    let mut m = meeting();
    let mic = m.sim.publish(LISTENER, |api| {
        api.add_media(str0m::media::MediaKind::Audio, str0m::media::Direction::SendOnly, None, None, None)
    });
    m.sim.connect_all();
    for n in 0..150u32 {
        let now = m.sim.now;
        let c = m.sim.client(LISTENER);
        let packet = opus(c.pt(Codec::Opus), n, Some(TALK));
        c.send(now, mic, None, packet);
        m.run([TALK, TALK, TALK, SILENT, SILENT], Duration::from_millis(20));
    }
    let heard = m.heard_lately(Duration::from_secs(1));
    for who in &PEOPLE[..3] {
        assert!(heard.get(who).copied().unwrap_or(0) >= 45, "{who} is heard: {heard:?}");
    }
    assert_eq!(m.offers_to_listener().len(), 1, "publishing renegotiates only the listener's own publisher connection");
}
