//! Meeting life over the WebSocket, as participants experience it: the waiting room, every
//! host control (and its refusal for non-hosts), removal, lock, capacity, host hand-over,
//! chat (public, private, history), reactions and ending the meeting for all.
mod common;

use common::ws::{meeting_with, Client};
use common::{Backend, TestApp};
use serde_json::{json, Value};

fn pid(v: &Value) -> String {
    v["participant_id"].as_str().unwrap().to_owned()
}

/// Sends `msg` as `who` and expects a `not_allowed` error; `observer` must see nothing.
async fn refused(who: &mut Client, observer: &mut Client, msg: Value) {
    let kind = msg["type"].as_str().unwrap().to_owned();
    who.send(msg).await;
    let err = who.expect("error").await;
    assert_eq!(err["code"], "not_allowed", "{kind}: {err}");
    assert_eq!(err["request"], kind.as_str());
    observer.send(json!({"type": "ping", "id": 99})).await;
    let next = observer.next().await.unwrap();
    assert_eq!(next["type"], "pong", "{kind} by a participant changed something: {next}");
}

async fn waiting_room_admit_and_deny(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("wanda").await;
    let m = meeting_with(&app, &host, json!({"waiting_room": true})).await;
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Wanda").await;

    let (mut g, first) =
        Client::join_body(&app, &m, None, json!({"passcode": m["passcode"], "display_name": "Gil"})).await;
    assert_eq!(first["type"], "waiting", "guests wait: {first}");
    let list = h.expect_where("waiting_room", |m| !m["waiting"].as_array().unwrap().is_empty()).await;
    assert_eq!(list["waiting"][0]["display_name"], "Gil");
    // Waiting people cannot act in the meeting.
    g.send(json!({"type": "chat_send", "text": "let me in"})).await;
    assert_eq!(g.expect("error").await["code"], "not_admitted");

    h.send(json!({"type": "admit", "participant_id": pid(&first)})).await;
    let welcome = g.expect("welcome").await;
    assert_eq!(welcome["participant_id"], first["participant_id"]);
    assert_eq!(welcome["participants"].as_array().unwrap().len(), 2);
    assert_eq!(h.expect("participant_joined").await["participant"]["display_name"], "Gil");

    // A participant cannot admit; the host can deny.
    let (mut d, dfirst) =
        Client::join_body(&app, &m, None, json!({"passcode": m["passcode"], "display_name": "Dan"})).await;
    assert_eq!(dfirst["type"], "waiting");
    h.expect_where("waiting_room", |m| m["waiting"][0]["display_name"] == "Dan").await;
    g.send(json!({"type": "admit", "participant_id": pid(&dfirst)})).await;
    assert_eq!(g.expect("error").await["code"], "not_allowed");
    h.send(json!({"type": "deny", "participant_id": pid(&dfirst)})).await;
    assert_eq!(d.expect("error").await["code"], "denied");
    assert_eq!(d.close_code().await, Some(4403));
    h.expect_where("waiting_room", |m| m["waiting"].as_array().unwrap().is_empty()).await;
    app.stop().await;
}

