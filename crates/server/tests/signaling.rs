//! The meeting WebSocket as a client sees it: entering with a join ticket, presence,
//! reconnecting within the grace period, leaving, the duration limit, every bad input, and
//! the closing handshake.
mod common;

use std::time::{Duration, Instant};

use common::ws::{meeting_with, Client};
use common::{Backend, TestApp};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

async fn welcome_presence_and_state_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hosta").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let mut events = app.state.events.subscribe();

    let (mut h, hw) = Client::join(&app, &m, Some(&host), "Hosta").await;
    assert_eq!(hw["protocol"], 1);
    assert_eq!(hw["role"], "host");
    assert_eq!(hw["participants"].as_array().unwrap().len(), 1);
    assert_eq!(hw["meeting"]["meeting_id"], id);
    let left = hw["meeting"]["time_left_seconds"].as_i64().unwrap();
    assert!((3590..=3600).contains(&left), "60-minute default limit, got {left}");
    assert_eq!(app.get(&format!("/api/v1/meetings/{id}"), Some(&host.token)).await.body["status"], "live");

    let (mut g, gw) = Client::join(&app, &m, None, "Gus Guest").await;
    assert_eq!(gw["role"], "guest");
    assert_eq!(gw["participants"].as_array().unwrap().len(), 2, "the guest sees host and self");
    let joined = h.expect("participant_joined").await;
    assert_eq!(joined["participant"]["display_name"], "Gus Guest");
    assert_eq!(joined["participant"]["participant_id"], gw["participant_id"]);

    g.send(json!({"type": "set_state", "muted": true, "hand_raised": true})).await;
    let upd = h.expect("participant_updated").await;
    assert_eq!(upd["participant"]["muted"], true);
    assert_eq!(upd["participant"]["hand_raised"], true);

    g.send(json!({"type": "ping", "id": 42})).await;
    assert_eq!(g.expect("pong").await["id"], 42);

    let mut kinds = vec![];
    while let Ok(e) = events.try_recv() {
        kinds.push(e.kind);
    }
    assert!(kinds.contains(&"meeting.started") && kinds.contains(&"participant.joined"), "{kinds:?}");
    app.stop().await;
}

/// Tiles show a photo for people whose account has one: `avatar_url` in the participant,
/// the same URL the profile has, serving the photo; `null` for guests and photo-less accounts.
async fn participants_carry_the_account_photo(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("photohost").await;
    let plain = app.account("plainuser").await;
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(64, 48, image::Rgb([200, 40, 90])))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let r = app
        .raw(
            app.client
                .put(format!("{}/api/v1/users/me/avatar", app.base))
                .bearer_auth(&host.token)
                .header("content-type", "image/png")
                .body(png),
        )
        .await;
    let photo = r.expect(200)["avatar_url"].as_str().expect("the profile has a photo").to_owned();
    let m = meeting_with(&app, &host, json!({})).await;

    let (mut h, hw) = Client::join(&app, &m, Some(&host), "Photo Host").await;
    assert_eq!(hw["participants"][0]["avatar_url"], photo);
    let (_p, pw) = Client::join(&app, &m, Some(&plain), "Plain").await;
    let (_g, gw) = Client::join(&app, &m, None, "Gus Guest").await;
    let by_name = |w: &Value, name: &str| {
        w["participants"].as_array().unwrap().iter().find(|p| p["display_name"] == name).cloned().unwrap()
    };
    assert_eq!(by_name(&gw, "Photo Host")["avatar_url"], photo, "guests see the host's photo too");
    assert!(by_name(&gw, "Gus Guest")["avatar_url"].is_null(), "guests have no photo");
    assert!(by_name(&pw, "Plain")["avatar_url"].is_null(), "nor do accounts without one");
    let joined = h.expect_where("participant_joined", |m| m["participant"]["display_name"] == "Gus Guest").await;
    assert!(joined["participant"]["avatar_url"].is_null());

    // The URL serves the photo to anyone (a guest's browser has no token).
    let served = app.raw(app.client.get(format!("{}{photo}", app.base))).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.headers["content-type"], "image/png");
    app.stop().await;
}

async fn lost_connection_keeps_the_seat_within_grace(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hostb").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, _) = Client::join(&app, &m, Some(&host), "H").await;
    let (g, gw) = Client::join(&app, &m, None, "G").await;
    h.expect("participant_joined").await;

    drop(g); // the network goes away
    let upd = h.expect("participant_updated").await;
    assert_eq!(upd["participant"]["reconnecting"], true);

    let token = gw["resume_token"].as_str().unwrap();
    let mut g2 = Client::connect(&app, id, &format!("resume={token}")).await;
    let w2 = g2.expect("welcome").await;
    assert_eq!(w2["resumed"], true);
    assert_eq!(w2["participant_id"], gw["participant_id"], "same seat");
    assert_eq!(w2["role"], "guest", "same role");
    let back = h.expect("participant_updated").await;
    assert_eq!(back["participant"]["reconnecting"], false);

    // Nobody saw a leave; the attendance has one row for the guest.
    h.send(json!({"type": "ping"})).await;
    let next = h.next().await.unwrap();
    assert_eq!(next["type"], "pong", "no participant_left in between: {next}");
    let rows = app.get(&format!("/api/v1/meetings/{id}/attendance"), Some(&host.token)).await;
    assert_eq!(rows.expect(200).as_array().unwrap().len(), 2);
    app.stop().await;
}

