//! Polls in a live meeting as the people in it see them: a host asks, others vote and change
//! their vote, the host watches the counts (and who chose what, unless anonymous), ends the
//! poll and shares the results; a latecomer finds them in `welcome`; the record afterwards
//! follows the meeting's records rule. And every refusal: who may not, what is malformed.
mod common;

use std::time::Duration;

use common::ws::{meeting_with, Client};
use common::{Backend, TestApp};
use serde_json::{json, Value};

/// The next `poll_updated` for which `pred` holds.
async fn poll_where(c: &mut Client, pred: impl Fn(&Value) -> bool) -> Value {
    c.expect_where("poll_updated", |m| pred(&m["poll"])).await["poll"].clone()
}

async fn error(c: &mut Client, code: &str) -> Value {
    c.expect_where("error", |e| e["code"] == code).await
}

fn lunch(extra: Value) -> Value {
    let mut create =
        json!({"type": "poll_create", "question": "  Lunch today? ", "options": ["Pizza", "Sushi", "Salad"]});
    create.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    create
}

async fn a_poll_from_question_to_shared_results(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("pollhost").await;
    let pia = app.account("pia").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Hosta").await;
    let (mut p, _) = Client::join(&app, &m, Some(&pia), "Pia").await;
    let (mut g, _) = Client::join(&app, &m, None, "Gus Guest").await;

    h.send(lunch(json!({}))).await;
    let asked = poll_where(&mut h, |_| true).await;
    assert_eq!(asked["question"], "Lunch today?", "trimmed");
    assert_eq!(asked["options"], json!(["Pizza", "Sushi", "Salad"]));
    assert_eq!((asked["status"].as_str(), asked["multiple"].as_bool()), (Some("open"), Some(false)));
    assert_eq!(asked["results"]["counts"], json!([0, 0, 0]), "the host sees counts from the start");
    let poll_id = asked["poll_id"].as_str().unwrap().to_owned();
    let seen = poll_where(&mut p, |_| true).await;
    assert_eq!(seen["poll_id"], poll_id.as_str());
    assert!(seen["results"].is_null(), "participants do not see results before they are shared: {seen}");

    // Pia votes, then changes her mind; the guest votes too.
    p.send(json!({"type": "poll_vote", "poll_id": poll_id, "choices": [1]})).await;
    let mine = poll_where(&mut p, |q| q["my_choices"] == json!([1])).await;
    assert!(mine["results"].is_null(), "a voter still sees no counts: {mine}");
    let live = poll_where(&mut h, |q| q["results"]["voters"] == 1).await;
    assert_eq!(live["results"]["counts"], json!([0, 1, 0]));
    assert_eq!(live["results"]["ballots"], json!([{"display_name": "Pia", "user_id": pia.user_id, "choices": [1]}]));
    p.send(json!({"type": "poll_vote", "poll_id": poll_id, "choices": [0]})).await;
    let changed = poll_where(&mut h, |q| q["results"]["counts"] == json!([1, 0, 0])).await;
    assert_eq!(changed["results"]["voters"], 1, "a changed vote is still one voter");
    g.send(json!({"type": "poll_vote", "poll_id": poll_id, "choices": [0]})).await;
    let both = poll_where(&mut h, |q| q["results"]["voters"] == 2).await;
    assert_eq!(both["results"]["counts"], json!([2, 0, 0]));
    let names: Vec<&str> =
        both["results"]["ballots"].as_array().unwrap().iter().map(|b| b["display_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Gus Guest", "Pia"]);

    h.send(json!({"type": "poll_end", "poll_id": poll_id})).await;
    let ended = poll_where(&mut p, |q| q["status"] == "ended").await;
    assert!(ended["results"].is_null(), "ending alone shares nothing");
    assert_eq!(ended["my_choices"], json!([0]));
    h.send(json!({"type": "poll_share", "poll_id": poll_id})).await;
    for c in [&mut p, &mut g] {
        let shared = poll_where(c, |q| q["shared"] == true).await;
        assert_eq!(shared["results"]["counts"], json!([2, 0, 0]), "everyone sees the bars");
        assert!(shared["results"]["ballots"].is_null(), "but not who chose what: {shared}");
    }

    // A second poll, left open; a latecomer sees both in the welcome.
    h.send(lunch(json!({"question": "Coffee after?", "options": ["Yes", "No"], "multiple": true}))).await;
    let second = poll_where(&mut h, |q| q["question"] == "Coffee after?").await;
    let late = app.account("latecomer").await;
    let (_l, lw) = Client::join(&app, &m, Some(&late), "Late").await;
    let polls = lw["polls"].as_array().unwrap();
    assert_eq!(polls.len(), 2, "{lw}");
    assert_eq!((polls[0]["shared"].as_bool(), &polls[0]["results"]["counts"]), (Some(true), &json!([2, 0, 0])));
    assert_eq!((polls[1]["poll_id"].as_str(), polls[1]["status"].as_str()), (second["poll_id"].as_str(), Some("open")));
    assert!(polls[1]["results"].is_null());

    // After the meeting: attendees read the polls as the room showed them; the host sees ballots.
    h.send(json!({"type": "end_meeting"})).await;
    h.expect("meeting_ended").await;
    let as_pia = app.get(&format!("/api/v1/meetings/{id}/polls"), Some(&pia.token)).await;
    let list = as_pia.expect(200).as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["question"], "Lunch today?");
    assert_eq!(list[0]["results"]["counts"], json!([2, 0, 0]));
    assert!(list[0]["results"]["ballots"].is_null());
    assert!(list[1]["results"].is_null(), "an unshared poll stays unshared");
    let as_host = app.get(&format!("/api/v1/meetings/{id}/polls"), Some(&host.token)).await;
    let list = as_host.expect(200).as_array().unwrap().clone();
    assert_eq!(list[0]["results"]["ballots"].as_array().unwrap().len(), 2);
    assert_eq!(list[0]["status"], "ended");
    let outsider = app.account("outsider").await;
    app.get(&format!("/api/v1/meetings/{id}/polls"), Some(&outsider.token)).await.expect_error(403, "not_attended");
    app.get(&format!("/api/v1/meetings/{id}/polls"), None).await.expect_error(401, "missing_token");
    app.stop().await;
}

