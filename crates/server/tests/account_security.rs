//! Issue 16, accounts: e-mail verification (nobody inherits invitations by registering an
//! address), invitation and mail limits, the browser's refresh cookie, avatar decompression
//! bombs. Each denial is tested as a client sees it.
mod common;

use chrono::Duration;
use common::{in_hours, Backend, TestApp, PASSWORD};
use reqwest::header;
use serde_json::{json, Value};

async fn upcoming_titles(app: &TestApp, token: &str) -> Vec<String> {
    let r = app.get("/api/v1/meetings?scope=upcoming", Some(token)).await;
    r.expect(200)["items"].as_array().unwrap().iter().map(|m| m["title"].as_str().unwrap().to_owned()).collect()
}

/// The titles in a calendar feed created for `token`'s account.
async fn feed_text(app: &TestApp, token: &str) -> String {
    let created = app.post("/api/v1/users/me/calendar-feed", Some(token), json!({})).await;
    let url = created.expect(201)["url"].as_str().unwrap().to_owned();
    let feed = app.get(url.trim_start_matches(&app.base), None).await;
    assert_eq!(feed.status, 200);
    String::from_utf8(feed.bytes.clone()).unwrap()
}

// ----- e-mail verification -----

async fn an_unverified_address_inherits_no_invitation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let m = app.meeting(&alice, json!({"title": "Board pay review", "invitees": ["victim@example.com"]})).await;
    let id = m["meeting_id"].as_i64().unwrap();

    // Anyone can register the address and sign in...
    let r = app.post(
        "/api/v1/users/register",
        None,
        json!({"username": "mallory", "email": "victim@example.com", "password": PASSWORD}),
    );
    r.await.expect(202);
    let mallory = app.login("mallory", PASSWORD).await;
    assert_eq!(app.get("/api/v1/users/me", Some(&mallory.token)).await.expect(200)["email_verified"], false);
    // ...but sees no invitation anywhere: the list, the meeting, its passcode, the feed, join.
    assert!(upcoming_titles(&app, &mallory.token).await.is_empty());
    app.get(&format!("/api/v1/meetings/{id}"), Some(&mallory.token)).await.expect_error(403, "not_invited");
    app.get(&format!("/api/v1/meetings/{id}/calendar.ics"), Some(&mallory.token))
        .await
        .expect_error(403, "not_invited");
    assert!(!feed_text(&app, &mallory.token).await.contains("Board pay review"));
    let join = app.post(&format!("/api/v1/meetings/{id}/join"), Some(&mallory.token), json!({})).await;
    assert!(join.status == 403 || join.status == 401, "join without the passcode is refused: {}", join.body);
    assert_ne!(join.code(), "ok");

    // The address's real owner takes the account back through the password reset link (it
    // goes to the address), which proves the address: now the invitation counts, for them.
    app.post("/api/v1/users/password-reset", None, json!({"email": "victim@example.com"})).await.expect(202);
    let reset = app.mail_to("victim@example.com", "reset-password?token=").await;
    let start = reset.find("reset-password?token=").unwrap() + "reset-password?token=".len();
    let token: String =
        reset[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    app.post("/api/v1/users/password-reset/confirm", None, json!({"token": token, "new_password": "the real owner"}))
        .await
        .expect(204);
    app.get("/api/v1/users/me", Some(&mallory.token)).await.expect_error(401, "session_ended");
    let owner = app.login("victim@example.com", "the real owner").await;
    assert_eq!(app.get("/api/v1/users/me", Some(&owner.token)).await.expect(200)["email_verified"], true);
    assert_eq!(upcoming_titles(&app, &owner.token).await, ["Board pay review"]);
    let list = app.get("/api/v1/meetings?scope=upcoming", Some(&owner.token)).await;
    assert_eq!(list.expect(200)["items"][0]["my_role"], "invitee");
    let seen = app.get(&format!("/api/v1/meetings/{id}"), Some(&owner.token)).await;
    assert_eq!(seen.expect(200)["passcode"], m["passcode"], "the invitee sees the passcode");
    app.stop().await;
}