async fn seat_is_given_up_after_grace_and_empty_meeting_ends(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.reconnect_grace_ms = 300).await;
    let host = app.account("hostc").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, _) = Client::join(&app, &m, Some(&host), "H").await;
    let (g, gw) = Client::join(&app, &m, None, "G").await;
    drop(g);
    let left = h.expect("participant_left").await;
    assert_eq!(left["participant_id"], gw["participant_id"]);
    assert_eq!(left["reason"], "disconnected");
    let mut late = Client::connect(&app, id, &format!("resume={}", gw["resume_token"].as_str().unwrap())).await;
    assert_eq!(late.expect("error").await["code"], "resume_expired");

    h.send(json!({"type": "leave"})).await;
    assert_eq!(h.close_code().await, Some(1000));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let meeting = app.get(&format!("/api/v1/meetings/{id}"), Some(&host.token)).await;
    assert_eq!(meeting.body["status"], "ended", "everyone left: the meeting ended");
    let past = app.get("/api/v1/meetings?scope=past", Some(&host.token)).await;
    assert!(past.body["items"].as_array().unwrap().iter().any(|i| i["meeting_id"] == id));
    let rows = app.get(&format!("/api/v1/meetings/{id}/attendance"), Some(&host.token)).await;
    assert!(rows.body.as_array().unwrap().iter().all(|r| !r["left_at"].is_null()), "{}", rows.body);
    app.stop().await;
}

async fn duration_limit_warns_then_ends(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.room_tick_ms = 50).await;
    let host = app.account("hostd").await;
    let m = meeting_with(&app, &host, json!({"duration_limit_minutes": 10})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, _) = Client::join(&app, &m, Some(&host), "H").await;
    app.state.clock.advance(chrono::Duration::minutes(6));
    let warn = h.expect("warning").await;
    assert_eq!(warn["code"], "ending_soon");
    assert!(warn["seconds_left"].as_i64().unwrap() <= 300);
    app.state.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(h.expect("meeting_ended").await["reason"], "duration_limit");
    assert_eq!(h.close_code().await, Some(4000));
    assert_eq!(app.get(&format!("/api/v1/meetings/{id}"), Some(&host.token)).await.body["status"], "ended");
    app.stop().await;
}

async fn cancelling_a_live_meeting_ends_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hoste").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut g, _) = Client::join(&app, &m, None, "G").await;
    app.delete(&format!("/api/v1/meetings/{id}"), Some(&host.token), None).await.expect(200);
    assert_eq!(g.expect("meeting_ended").await["reason"], "cancelled");
    assert_eq!(app.get(&format!("/api/v1/meetings/{id}"), Some(&host.token)).await.body["status"], "cancelled");
    app.stop().await;
}

async fn refused_connections_say_why(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hostf").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let other = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();

    async fn refused(app: &TestApp, id: i64, query: &str) -> (String, Option<u16>) {
        let mut c = Client::connect(app, id, query).await;
        let err = c.next().await.expect("an error frame");
        assert_eq!(err["type"], "error", "{err}");
        (err["code"].as_str().unwrap().to_owned(), c.close_code().await)
    }
    assert_eq!(refused(&app, id, "").await, ("missing_ticket".into(), Some(4401)));
    assert_eq!(refused(&app, id, "ticket=garbage").await, ("invalid_token".into(), Some(4401)));
    assert_eq!(
        refused(&app, id, &format!("ticket={}", host.token)).await.0,
        "invalid_token",
        "an access token is no ticket"
    );

    let ticket = |m: &Value| {
        let m = m.clone();
        let app = &app;
        async move {
            let r = app
                .post(
                    &format!("/api/v1/meetings/{}/join", m["meeting_id"]),
                    None,
                    json!({"passcode": m["passcode"], "display_name": "X"}),
                )
                .await;
            r.body["ticket"].as_str().unwrap().to_owned()
        }
    };
    let t_other = ticket(&other).await;
    assert_eq!(refused(&app, id, &format!("ticket={t_other}")).await, ("wrong_meeting".into(), Some(4403)));

    let t = ticket(&m).await;
    let (_first, _) = (Client::connect(&app, id, &format!("ticket={t}")).await, ());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(refused(&app, id, &format!("ticket={t}")).await, ("ticket_used".into(), Some(4409)));

    let t2 = ticket(&m).await;
    app.state.clock.advance(chrono::Duration::seconds(301));
    assert_eq!(refused(&app, id, &format!("ticket={t2}")).await, ("ticket_expired".into(), Some(4401)));
    assert_eq!(refused(&app, id, "resume=nope").await.0, "resume_expired");
    assert_eq!(refused(&app, 1234567890, "ticket=x").await, ("invalid_token".into(), Some(4401)));
    app.stop().await;
}

