//! Late joiners receive what is already published; leavers' tracks go away cleanly.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{opus, Sim, SERVER};
use convene_sfu::{ParticipantId, PeerRole, Proto, Room, RoomConfig, RoomEvent};
use str0m::change::SdpOffer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::Rtc;

const A: ParticipantId = ParticipantId(1);
const B: ParticipantId = ParticipantId(2);
const C: ParticipantId = ParticipantId(3);

fn talk(sim: &mut Sim, who: &[(ParticipantId, Mid)], n: &mut u32, duration: Duration) {
    let end = sim.elapsed() + duration;
    while sim.elapsed() < end {
        let now = sim.now;
        for &(p, mid) in who {
            let c = sim.client(p);
            let pt = c.pt(Codec::Opus);
            c.send(now, mid, None, opus(pt, *n, Some(-40)));
        }
        *n += 1;
        sim.advance(Duration::from_millis(20));
    }
}

fn publish_mic(sim: &mut Sim, who: ParticipantId) -> Mid {
    sim.publish(who, |api| api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None))
}

#[test]
fn a_late_joiner_gets_existing_tracks_and_a_leaver_unpublishes_them() {
    let mut sim = Sim::new();
    sim.join(A);
    sim.join(B);
    let a_mic = publish_mic(&mut sim, A);
    sim.connect_all();
    let mut n = 0;
    talk(&mut sim, &[(A, a_mic)], &mut n, Duration::from_secs(1));

    // C joins after A published: the room offers A's track right away.
    sim.join(C);
    sim.connect_all();
    talk(&mut sim, &[(A, a_mic)], &mut n, Duration::from_secs(1));
    let a_track = sim.track_of(A, a_mic);
    assert!(sim.client(C).received_for(a_track).len() > 30);

    // A leaves: the track is unpublished and the others renegotiate without it.
    let offers_before = sim.events_matching(|e| matches!(e, RoomEvent::SubscribeOffer { .. })).len();
    let now = sim.now;
    sim.room.remove_participant(now, A);
    sim.pump();
    let unpublished =
        sim.events_matching(|e| matches!(e, RoomEvent::TrackUnpublished { participant, .. } if *participant == A));
    assert_eq!(unpublished.len(), 1);
    let offers_after = sim.events_matching(|e| matches!(e, RoomEvent::SubscribeOffer { .. })).len();
    assert_eq!(offers_after - offers_before, 2, "B and C each get an offer stopping the m-line");

    // The room keeps working: B publishes and C hears it.
    let b_mic = publish_mic(&mut sim, B);
    sim.connect_all();
    talk(&mut sim, &[(B, b_mic)], &mut n, Duration::from_secs(1));
    let b_track = sim.track_of(B, b_mic);
    assert!(sim.client(C).received_for(b_track).len() > 30);
}

#[test]
fn a_failed_peer_is_reported_and_its_tracks_unpublished() {
    let mut sim = Sim::new();
    sim.join(A);
    sim.join(B);
    let a_mic = publish_mic(&mut sim, A);
    sim.connect_all();
    let mut n = 0;
    talk(&mut sim, &[(A, a_mic)], &mut n, Duration::from_secs(1));

    // A's network vanishes: its client stops answering, the room times the peer out.
    sim.clients.retain(|c| c.id != A);
    for _ in 0..60 {
        sim.advance(Duration::from_millis(500));
    }
    let gone = sim.events_matching(|e| {
        matches!(e, RoomEvent::PeerDisconnected { peer } if peer.participant == A && peer.role == PeerRole::Publisher)
    });
    assert_eq!(gone.len(), 1, "the publisher peer is reported once");
    let unpublished = sim.events_matching(|e| matches!(e, RoomEvent::TrackUnpublished { .. }));
    assert_eq!(unpublished.len(), 1);
}

#[test]
fn ice_tcp_addresses_become_passive_tcp_candidates() {
    let tcp: SocketAddr = "10.0.0.1:443".parse().unwrap();
    let now = std::time::Instant::now();
    let mut room = Room::new(now, RoomConfig::new(vec![(Proto::Udp, SERVER), (Proto::Tcp, tcp)]));
    room.add_participant(now, A).unwrap();

    let mut client = Rtc::builder().set_rtp_mode(true).build(now);
    let mut api = client.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, _pending): (SdpOffer, _) = api.apply().unwrap();
    let answer = room.publish_offer(now, A, &offer.to_sdp_string()).unwrap();

    assert!(answer.contains("a=ice-lite"), "{answer}");
    let candidates: Vec<&str> = answer.lines().filter(|l| l.starts_with("a=candidate")).collect();
    assert!(candidates.iter().any(|c| c.contains(" udp ") || c.contains(" UDP ")), "{candidates:?}");
    assert!(candidates.iter().any(|c| c.contains("tcptype passive") && c.contains(" 443 ")), "{candidates:?}");
}

