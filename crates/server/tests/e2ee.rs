//! End-to-end encrypted meetings on the server (docs/e2ee.md): the setting (per meeting, per
//! user default, server policy), the refusal of clients that did not announce the capability,
//! the relay of sealed key blobs to the addressed participant only (and every refusal), new
//! identity keys on resume, server recording turned off and no upload of a recording made on
//! a device, and the pre-join preview saying the meeting is end-to-end encrypted.
mod common;

use common::ws::{meeting_with, Client};
use common::{Account, Backend, TestApp};
use convene::config::E2eePolicy;
use serde_json::{json, Value};

/// A well-formed identity key (87 base64url characters; the server checks only the form).
fn key(c: char) -> String {
    c.to_string().repeat(87)
}

fn join_path(m: &Value) -> String {
    format!("/api/v1/meetings/{}/join", m["meeting_id"])
}

/// Joins announcing the capability with identity key `k`; returns the client and its welcome.
async fn join_e2ee(app: &TestApp, m: &Value, who: Option<&Account>, name: &str, k: &str) -> (Client, Value) {
    let body = json!({"passcode": m["passcode"], "display_name": name, "e2ee": {"version": 1, "identity_key": k}});
    let (c, first) = Client::join_body(app, m, who, body).await;
    assert_eq!(first["type"], "welcome", "{first}");
    (c, first)
}

/// The next frame of `kind` after a ping answered: proves nothing else came before the pong.
async fn nothing_but_pong(c: &mut Client) {
    c.send(json!({"type": "ping", "id": 77})).await;
    let next = c.next().await.expect("a frame");
    assert_eq!(next["type"], "pong", "nothing else was sent to this client before the pong: {next}");
}

async fn error_for(c: &mut Client, msg: Value) -> Value {
    c.send(msg).await;
    c.expect("error").await
}

async fn the_setting_is_stored_and_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hana").await;
    // Off unless asked for.
    let plain = app.meeting(&host, json!({})).await;
    assert_eq!(plain["settings"]["e2ee"], false);
    let on = app.meeting(&host, json!({"settings": {"e2ee": true}})).await;
    assert_eq!(on["settings"]["e2ee"], true);
    let read = app.get(&format!("/api/v1/meetings/{}", on["meeting_id"]), Some(&host.token)).await;
    assert_eq!(read.expect(200)["settings"]["e2ee"], true, "stored");
    // Server recording cannot be asked for with it, either way round.
    let r = app
        .post(
            "/api/v1/meetings",
            Some(&host.token),
            json!({"title": "x", "settings": {"e2ee": true, "auto_record": true}}),
        )
        .await;
    r.expect_error(422, "e2ee_no_server_recording");
    let path = format!("/api/v1/meetings/{}", on["meeting_id"]);
    app.patch(&path, Some(&host.token), json!({"settings": {"auto_record": true}}))
        .await
        .expect_error(422, "e2ee_no_server_recording");
    let off = app.patch(&path, Some(&host.token), json!({"settings": {"e2ee": false}})).await;
    assert_eq!(off.expect(200)["settings"]["e2ee"], false, "the host can turn it off again");
    app.patch(&path, Some(&host.token), json!({"settings": {"e2ee": "yes"}})).await.expect(422);

    // The per-user default: my next meetings are end-to-end encrypted unless I say otherwise.
    let me = app.get("/api/v1/users/me", Some(&host.token)).await;
    assert_eq!(me.expect(200)["e2ee_default"], false);
    let me = app.patch("/api/v1/users/me", Some(&host.token), json!({"e2ee_default": true})).await;
    assert_eq!(me.expect(200)["e2ee_default"], true);
    assert_eq!(app.get("/api/v1/users/me", Some(&host.token)).await.expect(200)["e2ee_default"], true, "stored");
    assert_eq!(app.meeting(&host, json!({})).await["settings"]["e2ee"], true);
    assert_eq!(app.meeting(&host, json!({"settings": {"e2ee": false}})).await["settings"]["e2ee"], false);
    app.patch("/api/v1/users/me", Some(&host.token), json!({"e2ee_default": 1})).await.expect(422);
    // Someone else's default is theirs.
    let other = app.account("otto").await;
    assert_eq!(app.meeting(&other, json!({})).await["settings"]["e2ee"], false);
    app.stop().await;
}