async fn host_controls_work_for_hosts_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hank").await;
    let pat = app.account("pat").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Hank").await;
    let (mut p, pw) = Client::join(&app, &m, Some(&pat), "Pat").await;
    let (mut g, gw) = Client::join(&app, &m, None, "Gwen").await;
    h.expect("participant_joined").await;
    h.expect("participant_joined").await;
    p.expect("participant_joined").await;
    let (p_id, g_id) = (pid(&pw), pid(&gw));

    // Refused for a participant, each with nothing changing for others.
    for msg in [
        json!({"type": "mute", "participant_id": g_id}),
        json!({"type": "mute_all"}),
        json!({"type": "ask_unmute", "participant_id": g_id}),
        json!({"type": "stop_video", "participant_id": g_id}),
        json!({"type": "lower_hand"}),
        json!({"type": "remove", "participant_id": g_id}),
        json!({"type": "lock", "locked": true}),
        json!({"type": "set_role", "participant_id": g_id, "role": "cohost"}),
        json!({"type": "transfer_host", "participant_id": p_id}),
        json!({"type": "end_meeting"}),
    ] {
        refused(&mut p, &mut h, msg).await;
    }

    // Mute: the target is muted and told.
    h.send(json!({"type": "mute", "participant_id": g_id})).await;
    let upd = g.expect("participant_updated").await;
    assert_eq!(
        (upd["participant"]["participant_id"].as_str(), upd["participant"]["muted"].as_bool()),
        (Some(g_id.as_str()), Some(true))
    );
    let act = g.expect_action("muted").await;
    assert_eq!(act["target"], g_id.as_str());

    // Ask to unmute reaches only the target.
    h.send(json!({"type": "ask_unmute", "participant_id": g_id})).await;
    g.expect_action("asked_to_unmute").await;

    // Stop video and lower hand.
    p.send(json!({"type": "set_state", "camera_on": true, "hand_raised": true})).await;
    h.expect_where("participant_updated", |m| {
        m["participant"]["participant_id"] == p_id.as_str()
            && m["participant"]["camera_on"] == true
            && m["participant"]["hand_raised"] == true
    })
    .await;
    h.send(json!({"type": "stop_video", "participant_id": p_id})).await;
    p.expect_action("video_stopped").await;
    h.send(json!({"type": "lower_hand", "participant_id": p_id})).await;
    p.expect_action("hand_lowered").await;
    let people = || app.state.live.participants(m["meeting_id"].as_i64().unwrap()).unwrap();
    let me = people().into_iter().find(|x| x.participant_id == p_id).unwrap();
    assert!(!me.camera_on && !me.hand_raised, "{me:?}");

    // Mute all leaves the host alone.
    h.send(json!({"type": "mute_all"})).await;
    p.expect_action("muted_all").await;
    assert!(people().iter().all(|x| x.muted || x.role == convene_protocol::Role::Host));

    // Promote to co-host: now Pat may mute.
    h.send(json!({"type": "set_role", "participant_id": p_id, "role": "cohost"})).await;
    p.expect_action("promoted").await;
    p.send(json!({"type": "stop_video", "participant_id": g_id})).await;
    g.expect_action("video_stopped").await;
    // Guests cannot be co-hosts; co-hosts cannot end the meeting.
    h.send(json!({"type": "set_role", "participant_id": g_id, "role": "cohost"})).await;
    assert_eq!(h.expect("error").await["code"], "invalid_message");
    p.send(json!({"type": "end_meeting"})).await;
    assert_eq!(p.expect("error").await["code"], "not_allowed");

    // Lock: nobody new gets a ticket.
    h.send(json!({"type": "lock", "locked": true})).await;
    assert_eq!(g.expect("meeting_updated").await["locked"], true);
    let id = m["meeting_id"].as_i64().unwrap();
    let r = app
        .post(&format!("/api/v1/meetings/{id}/join"), None, json!({"passcode": m["passcode"], "display_name": "Late"}))
        .await;
    r.expect_error(403, "meeting_locked");

    // Transfer host: Pat becomes host, Hank co-host.
    h.send(json!({"type": "transfer_host", "participant_id": p_id})).await;
    let act = g.expect_action("made_host").await;
    assert_eq!(act["target"], p_id.as_str());
    assert_eq!(people().iter().find(|x| x.participant_id == p_id).unwrap().role, convene_protocol::Role::Host);
    assert_eq!(people()[0].role, convene_protocol::Role::Cohost);

    // End for all (the new host may).
    p.send(json!({"type": "end_meeting"})).await;
    for c in [&mut h, &mut g] {
        assert_eq!(c.expect("meeting_ended").await["reason"], "ended_by_host");
        assert_eq!(c.close_code().await, Some(4000));
    }
    let meeting = app.get(&format!("/api/v1/meetings/{id}"), Some(&host.token)).await;
    assert_eq!(meeting.body["status"], "ended");
    let past = app.get("/api/v1/meetings?scope=past", Some(&host.token)).await;
    assert!(past.body["items"].as_array().unwrap().iter().any(|i| i["meeting_id"] == id));
    let rows = app.get(&format!("/api/v1/meetings/{id}/attendance"), Some(&host.token)).await;
    let rows = rows.expect(200).as_array().unwrap().clone();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| !r["left_at"].is_null()));
    app.stop().await;
}

