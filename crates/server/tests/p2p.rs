//! Peer-to-peer for two, as the server runs it: who is paired and when (two capable
//! participants, after the settle time; a third person, a host's mute or a failed pair move
//! them to the SFU, and so does a recording while it runs; leaving makes two again), the relay of offer, answer and candidates
//! between the pair only, and the refusals of everything else.
mod common;

use std::time::{Duration, Instant};

use common::ws::{meeting_with, Client};
use common::{Backend, TestApp};
use serde_json::{json, Value};

fn pid(v: &Value) -> String {
    v["participant_id"].as_str().unwrap().to_owned()
}

/// Asserts that nothing but a pong arrives for `c` (nothing was relayed to it).
async fn nothing_more(c: &mut Client) {
    c.send(json!({"type": "ping", "id": 7})).await;
    let next = c.next().await.unwrap();
    assert_eq!(next["type"], "pong", "nothing should have arrived: {next}");
}

/// Asserts that no `p2p_mode` arrives for `c` within `wait`.
async fn no_mode_within(c: &mut Client, wait: Duration) {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        c.send(json!({"type": "ping", "id": 1})).await;
        loop {
            let m = c.next().await.unwrap();
            assert_ne!(m["type"], "p2p_mode", "no pairing expected: {m}");
            if m["type"] == "pong" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Two participants who announced the capability: returns them (host first) and the host's
/// `p2p_mode` once they are paired.
async fn pair(app: &TestApp, settings: Value) -> (Client, Client, Value, Value, Value) {
    let host = app.account("ada").await;
    let m = meeting_with(app, &host, settings).await;
    let (mut a, wa) = Client::join(app, &m, Some(&host), "Ada").await;
    let (mut b, wb) = Client::join(app, &m, None, "Bo").await;
    a.send(json!({"type": "p2p_capable"})).await;
    b.send(json!({"type": "p2p_capable"})).await;
    (a, b, wa, wb, m)
}

async fn two_are_paired_and_relay_between_themselves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let started = Instant::now();
    let (mut a, mut b, wa, wb, _) = pair(&app, json!({})).await;
    let ma = a.expect("p2p_mode").await;
    let mb = b.expect("p2p_mode").await;
    assert!(started.elapsed() >= Duration::from_secs(2), "paired only after the settle time");
    assert_eq!(ma["mode"], "p2p");
    assert_eq!(ma["peer"], pid(&wb).as_str());
    assert_eq!(ma["offerer"], true, "the first to arrive offers");
    assert_eq!(mb["peer"], pid(&wa).as_str());
    assert_eq!(mb["offerer"], false);
    assert_eq!(ma["session"], mb["session"]);
    let session = ma["session"].as_u64().unwrap();

    // Offer, answer and candidates go to the other member, named as `from`.
    a.send(json!({"type": "p2p_offer", "to": pid(&wb), "session": session, "sdp": "v=0 offer"})).await;
    let offer = b.expect("p2p_offer").await;
    assert_eq!((offer["from"].as_str(), offer["sdp"].as_str()), (Some(pid(&wa).as_str()), Some("v=0 offer")));
    b.send(json!({"type": "p2p_answer", "to": pid(&wa), "session": session, "sdp": "v=0 answer"})).await;
    assert_eq!(a.expect("p2p_answer").await["sdp"], "v=0 answer");
    let cand = json!({"candidate": "candidate:1 1 udp 2122260223 192.0.2.10 54321 typ host", "sdpMid": "0", "sdpMLineIndex": 0});
    b.send(json!({"type": "p2p_candidate", "to": pid(&wa), "session": session, "candidate": cand})).await;
    let got = a.expect("p2p_candidate").await;
    assert_eq!(got["candidate"]["candidate"], cand["candidate"]);
    assert_eq!(got["from"], pid(&wb).as_str());
    b.send(json!({"type": "p2p_candidate", "to": pid(&wa), "session": session, "candidate": null})).await;
    assert!(a.expect("p2p_candidate").await["candidate"].is_null(), "end of candidates is relayed too");

    // To someone else, or in another session: refused, nothing relayed.
    a.send(json!({"type": "p2p_offer", "to": "p_nobody", "session": session, "sdp": "x"})).await;
    let err = a.expect("error").await;
    assert_eq!((err["code"].as_str(), err["request"].as_str()), (Some("not_paired"), Some("p2p_offer")));
    a.send(json!({"type": "p2p_answer", "to": pid(&wb), "session": session + 5, "sdp": "x"})).await;
    assert_eq!(a.expect("error").await["code"], "stale_session");
    a.send(json!({"type": "p2p_offer", "to": pid(&wa), "session": session, "sdp": "x"})).await;
    assert_eq!(a.expect("error").await["code"], "not_paired", "not to oneself");
    // Bad fields are refused like any other message.
    a.send(json!({"type": "p2p_offer", "to": pid(&wb), "session": "one", "sdp": "x"})).await;
    assert_eq!(a.expect("error").await["code"], "invalid_message");
    nothing_more(&mut b).await;

    // The pair reports media flowing: the server's counters know a pair is live.
    a.send(json!({"type": "p2p_status", "session": session, "connected": true})).await;
    nothing_more(&mut a).await;
    let r = app.get("/metrics", Some(common::METRICS_TOKEN)).await;
    let metrics = String::from_utf8_lossy(&r.bytes).into_owned();
    assert!(metrics.lines().any(|l| l.starts_with("p2p_pairs ") && l.ends_with(" 1")), "one live pair: {metrics}");
    app.stop().await;
}

async fn a_third_person_moves_the_pair_to_the_sfu_and_cannot_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut a, mut b, wa, wb, m) = pair(&app, json!({})).await;
    let session = a.expect("p2p_mode").await["session"].as_u64().unwrap();
    b.expect("p2p_mode").await;

    let (mut c, wc) = Client::join(&app, &m, None, "Cy").await;
    c.send(json!({"type": "p2p_capable"})).await;
    for x in [&mut a, &mut b] {
        let sfu = x.expect("p2p_mode").await;
        assert_eq!((sfu["mode"].as_str(), sfu["reason"].as_str()), (Some("sfu"), Some("participants")), "{sfu}");
        assert_eq!(sfu["session"], session);
    }
    // A P2P answer from a third party is refused, and reaches no one.
    c.send(json!({"type": "p2p_answer", "to": pid(&wa), "session": session, "sdp": "v=0 sneaky"})).await;
    let err = c.expect("error").await;
    assert_eq!((err["code"].as_str(), err["request"].as_str()), (Some("not_paired"), Some("p2p_answer")));
    c.send(json!({"type": "p2p_candidate", "to": pid(&wb), "session": session, "candidate": null})).await;
    assert_eq!(c.expect("error").await["code"], "not_paired");
    // The former pair cannot go on signaling either.
    a.send(json!({"type": "p2p_offer", "to": pid(&wb), "session": session, "sdp": "v=0"})).await;
    assert_eq!(a.expect("error").await["code"], "not_paired");
    nothing_more(&mut a).await;
    nothing_more(&mut b).await;

    // The third leaves: two again, paired anew after the settle time (hysteresis).
    c.send(json!({"type": "leave"})).await;
    let left = Instant::now();
    let again = a.expect("p2p_mode").await;
    assert!(left.elapsed() >= Duration::from_millis(1900), "back to P2P only after the settle time");
    assert_eq!(again["mode"], "p2p");
    assert!(again["session"].as_u64().unwrap() > session, "a new session");
    assert_eq!(b.expect("p2p_mode").await["session"], again["session"]);
    let _ = wc;
    app.stop().await;
}

