//! Live access ends with the account, and the meeting socket has flood limits (issue 16):
//! disabling, deleting or re-passwording an account closes its sockets (4003) and voids its
//! earlier tickets and seats, on every node of a cluster; a participant over the message rates
//! gets `rate_limited`, one who keeps on is disconnected (4429); one address holds a limited
//! number of sockets.
mod common;

use std::time::{Duration, Instant};

use common::ws::{meeting_with, Client};
use common::{cluster, Account, Backend, TestApp, PASSWORD};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Reads a socket to its end: the protocol frames, and the close code (None: no Close frame).
async fn read_to_close(c: &mut Client) -> (Vec<Value>, Option<u16>) {
    let mut frames = Vec::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), c.ws.next()).await.expect("the socket ends in 10 s");
        match frame {
            Some(Ok(Message::Text(t))) => frames.push(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(f))) => return (frames, f.map(|f| u16::from(f.code))),
            None | Some(Err(_)) => return (frames, None),
            Some(Ok(_)) => {}
        }
    }
}

/// Waits until the socket closes; the `error` frames seen on the way, and the close code.
async fn closed(c: &mut Client) -> (Vec<String>, Option<u16>) {
    let (frames, code) = read_to_close(c).await;
    let errors = frames.iter().filter(|f| f["type"] == "error").map(|f| f["code"].as_str().unwrap().to_owned());
    (errors.collect(), code)
}

/// A join ticket for `who`, not used yet.
async fn ticket(app: &TestApp, meeting: &Value, who: &Account) -> String {
    let id = meeting["meeting_id"].as_i64().unwrap();
    let body = json!({"passcode": meeting["passcode"]});
    let r = app.post(&format!("/api/v1/meetings/{id}/join"), Some(&who.token), body).await;
    r.expect(200)["ticket"].as_str().unwrap().to_owned()
}

/// Connects with `query` (following `moved`) and reads the refusal: its error code and close.
async fn refusal(app: &TestApp, meeting: &Value, query: &str) -> (String, Option<u16>) {
    let id = meeting["meeting_id"].as_i64().unwrap();
    let (mut c, first) = Client::connect_following(app, id, query).await;
    assert_eq!(first["type"], "error", "refused, not let in: {first}");
    let (_, code) = read_to_close(&mut c).await;
    (first["code"].as_str().unwrap().to_owned(), code)
}

/// Asserts `c` is closed for `code` (error frame) with 4003 within a second of `since`.
async fn revoked(c: &mut Client, since: Instant, code: &str) {
    let (errors, close) = closed(c).await;
    assert!(since.elapsed() < Duration::from_secs(1), "closed within a second, not {:?}", since.elapsed());
    assert_eq!(errors, [code], "the error frame says why");
    assert_eq!(close, Some(4003), "the documented close code");
}

async fn disabling_an_account_closes_its_sockets_and_voids_its_tickets_and_seats(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.account("admin").await; // the first account administers
    let dave = app.account("dave").await;
    let m = meeting_with(&app, &admin, json!({})).await;
    let (mut host, _) = Client::join(&app, &m, Some(&admin), "Admin").await;
    let (mut live, welcome) = Client::join(&app, &m, Some(&dave), "Dave").await;
    let resume = welcome["resume_token"].as_str().unwrap().to_owned();
    let spare = ticket(&app, &m, &dave).await;

    let at = Instant::now();
    app.post(&format!("/api/v1/admin/users/{}/disable", dave.user_id), Some(&admin.token), json!({})).await.expect(200);
    revoked(&mut live, at, "account_disabled").await;
    let left = host.expect("participant_left").await;
    assert_eq!(left["participant_id"], welcome["participant_id"], "the others see Dave go");

    assert_eq!(refusal(&app, &m, &format!("ticket={spare}")).await, ("account_disabled".into(), Some(4003)));
    let (code, close) = refusal(&app, &m, &format!("resume={resume}")).await;
    assert!(matches!((code.as_str(), close), ("resume_expired", Some(4401)) | ("account_disabled", Some(4003))));
    // Enabled again, Dave signs in and joins afresh; what he held before stays void.
    app.post(&format!("/api/v1/admin/users/{}/enable", dave.user_id), Some(&admin.token), json!({})).await.expect(200);
    assert_eq!(refusal(&app, &m, &format!("ticket={spare}")).await, ("access_revoked".into(), Some(4003)));
    let dave = app.login(&dave.email, PASSWORD).await;
    Client::join(&app, &m, Some(&dave), "Dave").await;
    app.stop().await;
}

