//! Slot subscriptions through the real server (docs/protocol.md §2e): a participant who asks
//! for slots at join gets a fixed set of m-lines, negotiated once, and `slot_map` saying what
//! each carries; people coming and going renegotiate nothing of theirs.
mod common;

use std::time::{Duration, Instant};

use common::cluster::{self, ProcessNode};
use common::media::{JoinOptions, MediaClient, Signaling};
use common::ws::meeting_with;
use common::{Backend, TestApp};
use convene::store::SeatRow;
use serde_json::{json, Value};

/// How long media may take to start flowing.
const MEDIA_WITHIN: Duration = Duration::from_secs(10);

/// The m-lines of an SDP, in order: (kind, mid).
fn m_lines(sdp: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    for line in sdp.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            found.push((m.split(' ').next().unwrap_or_default().to_owned(), String::new()));
        } else if let (Some(mid), Some(last)) = (line.strip_prefix("a=mid:"), found.last_mut()) {
            last.1 = mid.trim().to_owned();
        }
    }
    found
}

/// How many m-lines of each kind an offer has: (audio, video).
fn slot_counts(offer: &Value) -> (usize, usize) {
    let lines = m_lines(offer["sdp"].as_str().expect("an SDP"));
    let count = |kind: &str| lines.iter().filter(|(k, _)| k == kind).count();
    (count("audio"), count("video"))
}

/// A slot map's slots as (kind, mid), sorted.
fn slots_of(map: &Value) -> Vec<(String, String)> {
    let slots = map["slots"].as_array().expect("slots");
    let mut named: Vec<(String, String)> = slots
        .iter()
        .map(|s| (s["kind"].as_str().unwrap_or_default().to_owned(), s["mid"].as_str().unwrap_or_default().to_owned()))
        .collect();
    named.sort();
    named
}

/// Whether a slot map has `track_id` on a slot.
fn carries(map: &Value, track_id: &str) -> bool {
    map["slots"].as_array().is_some_and(|slots| slots.iter().any(|s| s["track_id"] == track_id))
}

/// Everything the server sends within `within`.
async fn gather(signaling: &mut Signaling, within: Duration) -> Vec<Value> {
    let until = Instant::now() + within;
    let mut got = Vec::new();
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match tokio::time::timeout(left, signaling.next()).await {
            Ok(Some(m)) => got.push(m),
            _ => break,
        }
    }
    got
}

/// The id of `owner`'s track of `kind`, from the `track_published` frames in `frames`.
fn track_of(frames: &[Value], owner: &str, kind: &str) -> Option<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "track_published")
        .map(|f| &f["track"])
        .find(|t| t["participant_id"] == owner && t["kind"] == kind)
        .and_then(|t| t["track_id"].as_str().map(str::to_owned))
}

/// Ann asks for one video slot. With Bob and Cat publishing, her subscribing connection is
/// offered three audio slots and one video slot, and she is told what each carries; Dan
/// arriving later renegotiates nothing of hers: his voice comes on the free audio slot.
async fn a_slot_subscriber_is_offered_its_slots_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("slothost").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let mut bob = MediaClient::join(&app, &m, Some(&host), "Bob").await;
    let mut cat = MediaClient::join(&app, &m, None, "Cat").await;
    tokio::join!(bob.publish(), cat.publish());
    let slots = JoinOptions { video_slots: Some(1), ..Default::default() };
    let mut ann = MediaClient::join_with(&app, &m, None, "Ann", slots).await;

    let offer = ann.signaling().expect("subscribe_offer").await;
    assert_eq!(slot_counts(&offer), (3, 1), "{}", offer["sdp"]);
    assert_eq!(offer["tracks"], json!([]), "a slot carries no fixed track: {offer}");
    let mut lines = m_lines(offer["sdp"].as_str().unwrap());
    lines.sort();
    let map = ann.signaling().expect("slot_map").await;
    assert_eq!(slots_of(&map), lines, "the slot map names the offer's m-lines: {map}");

    let (b, c) = (bob.tag(), cat.tag());
    ann.wait_until(
        "Bob's and Cat's voices on the audio slots",
        move |s| s.audio_packets_from(b) > 0 && s.audio_packets_from(c) > 0,
        MEDIA_WITHIN,
    )
    .await;

    let mut dan = MediaClient::join(&app, &m, None, "Dan").await;
    dan.publish().await;
    let d = dan.tag();
    ann.wait_until("Dan's voice on the third audio slot", move |s| s.audio_packets_from(d) > 0, MEDIA_WITHIN).await;
    let frames = gather(ann.signaling(), Duration::from_secs(2)).await;
    let offers: Vec<&Value> = frames.iter().filter(|f| f["type"] == "subscribe_offer").collect();
    assert!(offers.is_empty(), "a newcomer renegotiates no slot subscriber: {offers:?}");
    let dan_mic = track_of(&frames, &dan.participant_id, "audio").expect("Ann is told of Dan's microphone");
    let maps: Vec<&Value> = frames.iter().filter(|f| f["type"] == "slot_map").collect();
    assert!(maps.iter().any(|m| carries(m, &dan_mic)), "a slot map names Dan's microphone {dan_mic}: {maps:?}");
    for map in maps {
        assert_eq!(slots_of(map), lines, "the slots stay those offered: {map}");
    }
    drop((ann, bob, cat, dan));
    app.stop().await;
}