async fn a_failed_pair_and_host_enforcement_use_the_sfu(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut a, mut b, _wa, wb, _) = pair(&app, json!({})).await;
    let session = a.expect("p2p_mode").await["session"].as_u64().unwrap();
    b.expect("p2p_mode").await;

    // The host mutes Bo: the SFU enforces it, so the meeting leaves P2P while it lasts.
    a.send(json!({"type": "mute", "participant_id": pid(&wb)})).await;
    for x in [&mut a, &mut b] {
        assert_eq!(x.expect("p2p_mode").await["reason"], "host_enforcement");
    }
    // Bo unmutes: paired again, and this time the pair cannot connect directly.
    b.send(json!({"type": "set_state", "muted": false})).await;
    let again = a.expect_where("p2p_mode", |m| m["mode"] == "p2p").await;
    let session2 = again["session"].as_u64().unwrap();
    assert!(session2 > session);
    b.expect_where("p2p_mode", |m| m["mode"] == "p2p").await;
    // Only a member may report on the pair.
    b.send(json!({"type": "p2p_status", "session": session, "connected": false})).await;
    assert_eq!(b.expect("error").await["code"], "stale_session");
    b.send(json!({"type": "p2p_status", "session": session2, "connected": false})).await;
    for x in [&mut a, &mut b] {
        let sfu = x.expect("p2p_mode").await;
        assert_eq!((sfu["mode"].as_str(), sfu["reason"].as_str()), (Some("sfu"), Some("failed")));
    }
    // A failed pair stays on the SFU.
    no_mode_within(&mut a, Duration::from_secs(3)).await;
    app.stop().await;
}