async fn the_mailed_link_verifies_once_and_links_invitations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    app.meeting(&alice, json!({"title": "Kickoff", "invitees": ["bob@example.com"]})).await;
    let bob = app.unverified_account("bob").await;
    assert!(upcoming_titles(&app, &bob.token).await.is_empty());

    let token = app.verification_token("bob@example.com").await;
    let text = app.mail_to("bob@example.com", "verify-email?token=").await;
    assert!(text.contains(&format!("{}/#/verify-email?token=", app.base)), "a link to this server's page:\n{text}");
    app.post("/api/v1/users/verify-email", None, json!({"token": "not-a-token"}))
        .await
        .expect_error(400, "invalid_verification_token");
    app.post("/api/v1/users/verify-email", None, json!({"token": token})).await.expect(200);
    assert_eq!(app.get("/api/v1/users/me", Some(&bob.token)).await.expect(200)["email_verified"], true);
    assert_eq!(upcoming_titles(&app, &bob.token).await, ["Kickoff"], "the invitation counts now");
    app.post("/api/v1/users/verify-email", None, json!({"token": token}))
        .await
        .expect_error(400, "invalid_verification_token");
    app.post("/api/v1/users/me/verification", Some(&bob.token), json!({})).await.expect_error(409, "already_verified");
    app.stop().await;
}

async fn links_expire_and_resending_is_limited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.account("alice").await;
    app.unverified_account("bob").await;
    let first = app.verification_token("bob@example.com").await;
    app.state.clock.advance(Duration::hours(25));
    app.post("/api/v1/users/verify-email", None, json!({"token": first}))
        .await
        .expect_error(400, "invalid_verification_token");
    // The old access token expired too.
    let bob = app.login("bob@example.com", PASSWORD).await;
    // An address gets at most five account mails an hour (the registration mail was a day ago).
    for _ in 0..5 {
        let r = app.post("/api/v1/users/me/verification", Some(&bob.token), json!({})).await;
        assert!(r.expect(202)["message"].as_str().unwrap().contains("bob@example.com"));
    }
    let limited = app.post("/api/v1/users/me/verification", Some(&bob.token), json!({})).await;
    limited.expect_error(429, "rate_limited");
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    let fresh = app.verification_token("bob@example.com").await;
    assert_ne!(fresh, first);
    app.post("/api/v1/users/verify-email", None, json!({"token": fresh})).await.expect(200);
    app.stop().await;
}

async fn unverified_accounts_send_no_invitations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.account("alice").await;
    let bob = app.unverified_account("bob").await;
    let body = json!({"title": "Phish", "start_time": in_hours(1), "invitees": ["someone@example.com"]});
    app.post("/api/v1/meetings", Some(&bob.token), body.clone()).await.expect_error(403, "email_unverified");
    // Meetings without invitees still work, and adding invitees later is refused too.
    let m = app.post("/api/v1/meetings", Some(&bob.token), json!({"title": "Solo", "start_time": in_hours(1)})).await;
    let id = m.expect(201)["meeting_id"].as_i64().unwrap();
    app.patch(&format!("/api/v1/meetings/{id}"), Some(&bob.token), json!({"invitees": ["someone@example.com"]}))
        .await
        .expect_error(403, "email_unverified");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !app.outbox().iter().any(|m| m.contains("To: someone@example.com")),
        "no mail went to the would-be invitee"
    );
    app.verify_email("bob@example.com").await;
    app.post("/api/v1/meetings", Some(&bob.token), body).await.expect(201);
    app.mail_to("someone@example.com", "Phish").await;
    app.stop().await;
}

