//! Breakout rooms through the real server: a host opens rooms, people's media moves to their
//! room's SFU room on the same socket (str0m clients, see `common/media.rs`), each room hears
//! only its members, chat stays in the room, "close all" brings everyone back with media,
//! attendance says who was where, and what a participant may not do is refused.
mod common;

use std::time::Duration;

use common::media::MediaClient;
use common::ws::{meeting_with, Client};
use common::{Backend, TestApp};
use serde_json::{json, Value};

/// How long media may take to start flowing.
const MEDIA_WITHIN: Duration = Duration::from_secs(15);

/// Waits until `c` has audio and a video keyframe from `tag` arriving anew past `before`.
async fn wait_for_fresh_media(c: &MediaClient, before: &common::media::Stats, tag: u32) {
    let before = before.clone();
    c.wait_until("fresh media from a room mate", move |s| s.grew_from(&before, tag, 25), MEDIA_WITHIN).await;
}

/// Nothing more arrived from `tag` than in `before` (a room `c` is not in).
fn nothing_new_from(c: &MediaClient, before: &common::media::Stats, tag: u32) {
    let now = c.received();
    assert_eq!(
        (now.audio_packets_from(tag), now.video_packets_from(tag)),
        (before.audio_packets_from(tag), before.video_packets_from(tag)),
        "media from another room arrived: {}",
        now.summary()
    );
}

/// `kind` does not reach `c` within a second.
async fn never(c: &mut MediaClient, kind: &str) {
    let got = tokio::time::timeout(Duration::from_secs(1), c.signaling().expect(kind)).await;
    assert!(got.is_err(), "{kind} reached someone it should not: {got:?}");
}

async fn rooms_keep_media_and_chat_apart_and_close_all_returns_everyone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("breakouthost").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let mut h = MediaClient::join(&app, &m, Some(&host), "Hana").await;
    let mut a = MediaClient::join(&app, &m, None, "Ann").await;
    let mut b = MediaClient::join(&app, &m, None, "Bob").await;
    let mut c = MediaClient::join(&app, &m, None, "Cid").await;
    for x in [&mut h, &mut a, &mut b, &mut c] {
        x.publish().await;
    }
    let (ta, tb, tc, th) = (a.tag(), b.tag(), c.tag(), h.tag());
    let start = h.received();
    wait_for_fresh_media(&h, &start, tc).await;

    // Even split in order of arrival, moderators stay: Ann and Cid in room 1, Bob in room 2.
    h.signaling().send(json!({"type": "breakout_open", "rooms": 2, "assign": "auto", "names": ["Design"]}));
    let placed = |s: &Value, k: usize| s["breakouts"]["rooms"][k]["participants"].as_array().map_or(0, Vec::len);
    let state = h.signaling().expect_where("breakout_state", |s| placed(s, 0) == 2 && placed(s, 1) == 1).await;
    let rooms = &state["breakouts"]["rooms"];
    assert_eq!(rooms[0]["name"], "Design");
    assert_eq!(rooms[1]["name"], "Room 2");
    let mut one: Vec<&str> = rooms[0]["participants"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    one.sort();
    let mut want = vec![a.participant_id.as_str(), c.participant_id.as_str()];
    want.sort();
    assert_eq!(one, want);
    assert_eq!(rooms[1]["participants"], json!([b.participant_id]));
    for (x, k) in [(&mut a, 1), (&mut b, 2), (&mut c, 1)] {
        let moved = x.follow_breakout_move().await;
        assert_eq!(moved["room"], k, "{moved}");
    }

    // Room mates hear and see each other afresh; nobody gets another room's media.
    let (sa, sb, sc, sh) = (a.received(), b.received(), c.received(), h.received());
    wait_for_fresh_media(&a, &sa, tc).await;
    wait_for_fresh_media(&c, &sc, ta).await;
    let (sa, sb2, sc, sh2) = (a.received(), b.received(), c.received(), h.received());
    tokio::time::sleep(Duration::from_secs(2)).await;
    nothing_new_from(&a, &sa, tb);
    nothing_new_from(&a, &sa, th);
    nothing_new_from(&c, &sc, tb);
    for t in [ta, tc, th] {
        nothing_new_from(&b, &sb2, t);
    }
    for t in [ta, tb, tc] {
        nothing_new_from(&h, &sh2, t);
    }
    drop((sb, sh));

    // Chat stays in its room, marked with it; the main room's stays in the main room.
    a.signaling().send(json!({"type": "chat_send", "text": "hello room one"}));
    let msg = c.signaling().expect("chat_message").await;
    assert_eq!((msg["message"]["text"].as_str(), msg["message"]["room"].as_u64()), (Some("hello room one"), Some(1)));
    never(&mut b, "chat_message").await;
    never(&mut h, "chat_message").await;
    assert_eq!(a.signaling().expect("chat_message").await["message"]["text"], "hello room one", "the sender's copy");
    h.signaling().send(json!({"type": "chat_send", "text": "main only"}));
    never(&mut a, "chat_message").await;

    // A broadcast reaches every room; a call for help reaches the host with the room.
    h.signaling().send(json!({"type": "breakout_broadcast", "text": "Five minutes left"}));
    for x in [&mut a, &mut b, &mut c] {
        assert_eq!(x.signaling().expect("breakout_broadcast").await["text"], "Five minutes left");
    }
    b.signaling().send(json!({"type": "breakout_help"}));
    let help = h.signaling().expect("breakout_help").await;
    assert_eq!((help["display_name"].as_str(), help["room"].as_u64()), (Some("Bob"), Some(2)));

    // Close all: a countdown for everyone, then everyone is back, seeing and hearing everyone.
    h.signaling().send(json!({"type": "breakout_close", "countdown_seconds": 1}));
    for x in [&mut a, &mut b, &mut c] {
        let w = x.signaling().expect_where("warning", |w| w["code"] == "breakout_closing").await;
        assert_eq!(w["seconds_left"], 1);
    }
    for x in [&mut a, &mut b, &mut c] {
        assert_eq!(x.follow_breakout_move().await["room"], 0);
    }
    let closed = h.signaling().expect_where("breakout_state", |s| s["breakouts"]["open"] == false).await;
    assert_eq!(closed["breakouts"]["rooms"][0]["participants"], json!([]));
    let (sa, sb, sh) = (a.received(), b.received(), h.received());
    wait_for_fresh_media(&b, &sb, ta).await;
    wait_for_fresh_media(&b, &sb, tc).await;
    wait_for_fresh_media(&a, &sa, tb).await;
    wait_for_fresh_media(&h, &sh, tb).await;

    // Attendance says who was in which room.
    let id = m["meeting_id"].as_i64().unwrap();
    let rows = app.get(&format!("/api/v1/meetings/{id}/attendance"), Some(&host.token)).await;
    let rows = rows.expect(200).as_array().unwrap().clone();
    let of = |name: &str| rows.iter().find(|r| r["display_name"] == name).unwrap()["breakout_rooms"].clone();
    assert_eq!(of("Ann")[0]["room_name"], "Design");
    assert!(of("Ann")[0]["left_at"].is_string(), "{rows:?}");
    assert_eq!(of("Bob")[0]["room"], 2);
    assert_eq!(of("Hana"), json!([]));

    // The meeting's chat history keeps the breakout room's chat, marked with its room; someone
    // arriving in the main room now sees only the main room's.
    let history = app.get(&format!("/api/v1/meetings/{id}/chat"), Some(&host.token)).await;
    let lines: Vec<(String, Option<u64>)> = history.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["text"].as_str().unwrap().to_owned(), m["room"].as_u64()))
        .collect();
    assert_eq!(lines, [("hello room one".to_owned(), Some(1)), ("main only".to_owned(), None)]);
    let (_late, welcome) = Client::join(&app, &m, None, "Lou").await;
    let texts: Vec<&str> = welcome["chat"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["main only"]);
}

