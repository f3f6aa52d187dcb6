//! The published JSON Schema of the signaling protocol against the real server: it is served,
//! and every frame a meeting produces — welcome, presence, chat, host actions, the waiting
//! room, errors, refusals, media negotiation, the duration limit, cluster redirects —
//! validates against it, as does every client frame the test sends.
mod common;

use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::time::Duration;

use common::media::{JoinOptions, MediaClient};
use common::ws::{meeting_with, Client};
use common::{cluster, Backend, TestApp};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Validators for the two directions. The server's is strict: an object may not carry a field
/// the schema does not list, so a field added to a message without the schema fails here.
struct Schemas {
    client: jsonschema::Validator,
    server: jsonschema::Validator,
}

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| {
    let doc = convene_protocol::schema();
    let validator = |def: &str, defs: &Value| {
        let schema = json!({"$schema": doc["$schema"], "$defs": defs, "$ref": format!("#/$defs/{def}")});
        jsonschema::validator_for(&schema).expect("the protocol schema compiles")
    };
    let mut strict = doc["$defs"].clone();
    forbid_unlisted_fields(&mut strict);
    Schemas { client: validator("ClientMessage", &doc["$defs"]), server: validator("ServerMessage", &strict) }
});

fn forbid_unlisted_fields(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.contains_key("properties") {
                o.entry("additionalProperties").or_insert(json!(false));
            }
            o.values_mut().for_each(forbid_unlisted_fields);
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_unlisted_fields),
        _ => {}
    }
}