async fn removed_people_cannot_rejoin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("rhea").await;
    let ron = app.account("ron").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Rhea").await;
    let (mut r, rw) = Client::join(&app, &m, Some(&ron), "Ron").await;
    let guest_body = json!({"passcode": m["passcode"], "display_name": "Gabe", "client_id": "device-123"});
    let (mut g, gw) = Client::join_body(&app, &m, None, guest_body.clone()).await;

    for (c, w) in [(&mut r, &rw), (&mut g, &gw)] {
        h.send(json!({"type": "remove", "participant_id": pid(w)})).await;
        assert_eq!(c.expect("error").await["code"], "removed");
        assert_eq!(c.close_code().await, Some(4403));
        let left = h.expect("participant_left").await;
        assert_eq!(
            (left["participant_id"].as_str(), left["reason"].as_str()),
            (Some(pid(w).as_str()), Some("removed"))
        );
    }
    let again =
        app.post(&format!("/api/v1/meetings/{id}/join"), Some(&ron.token), json!({"passcode": m["passcode"]})).await;
    again.expect_error(403, "removed");
    app.post(&format!("/api/v1/meetings/{id}/join"), None, guest_body).await.expect_error(403, "removed");
    // Their resume tokens are dead too.
    let mut back = Client::connect(&app, id, &format!("resume={}", rw["resume_token"].as_str().unwrap())).await;
    assert_eq!(back.expect("error").await["code"], "resume_expired");
    // The host cannot be removed.
    h.send(json!({"type": "remove", "participant_id": "p_nobody"})).await;
    assert_eq!(h.expect("error").await["code"], "unknown_participant");
    app.stop().await;
}

async fn capacity_and_join_before_host(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("cara").await;
    let m = app
        .meeting(&host, json!({"start_time": null, "settings": {"max_participants": 2, "mute_on_entry": true}}))
        .await;
    let id = m["meeting_id"].as_i64().unwrap();
    let join = |name: &str| json!({"passcode": m["passcode"], "display_name": name});
    app.post(&format!("/api/v1/meetings/{id}/join"), None, join("Early"))
        .await
        .expect_error(409, "meeting_not_started");
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Cara").await;
    let (_g, gw) = Client::join(&app, &m, None, "First").await;
    let me = gw["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["participant_id"] == gw["participant_id"])
        .unwrap()
        .clone();
    assert_eq!(me["muted"], true, "mute on entry");
    h.expect("participant_joined").await;
    app.post(&format!("/api/v1/meetings/{id}/join"), None, join("Third")).await.expect_error(403, "meeting_full");
    app.stop().await;
}

/// A co-host of a full meeting gets in through the HTTP join and the room alike: the host and
/// co-hosts run the meeting, so capacity never keeps them out. Others are refused at both doors.
async fn cohost_enters_a_full_meeting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hana").await;
    let co = app.account("colm").await;
    let m = app
        .meeting(&host, json!({"start_time": null, "co_hosts": [co.user_id], "settings": {"max_participants": 2}}))
        .await;
    let id = m["meeting_id"].as_i64().unwrap();
    let join = |name: &str| json!({"passcode": m["passcode"], "display_name": name});
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Hana").await;
    // A ticket taken while there was room: the room refuses it once the meeting is full.
    let late = app.post(&format!("/api/v1/meetings/{id}/join"), None, join("Late")).await;
    let late = late.expect(200)["ticket"].as_str().unwrap().to_owned();
    let (_g, _) = Client::join(&app, &m, None, "Gwen").await;
    h.expect("participant_joined").await;
    app.post(&format!("/api/v1/meetings/{id}/join"), None, join("Third")).await.expect_error(403, "meeting_full");
    let (_l, first) = Client::connect_following(&app, id, &format!("ticket={late}")).await;
    assert_eq!((first["type"].as_str(), first["code"].as_str()), (Some("error"), Some("meeting_full")), "{first}");

    let (_c, cw) = Client::join(&app, &m, Some(&co), "Colm").await;
    assert_eq!(cw["role"], "cohost");
    assert_eq!(cw["participants"].as_array().unwrap().len(), 3, "host, guest and co-host");
    assert_eq!(h.expect("participant_joined").await["participant"]["display_name"], "Colm");
    app.stop().await;
}

async fn host_leaving_passes_the_meeting_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hugo").await;
    let co = app.account("cleo").await;
    let m = app
        .meeting(&host, json!({"start_time": null, "co_hosts": [co.user_id], "settings": {"join_before_host": true}}))
        .await;
    let (mut g, _) = Client::join(&app, &m, None, "Gina").await;
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Hugo").await;
    let (_c, cw) = Client::join(&app, &m, Some(&co), "Cleo").await;
    assert_eq!(cw["role"], "cohost");
    g.expect("participant_joined").await;
    g.expect("participant_joined").await;
    h.send(json!({"type": "leave"})).await;
    assert_eq!(h.close_code().await, Some(1000));
    let act = g.expect_action("made_host").await;
    assert_eq!(act["target"], pid(&cw).as_str(), "the co-host, not the longest present");

    // Without a co-host: the longest present takes over.
    let m2 = meeting_with(&app, &host, json!({})).await;
    let (mut a, aw) = Client::join(&app, &m2, None, "Ann").await;
    let (mut h2, _) = Client::join(&app, &m2, Some(&host), "Hugo").await;
    let (_b, _) = Client::join(&app, &m2, None, "Bob").await;
    a.expect("participant_joined").await;
    h2.send(json!({"type": "leave"})).await;
    let act = a.expect_action("made_host").await;
    assert_eq!(act["target"], pid(&aw).as_str());
    app.stop().await;
}