/// Sends `msg` and expects the error frame `code` for it.
async fn refused(c: &mut Client, msg: Value, code: &str) {
    let kind = msg["type"].as_str().unwrap().to_owned();
    c.send(msg).await;
    let e = c.expect_where("error", |e| e["request"] == kind.as_str()).await;
    assert_eq!(e["code"], code, "{e}");
}

async fn what_a_participant_may_not_do_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("breakoutrules").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Hana").await;
    let (mut p, pw) = Client::join(&app, &m, None, "Pat").await;
    let (mut q, qw) = Client::join(&app, &m, None, "Quin").await;
    let (pid, qid) = (pw["participant_id"].as_str().unwrap().to_owned(), qw["participant_id"].as_str().unwrap());

    refused(&mut p, json!({"type": "breakout_open", "rooms": 2, "assign": "auto"}), "not_allowed").await;
    refused(&mut h, json!({"type": "breakout_open", "rooms": 1, "assign": "auto"}), "invalid_message").await;
    refused(&mut h, json!({"type": "breakout_open", "rooms": 51, "assign": "auto"}), "invalid_message").await;
    refused(&mut h, json!({"type": "breakout_open", "rooms": 2, "assign": "auto", "minutes": 0}), "invalid_message")
        .await;
    refused(&mut h, json!({"type": "breakout_open", "rooms": "two", "assign": "auto"}), "invalid_message").await;
    refused(&mut h, json!({"type": "breakout_move", "participant_id": pid, "room": 1}), "breakouts_closed").await;
    refused(
        &mut h,
        json!({"type": "breakout_open", "rooms": 2, "assign": "manual", "assignments": [{"participant_id": pid, "room": 3}]}),
        "unknown_room",
    )
    .await;
    refused(
        &mut h,
        json!({"type": "breakout_open", "rooms": 2, "assign": "manual", "assignments": [{"participant_id": "p_nobody", "room": 1}]}),
        "unknown_participant",
    )
    .await;

    // By hand: Pat to room 1, Quin stays in the main room.
    h.send(json!({"type": "breakout_open", "rooms": 2, "assign": "manual", "assignments": [{"participant_id": pid, "room": 1}]}))
        .await;
    assert_eq!(p.expect("breakout_moved").await["room"], 1);
    let state = q.expect_where("breakout_state", |s| s["breakouts"]["rooms"][0]["participants"] != json!([])).await;
    assert_eq!(state["breakouts"]["rooms"][0]["participants"], json!([pid]));

    refused(&mut p, json!({"type": "breakout_close"}), "not_allowed").await;
    refused(&mut p, json!({"type": "breakout_move", "participant_id": qid, "room": 1}), "not_allowed").await;
    refused(&mut p, json!({"type": "breakout_rename", "room": 1, "name": "Mine"}), "not_allowed").await;
    refused(&mut p, json!({"type": "breakout_broadcast", "text": "hi all"}), "not_allowed").await;
    refused(&mut q, json!({"type": "breakout_choose", "room": 2}), "not_allowed").await;
    refused(&mut q, json!({"type": "breakout_help"}), "not_in_breakout_room").await;
    refused(&mut h, json!({"type": "breakout_move", "participant_id": qid, "room": 7}), "unknown_room").await;
    refused(&mut h, json!({"type": "breakout_choose", "room": 3}), "unknown_room").await;
    refused(&mut h, json!({"type": "breakout_rename", "room": 0, "name": "Lobby"}), "unknown_room").await;
    refused(&mut h, json!({"type": "breakout_rename", "room": 1, "name": "  "}), "invalid_message").await;
    refused(&mut h, json!({"type": "breakout_open", "rooms": 2, "assign": "auto"}), "breakouts_open").await;
    refused(&mut h, json!({"type": "breakout_close", "countdown_seconds": 301}), "invalid_message").await;

    // Renaming and moving work while open; a participant may always go back to the main room.
    h.send(json!({"type": "breakout_rename", "room": 2, "name": "Ops"})).await;
    q.expect_where("breakout_state", |s| s["breakouts"]["rooms"][1]["name"] == "Ops").await;
    h.send(json!({"type": "breakout_move", "participant_id": qid, "room": 2})).await;
    assert_eq!(q.expect("breakout_moved").await["name"], "Ops");
    p.send(json!({"type": "breakout_choose", "room": 0})).await;
    assert_eq!(p.expect("breakout_moved").await["room"], 0);
    // A host visits a room.
    h.send(json!({"type": "breakout_choose", "room": 2})).await;
    assert_eq!(h.expect("breakout_moved").await["room"], 2);

    // Closed (no countdown): Quin and the host are back; then rooms people choose.
    h.send(json!({"type": "breakout_close", "countdown_seconds": 0})).await;
    assert_eq!(q.expect("breakout_moved").await["room"], 0);
    h.expect_where("breakout_state", |s| s["breakouts"]["open"] == false).await;
    h.send(json!({"type": "breakout_open", "rooms": 3, "assign": "choose"})).await;
    q.expect_where("breakout_state", |s| s["breakouts"]["open"] == true).await;
    q.send(json!({"type": "breakout_choose", "room": 3})).await;
    assert_eq!(q.expect("breakout_moved").await["room"], 3);
    refused(&mut q, json!({"type": "breakout_choose", "room": 4}), "unknown_room").await;
}