#[track_caller]
fn assert_valid(validator: &jsonschema::Validator, frame: &Value, direction: &str) {
    let errors: Vec<String> = validator.iter_errors(frame).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{direction} frame does not match the schema: {frame}\n{errors:#?}");
}

/// Every frame's `type` seen, so the test knows it covered what it meant to.
#[derive(Default)]
struct Seen(BTreeSet<String>);

impl Seen {
    /// The next server frame (skipping pings), validated; `None` once the socket closes.
    async fn next(&mut self, c: &mut Client) -> Option<Value> {
        let frame = c.next().await?;
        assert_valid(&SCHEMAS.server, &frame, "server");
        self.0.insert(frame["type"].as_str().unwrap_or_default().to_owned());
        Some(frame)
    }

    async fn expect(&mut self, c: &mut Client, kind: &str) -> Value {
        loop {
            let frame = self.next(c).await.unwrap_or_else(|| panic!("socket closed while waiting for {kind}"));
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    async fn expect_where(&mut self, c: &mut Client, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let frame = self.expect(c, kind).await;
            if pred(&frame) {
                return frame;
            }
        }
    }

    async fn expect_error(&mut self, c: &mut Client, code: &str) -> Value {
        self.expect_where(c, "error", |e| e["code"] == code).await
    }

    /// The first frame of a new connection.
    async fn first(&mut self, c: &mut Client) -> Value {
        self.next(c).await.expect("a first frame")
    }

    #[track_caller]
    fn covers(&self, kinds: &[&str]) {
        let missing: Vec<&&str> = kinds.iter().filter(|k| !self.0.contains(**k)).collect();
        assert!(missing.is_empty(), "never saw {missing:?}; saw {:?}", self.0);
    }
}

/// Sends a client frame after checking it against the schema.
async fn send(c: &mut Client, frame: Value) {
    assert_valid(&SCHEMAS.client, &frame, "client");
    c.send(frame).await;
}

/// Sends text that is deliberately not a valid client message.
async fn send_raw(c: &mut Client, text: String) {
    c.ws.send(Message::Text(text.into())).await.unwrap();
}

async fn ticket(app: &TestApp, meeting: &Value, who: Option<&common::Account>, body: Value) -> String {
    let id = meeting["meeting_id"].as_i64().unwrap();
    let r = app.post(&format!("/api/v1/meetings/{id}/join"), who.map(|a| a.token.as_str()), body).await;
    r.expect(200)["ticket"].as_str().unwrap().to_owned()
}

/// Joins and returns the socket with its validated first frame.
async fn join(
    app: &TestApp,
    seen: &mut Seen,
    meeting: &Value,
    who: Option<&common::Account>,
    body: Value,
) -> (Client, Value) {
    let ticket = ticket(app, meeting, who, body).await;
    let mut c = Client::connect(app, meeting["meeting_id"].as_i64().unwrap(), &format!("ticket={ticket}")).await;
    let first = seen.first(&mut c).await;
    (c, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_the_schema_it_is_built_with() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let r = app.get("/api/v1/protocol/schema.json", None).await;
    assert_eq!(r.status.as_u16(), 200, "no sign-in needed");
    let header = |name: &str| r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(header("content-type"), "application/schema+json");
    assert!(header("cache-control").starts_with("public"), "cacheable: {}", header("cache-control"));
    assert_eq!(r.body, convene_protocol::schema());
    let committed = include_str!("../../../docs/protocol.schema.json");
    assert_eq!(String::from_utf8(r.bytes).unwrap(), committed, "the served schema is the documented one");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_of_a_meeting_matches_the_schema() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut seen = Seen::default();
    let host = app.account("schemahost").await;
    let member = app.account("schemamember").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let pass = m["passcode"].clone();

    // Refused before entering: one error frame, then the close.
    let mut refused = Client::connect(&app, id, "ticket=not-a-ticket").await;
    assert_eq!(seen.first(&mut refused).await["code"], "invalid_token");
    assert_eq!(refused.close_code().await, Some(4401));

    let (mut h, hw) = join(&app, &mut seen, &m, Some(&host), json!({})).await;
    assert_eq!(hw["type"], "welcome");
    let (mut g, gw) =
        join(&app, &mut seen, &m, None, json!({"passcode": pass, "display_name": "Gus", "client_id": "dev-1"})).await;
    assert_eq!(gw["type"], "welcome");
    let guest = gw["participant_id"].as_str().unwrap().to_owned();
    let (mut p, pw) = join(&app, &mut seen, &m, Some(&member), json!({"passcode": pass})).await;
    let member_pid = pw["participant_id"].as_str().unwrap().to_owned();
    seen.expect(&mut h, "participant_joined").await;

    // My own state, keep-alive, chat and reactions.
    send(&mut g, json!({"type": "set_state", "muted": true, "hand_raised": true, "camera_on": false})).await;
    seen.expect_where(&mut h, "participant_updated", |u| u["participant"]["participant_id"] == guest.as_str()).await;
    send(&mut g, json!({"type": "ping", "id": 9})).await;
    assert_eq!(seen.expect(&mut g, "pong").await["id"], 9);
    send(&mut g, json!({"type": "chat_send", "text": "hello all"})).await;
    seen.expect(&mut h, "chat_message").await;
    send(&mut g, json!({"type": "chat_send", "text": "psst", "to": member_pid})).await;
    let private = seen.expect_where(&mut p, "chat_message", |c| !c["message"]["to"].is_null()).await;
    assert_eq!(private["message"]["to"], member_pid.as_str());
    send(&mut g, json!({"type": "react", "emoji": "👏"})).await;
    seen.expect(&mut h, "reaction").await;

    // Refused messages: the connection stays, an error frame says why.
    send(&mut g, json!({"type": "mute", "participant_id": member_pid})).await;
    seen.expect_error(&mut g, "not_allowed").await;
    send(&mut h, json!({"type": "mute", "participant_id": "p_nobody"})).await;
    seen.expect_error(&mut h, "unknown_participant").await;
    send(&mut h, json!({"type": "set_video_size", "track_id": "nope", "width": 1, "height": 1})).await;
    seen.expect_error(&mut h, "unknown_track").await;
    send(&mut h, json!({"type": "subscribe_answer", "sdp": "v=0\r\n", "offer_id": 1})).await;
    seen.expect_error(&mut h, "invalid_sdp").await;
    send_raw(&mut g, "{not json".into()).await;
    seen.expect_error(&mut g, "malformed_message").await;
    send_raw(&mut g, json!({"type": "fly"}).to_string()).await;
    seen.expect_error(&mut g, "unknown_message_type").await;
    send_raw(&mut g, json!({"type": "ping", "extra": 1}).to_string()).await;
    seen.expect_error(&mut g, "invalid_message").await;
    send_raw(&mut g, json!({"type": "chat_send", "text": "x".repeat(convene_protocol::MAX_MESSAGE_BYTES)}).to_string())
        .await;
    seen.expect_error(&mut g, "message_too_large").await;
    g.ws.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    seen.expect_error(&mut g, "malformed_message").await;

    // Host controls.
    send(&mut h, json!({"type": "mute", "participant_id": guest})).await;
    seen.expect_where(&mut g, "host_action", |a| a["action"] == "muted").await;
    send(&mut h, json!({"type": "mute_all"})).await;
    seen.expect_where(&mut p, "host_action", |a| a["action"] == "muted_all").await;
    send(&mut h, json!({"type": "ask_unmute", "participant_id": guest})).await;
    seen.expect_where(&mut g, "host_action", |a| a["action"] == "asked_to_unmute").await;
    send(&mut h, json!({"type": "stop_video", "participant_id": member_pid})).await;
    seen.expect_where(&mut p, "host_action", |a| a["action"] == "video_stopped").await;
    send(&mut h, json!({"type": "lower_hand"})).await;
    seen.expect_where(&mut g, "host_action", |a| a["action"] == "hand_lowered").await;
    send(&mut h, json!({"type": "set_role", "participant_id": member_pid, "role": "cohost"})).await;
    seen.expect_where(&mut p, "host_action", |a| a["action"] == "promoted").await;
    send(&mut h, json!({"type": "set_role", "participant_id": member_pid, "role": "participant"})).await;
    seen.expect_where(&mut p, "host_action", |a| a["action"] == "demoted").await;
    send(&mut h, json!({"type": "allow_local_recording", "participant_id": member_pid, "allowed": true})).await;
    seen.expect_where(&mut p, "host_action", |a| a["action"] == "local_recording_allowed").await;
    send(&mut p, json!({"type": "set_state", "recording_locally": true})).await;
    seen.expect_where(&mut h, "participant_updated", |u| u["participant"]["recording_locally"] == true).await;
    send(&mut h, json!({"type": "lock", "locked": true})).await;
    assert_eq!(seen.expect(&mut g, "meeting_updated").await["locked"], true);
    seen.expect_where(&mut g, "host_action", |a| a["action"] == "locked").await;
    send(&mut h, json!({"type": "lock", "locked": false})).await;
    seen.expect_where(&mut g, "host_action", |a| a["action"] == "unlocked").await;
    send(&mut h, json!({"type": "record", "recording": false})).await;
    seen.expect_error(&mut h, "not_recording").await;

    // Polls (issue 21): every copy of a poll — the host's with ballots, a voter's, shared
    // results — and a latecomer's welcome carrying it.
    send(&mut h, json!({"type": "poll_create", "question": "Lunch?", "options": ["Pizza", "Sushi"]})).await;
    let poll = seen.expect(&mut p, "poll_updated").await["poll"]["poll_id"].clone();
    send(&mut p, json!({"type": "poll_vote", "poll_id": poll, "choices": [1]})).await;
    seen.expect_where(&mut h, "poll_updated", |u| !u["poll"]["results"]["ballots"][0].is_null()).await;
    send(&mut p, json!({"type": "poll_share", "poll_id": poll})).await;
    seen.expect_error(&mut p, "not_allowed").await;
    send(&mut h, json!({"type": "poll_end", "poll_id": poll})).await;
    send(&mut h, json!({"type": "poll_share", "poll_id": poll})).await;
    seen.expect_where(&mut g, "poll_updated", |u| u["poll"]["shared"] == true).await;
    let (_late, lw) =
        join(&app, &mut seen, &m, None, json!({"passcode": pass, "display_name": "Late", "client_id": "dev-2"})).await;
    assert_eq!(lw["polls"][0]["results"]["counts"], json!([0, 1]), "{lw}");

    // Removal: an error frame and 4403 for them; a resume then finds no seat.
    send(&mut h, json!({"type": "remove", "participant_id": guest})).await;
    assert_eq!(seen.expect(&mut g, "error").await["code"], "removed");
    assert_eq!(g.close_code().await, Some(4403));
    assert_eq!(seen.expect(&mut p, "participant_left").await["reason"], "removed");
    seen.expect_where(&mut p, "host_action", |a| a["action"] == "removed").await;
    let mut back = Client::connect(&app, id, &format!("resume={}", gw["resume_token"].as_str().unwrap())).await;
    assert_eq!(seen.first(&mut back).await["code"], "resume_expired");
    assert_eq!(back.close_code().await, Some(4401));

    send(&mut h, json!({"type": "transfer_host", "participant_id": member_pid})).await;
    seen.expect_where(&mut p, "host_action", |a| a["action"] == "made_host").await;
    send(&mut h, json!({"type": "leave"})).await;
    assert_eq!(seen.expect(&mut p, "participant_left").await["reason"], "left");
    send(&mut p, json!({"type": "end_meeting"})).await;
    assert_eq!(seen.expect(&mut p, "meeting_ended").await["reason"], "ended_by_host");
    assert_eq!(p.close_code().await, Some(4000));

    seen.covers(&[
        "welcome",
        "participant_joined",
        "participant_updated",
        "participant_left",
        "pong",
        "chat_message",
        "reaction",
        "host_action",
        "meeting_updated",
        "meeting_ended",
        "error",
        "poll_updated",
    ]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_room_and_the_duration_limit_match_the_schema() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.room_tick_ms = 50).await;
    let mut seen = Seen::default();
    let host = app.account("waithost").await;
    let m = meeting_with(&app, &host, json!({"waiting_room": true, "duration_limit_minutes": 10})).await;
    let pass = m["passcode"].clone();

    let (mut h, _) = join(&app, &mut seen, &m, Some(&host), json!({})).await;
    let (mut w, first) = join(&app, &mut seen, &m, None, json!({"passcode": pass, "display_name": "Wendy"})).await;
    assert_eq!(first["type"], "waiting");
    send(&mut w, json!({"type": "chat_send", "text": "let me in"})).await;
    seen.expect_error(&mut w, "not_admitted").await;
    let list = seen.expect(&mut h, "waiting_room").await;
    let waiting = list["waiting"][0]["participant_id"].clone();
    send(&mut h, json!({"type": "admit", "participant_id": waiting})).await;
    assert_eq!(seen.expect(&mut w, "welcome").await["participant_id"], waiting);

    let (mut d, first) = join(&app, &mut seen, &m, None, json!({"passcode": pass, "display_name": "Dan"})).await;
    assert_eq!(first["type"], "waiting");
    send(&mut h, json!({"type": "deny", "participant_id": first["participant_id"]})).await;
    assert_eq!(seen.expect(&mut d, "error").await["code"], "denied");
    assert_eq!(d.close_code().await, Some(4403));

    app.state.clock.advance(chrono::Duration::minutes(6));
    assert_eq!(seen.expect(&mut w, "warning").await["code"], "ending_soon");
    app.state.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(seen.expect(&mut w, "meeting_ended").await["reason"], "duration_limit");

    seen.covers(&["waiting", "waiting_room", "welcome", "warning", "meeting_ended", "error"]);
    app.stop().await;
}

/// Media negotiation through real peer connections (str0m clients that answer offers
/// themselves): what the server sends is validated as the test reads it. B takes slots
/// (docs/protocol.md §2e), A one m-line per track.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_signaling_matches_the_schema() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let host = app.account("mediahost").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let mut a = MediaClient::join(&app, &m, Some(&host), "A").await;
    let slots = JoinOptions { video_slots: Some(1), ..Default::default() };
    let mut b = MediaClient::join_with(&app, &m, None, "B", slots).await;
    assert_valid(&SCHEMAS.server, &a.welcome, "server");
    assert_valid(&SCHEMAS.server, &b.welcome, "server");
    a.publish().await;
    b.publish().await;
    let mut seen = BTreeSet::new();
    let wanted = ["publish_answer", "track_published", "subscribe_offer", "active_speaker", "slot_map"];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !wanted.iter().all(|k| seen.contains(*k)) && tokio::time::Instant::now() < deadline {
        for c in [&mut a, &mut b] {
            while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_millis(200), c.signaling().next()).await {
                assert_valid(&SCHEMAS.server, &frame, "server");
                seen.insert(frame["type"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    let missing: Vec<_> = wanted.iter().filter(|k| !seen.contains(**k)).collect();
    assert!(missing.is_empty(), "never saw {missing:?}; saw {seen:?}");
    a.leave().await;
    b.leave().await;
    app.stop().await;
}

/// Cluster mode: a node that does not host the meeting answers with `moved`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_node_matches_the_schema() {
    let Some(apps) = cluster::nodes(2).await else { return };
    let mut seen = Seen::default();
    let host = apps[0].account("movedhost").await;
    let m = meeting_with(&apps[0], &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (_h, welcome) = Client::join(&apps[0], &m, Some(&host), "H").await;
    assert_valid(&SCHEMAS.server, &welcome, "server");
    let elsewhere = apps.iter().find(|a| a.state.live.participants(id).is_none()).expect("a node without the meeting");
    let ticket = ticket(elsewhere, &m, None, json!({"passcode": m["passcode"], "display_name": "Gus"})).await;
    let mut c = Client::connect(elsewhere, id, &format!("ticket={ticket}")).await;
    assert_eq!(seen.first(&mut c).await["type"], "moved");
    assert_eq!(c.close_code().await, Some(4302));
    for app in apps {
        app.stop().await;
    }
}
