//! Subscriber offers and answers: ids tell a late answer from the one awaited, and an
//! answer str0m refuses is followed by a fresh offer instead of leaving the subscriber
//! without its tracks.
mod common;

use std::time::Duration;

use common::{opus, Sim};
use convene_sfu::{ParticipantId, SfuError};
use str0m::change::SdpOffer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};

const A: ParticipantId = ParticipantId(1);
const B: ParticipantId = ParticipantId(2);

fn publish_mic(sim: &mut Sim, who: ParticipantId) -> Mid {
    sim.publish(who, |api| api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None))
}

/// B's client answers `sdp` (an offer from the room).
fn answer(sim: &mut Sim, sdp: &str) -> String {
    let offer = SdpOffer::from_sdp_string(sdp).unwrap();
    sim.client(B).subscriber.rtc.sdp_api().accept_offer(offer).unwrap().to_sdp_string()
}

fn held(sim: &mut Sim) -> Vec<(ParticipantId, String, u64)> {
    std::mem::take(sim.held_offers.as_mut().unwrap())
}

/// A speaks for a second; how many of A's packets B received.
fn b_hears_a(sim: &mut Sim, mic: Mid) -> usize {
    for n in 0..50 {
        let now = sim.now;
        let c = sim.client(A);
        let pt = c.pt(Codec::Opus);
        c.send(now, mic, None, opus(pt, n, Some(-40)));
        sim.advance(Duration::from_millis(20));
    }
    let track = sim.track_of(A, mic);
    sim.client(B).received_for(track).len()
}

#[test]
fn an_answer_to_another_offer_is_refused_and_the_awaited_one_still_counts() {
    let mut sim = Sim::new();
    sim.join(A);
    sim.join(B);
    sim.held_offers = Some(Vec::new());
    let mic = publish_mic(&mut sim, A);
    let offers = held(&mut sim);
    assert_eq!(offers.len(), 1, "one offer for B: {offers:?}");
    let (who, sdp, id) = offers[0].clone();
    assert_eq!(who, B);
    let reply = answer(&mut sim, &sdp);

    let now = sim.now;
    let stale = sim.room.subscribe_answer(now, B, &reply, Some(id + 7));
    assert!(matches!(stale, Err(SfuError::StaleAnswer { answered }) if answered == id + 7), "{stale:?}");
    sim.room.subscribe_answer(now, B, &reply, Some(id)).expect("the awaited answer is taken");
    let again = sim.room.subscribe_answer(now, B, &reply, Some(id));
    assert!(matches!(again, Err(SfuError::NoPendingOffer(B))), "{again:?}");

    sim.held_offers = None;
    sim.pump();
    sim.connect_all();
    assert!(b_hears_a(&mut sim, mic) > 30, "B hears A");
}

#[test]
fn a_refused_answer_brings_a_fresh_offer() {
    let mut sim = Sim::new();
    sim.join(A);
    sim.join(B);
    sim.held_offers = Some(Vec::new());
    let mic = publish_mic(&mut sim, A);
    let (_, sdp, id) = held(&mut sim).remove(0);
    let reply = answer(&mut sim, &sdp);
    // An answer without the offered m-line: str0m refuses it.
    let cut = reply.split("m=").next().unwrap().to_owned();

    let now = sim.now;
    let refused = sim.room.subscribe_answer(now, B, &cut, Some(id));
    assert!(matches!(refused, Err(SfuError::Negotiation(_))), "{refused:?}");
    sim.pump();
    let fresh = held(&mut sim);
    assert_eq!(fresh.len(), 1, "a fresh offer follows the refused answer");
    let (who, sdp, fresh_id) = fresh[0].clone();
    assert_eq!(who, B);
    assert_ne!(fresh_id, id, "under a new id");
    assert!(sdp.contains("m=audio"), "offering A's microphone again: {sdp}");

    // B starts over with a subscriber connection of its own making, as a client would.
    let now = sim.now;
    sim.client(B).renew_subscriber(now);
    let reply = answer(&mut sim, &sdp);
    let now = sim.now;
    sim.room.subscribe_answer(now, B, &reply, Some(fresh_id)).expect("the fresh answer is taken");
    sim.held_offers = None;
    sim.pump();
    sim.connect_all();
    assert!(b_hears_a(&mut sim, mic) > 30, "B hears A");
}