/// The timer: opened for a minute, the rooms say how long is left, everyone is warned at once
/// (the warning comes a minute before the end) and counted down, and at the end everyone is
/// back in the main room by themselves. SQLite only: a minute of waiting that no store changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timer_warns_then_brings_everyone_back() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let host = app.account("breakouttimer").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Hana").await;
    let (mut p, _) = Client::join(&app, &m, None, "Pat").await;
    let opened = std::time::Instant::now();
    h.send(json!({"type": "breakout_open", "rooms": 2, "assign": "auto", "minutes": 1})).await;
    assert_eq!(p.expect("breakout_moved").await["room"], 1);
    let state = h.expect_where("breakout_state", |s| s["breakouts"]["open"] == true).await;
    let left = state["breakouts"]["seconds_left"].as_i64().unwrap_or(-1);
    assert!((50..=60).contains(&left), "a minute on the clock: {state}");
    for x in [&mut h, &mut p] {
        let w = x.expect_where("warning", |w| w["code"] == "breakout_ending").await;
        assert!(w["seconds_left"].as_i64().is_some_and(|s| s <= 60), "{w}");
    }
    // Nothing moves before the minute is up; then Pat is back by the timer alone.
    let back = loop {
        let msg = p.next_within(Duration::from_secs(75)).await.expect("the socket stays open");
        if msg["type"] == "breakout_moved" {
            break msg;
        }
    };
    assert_eq!(back["room"], 0, "{back}");
    let took = opened.elapsed();
    assert!(took >= Duration::from_secs(59), "back after the minute, not before: {took:?}");
    h.expect_where("breakout_state", |s| s["breakouts"]["open"] == false).await;
}

backend_tests!(
    rooms_keep_media_and_chat_apart_and_close_all_returns_everyone,
    what_a_participant_may_not_do_is_refused,
);