async fn bad_frames_get_errors_and_the_meeting_carries_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hostg").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let (mut h, _) = Client::join(&app, &m, Some(&host), "H").await;
    let (mut g, _) = Client::join(&app, &m, None, "G").await;
    h.expect("participant_joined").await;

    let cases: Vec<(Message, &str)> = vec![
        (Message::Text("{not json".into()), "malformed_message"),
        (Message::Text(r#"{"no_type":1}"#.into()), "malformed_message"),
        (Message::Text(r#"{"type":"teleport"}"#.into()), "unknown_message_type"),
        (Message::Text(r#"{"type":"set_state","muted":"very"}"#.into()), "invalid_message"),
        (
            Message::Text(
                format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(convene_protocol::MAX_MESSAGE_BYTES)).into(),
            ),
            "message_too_large",
        ),
        (Message::Binary(vec![1, 2, 3].into()), "malformed_message"),
        (Message::Text(r#"{"type":"subscribe_answer","sdp":"v=0"}"#.into()), "invalid_sdp"),
        (Message::Text(r#"{"type":"publish_offer","sdp":"not sdp","tracks":[]}"#.into()), "invalid_sdp"),
        (Message::Text(r#"{"type":"set_video_size","track_id":"x","width":1,"height":1}"#.into()), "unknown_track"),
    ];
    for (frame, code) in cases {
        g.ws.send(frame).await.unwrap();
        let err = g.expect("error").await;
        assert_eq!(err["code"], code, "{err}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Still connected, still in the meeting, and the host saw no change.
    g.send(json!({"type": "ping", "id": 1})).await;
    assert_eq!(g.expect("pong").await["id"], 1);
    h.send(json!({"type": "ping", "id": 2})).await;
    let next = h.next().await.unwrap();
    assert_eq!(next["type"], "pong", "bad frames changed nothing for others: {next}");
    app.stop().await;
}

/// Reads up to the server's Close and returns its code, without answering it yet (a
/// tungstenite client sends its answer on its next read or write).
async fn unanswered_close(c: &mut Client) -> u16 {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), c.ws.next()).await.expect("a close within 10 s");
        match frame {
            Some(Ok(Message::Close(Some(f)))) => return u16::from(f.code),
            Some(Ok(_)) => continue,
            other => panic!("the connection ended without a Close frame: {other:?}"),
        }
    }
}

/// Whether the server keeps the TCP connection open for `d` (neither a FIN nor a reset).
async fn tcp_open_for(c: &Client, d: Duration) -> bool {
    let MaybeTlsStream::Plain(tcp) = c.ws.get_ref() else { panic!("plain TCP") };
    tokio::time::timeout(d, tcp.peek(&mut [0u8; 1])).await.is_err()
}

/// RFC 6455 §7.1.1: after its Close the server waits for the client's before it drops TCP,
/// so a browser reads the code (4403 removed, 4000 ended) rather than 1006, "lost: resume".
async fn server_closes_complete_the_handshake(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hosth").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let (mut h, _) = Client::join(&app, &m, Some(&host), "H").await;
    let (mut g, gw) = Client::join(&app, &m, None, "G").await;
    h.expect("participant_joined").await;

    h.send(json!({"type": "remove", "participant_id": gw["participant_id"]})).await;
    assert_eq!(g.expect("error").await["code"], "removed");
    assert_eq!(unanswered_close(&mut g).await, 4403);
    let closed = Instant::now();
    assert!(tcp_open_for(&g, Duration::from_millis(500)).await, "the server waits for the client's Close");
    assert!(!tcp_open_for(&g, Duration::from_secs(4)).await, "…but not for ever");
    assert!(closed.elapsed() >= Duration::from_millis(1500), "gave up after {:?}", closed.elapsed());

    let (mut g2, _) = Client::join(&app, &m, None, "G2").await;
    h.expect("participant_joined").await;
    h.send(json!({"type": "end_meeting"})).await;
    assert_eq!(g2.expect("meeting_ended").await["reason"], "ended_by_host");
    assert_eq!(unanswered_close(&mut g2).await, 4000);
    assert!(tcp_open_for(&g2, Duration::from_millis(500)).await, "the server waits for the client's Close");
    // The answer tungstenite queued when it read the server's Close (a browser sends it at once).
    g2.ws.flush().await.expect("the client's Close goes out");
    let answered = Instant::now();
    assert!(!tcp_open_for(&g2, Duration::from_secs(1)).await, "answered, the connection ends at once");
    assert!(answered.elapsed() < Duration::from_millis(900));
    assert_eq!(h.expect("meeting_ended").await["reason"], "ended_by_host");
    assert_eq!(h.close_code().await, Some(4000));
    app.stop().await;
}

backend_tests!(
    participants_carry_the_account_photo,
    welcome_presence_and_state_changes,
    lost_connection_keeps_the_seat_within_grace,
    seat_is_given_up_after_grace_and_empty_meeting_ends,
    duration_limit_warns_then_ends,
    cancelling_a_live_meeting_ends_it,
    refused_connections_say_why,
    bad_frames_get_errors_and_the_meeting_carries_on,
    server_closes_complete_the_handshake,
);