#[test]
fn stopping_a_track_in_a_renegotiation_unpublishes_it() {
    let mut sim = Sim::new();
    sim.join(A);
    sim.join(B);
    let (mic, camera) = sim.publish_audio_video(A);
    sim.connect_all();
    let camera_track = sim.track_of(A, camera);

    sim.publish(A, |api| api.set_direction(camera, Direction::Inactive));
    let unpublished = sim.events_matching(|e| matches!(e, RoomEvent::TrackUnpublished { .. }));
    assert_eq!(unpublished, [RoomEvent::TrackUnpublished { participant: A, track_id: camera_track }]);

    // The microphone keeps flowing.
    let mut n = 0;
    talk(&mut sim, &[(A, mic)], &mut n, Duration::from_secs(1));
    let mic_track = sim.track_of(A, mic);
    assert!(sim.client(B).received_for(mic_track).len() > 30);
    assert!(!sim.room.is_empty());
}

#[test]
fn signaling_declares_a_screen_share_before_the_offer() {
    let mut sim = Sim::new();
    sim.join(A);
    sim.join(B);
    // The client knows its mids once it has created the offer; it sends them along.
    let client = sim.client(A);
    let mut api = client.publisher.rtc.sdp_api();
    let mic = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let screen = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    sim.room.set_track_source(A, &screen.to_string(), convene_sfu::Source::ScreenShare).unwrap();
    let now = sim.now;
    let answer = sim.room.publish_offer(now, A, &offer.to_sdp_string()).unwrap();
    let answer = str0m::change::SdpAnswer::from_sdp_string(&answer).unwrap();
    let client = sim.client(A);
    client.publisher.rtc.sdp_api().accept_answer(pending, answer).unwrap();
    client.published += 1;
    sim.pump();
    assert!(!sim.client(A).publisher.rtc.is_connected(), "announced before ICE completes");

    let sources: Vec<(String, convene_sfu::Source)> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            RoomEvent::TrackPublished { mid, source, .. } => Some((mid.clone(), *source)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sources,
        [(mic.to_string(), convene_sfu::Source::Microphone), (screen.to_string(), convene_sfu::Source::ScreenShare)]
    );
    assert!(matches!(
        sim.room.set_track_source(ParticipantId(99), "x", convene_sfu::Source::Camera),
        Err(convene_sfu::SfuError::UnknownParticipant(_))
    ));
}

#[test]
fn the_first_subscriber_m_line_goes_inactive_instead_of_leaving_the_bundle() {
    // Chrome tears down a subscriber's whole transport when an offer stops the m-line that
    // tags its BUNDLE group, so the room keeps that one (inactive) and stops only later ones.
    let mut sim = Sim::new();
    sim.join(A);
    sim.join(B);
    sim.join(C);
    let a_mic = publish_mic(&mut sim, A);
    sim.connect_all();
    let c_mic = publish_mic(&mut sim, C);
    sim.connect_all();

    let now = sim.now;
    sim.room.remove_participant(now, A);
    sim.pump();
    sim.connect_all();
    let offers: Vec<String> = sim
        .events_matching(|e| matches!(e, RoomEvent::SubscribeOffer { participant, .. } if *participant == B))
        .into_iter()
        .filter_map(|e| match e {
            RoomEvent::SubscribeOffer { sdp, .. } => Some(sdp),
            _ => None,
        })
        .collect();
    let last = offers.last().expect("B got offers");
    let first_mid = last.lines().find_map(|l| l.strip_prefix("a=mid:")).expect("an m-line").to_owned();
    let group = last.lines().find_map(|l| l.strip_prefix("a=group:BUNDLE ")).expect("a BUNDLE group");
    assert_eq!(group.split(' ').next(), Some(first_mid.as_str()), "the tag stays first in the group: {last}");
    let first_section = last.split("m=").nth(1).expect("first m-section");
    assert!(!first_section.starts_with("audio 0 "), "the tag m-line is not rejected: {last}");
    assert!(first_section.contains("a=inactive"), "the tag m-line is inactive: {last}");

    // B still hears C.
    let mut n = 0;
    talk(&mut sim, &[(C, c_mic)], &mut n, Duration::from_secs(1));
    let c_track = sim.track_of(C, c_mic);
    assert!(sim.client(B).received_for(c_track).len() > 30);
    let _ = a_mic;
}