async fn anonymous_polls_show_counts_but_never_who(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("anonhost").await;
    let pia = app.account("anonpia").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Hosta").await;
    let (mut p, _) = Client::join(&app, &m, Some(&pia), "Pia").await;

    h.send(lunch(json!({"anonymous": true, "multiple": true}))).await;
    let poll_id = poll_where(&mut p, |_| true).await["poll_id"].as_str().unwrap().to_owned();
    p.send(json!({"type": "poll_vote", "poll_id": poll_id, "choices": [0, 2]})).await;
    let live = poll_where(&mut h, |q| q["results"]["voters"] == 1).await;
    assert_eq!(live["results"]["counts"], json!([1, 0, 1]));
    assert!(live["results"]["ballots"].is_null(), "not even the host sees who: {live}");
    assert_eq!(
        poll_where(&mut p, |q| !q["my_choices"].as_array().unwrap().is_empty()).await["my_choices"],
        json!([0, 2])
    );
    // She may still change it: the room remembers her choice while the meeting lasts.
    p.send(json!({"type": "poll_vote", "poll_id": poll_id, "choices": [1]})).await;
    let changed = poll_where(&mut h, |q| q["results"]["counts"] == json!([0, 1, 0])).await;
    assert_eq!(changed["results"]["voters"], 1);

    // After a restart the room no longer knows her choice; the store knows only that she
    // voted, so she cannot vote a second time.
    drop((h, p));
    let app = app.restart().await;
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Hosta").await;
    let (mut p, _) = Client::join(&app, &m, Some(&pia), "Pia").await;
    p.send(json!({"type": "poll_vote", "poll_id": poll_id, "choices": [2]})).await;
    let e = error(&mut p, "vote_counted").await;
    assert_eq!(e["request"], "poll_vote");
    h.send(json!({"type": "poll_end", "poll_id": poll_id})).await;
    h.send(json!({"type": "poll_share", "poll_id": poll_id})).await;
    let shared = poll_where(&mut p, |q| q["shared"] == true).await;
    assert_eq!(
        (shared["results"]["counts"].clone(), shared["results"]["voters"].clone()),
        (json!([0, 1, 0]), json!(1)),
        "nothing counted twice"
    );
    h.send(json!({"type": "end_meeting"})).await;
    h.expect("meeting_ended").await;
    let list = app.get(&format!("/api/v1/meetings/{id}/polls"), Some(&host.token)).await.expect(200).clone();
    assert_eq!(list[0]["anonymous"], true);
    assert_eq!(list[0]["results"]["counts"], json!([0, 1, 0]), "the counts are kept");
    assert!(list[0]["results"]["ballots"].is_null(), "who chose what was never stored: {list}");
    app.stop().await;
}