async fn a_password_change_closes_sockets_and_voids_earlier_tickets_not_later_ones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hoster").await;
    let dave = app.account("dave").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let (_host, _) = Client::join(&app, &m, Some(&host), "Host").await;
    let (mut live, welcome) = Client::join(&app, &m, Some(&dave), "Dave").await;
    let resume = welcome["resume_token"].as_str().unwrap().to_owned();
    let spare = ticket(&app, &m, &dave).await;
    // A guest is nobody's account: untouched.
    let (mut guest, _) = Client::join(&app, &m, None, "Guest").await;

    let at = Instant::now();
    let new_password = "a brand new passphrase";
    app.post(
        "/api/v1/users/me/password",
        Some(&dave.token),
        json!({"current_password": PASSWORD, "new_password": new_password}),
    )
    .await
    .expect(204);
    revoked(&mut live, at, "access_revoked").await;
    assert_eq!(refusal(&app, &m, &format!("ticket={spare}")).await, ("access_revoked".into(), Some(4003)));
    let (code, _) = refusal(&app, &m, &format!("resume={resume}")).await;
    assert!(code == "resume_expired" || code == "access_revoked", "{code}");

    // The session that changed the password goes on: a ticket issued now opens a socket.
    Client::join(&app, &m, Some(&dave), "Dave").await;
    guest.send(json!({"type": "ping", "id": 1})).await;
    assert_eq!(guest.expect("pong").await["id"], 1, "the guest's socket is still open");
    app.stop().await;
}

async fn deleting_an_account_closes_its_sockets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hoster").await;
    let dave = app.account("dave").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let (_host, _) = Client::join(&app, &m, Some(&host), "Host").await;
    let (mut live, _) = Client::join(&app, &m, Some(&dave), "Dave").await;
    let spare = ticket(&app, &m, &dave).await;
    let at = Instant::now();
    app.delete("/api/v1/users/me", Some(&dave.token), Some(json!({"password": PASSWORD}))).await.expect(204);
    revoked(&mut live, at, "access_revoked").await;
    assert_eq!(refusal(&app, &m, &format!("ticket={spare}")).await, ("access_revoked".into(), Some(4003)));
    app.stop().await;
}

async fn a_chat_flood_is_rate_limited_then_disconnected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("hoster").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let (mut watcher, _) = Client::join(&app, &m, Some(&host), "Host").await;
    let (mut flooder, welcome) = Client::join(&app, &m, None, "Flood").await;
    let resume = welcome["resume_token"].as_str().unwrap().to_owned();
    for i in 0..200 {
        use futures_util::SinkExt;
        let frame = json!({"type": "chat_send", "text": format!("spam {i}")}).to_string();
        if flooder.ws.send(Message::Text(frame.into())).await.is_err() {
            break; // disconnected already
        }
    }
    let (frames, close) = read_to_close(&mut flooder).await;
    let limited: Vec<&Value> = frames.iter().filter(|f| f["code"] == "rate_limited").collect();
    assert!(!limited.is_empty(), "over the rate, messages are refused: {frames:?}");
    for l in &limited {
        assert_eq!(l["request"], "chat_send");
        assert!(l["retry_after_ms"].as_u64().is_some_and(|ms| (1..=1000).contains(&ms)), "{l}");
    }
    let last_error = frames.iter().rev().find(|f| f["type"] == "error").unwrap();
    assert_eq!(last_error["code"], "flooding", "then the flooder is told why");
    assert_eq!(close, Some(4429), "and disconnected with the documented code");

    // The others got the burst, not the flood, and saw the flooder go.
    let mut delivered = 0;
    loop {
        let f = watcher.next().await.expect("the host's socket stays open");
        match f["type"].as_str() {
            Some("chat_message") => delivered += 1,
            Some("participant_left") => break,
            _ => {}
        }
    }
    assert!((10..=12).contains(&delivered), "{delivered} messages of the flood were relayed");
    let id = m["meeting_id"].as_i64().unwrap();
    let stored = app.get(&format!("/api/v1/meetings/{id}/chat?page_size=100"), Some(&host.token)).await;
    assert!(stored.expect(200)["total"].as_i64().unwrap() <= 12, "and stored");
    // The seat went with the socket: no resuming into the meeting to flood again.
    assert_eq!(refusal(&app, &m, &format!("resume={resume}")).await, ("resume_expired".into(), Some(4401)));
    app.stop().await;
}