/// A restart makes a new subscribing connection: it is offered the slots asked for at join
/// again, not one m-line per track.
async fn slots_outlast_a_media_restart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("slotrestart").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let mut bob = MediaClient::join(&app, &m, Some(&host), "Bob").await;
    bob.publish().await;
    let slots = JoinOptions { video_slots: Some(2), ..Default::default() };
    let mut ann = MediaClient::join_with(&app, &m, None, "Ann", slots).await;
    ann.publish().await;
    let first = ann.signaling().expect("subscribe_offer").await;
    assert_eq!(slot_counts(&first), (3, 2), "{}", first["sdp"]);

    ann.republish().await;
    let again = ann.signaling().expect("subscribe_offer").await;
    assert_ne!(again["offer_id"], first["offer_id"]);
    assert_eq!(slot_counts(&again), (3, 2), "the new connection has the same slots: {}", again["sdp"]);
    let b = bob.tag();
    let heard = ann.received().audio_packets_from(b);
    ann.wait_until("Bob's voice after the restart", move |s| s.audio_packets_from(b) > heard + 25, MEDIA_WITHIN).await;
    drop((ann, bob));
    app.stop().await;
}

/// `slots.video` is 0 to 25; anything else in `slots` is refused before a ticket is issued.
async fn a_join_asks_for_at_most_25_video_slots(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("slotlimit").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let path = format!("/api/v1/meetings/{}/join", m["meeting_id"]);
    let join = |slots: Value| json!({"passcode": m["passcode"], "display_name": "Ann", "slots": slots});
    app.post(&path, None, join(json!({"video": 26}))).await.expect_error(422, "invalid_slots");
    app.post(&path, None, join(json!({"video": 70000}))).await.expect_error(422, "invalid_slots");
    app.post(&path, None, join(json!({"video": -1}))).await.expect_error(422, "invalid_body");
    app.post(&path, None, join(json!({"video": 2, "audio": 5}))).await.expect_error(422, "invalid_body");
    app.post(&path, None, join(json!({}))).await.expect_error(422, "invalid_body");
    for video in [0, 25] {
        app.post(&path, None, join(json!({"video": video}))).await.expect(200);
    }
    app.stop().await;
}

/// Cluster mode keeps a seat's slots in the database, so a meeting rebuilt on another node
/// gives them back.
async fn a_stored_seat_keeps_its_slots(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = &app.state.store;
    for (hash, video_slots) in [("h-slots", Some(4)), ("h-per-track", None)] {
        let seat = SeatRow {
            resume_hash: hash.into(),
            meeting_id: 7,
            participant_id: format!("p_{hash}"),
            attendance_id: "a".into(),
            client_key: None,
            participant: "{}".into(),
            video_slots,
            updated_at: 1,
        };
        store.save_seat(&seat).await.unwrap();
        let back = store.seat_by_resume(7, hash).await.unwrap().expect("the seat");
        assert_eq!(back.video_slots, video_slots);
    }
    app.stop().await;
}

/// Cluster mode: the node carrying Ann's meeting dies; the meeting is rebuilt on another node
/// from the stored seats, and every subscribing connection Ann is offered there has her slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_come_back_when_the_meeting_moves_after_its_node_died() {
    let Some(mut apps) = cluster::nodes(1).await else { return };
    let front = apps.remove(0);
    front.state.cluster.set_draining(true).await;
    let mut nodes = vec![ProcessNode::start(&front, "s1").await, ProcessNode::start(&front, "s2").await];
    cluster::until_seen(&front, &["s1", "s2"]).await;
    let host = front.account("slotfailover").await;
    let m = meeting_with(&front, &host, json!({})).await;
    let mut bob = MediaClient::join(&front, &m, Some(&host), "Bob").await;
    bob.publish().await;
    let slots = JoinOptions { video_slots: Some(2), ..Default::default() };
    let mut ann = MediaClient::join_with(&front, &m, None, "Ann", slots).await;
    ann.publish().await;
    let first = ann.signaling().expect("subscribe_offer").await;
    assert_eq!(slot_counts(&first), (3, 2), "{}", first["sdp"]);
    let b = bob.tag();
    ann.wait_until("Bob's voice before the crash", move |s| s.audio_packets_from(b) > 0, MEDIA_WITHIN).await;

    let id = m["meeting_id"].as_i64().unwrap();
    let owner = match front.state.cluster.owner(id, None).await.unwrap() {
        convene::cluster::Owner::Elsewhere { node_id, .. } => node_id,
        convene::cluster::Owner::Here => panic!("the draining front node took the meeting"),
    };
    nodes.iter_mut().find(|n| n.id == owner).unwrap().kill();
    let before = ann.received();
    tokio::join!(
        ann.resume_until_back(&front, Duration::from_secs(15)),
        bob.resume_until_back(&front, Duration::from_secs(15))
    );
    ann.wait_until("Bob's voice after the move", move |s| s.grew_from(&before, b, 10), MEDIA_WITHIN).await;
    let frames = gather(ann.signaling(), Duration::from_secs(1)).await;
    let offers: Vec<&Value> = frames.iter().filter(|f| f["type"] == "subscribe_offer").collect();
    assert!(!offers.is_empty(), "the new node offers a new subscribing connection");
    for offer in offers {
        assert_eq!(slot_counts(offer), (3, 2), "the rebuilt seat keeps its slots: {}", offer["sdp"]);
    }
    drop((ann, bob));
    drop(nodes);
    front.stop().await;
}

backend_tests!(a_join_asks_for_at_most_25_video_slots, a_stored_seat_keeps_its_slots);

mod sqlite_media {
    use common::Backend;

    use super::common;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slot_subscriber_is_offered_its_slots_once() {
        super::a_slot_subscriber_is_offered_its_slots_once(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slots_outlast_a_media_restart() {
        super::slots_outlast_a_media_restart(Backend::Sqlite).await
    }
}