async fn the_server_policy_forces_or_forbids_it(backend: Backend) {
    let app = TestApp::spawn_with(backend.clone(), |c| c.e2ee_policy = E2eePolicy::Require).await;
    let host = app.account("hana").await;
    assert_eq!(app.meeting(&host, json!({})).await["settings"]["e2ee"], true, "forced on");
    let r = app.post("/api/v1/meetings", Some(&host.token), json!({"title": "x", "settings": {"e2ee": false}})).await;
    r.expect_error(422, "e2ee_required");
    // The personal room too.
    let personal = app.get("/api/v1/meetings/personal", Some(&host.token)).await;
    assert_eq!(personal.expect(200)["settings"]["e2ee"], true);
    app.stop().await;

    let app = TestApp::spawn_with(backend, |c| c.e2ee_policy = E2eePolicy::Forbid).await;
    let host = app.account("hana").await;
    app.patch("/api/v1/users/me", Some(&host.token), json!({"e2ee_default": true})).await.expect(200);
    assert_eq!(app.meeting(&host, json!({})).await["settings"]["e2ee"], false, "forbidden beats my default");
    let r = app.post("/api/v1/meetings", Some(&host.token), json!({"title": "x", "settings": {"e2ee": true}})).await;
    r.expect_error(422, "e2ee_forbidden");
    app.stop().await;
}

async fn a_client_without_the_capability_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hana").await;
    let m = meeting_with(&app, &host, json!({"e2ee": true, "allow_guests": true, "waiting_room": true})).await;
    // A third-party client that announces nothing, or another version, gets the documented
    // refusal from the join — before the waiting room, before any ticket.
    for body in [
        json!({"passcode": m["passcode"], "display_name": "Bot"}),
        json!({"passcode": m["passcode"], "display_name": "Bot", "e2ee": {"version": 2, "identity_key": key('A')}}),
    ] {
        let r = app.post(&join_path(&m), None, body).await;
        r.expect_error(403, "e2ee_unsupported");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("This meeting is end-to-end encrypted."), "{message}");
    }
    // The host is no exception.
    app.post(&join_path(&m), Some(&host.token), json!({})).await.expect_error(403, "e2ee_unsupported");
    // A malformed key is refused as such.
    for bad in ["short", &format!("{}=", "A".repeat(86)), &"A".repeat(88)] {
        let body =
            json!({"passcode": m["passcode"], "display_name": "Eve", "e2ee": {"version": 1, "identity_key": bad}});
        app.post(&join_path(&m), None, body).await.expect_error(422, "invalid_e2ee_identity");
    }
    let body = json!({"passcode": m["passcode"], "display_name": "Eve", "e2ee": {"version": 1}});
    app.post(&join_path(&m), None, body).await.expect(422);
    // With it: in, and everyone sees each other's identity key.
    let (mut h, welcome) = join_e2ee(&app, &m, Some(&host), "Hana", &key('H')).await;
    assert_eq!(welcome["meeting"]["settings"]["e2ee"], true);
    assert_eq!(welcome["participants"][0]["e2ee_identity"], key('H'));
    let body =
        json!({"passcode": m["passcode"], "display_name": "Gus", "e2ee": {"version": 1, "identity_key": key('G')}});
    let (_g, first) = Client::join_body(&app, &m, None, body).await;
    assert_eq!(first["type"], "waiting", "the waiting room comes after the check");
    let waiting = h.expect("waiting_room").await;
    let gus = waiting["waiting"][0]["participant_id"].as_str().unwrap().to_owned();
    h.send(json!({"type": "admit", "participant_id": gus})).await;
    let joined = h.expect("participant_joined").await;
    assert_eq!(joined["participant"]["e2ee_identity"], key('G'));

    // Outside E2EE meetings the announcement is ignored and nobody carries a key.
    let plain = meeting_with(&app, &host, json!({"allow_guests": true})).await;
    let (_p, welcome) = join_e2ee(&app, &plain, None, "Pat", &key('P')).await;
    assert_eq!(welcome["participants"][0]["e2ee_identity"], Value::Null);
    app.stop().await;
}