async fn chat_public_private_history_and_reactions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("chet").await;
    let pam = app.account("pam").await;
    let outsider = app.account("otto").await;
    let m = app
        .meeting(
            &host,
            json!({"start_time": null, "invitees": [outsider.email], "settings": {"join_before_host": true}}),
        )
        .await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Chet").await;
    let (mut p, pw) = Client::join(&app, &m, Some(&pam), "Pam").await;
    let (mut g, gw) = Client::join(&app, &m, None, "Gus").await;
    h.expect("participant_joined").await;
    h.expect("participant_joined").await;
    p.expect("participant_joined").await;

    h.send(json!({"type": "chat_send", "text": "Hello all, see https://example.com"})).await;
    for c in [&mut h, &mut p, &mut g] {
        let msg = c.expect("chat_message").await;
        assert_eq!(msg["message"]["text"], "Hello all, see https://example.com");
        assert!(msg["message"]["to"].is_null());
    }
    p.send(json!({"type": "chat_send", "text": "psst, Gus", "to": pid(&gw)})).await;
    assert_eq!(g.expect("chat_message").await["message"]["text"], "psst, Gus");
    assert_eq!(p.expect("chat_message").await["message"]["to"], pid(&gw).as_str(), "the sender sees their copy");
    h.send(json!({"type": "ping", "id": 5})).await;
    assert_eq!(h.next().await.unwrap()["type"], "pong", "the host does not get the private message");

    // Bad chat: empty, too long, to nobody, to self.
    for (msg, code) in [
        (json!({"type": "chat_send", "text": "   "}), "invalid_message"),
        (json!({"type": "chat_send", "text": "x".repeat(4001)}), "invalid_message"),
        (json!({"type": "chat_send", "text": "hi", "to": "p_ghost"}), "unknown_participant"),
        (json!({"type": "chat_send", "text": "hi", "to": pid(&pw)}), "invalid_message"),
    ] {
        p.send(msg).await;
        assert_eq!(p.expect("error").await["code"], code);
    }

    // Reactions float to everyone; unknown emoji are refused.
    g.send(json!({"type": "react", "emoji": "🎉"})).await;
    let r = h.expect("reaction").await;
    assert_eq!((r["emoji"].as_str(), r["participant_id"].as_str()), (Some("🎉"), Some(pid(&gw).as_str())));
    g.send(json!({"type": "react", "emoji": "💩"})).await;
    assert_eq!(g.expect("error").await["code"], "invalid_message");

    // A newcomer gets the public history, not others' private messages.
    let (_n, nw) = Client::join(&app, &m, None, "Nia").await;
    let texts: Vec<_> = nw["chat"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap().to_owned()).collect();
    assert_eq!(texts, vec!["Hello all, see https://example.com".to_owned()]);
    // Gus (a guest) rejoining sees his private message in his welcome when resuming.
    drop(g);
    let mut g2 = Client::connect(&app, id, &format!("resume={}", gw["resume_token"].as_str().unwrap())).await;
    let w2 = g2.expect("welcome").await;
    assert_eq!(w2["chat"].as_array().unwrap().len(), 2);

    // History over HTTP: attendees only, private to its parties.
    let hist = app.get(&format!("/api/v1/meetings/{id}/chat"), Some(&host.token)).await;
    assert_eq!(hist.expect(200)["total"], 1, "the host does not see Pam's private message");
    let hist = app.get(&format!("/api/v1/meetings/{id}/chat?page_size=1"), Some(&pam.token)).await;
    assert_eq!(hist.expect(200)["total"], 2);
    assert_eq!(hist.body["items"].as_array().unwrap().len(), 1);
    let page2 = app.get(&format!("/api/v1/meetings/{id}/chat?page_size=1&page=2"), Some(&pam.token)).await;
    assert_eq!(page2.body["items"][0]["private"], true);
    app.get(&format!("/api/v1/meetings/{id}/chat"), Some(&outsider.token)).await.expect_error(403, "not_attended");
    app.get(&format!("/api/v1/meetings/{id}/chat"), None).await.expect_error(401, "missing_token");
    app.stop().await;
}