async fn changing_the_address_reverifies_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    app.meeting(&alice, json!({"title": "Old address", "invitees": ["bob@example.com"]})).await;
    app.meeting(&alice, json!({"title": "New address", "invitees": ["robert@example.org"]})).await;
    let change = |email: &str, password: &str| {
        app.request(
            reqwest::Method::PUT,
            "/api/v1/users/me/email",
            Some(&bob.token),
            Some(json!({"email": email, "password": password})),
        )
    };
    change("robert@example.org", "wrong password").await.expect_error(403, "wrong_password");
    change("bob@example.com", PASSWORD).await.expect_error(422, "same_email");
    let asked = change("robert@example.org", PASSWORD).await;
    asked.expect(202);
    // Nothing changes until the new address is proven.
    let me = app.get("/api/v1/users/me", Some(&bob.token)).await;
    assert_eq!((me.body["email"].as_str(), me.body["email_verified"].as_bool()), (Some("bob@example.com"), Some(true)));
    assert_eq!(upcoming_titles(&app, &bob.token).await, ["Old address"]);
    app.verify_email("robert@example.org").await;
    let me = app.get("/api/v1/users/me", Some(&bob.token)).await;
    assert_eq!(me.body["email"], "robert@example.org");
    assert_eq!(me.body["email_verified"], true);
    assert_eq!(
        upcoming_titles(&app, &bob.token).await,
        ["New address"],
        "invitations follow the address: the old one's stay with whoever has it"
    );

    // An address another account has: the same answer, its owner is told, nothing changes.
    let taken = change("alice@example.com", PASSWORD).await;
    assert_eq!(taken.status, asked.status);
    assert!(taken.body["message"].as_str().unwrap().starts_with("check your mail at alice@example.com"));
    app.mail_to("alice@example.com", "already has one").await;
    assert_eq!(app.get("/api/v1/users/me", Some(&bob.token)).await.body["email"], "robert@example.org");
    app.stop().await;
}

// ----- invitation and mail limits -----

async fn invitees_and_mails_are_limited_per_account(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.max_invitees = 3;
        c.mails_per_hour = 5;
    })
    .await;
    let alice = app.account("alice").await;
    let invitees = |n: usize, tag: &str| (0..n).map(|i| format!("{tag}{i}@example.com")).collect::<Vec<_>>();
    let four = json!({"title": "Spam", "start_time": in_hours(1), "invitees": invitees(4, "a")});
    app.post("/api/v1/meetings", Some(&alice.token), four).await.expect_error(422, "too_many_invitees");

    let three = json!({"title": "Team", "start_time": in_hours(1), "invitees": invitees(3, "b")});
    app.post("/api/v1/meetings", Some(&alice.token), three).await.expect(201);
    // 3 of 5 mails used: three more do not fit, and nothing is created or sent.
    let more = json!({"title": "Phish", "start_time": in_hours(2), "invitees": invitees(3, "c")});
    let limited = app.post("/api/v1/meetings", Some(&alice.token), more.clone()).await;
    limited.expect_error(429, "rate_limited");
    let wait: u64 = limited.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
    assert_eq!(upcoming_titles(&app, &alice.token).await, ["Team"]);
    // Editing a meeting re-sends to its invitees: that counts as well.
    let id = app.get("/api/v1/meetings?scope=upcoming", Some(&alice.token)).await.body["items"][0]["meeting_id"]
        .as_i64()
        .unwrap();
    app.patch(&format!("/api/v1/meetings/{id}"), Some(&alice.token), json!({"title": "Team sync"}))
        .await
        .expect_error(429, "rate_limited");
    // Two mails still fit; a meeting without invitees sends none.
    app.post("/api/v1/meetings", Some(&alice.token), json!({"title": "Focus", "start_time": in_hours(3)}))
        .await
        .expect(201);
    app.state.clock.advance(Duration::minutes(61));
    let alice = app.login("alice@example.com", PASSWORD).await; // the old access token expired too
    app.post("/api/v1/meetings", Some(&alice.token), more).await.expect(201);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let sent = app.outbox().iter().filter(|m| m.contains("Subject: Invitation")).count();
    assert_eq!(sent, 6, "3 + 3 invitations, none for the refused requests");
    app.stop().await;
}

// ----- the browser's refresh cookie -----

fn cookie_of(r: &common::Reply) -> String {
    let set = r.headers.get(header::SET_COOKIE).expect("a Set-Cookie").to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1/users/refresh"] {
        assert!(set.contains(attr), "{attr} missing in {set}");
    }
    set
}

fn cookie_value(set: &str) -> String {
    set.split(';').next().unwrap().trim().to_owned()
}

async fn refresh_with_cookie(app: &TestApp, cookie: &str) -> common::Reply {
    app.raw(
        app.client
            .post(format!("{}/api/v1/users/refresh", app.base))
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/json")
            .body("{}"),
    )
    .await
}