async fn one_address_holds_a_limited_number_of_sockets(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_sockets_per_ip = 2).await;
    let host = app.account("hoster").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (_host, _) = Client::join(&app, &m, Some(&host), "Host").await;
    let (guest, _) = Client::join(&app, &m, None, "Guest").await;

    let mut third = Client::connect(&app, id, "ticket=anything").await;
    let (frames, close) = read_to_close(&mut third).await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0]["code"], "too_many_connections");
    assert_eq!(close, Some(1013), "try again later");

    // A socket that ends gives its place back.
    drop(guest);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = app
            .post(
                &format!("/api/v1/meetings/{id}/join"),
                None,
                json!({"display_name": "Later", "passcode": m["passcode"]}),
            )
            .await;
        let t = r.expect(200)["ticket"].as_str().unwrap().to_owned();
        let mut c = Client::connect(&app, id, &format!("ticket={t}")).await;
        let first = c.next().await.expect("a first frame");
        if first["type"] == "welcome" {
            break;
        }
        assert_eq!(first["code"], "too_many_connections");
        assert!(Instant::now() < deadline, "the closed socket's place never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

backend_tests!(
    disabling_an_account_closes_its_sockets_and_voids_its_tickets_and_seats,
    a_password_change_closes_sockets_and_voids_earlier_tickets_not_later_ones,
    deleting_an_account_closes_its_sockets,
    a_chat_flood_is_rate_limited_then_disconnected,
    one_address_holds_a_limited_number_of_sockets,
);

/// Cluster mode: the account is disabled through one node while its socket is on the other
/// (the meeting's); the socket closes all the same, and its resume token is refused wherever
/// it is presented. A participant a host removed is refused through either node too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_revocations_and_removals_reach_the_meeting_s_node() {
    let Some(apps) = cluster::nodes(2).await else { return };
    let admin = apps[0].account("clusteradmin").await;
    let dave = apps[0].account("clusterdave").await;
    let erin = apps[0].account("clustererin").await;
    let m = meeting_with(&apps[0], &admin, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut host, _) = Client::join(&apps[0], &m, Some(&admin), "Admin").await;
    let owner = (0..2).find(|i| apps[*i].state.live.participants(id).is_some()).expect("the meeting is live somewhere");
    let other = &apps[1 - owner];
    let (mut live, welcome) = Client::join(other, &m, Some(&dave), "Dave").await;
    let resume = welcome["resume_token"].as_str().unwrap().to_owned();

    let at = Instant::now();
    other
        .post(&format!("/api/v1/admin/users/{}/disable", dave.user_id), Some(&admin.token), json!({}))
        .await
        .expect(200);
    revoked(&mut live, at, "account_disabled").await;
    for app in &apps {
        let (code, _) = refusal(app, &m, &format!("resume={resume}")).await;
        assert!(code == "resume_expired" || code == "account_disabled", "{code}");
    }

    // Removal: Erin is removed on the meeting's node; her seat and a new join are refused
    // through the other node as well.
    let (mut erin_c, erin_w) = Client::join(other, &m, Some(&erin), "Erin").await;
    let erin_pid = erin_w["participant_id"].as_str().unwrap().to_owned();
    host.send(json!({"type": "remove", "participant_id": erin_pid})).await;
    let (errors, close) = closed(&mut erin_c).await;
    assert_eq!((errors.as_slice(), close), (&["removed".to_owned()][..], Some(4403)));
    let erin_resume = erin_w["resume_token"].as_str().unwrap();
    for app in &apps {
        assert_eq!(refusal(app, &m, &format!("resume={erin_resume}")).await.0, "resume_expired");
        let body = json!({"passcode": m["passcode"]});
        app.post(&format!("/api/v1/meetings/{id}/join"), Some(&erin.token), body).await.expect_error(403, "removed");
    }
    for app in apps {
        app.stop().await;
    }
}