async fn key_blobs_go_to_the_addressed_participant_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hana").await;
    let m = meeting_with(&app, &host, json!({"e2ee": true, "allow_guests": true, "max_participants": 4})).await;
    let (mut a, _) = join_e2ee(&app, &m, Some(&host), "Hana", &key('A')).await;
    let (mut b, wb) = join_e2ee(&app, &m, None, "Bea", &key('B')).await;
    let (mut c, _) = join_e2ee(&app, &m, None, "Cy", &key('C')).await;
    let id_b = wb["participant_id"].as_str().unwrap().to_owned();
    a.expect("participant_joined").await; // Bea
    a.expect("participant_joined").await; // Cy
    let welcome_a =
        wb["participants"].as_array().unwrap().iter().find(|p| p["display_name"] == "Hana").unwrap().clone();
    let id_a = welcome_a["participant_id"].as_str().unwrap().to_owned();
    b.expect("participant_joined").await; // Cy

    // A → B: only B gets it, from A, unchanged.
    let blob = "AQID-_09azAZ".repeat(9);
    a.send(json!({"type": "e2ee_key", "to": id_b, "blob": blob})).await;
    let got = b.expect("e2ee_key").await;
    assert_eq!(got, json!({"type": "e2ee_key", "from": id_a, "blob": blob}));
    nothing_but_pong(&mut c).await;
    nothing_but_pong(&mut a).await;

    // Refusals, each an error frame naming the request; nobody receives anything.
    let e = error_for(&mut a, json!({"type": "e2ee_key", "to": id_a, "blob": "AAAA"})).await;
    assert_eq!(
        (e["code"].as_str(), e["request"].as_str()),
        (Some("unknown_participant"), Some("e2ee_key")),
        "to myself"
    );
    let e = error_for(&mut a, json!({"type": "e2ee_key", "to": "p_nobody", "blob": "AAAA"})).await;
    assert_eq!(e["code"], "unknown_participant", "someone not in this meeting");
    let e = error_for(&mut a, json!({"type": "e2ee_key", "to": id_b, "blob": "A".repeat(1025)})).await;
    assert_eq!(e["code"], "e2ee_blob_too_large");
    let e = error_for(&mut a, json!({"type": "e2ee_key", "to": id_b, "blob": "not base64url!"})).await;
    assert_eq!(e["code"], "invalid_message");
    let e = error_for(&mut a, json!({"type": "e2ee_key", "to": id_b, "blob": ""})).await;
    assert_eq!(e["code"], "invalid_message");
    let e = error_for(&mut a, json!({"type": "e2ee_key", "to": id_b})).await;
    assert_eq!(e["code"], "invalid_message");
    let e = error_for(&mut a, json!({"type": "e2ee_key", "to": id_b, "blob": "AAAA", "extra": 1})).await;
    assert_eq!(e["code"], "invalid_message");
    nothing_but_pong(&mut b).await;
    nothing_but_pong(&mut c).await;

    // A participant of another meeting cannot be reached from here.
    let other = meeting_with(&app, &host, json!({"e2ee": true, "allow_guests": true})).await;
    let (mut x, wx) = join_e2ee(&app, &other, None, "Xan", &key('X')).await;
    let id_x = wx["participant_id"].as_str().unwrap().to_owned();
    let e = error_for(&mut a, json!({"type": "e2ee_key", "to": id_x, "blob": "AAAA"})).await;
    assert_eq!(e["code"], "unknown_participant");
    nothing_but_pong(&mut x).await;

    // A burst of about twice the meeting size passes; a flood is cut off.
    let limit = 4 * 4 + 16;
    let mut refused = 0;
    for _ in 0..limit + 5 {
        c.send(json!({"type": "e2ee_key", "to": id_b, "blob": "AAAA"})).await;
    }
    c.send(json!({"type": "ping", "id": 1})).await;
    loop {
        let f = c.next().await.unwrap();
        if f["type"] == "pong" {
            break;
        }
        assert_eq!(f["code"], "rate_limited", "{f}");
        refused += 1;
    }
    assert_eq!(refused, 5, "the first {limit} of a burst pass, the rest are refused");
    let mut relayed = 0;
    b.send(json!({"type": "ping", "id": 2})).await;
    loop {
        let f = b.next().await.unwrap();
        if f["type"] == "pong" {
            break;
        }
        if f["type"] == "e2ee_key" {
            relayed += 1;
        }
    }
    assert_eq!(relayed, limit);
    app.stop().await;
}