async fn files_are_shared_in_chat_and_guarded(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_upload_bytes = 1024 * 1024).await;
    let host = app.account("fay").await;
    let stranger = app.account("stan").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, hw) = Client::join(&app, &m, Some(&host), "Fay").await;
    let (mut g, gw) = Client::join(&app, &m, None, "Gil").await;
    let (mut o, ow) = Client::join(&app, &m, None, "Ola").await;
    let seat = |w: &Value| w["resume_token"].as_str().unwrap().to_owned();
    let url = |q: &str| format!("{}/api/v1/meetings/{id}/files?{q}", app.base);
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n".to_vec();

    // Upload by a guest: announced in everyone's chat.
    let up = app
        .raw(app.client.post(url("name=notes/../agenda.pdf")).header("x-convene-seat", seat(&gw)).body(pdf.clone()))
        .await;
    let file = up.expect(201)["file"].clone();
    assert_eq!(file["name"], "agenda.pdf", "paths are stripped");
    assert_eq!(file["content_type"], "application/pdf", "type from the content");
    for c in [&mut h, &mut g, &mut o] {
        let msg = c.expect("chat_message").await;
        assert_eq!(msg["message"]["file"]["file_id"], file["file_id"]);
    }
    let file_url = format!("{}{}", app.base, file["url"].as_str().unwrap());
    let got = app.raw(app.client.get(&file_url).header("x-convene-seat", seat(&ow))).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.bytes, pdf, "the same bytes come back");
    assert!(got.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(got.headers["x-content-type-options"], "nosniff");
    // Served inert whatever it is: never rendered as a page of this origin.
    assert_eq!(got.headers["content-type"], "application/octet-stream");
    assert!(got.headers["content-security-policy"].to_str().unwrap().starts_with("sandbox"));

    // Refusals: no seat, a stranger, too big, a program, empty.
    app.raw(app.client.post(url("name=a.txt")).body("hi")).await.expect_error(401, "missing_seat");
    app.raw(app.client.post(url("name=a.txt")).header("x-convene-seat", "nope").body("hi"))
        .await
        .expect_error(401, "invalid_seat");
    app.raw(app.client.get(&file_url)).await.expect_error(401, "missing_token");
    app.raw(app.client.get(&file_url).bearer_auth(&stranger.token)).await.expect_error(403, "not_attended");
    let big = vec![b'a'; 1024 * 1024 + 10];
    // A modest excess is read and dropped, so the sender sees the answer, not a broken pipe.
    app.raw(app.client.post(url("name=big.txt")).header("x-convene-seat", seat(&gw)).body(big))
        .await
        .expect_error(413, "payload_too_large");
    let mut elf = b"\x7fELF\x02\x01\x01\x00".to_vec();
    elf.extend(vec![0u8; 64]);
    app.raw(app.client.post(url("name=tool")).header("x-convene-seat", seat(&gw)).body(elf))
        .await
        .expect_error(415, "file_type_refused");
    app.raw(app.client.post(url("name=empty.txt")).header("x-convene-seat", seat(&gw)).body(""))
        .await
        .expect_error(422, "empty_file");

    // A private file reaches only its recipient.
    let private = app
        .raw(
            app.client
                .post(url(&format!("name=secret.txt&to={}", pid(&ow))))
                .header("x-convene-seat", seat(&gw))
                .body("for Ola only"),
        )
        .await;
    let secret = private.expect(201)["file"].clone();
    assert_eq!(o.expect("chat_message").await["message"]["file"]["name"], "secret.txt");
    let secret_url = format!("{}{}", app.base, secret["url"].as_str().unwrap());
    assert_eq!(app.raw(app.client.get(&secret_url).header("x-convene-seat", seat(&ow))).await.bytes, b"for Ola only");
    app.raw(app.client.get(&secret_url).header("x-convene-seat", seat(&hw))).await.expect_error(403, "private_file");

    // After the meeting, the host (who attended) can still fetch the public file.
    h.send(json!({"type": "end_meeting"})).await;
    h.expect("meeting_ended").await;
    let after = app.raw(app.client.get(&file_url).bearer_auth(&host.token)).await;
    assert_eq!(after.status, 200);
    app.stop().await;
}

backend_tests!(
    files_are_shared_in_chat_and_guarded,
    waiting_room_admit_and_deny,
    host_controls_work_for_hosts_only,
    removed_people_cannot_rejoin,
    capacity_and_join_before_host,
    cohost_enters_a_full_meeting,
    host_leaving_passes_the_meeting_on,
    chat_public_private_history_and_reactions,
);
