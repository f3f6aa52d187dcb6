//! The pre-join look into a meeting (`POST /meetings/{id}/preview`): who may look (whoever
//! could join — passcode, or host), what they see, and bad input in the JSON error shape.
mod common;

use common::ws::{meeting_with, Client};
use common::{Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

fn path(m: &Value) -> String {
    format!("/api/v1/meetings/{}/preview", m["meeting_id"])
}

async fn only_with_the_passcode_or_as_host(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hana").await;
    let other = app.account("otto").await;
    let m = meeting_with(&app, &host, json!({"allow_guests": true})).await;
    let p = path(&m);

    // Denied: no passcode, a wrong one, a signed-in stranger without one; unknown IDs are 404.
    app.post(&p, None, json!({})).await.expect_error(403, "passcode_required");
    app.post(&p, None, json!({"passcode": "nope"})).await.expect_error(403, "wrong_passcode");
    app.post(&p, Some(&other.token), json!({})).await.expect_error(403, "passcode_required");
    app.post("/api/v1/meetings/99999999999/preview", None, json!({"passcode": "x"}))
        .await
        .expect_error(404, "meeting_not_found");
    app.post("/api/v1/meetings/not-an-id/preview", None, json!({})).await.expect_error(404, "meeting_not_found");

    // Allowed: the passcode, or the host without one. Nobody is there yet.
    let seen = app.post(&p, None, json!({"passcode": m["passcode"]})).await.expect(200).clone();
    assert_eq!(seen["title"], m["title"]);
    assert_eq!((seen["live"].clone(), seen["present_count"].clone()), (json!(false), json!(0)));
    assert_eq!(seen["host_name"], "hana");
    app.post(&p, Some(&host.token), json!({})).await.expect(200);

    // Someone joins: the look names them.
    let (_g, _) = Client::join(&app, &m, None, "Gus").await;
    let seen = app.post(&p, Some(&other.token), json!({"passcode": m["passcode"]})).await.expect(200).clone();
    assert_eq!(
        (seen["live"].clone(), seen["present_count"].clone(), seen["present"].clone()),
        (json!(true), json!(1), json!(["Gus"]))
    );

    // Bad input answers in the JSON error shape.
    let r =
        app.raw(app.client.post(format!("{}{p}", app.base)).header("content-type", "application/json").body("{")).await;
    r.expect_error(400, "malformed_json");
    app.post(&p, None, json!({"passcode": 1234})).await.expect_error(422, "invalid_body");
    let r = app.raw(app.client.post(format!("{}{p}", app.base)).body("passcode=1")).await;
    r.expect_error(415, "unsupported_media_type");
    app.request(Method::GET, &p, None, None).await.expect_error(405, "method_not_allowed");
    app.stop().await;
}

async fn same_refusals_as_joining(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.passcode_failures_per_ip = 3).await;
    let host = app.account("hana").await;
    // Members only: a guest with the passcode may not look either.
    let members = meeting_with(&app, &host, json!({"allow_guests": false})).await;
    let r = app.post(&path(&members), None, json!({"passcode": members["passcode"]})).await;
    r.expect_error(401, "guests_not_allowed");
    // A waiting room: the count, not the names, for those not let in yet.
    let lobby = meeting_with(&app, &host, json!({"allow_guests": true, "waiting_room": true})).await;
    let (_h, _) = Client::join(&app, &lobby, Some(&host), "Hana").await;
    let seen = app.post(&path(&lobby), None, json!({"passcode": lobby["passcode"]})).await.expect(200).clone();
    assert_eq!((seen["present_count"].clone(), seen["present"].clone()), (json!(1), json!([])));
    let seen = app.post(&path(&lobby), Some(&host.token), json!({})).await.expect(200).clone();
    assert_eq!(seen["present"], json!(["Hana"]), "the host sees names");
    // Cancelled: gone.
    let later = app.meeting(&host, json!({})).await;
    app.delete(&format!("/api/v1/meetings/{}", later["meeting_id"]), Some(&host.token), None).await;
    app.post(&path(&later), None, json!({"passcode": later["passcode"]})).await.expect_error(410, "meeting_cancelled");
    // Wrong passcodes count with joining's: after three, even the right one waits.
    for i in 0..3 {
        app.post(&path(&lobby), None, json!({"passcode": format!("guess{i}")}))
            .await
            .expect_error(403, "wrong_passcode");
    }
    app.post(&path(&lobby), None, json!({"passcode": lobby["passcode"]})).await.expect_error(429, "rate_limited");
    let join = format!("/api/v1/meetings/{}/join", lobby["meeting_id"]);
    app.post(&join, None, json!({"passcode": lobby["passcode"], "display_name": "Gus"}))
        .await
        .expect_error(429, "rate_limited");
    app.stop().await;
}

backend_tests!(only_with_the_passcode_or_as_host, same_refusals_as_joining);