async fn no_blobs_outside_e2ee_meetings_or_the_waiting_room(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hana").await;
    let plain = meeting_with(&app, &host, json!({"allow_guests": true})).await;
    let (mut h, _) = Client::join(&app, &plain, Some(&host), "Hana").await;
    let (_g, wg) = Client::join(&app, &plain, None, "Gus").await;
    let e = error_for(&mut h, json!({"type": "e2ee_key", "to": wg["participant_id"], "blob": "AAAA"})).await;
    assert_eq!(e["code"], "e2ee_not_enabled");

    // Someone in the waiting room can neither send nor receive keys.
    let lobby = meeting_with(&app, &host, json!({"e2ee": true, "allow_guests": true, "waiting_room": true})).await;
    let (mut h, wh) = join_e2ee(&app, &lobby, Some(&host), "Hana", &key('H')).await;
    let body =
        json!({"passcode": lobby["passcode"], "display_name": "Wes", "e2ee": {"version": 1, "identity_key": key('W')}});
    let (mut w, first) = Client::join_body(&app, &lobby, None, body).await;
    assert_eq!(first["type"], "waiting");
    let wes = first["participant_id"].as_str().unwrap();
    let e = error_for(&mut w, json!({"type": "e2ee_key", "to": wh["participant_id"], "blob": "AAAA"})).await;
    assert_eq!(e["code"], "not_admitted");
    let e = error_for(&mut h, json!({"type": "e2ee_key", "to": wes, "blob": "AAAA"})).await;
    assert_eq!(e["code"], "unknown_participant");
    app.stop().await;
}

async fn a_reloaded_page_brings_a_new_identity(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hana").await;
    let m = meeting_with(&app, &host, json!({"e2ee": true, "allow_guests": true})).await;
    let (mut h, _) = join_e2ee(&app, &m, Some(&host), "Hana", &key('H')).await;
    let (g, wg) = join_e2ee(&app, &m, None, "Gus", &key('G')).await;
    h.expect("participant_joined").await;
    drop(g);
    let id = m["meeting_id"].as_i64().unwrap();
    let token = wg["resume_token"].as_str().unwrap();
    // A malformed key is refused before the seat is taken over.
    let mut bad = Client::connect(&app, id, &format!("resume={token}&e2ee_identity=short")).await;
    let e = bad.next().await.unwrap();
    assert_eq!(e["code"], "invalid_e2ee_identity");
    let (_g2, welcome) =
        Client::connect_following(&app, id, &format!("resume={token}&e2ee_identity={}", key('N'))).await;
    assert_eq!(welcome["type"], "welcome");
    let updated = h.expect_where("participant_updated", |m| m["participant"]["e2ee_identity"] == key('N')).await;
    assert_eq!(updated["participant"]["participant_id"], wg["participant_id"]);
    app.stop().await;
}

async fn server_recording_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hana").await;
    let m = meeting_with(&app, &host, json!({"e2ee": true})).await;
    let (mut h, _) = join_e2ee(&app, &m, Some(&host), "Hana", &key('H')).await;
    let e = error_for(&mut h, json!({"type": "record", "recording": true})).await;
    assert_eq!((e["code"].as_str(), e["request"].as_str()), (Some("e2ee_no_server_recording"), Some("record")));
    let r =
        app.post(&format!("/api/v1/meetings/{}/recording/start", m["meeting_id"]), Some(&host.token), json!({})).await;
    r.expect_error(409, "e2ee_no_server_recording");
    // A recording on the host's device stays there: the server opens no upload for it.
    let up = app
        .post(
            &format!("/api/v1/meetings/{}/recording-uploads", m["meeting_id"]),
            Some(&host.token),
            json!({"content_type": "video/webm"}),
        )
        .await;
    up.expect_error(409, "e2ee_recording_stays_on_device");
    assert!(!app.data_dir.path().join("recording-uploads").exists(), "no upload was started");
    nothing_but_pong(&mut h).await;
    app.stop().await;
}

/// The pre-join screen's look says the meeting is end-to-end encrypted, before anyone joins.
async fn the_preview_says_it_is_end_to_end_encrypted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hana").await;
    for (settings, e2ee) in [(json!({"e2ee": true}), true), (json!({}), false)] {
        let m = meeting_with(&app, &host, settings).await;
        let r = app.post(&format!("/api/v1/meetings/{}/preview", m["meeting_id"]), Some(&host.token), json!({})).await;
        assert_eq!(r.expect(200)["e2ee"], e2ee);
    }
    app.stop().await;
}

backend_tests!(
    the_setting_is_stored_and_checked,
    the_server_policy_forces_or_forbids_it,
    a_client_without_the_capability_is_refused,
    key_blobs_go_to_the_addressed_participant_only,
    no_blobs_outside_e2ee_meetings_or_the_waiting_room,
    a_reloaded_page_brings_a_new_identity,
    server_recording_is_refused,
    the_preview_says_it_is_end_to_end_encrypted
);