async fn refusals_say_why_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("strict").await;
    let pia = app.account("tries").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Hosta").await;
    let (mut p, _) = Client::join(&app, &m, Some(&pia), "Pia").await;

    // A participant may not run polls.
    p.send(lunch(json!({}))).await;
    let e = error(&mut p, "not_allowed").await;
    assert_eq!(e["request"], "poll_create");

    // Bad questions and options.
    let long = "x".repeat(301);
    let many: Vec<String> = (0..11).map(|i| format!("option {i}")).collect();
    for (bad, why) in [
        (json!({"question": "   "}), "question"),
        (json!({"question": long}), "question"),
        (json!({"options": ["Only one"]}), "options"),
        (json!({"options": many}), "options"),
        (json!({"options": ["Yes", " yes "]}), "different"),
        (json!({"options": ["Yes", ""]}), "characters"),
        (json!({"options": ["Yes", "y".repeat(101)]}), "characters"),
    ] {
        h.send(lunch(bad.clone())).await;
        let e = error(&mut h, "invalid_poll").await;
        assert!(e["message"].as_str().unwrap().contains(why), "{bad}: {e}");
        assert_eq!(e["request"], "poll_create");
    }
    h.send(json!({"type": "poll_create", "question": "No options"})).await;
    error(&mut h, "invalid_message").await;
    // The burst of poll messages is spent on refusals; let the bucket refill a little.
    tokio::time::sleep(Duration::from_millis(3200)).await;

    h.send(lunch(json!({}))).await;
    let poll_id = poll_where(&mut h, |_| true).await["poll_id"].as_str().unwrap().to_owned();
    let vote = |choices: Value| json!({"type": "poll_vote", "poll_id": poll_id, "choices": choices});
    p.send(vote(json!([0, 1]))).await;
    assert!(error(&mut p, "invalid_vote").await["message"].as_str().unwrap().contains("one choice"));
    p.send(vote(json!([3]))).await;
    error(&mut p, "invalid_vote").await;
    p.send(vote(json!([]))).await;
    error(&mut p, "invalid_vote").await;
    p.send(json!({"type": "poll_vote", "poll_id": "poll_nope", "choices": [0]})).await;
    assert_eq!(error(&mut p, "unknown_poll").await["request"], "poll_vote");
    p.send(json!({"type": "poll_end", "poll_id": poll_id})).await;
    assert_eq!(error(&mut p, "not_allowed").await["request"], "poll_end");
    p.send(json!({"type": "poll_share", "poll_id": poll_id})).await;
    assert_eq!(error(&mut p, "not_allowed").await["request"], "poll_share");
    h.send(json!({"type": "poll_share", "poll_id": poll_id})).await;
    error(&mut h, "poll_open").await;
    h.send(json!({"type": "poll_end", "poll_id": "poll_nope"})).await;
    error(&mut h, "unknown_poll").await;

    // None of that counted: the first valid vote is the only one.
    p.send(vote(json!([2]))).await;
    let counted = poll_where(&mut h, |q| q["results"]["voters"] == 1).await;
    assert_eq!(counted["results"]["counts"], json!([0, 0, 1]));

    h.send(json!({"type": "poll_end", "poll_id": poll_id})).await;
    poll_where(&mut p, |q| q["status"] == "ended").await;
    p.send(vote(json!([0]))).await;
    error(&mut p, "poll_ended").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    h.send(json!({"type": "poll_end", "poll_id": poll_id})).await;
    error(&mut h, "poll_ended").await;

    // Votes are rate-limited like chat: a burst, then `rate_limited` naming the request.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    for _ in 0..12 {
        p.send(vote(json!([0]))).await;
    }
    let limited = error(&mut p, "rate_limited").await;
    assert_eq!(limited["request"], "poll_vote");
    assert!(limited["retry_after_ms"].as_u64().unwrap() > 0);
    app.stop().await;
}

backend_tests!(
    a_poll_from_question_to_shared_results,
    anonymous_polls_show_counts_but_never_who,
    refusals_say_why_and_change_nothing
);