async fn browsers_keep_the_refresh_token_in_an_http_only_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.account("alice").await;
    let login = app
        .post(
            "/api/v1/users/login",
            None,
            json!({"email": "alice@example.com", "password": PASSWORD, "refresh_token_in": "cookie"}),
        )
        .await;
    let body = login.expect(200).clone();
    assert!(body.get("refresh_token").is_none(), "script never sees the refresh token: {body}");
    let first = cookie_value(&cookie_of(&login));
    assert!(first.starts_with("convene_refresh=") && first.len() > 40, "{first}");

    let refreshed = refresh_with_cookie(&app, &first).await;
    let token = refreshed.expect(200)["token"].as_str().unwrap().to_owned();
    assert!(refreshed.body.get("refresh_token").is_none(), "{}", refreshed.body);
    let second = cookie_value(&cookie_of(&refreshed));
    assert_ne!(second, first, "the cookie rotates");
    app.get("/api/v1/users/me", Some(&token)).await.expect(200);

    // A used cookie again means it leaked: refused, removed, and the session is over.
    let reused = refresh_with_cookie(&app, &first).await;
    reused.expect_error(401, "refresh_token_reused");
    assert!(cookie_of(&reused).contains("Max-Age=0"), "the browser is told to drop it");
    refresh_with_cookie(&app, &second).await.expect_error(401, "invalid_refresh_token");
    app.post("/api/v1/users/refresh", None, json!({})).await.expect_error(401, "missing_refresh_token");

    // Sign-out removes the cookie too.
    let again = app
        .post(
            "/api/v1/users/login",
            None,
            json!({"username": "alice", "password": PASSWORD, "refresh_token_in": "cookie"}),
        )
        .await;
    let token = again.expect(200)["token"].as_str().unwrap().to_owned();
    let cookie = cookie_value(&cookie_of(&again));
    let out = app.post("/api/v1/users/logout", Some(&token), json!({})).await;
    out.expect(204);
    assert!(cookie_of(&out).contains("Max-Age=0"));
    refresh_with_cookie(&app, &cookie).await.expect_error(401, "invalid_refresh_token");

    // Other clients keep getting it in the body, as documented.
    let native = app.post("/api/v1/users/login", None, json!({"username": "alice", "password": PASSWORD})).await;
    assert!(native.expect(200)["refresh_token"].is_string());
    assert!(native.headers.get(header::SET_COOKIE).is_none());
    app.post(
        "/api/v1/users/login",
        None,
        json!({"username": "alice", "password": PASSWORD, "refresh_token_in": "url"}),
    )
    .await
    .expect_error(422, "invalid_body");
    app.stop().await;
}

// ----- avatars -----

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A well-formed PNG header claiming `w`×`h` RGBA pixels, with a token of image data.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut out, b"IEND", &[]);
    out
}

async fn avatar_decompression_bombs_are_refused_before_decoding(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    // 8000×8000 RGBA would be 256 MB of bitmap from a file of a few dozen bytes.
    for (w, h) in [(8000, 8000), (60_000, 1000), (u32::MAX / 2, 2)] {
        let bomb = png_claiming(w, h);
        assert!(bomb.len() < 100);
        let started = std::time::Instant::now();
        let r = app
            .raw(
                app.client
                    .put(format!("{}/api/v1/users/me/avatar", app.base))
                    .bearer_auth(&alice.token)
                    .header(header::CONTENT_TYPE, "image/png")
                    .body(bomb),
            )
            .await;
        r.expect_error(422, "image_too_large");
        assert!(r.body["error"]["message"].as_str().unwrap().contains(&format!("{w}×{h}")), "{}", r.body);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "refused without decoding");
    }
    let me: Value = app.get("/api/v1/users/me", Some(&alice.token)).await.body;
    assert!(me["avatar_url"].is_null(), "no avatar was stored");
    app.stop().await;
}

backend_tests!(
    an_unverified_address_inherits_no_invitation,
    the_mailed_link_verifies_once_and_links_invitations,
    links_expire_and_resending_is_limited,
    unverified_accounts_send_no_invitations,
    changing_the_address_reverifies_it,
    invitees_and_mails_are_limited_per_account,
    browsers_keep_the_refresh_token_in_an_http_only_cookie,
    avatar_decompression_bombs_are_refused_before_decoding,
);