async fn a_recording_moves_the_pair_to_the_sfu_while_it_runs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("rhea").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut a, _wa) = Client::join(&app, &m, Some(&host), "Rhea").await;
    let (mut b, _wb) = Client::join(&app, &m, None, "Bo").await;
    a.send(json!({"type": "p2p_capable"})).await;
    b.send(json!({"type": "p2p_capable"})).await;
    let session = a.expect("p2p_mode").await["session"].as_u64().unwrap();
    b.expect("p2p_mode").await;

    // The host records: the recorder takes its media from the SFU, so the pair goes there.
    let started = app.post(&format!("/api/v1/meetings/{id}/recording/start"), Some(&host.token), json!({})).await;
    assert_eq!(started.status, 200, "{}", started.body);
    for x in [&mut a, &mut b] {
        let sfu = x.expect("p2p_mode").await;
        assert_eq!((sfu["mode"].as_str(), sfu["reason"].as_str()), (Some("sfu"), Some("recording")), "{sfu}");
        assert_eq!(sfu["session"], session);
    }
    // It stays there while the recording runs.
    no_mode_within(&mut a, Duration::from_secs(3)).await;
    // Stopped: direct again after the settle time, in a new session.
    let stopped = app.post(&format!("/api/v1/meetings/{id}/recording/stop"), Some(&host.token), json!({})).await;
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let again = a.expect_where("p2p_mode", |m| m["mode"] == "p2p").await;
    assert!(again["session"].as_u64().unwrap() > session);
    app.stop().await;
}

async fn nobody_is_paired_when_the_setting_is_off_or_a_client_cannot(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut a, _b, _, _, _) = pair(&app, json!({"peer_to_peer": false})).await;
    no_mode_within(&mut a, Duration::from_secs(3)).await;

    let host = app.account("cal").await;
    let m = meeting_with(&app, &host, json!({})).await;
    assert_eq!(m["settings"]["peer_to_peer"], true, "on by default");
    let (mut c, _) = Client::join(&app, &m, Some(&host), "Cal").await;
    let (_d, _) = Client::join(&app, &m, None, "Di").await;
    c.send(json!({"type": "p2p_capable"})).await; // Di's client never says it can
    no_mode_within(&mut c, Duration::from_secs(3)).await;
    app.stop().await;
}

async fn the_server_default_turns_it_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.peer_to_peer = false).await;
    let host = app.account("eve").await;
    let m = meeting_with(&app, &host, json!({})).await;
    assert_eq!(m["settings"]["peer_to_peer"], false, "new meetings take the server's default");
    let m2 = meeting_with(&app, &host, json!({"peer_to_peer": true})).await;
    assert_eq!(m2["settings"]["peer_to_peer"], true, "a meeting may still turn it on");
    app.stop().await;
}

backend_tests!(
    two_are_paired_and_relay_between_themselves,
    a_third_person_moves_the_pair_to_the_sfu_and_cannot_answer,
    a_failed_pair_and_host_enforcement_use_the_sfu,
    a_recording_moves_the_pair_to_the_sfu_while_it_runs,
    nobody_is_paired_when_the_setting_is_off_or_a_client_cannot,
    the_server_default_turns_it_off,
);
