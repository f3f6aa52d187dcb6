//! Accounts API end to end: registration, sign-in limits, tokens, profile, avatar, password, export, erasure.
mod common;

use std::io::Cursor;

use chrono::Duration;
use common::{Backend, Reply, TestApp, PASSWORD};
use reqwest::header;
use serde_json::{json, Value};

// ----- helpers -----

async fn register(app: &TestApp, username: &str, email: &str, password: &str) -> Reply {
    app.post("/api/v1/users/register", None, json!({"username": username, "email": email, "password": password})).await
}

async fn login_reply(app: &TestApp, body: Value) -> Reply {
    app.post("/api/v1/users/login", None, body).await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Reply {
    app.post("/api/v1/users/refresh", None, json!({"refresh_token": refresh_token})).await
}

fn encode(img: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).expect("encode test image");
    out
}

fn gradient(w: u32, h: u32) -> image::DynamicImage {
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    }))
}

/// A 1×1 GIF: a real image, just not a format avatars accept.
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

async fn put_avatar(app: &TestApp, token: &str, bytes: Vec<u8>, content_type: &str) -> Reply {
    app.raw(
        app.client
            .put(format!("{}/api/v1/users/me/avatar", app.base))
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, content_type)
            .body(bytes),
    )
    .await
}

fn header_str(r: &Reply, name: header::HeaderName) -> &str {
    r.headers.get(&name).unwrap_or_else(|| panic!("missing {name} header")).to_str().unwrap()
}

#[track_caller]
fn retry_after(r: &Reply, max: u64) -> u64 {
    let secs: u64 = header_str(r, header::RETRY_AFTER).parse().expect("Retry-After is a number of seconds");
    assert!((1..=max).contains(&secs), "Retry-After {secs} not in 1..={max}");
    secs
}

/// The outbox once it holds at least `n` messages (mail is sent by a background job).
async fn wait_for_mail(app: &TestApp, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let outbox = app.outbox();
        if outbox.len() >= n {
            return outbox;
        }
        assert!(std::time::Instant::now() < deadline, "expected {n} mail(s), outbox has {}", outbox.len());
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Decodes a quoted-printable body: `=XX` escapes and `=` soft line breaks.
fn decode_quoted_printable(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if bytes[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let Some(hex) = s.get(i + 1..i + 3) {
                if let Ok(b) = u8::from_str_radix(hex, 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_base64(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else { continue };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn split_headers(part: &str) -> (&str, &str) {
    part.split_once("\r\n\r\n").or_else(|| part.split_once("\n\n")).unwrap_or((part, ""))
}

fn decode_part(headers: &str, body: &str) -> String {
    let lower = headers.to_ascii_lowercase();
    if lower.contains("content-transfer-encoding: quoted-printable") {
        decode_quoted_printable(body)
    } else if lower.contains("content-transfer-encoding: base64") {
        decode_base64(body)
    } else {
        body.to_owned()
    }
}

/// The readable text of a MIME message: every part decoded from its transfer encoding.
fn mail_text(raw: &str) -> String {
    let (headers, body) = split_headers(raw);
    let unfolded = headers.replace("\r\n ", " ").replace("\r\n\t", " ");
    let boundary = unfolded
        .split("boundary=")
        .nth(1)
        .map(|b| b.trim_start_matches('"').split(['"', ';', '\r', '\n']).next().unwrap().to_owned());
    let mut text = format!("{headers}\n\n");
    match boundary {
        Some(b) => {
            for part in body.split(&format!("--{b}")).skip(1) {
                let (h, b) = split_headers(part.trim_start_matches(['\r', '\n']));
                text.push_str(&decode_part(h, b));
                text.push('\n');
            }
        }
        None => text.push_str(&decode_part(headers, body)),
    }
    text
}

/// The reset token from the link in a reset mail.
fn reset_token(raw: &str) -> String {
    let text = mail_text(raw);
    let start = text.find("token=").unwrap_or_else(|| panic!("no reset link in mail:\n{text}")) + "token=".len();
    let token: String =
        text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    assert!(token.len() >= 32, "reset token looks truncated: {token:?}\n{text}");
    token
}

// ----- registration -----

async fn register_returns_account_and_first_is_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app
        .post(
            "/api/v1/users/register",
            None,
            json!({"username": "  Alice ", "email": "Alice@Example.COM", "password": PASSWORD, "display_name": "Alice L."}),
        )
        .await;
    assert!(r.expect(202)["message"].as_str().unwrap().contains("check your mail"), "{}", r.body);
    let alice = app.login("alice@example.com", PASSWORD).await;
    let me = app.get("/api/v1/users/me", Some(&alice.token)).await.expect(200).clone();
    assert_eq!(me["email_verified"], true, "the first account needs no link: nobody to prove it to yet");
    assert_eq!(me["username"], "alice", "usernames are trimmed and lower-cased");
    assert_eq!(me["email"], "alice@example.com", "e-mails are lower-cased");
    assert_eq!(me["display_name"], "Alice L.");
    assert_eq!(me["role"], "admin", "the first account administers the server");
    assert_eq!(me["default_background"], "none");
    assert_eq!(me["disabled"], false);
    assert!(me["avatar_url"].is_null());
    assert!(me["user_id"].as_str().is_some_and(|id| !id.is_empty()));
    let pmi = me["personal_meeting_id"].as_i64().expect("personal_meeting_id is a number");
    assert_eq!(pmi.to_string().len(), 11, "personal room IDs have 11 digits: {pmi}");
    assert!(me["created_at"].is_string() && me["updated_at"].is_string());
    assert!(me.get("password").is_none() && me.get("password_hash").is_none());
    assert!(!String::from_utf8_lossy(&r.bytes).contains("argon2"));

    register(&app, "bob", "bob@example.com", PASSWORD).await.expect(202);
    let bob = app.login("bob", PASSWORD).await;
    let bob = app.get("/api/v1/users/me", Some(&bob.token)).await;
    assert_eq!(bob.expect(200)["role"], "user", "later accounts are plain users");
    assert_eq!(bob.body["email_verified"], false, "until the link mailed to bob@example.com is opened");
    assert_eq!(bob.body["display_name"], "bob", "display name defaults to the username");
    assert_ne!(bob.body["user_id"], me["user_id"]);
    assert_ne!(bob.body["personal_meeting_id"], me["personal_meeting_id"]);
    app.stop().await;
}

async fn register_rejects_duplicates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = register(&app, "alice", "alice@example.com", PASSWORD).await;
    first.expect(202);
    register(&app, "alice", "other@example.com", PASSWORD).await.expect_error(409, "username_taken");
    register(&app, "ALICE", "other@example.com", PASSWORD).await.expect_error(409, "username_taken");
    // A taken address is not revealed: the answer is the one a new address gets (the address
    // is in the message either way), and no account was made.
    for (name, email) in [("alice2", "alice@example.com"), ("alice3", "ALICE@Example.com")] {
        let again = register(&app, name, email, PASSWORD).await;
        assert_eq!(again.status, first.status);
        assert_eq!(again.body, first.body, "no email_taken oracle");
        login_reply(&app, json!({"username": name, "password": PASSWORD}))
            .await
            .expect_error(401, "invalid_credentials");
    }
    // The owner of the address hears about it, with a way back in.
    let told = app.mail_to("alice@example.com", "already has one").await;
    assert!(told.contains("/#/forgot"), "{told}");
    // The failed attempts did not take the admin role or leave accounts behind.
    register(&app, "bob", "bob@example.com", PASSWORD).await.expect(202);
    let bob = app.login("bob@example.com", PASSWORD).await;
    assert_eq!(app.get("/api/v1/users/me", Some(&bob.token)).await.expect(200)["role"], "user");
    app.stop().await;
}

async fn register_validates_fields(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.login_rate_per_ip = 1000).await;
    for bad in ["ab", "-alice", ".alice", "has space", "al!ce", &"a".repeat(33), ""] {
        register(&app, bad, "x@example.com", PASSWORD).await.expect_error(422, "invalid_username");
    }
    for bad in ["not-an-email", "alice@", "@example.com", "alice@localhost", "a b@example.com"] {
        register(&app, "alice", bad, PASSWORD).await.expect_error(422, "invalid_email");
    }
    register(&app, "alice", "alice@example.com", "short").await.expect_error(422, "weak_password");
    register(&app, "alice", "alice@example.com", "1234567").await.expect_error(422, "weak_password");
    register(&app, "alicealice", "x@example.com", "AliceAlice").await.expect_error(422, "weak_password");
    register(&app, "alice", "alice@example.com", "Alice@example.com").await.expect_error(422, "weak_password");
    register(&app, "alice", "alice@example.com", &"p".repeat(257)).await.expect_error(422, "password_too_long");
    app.post(
        "/api/v1/users/register",
        None,
        json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD, "display_name": "   "}),
    )
    .await
    .expect_error(422, "invalid_display_name");
    app.post(
        "/api/v1/users/register",
        None,
        json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD, "display_name": "x".repeat(65)}),
    )
    .await
    .expect_error(422, "invalid_display_name");
    // None of the refused attempts created an account: the name and address are still free.
    register(&app, "alice", "alice@example.com", "12345678").await.expect(202);
    let alice = app.login("alice", "12345678").await;
    let me = app.get("/api/v1/users/me", Some(&alice.token)).await;
    assert_eq!(me.expect(200)["role"], "admin", "boundary: 8 characters is enough");
    app.stop().await;
}

async fn register_rejects_malformed_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = format!("{}/api/v1/users/register", app.base);
    let r = app
        .raw(app.client.post(&url).header(header::CONTENT_TYPE, "application/json").body(r#"{"username": "alice","#))
        .await;
    r.expect_error(400, "malformed_json");
    let r = app.raw(app.client.post(&url).header(header::CONTENT_TYPE, "application/json").body("not json")).await;
    r.expect_error(400, "malformed_json");
    let r = app.post("/api/v1/users/register", None, json!({"username": "alice", "password": PASSWORD})).await;
    r.expect_error(422, "invalid_body");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("email"), "message names the field: {}", r.body);
    app.post("/api/v1/users/register", None, json!({"username": 5, "email": "a@example.com", "password": PASSWORD}))
        .await
        .expect_error(422, "invalid_body");
    let body = json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD}).to_string();
    let r = app.raw(app.client.post(&url).header(header::CONTENT_TYPE, "text/plain").body(body.clone())).await;
    r.expect_error(415, "unsupported_media_type");
    let r = app.raw(app.client.post(&url).body(body)).await;
    r.expect_error(415, "unsupported_media_type");
    assert_eq!(header_str(&r, header::CONTENT_TYPE), "application/json", "errors are JSON");
    app.stop().await;
}

// ----- sign-in -----

async fn login_by_email_and_username(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    register(&app, "alice", "alice@example.com", PASSWORD).await.expect(202);
    let created = json!({"user_id": app.login("alice", PASSWORD).await.user_id});
    let by_email = login_reply(&app, json!({"email": "alice@example.com", "password": PASSWORD})).await;
    let body = by_email.expect(200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user_id"], created["user_id"]);
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["refresh_expires_in"], 30 * 24 * 3600);
    assert!(body["token"].as_str().is_some_and(|t| t.split('.').count() == 3), "a JWT: {body}");
    assert!(body["refresh_token"].as_str().is_some_and(|t| t.len() >= 32));
    let me = app.get("/api/v1/users/me", body["token"].as_str()).await;
    assert_eq!(me.expect(200)["username"], "alice");

    let by_name = login_reply(&app, json!({"username": "alice", "password": PASSWORD})).await;
    assert_eq!(by_name.expect(200)["user_id"], created["user_id"]);
    assert_ne!(by_name.body["token"], body["token"], "each sign-in is its own session");
    // Case and surrounding space do not matter for the identifier; e-mail in `username` works too.
    login_reply(&app, json!({"email": " ALICE@example.com ", "password": PASSWORD})).await.expect(200);
    login_reply(&app, json!({"username": "Alice", "password": PASSWORD})).await.expect(200);
    login_reply(&app, json!({"username": "alice@example.com", "password": PASSWORD})).await.expect(200);
    // Neither identifier given.
    login_reply(&app, json!({"password": PASSWORD})).await.expect_error(422, "invalid_body");
    login_reply(&app, json!({"email": "alice@example.com"})).await.expect_error(422, "invalid_body");
    app.stop().await;
}

async fn login_failures_do_not_reveal_accounts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    register(&app, "alice", "alice@example.com", PASSWORD).await.expect(202);
    let wrong = login_reply(&app, json!({"email": "alice@example.com", "password": "not the password"})).await;
    wrong.expect_error(401, "invalid_credentials");
    let unknown = login_reply(&app, json!({"email": "nobody@example.com", "password": PASSWORD})).await;
    unknown.expect_error(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body, "wrong password and unknown account look the same");
    login_reply(&app, json!({"username": "nobody", "password": PASSWORD}))
        .await
        .expect_error(401, "invalid_credentials");
    login_reply(&app, json!({"username": "alice", "password": PASSWORD.to_uppercase()}))
        .await
        .expect_error(401, "invalid_credentials");
    app.stop().await;
}

async fn login_locks_account_after_repeated_failures(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.login_failures_per_account = 3).await;
    register(&app, "alice", "alice@example.com", PASSWORD).await.expect(202);
    register(&app, "bob", "bob@example.com", PASSWORD).await.expect(202);
    for _ in 0..3 {
        login_reply(&app, json!({"email": "alice@example.com", "password": "wrong password"}))
            .await
            .expect_error(401, "invalid_credentials");
    }
    let locked = login_reply(&app, json!({"email": "alice@example.com", "password": "wrong password"})).await;
    locked.expect_error(429, "rate_limited");
    retry_after(&locked, 15 * 60);
    // Locked means locked: the right password is refused too, by e-mail and by username.
    let right = login_reply(&app, json!({"email": "alice@example.com", "password": PASSWORD})).await;
    right.expect_error(429, "rate_limited");
    retry_after(&right, 15 * 60);
    login_reply(&app, json!({"username": "alice", "password": PASSWORD})).await.expect_error(429, "rate_limited");
    // Other accounts are not affected.
    login_reply(&app, json!({"email": "bob@example.com", "password": PASSWORD})).await.expect(200);

    app.state.clock.advance(Duration::minutes(16));
    login_reply(&app, json!({"email": "alice@example.com", "password": PASSWORD})).await.expect(200);
    // A successful sign-in starts the count afresh.
    for _ in 0..2 {
        login_reply(&app, json!({"email": "alice@example.com", "password": "wrong password"}))
            .await
            .expect_error(401, "invalid_credentials");
    }
    login_reply(&app, json!({"email": "alice@example.com", "password": PASSWORD})).await.expect(200);
    app.stop().await;
}

async fn login_rate_limited_per_ip(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.login_rate_per_ip = 4).await;
    register(&app, "alice", "alice@example.com", PASSWORD).await.expect(202); // attempt 1
    for _ in 0..3 {
        login_reply(&app, json!({"email": "alice@example.com", "password": PASSWORD})).await.expect(200);
    }
    let limited = login_reply(&app, json!({"email": "alice@example.com", "password": PASSWORD})).await;
    limited.expect_error(429, "rate_limited");
    retry_after(&limited, 60);
    // Registration counts against the same per-address budget.
    let reg = register(&app, "bob", "bob@example.com", PASSWORD).await;
    reg.expect_error(429, "rate_limited");
    retry_after(&reg, 60);

    app.state.clock.advance(Duration::seconds(61));
    login_reply(&app, json!({"email": "alice@example.com", "password": PASSWORD})).await.expect(200);
    register(&app, "bob", "bob@example.com", PASSWORD).await.expect(202);
    app.stop().await;
}

// ----- tokens -----

async fn access_token_expiry_and_bad_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    app.get("/api/v1/users/me", None).await.expect_error(401, "missing_token");
    app.get("/api/v1/users/me", Some("garbage")).await.expect_error(401, "invalid_token");
    // A token with one character of its signature changed.
    let mut tampered = alice.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    app.get("/api/v1/users/me", Some(&tampered)).await.expect_error(401, "invalid_token");
    let basic = app
        .raw(
            app.client
                .get(format!("{}/api/v1/users/me", app.base))
                .header(header::AUTHORIZATION, format!("Basic {}", alice.token)),
        )
        .await;
    basic.expect_error(401, "invalid_token");

    app.get("/api/v1/users/me", Some(&alice.token)).await.expect(200);
    app.state.clock.advance(Duration::seconds(3601));
    app.get("/api/v1/users/me", Some(&alice.token)).await.expect_error(401, "token_expired");
    // The refresh token outlives the access token and gives a working one.
    let renewed = refresh(&app, &alice.refresh_token).await;
    let token = renewed.expect(200)["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/users/me", Some(&token)).await.expect(200)["user_id"], alice.user_id.as_str());
    app.stop().await;
}

async fn refresh_rotates_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let first = refresh(&app, &alice.refresh_token).await;
    let pair = first.expect(200).clone();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["user_id"], alice.user_id.as_str());
    assert_eq!(pair["expires_in"], 3600);
    let new_refresh = pair["refresh_token"].as_str().unwrap();
    let new_token = pair["token"].as_str().unwrap();
    assert_ne!(new_refresh, alice.refresh_token, "the refresh token rotates");
    // (The access token may equal the old one when issued within the same second: same claims.)
    app.get("/api/v1/users/me", Some(new_token)).await.expect(200);
    // The new refresh token works once more.
    let second = refresh(&app, new_refresh).await;
    second.expect(200);
    // The one already traded in does not.
    refresh(&app, &alice.refresh_token).await.expect_error(401, "refresh_token_reused");

    refresh(&app, "no-such-refresh-token").await.expect_error(401, "invalid_refresh_token");
    // Without a token (nor the browser's cookie) there is nothing to refresh.
    app.post("/api/v1/users/refresh", None, json!({})).await.expect_error(401, "missing_refresh_token");
    app.post("/api/v1/users/refresh", None, json!({"refresh_token": 5})).await.expect_error(422, "invalid_body");
    app.stop().await;
}

async fn refresh_token_reuse_revokes_the_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let other_session = app.login("alice@example.com", PASSWORD).await;
    let r2 = refresh(&app, &alice.refresh_token).await.expect(200).clone();
    let r3 = refresh(&app, r2["refresh_token"].as_str().unwrap()).await.expect(200).clone();
    let newest_access = r3["token"].as_str().unwrap();
    app.get("/api/v1/users/me", Some(newest_access)).await.expect(200);

    // The first refresh token shows up again: someone copied it.
    refresh(&app, &alice.refresh_token).await.expect_error(401, "refresh_token_reused");
    refresh(&app, r3["refresh_token"].as_str().unwrap()).await.expect_error(401, "invalid_refresh_token");
    app.get("/api/v1/users/me", Some(newest_access)).await.expect_error(401, "session_ended");
    app.get("/api/v1/users/me", Some(r2["token"].as_str().unwrap())).await.expect_error(401, "session_ended");
    app.get("/api/v1/users/me", Some(&alice.token)).await.expect_error(401, "session_ended");
    // Only that session ends; the user's other session carries on.
    app.get("/api/v1/users/me", Some(&other_session.token)).await.expect(200);
    refresh(&app, &other_session.refresh_token).await.expect(200);
    app.stop().await;
}

async fn refresh_token_expires(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    app.state.clock.advance(Duration::days(31));
    refresh(&app, &alice.refresh_token).await.expect_error(401, "invalid_refresh_token");
    app.stop().await;
}

async fn logout_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let other = app.login("alice@example.com", PASSWORD).await;
    app.post("/api/v1/users/logout", None, json!({})).await.expect_error(401, "missing_token");
    let r = app.post("/api/v1/users/logout", Some(&alice.token), json!({})).await;
    r.expect(204);
    assert!(r.bytes.is_empty(), "204 has no body");
    app.get("/api/v1/users/me", Some(&alice.token)).await.expect_error(401, "session_ended");
    refresh(&app, &alice.refresh_token).await.expect_error(401, "invalid_refresh_token");
    app.post("/api/v1/users/logout", Some(&alice.token), json!({})).await.expect_error(401, "session_ended");
    app.get("/api/v1/users/me", Some(&other.token)).await.expect(200);
    app.stop().await;
}

// ----- profile -----

async fn read_and_update_my_profile(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let me = app.get("/api/v1/users/me", Some(&alice.token)).await.expect(200).clone();
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["display_name"], "alice");

    let r = app.patch("/api/v1/users/me", Some(&alice.token), json!({"display_name": "  Alice Liddell  "})).await;
    assert_eq!(r.expect(200)["display_name"], "Alice Liddell", "trimmed");
    assert_eq!(r.body["default_background"], "none", "untouched fields stay");
    for bg in ["blur", "image", "none"] {
        let r = app.patch("/api/v1/users/me", Some(&alice.token), json!({"default_background": bg})).await;
        assert_eq!(r.expect(200)["default_background"], bg);
        assert_eq!(r.body["display_name"], "Alice Liddell");
        let again = app.get("/api/v1/users/me", Some(&alice.token)).await;
        assert_eq!(again.expect(200)["default_background"], bg, "persisted");
    }
    let both = app
        .patch("/api/v1/users/me", Some(&alice.token), json!({"display_name": "Al", "default_background": "blur"}))
        .await;
    assert_eq!(both.expect(200)["display_name"], "Al");
    assert_eq!(both.body["default_background"], "blur");

    app.patch("/api/v1/users/me", Some(&alice.token), json!({"default_background": "sparkles"}))
        .await
        .expect_error(422, "invalid_background");
    app.patch("/api/v1/users/me", Some(&alice.token), json!({"default_background": "BLUR"}))
        .await
        .expect_error(422, "invalid_background");
    app.patch("/api/v1/users/me", Some(&alice.token), json!({"display_name": "   "}))
        .await
        .expect_error(422, "invalid_display_name");
    app.patch("/api/v1/users/me", Some(&alice.token), json!({"display_name": "x".repeat(65)}))
        .await
        .expect_error(422, "invalid_display_name");
    app.patch("/api/v1/users/me", Some(&alice.token), json!({"display_name": "a\u{7}b"}))
        .await
        .expect_error(422, "invalid_display_name");
    app.patch("/api/v1/users/me", Some(&alice.token), json!({"email": "new@example.com"}))
        .await
        .expect_error(422, "invalid_body");
    app.patch("/api/v1/users/me", Some(&alice.token), json!({"role": "admin", "display_name": "Sneaky"}))
        .await
        .expect_error(422, "invalid_body");
    app.patch("/api/v1/users/me", None, json!({"display_name": "Nobody"})).await.expect_error(401, "missing_token");
    // Nothing the refused requests asked for happened.
    let after = app.get("/api/v1/users/me", Some(&alice.token)).await.expect(200).clone();
    assert_eq!(after["display_name"], "Al");
    assert_eq!(after["default_background"], "blur");
    assert_eq!(after["email"], "alice@example.com");
    app.stop().await;
}

async fn public_profile_needs_sign_in_and_hides_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    let path = format!("/api/v1/users/{}", alice.user_id);
    let r = app.get(&path, Some(&bob.token)).await;
    let p = r.expect(200);
    assert_eq!(p["user_id"], alice.user_id.as_str());
    assert_eq!(p["username"], "alice");
    assert_eq!(p["display_name"], "alice");
    assert!(p["avatar_url"].is_null());
    assert!(p["created_at"].is_string());
    assert!(p.get("email").is_none(), "no e-mail in a public profile: {p}");
    assert!(p.get("role").is_none() && p.get("password_hash").is_none());
    assert!(!String::from_utf8_lossy(&r.bytes).contains("alice@example.com"));

    app.get(&path, None).await.expect_error(401, "missing_token");
    app.get(&path, Some("garbage")).await.expect_error(401, "invalid_token");
    app.get("/api/v1/users/00000000-0000-0000-0000-000000000000", Some(&bob.token))
        .await
        .expect_error(404, "user_not_found");
    app.stop().await;
}

// ----- avatar -----

async fn avatar_accepts_png_jpeg_and_webp(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    let uploads = [
        ("png", encode(gradient(300, 200), image::ImageFormat::Png), "image/png"),
        ("jpeg", encode(gradient(640, 360), image::ImageFormat::Jpeg), "image/jpeg"),
        ("webp", encode(gradient(120, 400), image::ImageFormat::WebP), "image/webp"),
    ];
    let mut etags = Vec::new();
    for (name, bytes, content_type) in uploads {
        let r = put_avatar(&app, &alice.token, bytes, content_type).await;
        let me = r.expect(200);
        let url = me["avatar_url"].as_str().unwrap_or_else(|| panic!("{name}: no avatar_url in {me}"));
        assert!(url.starts_with(&format!("/api/v1/users/{}/avatar", alice.user_id)), "{name}: {url}");

        for (path, token) in [
            ("/api/v1/users/me/avatar".to_owned(), Some(alice.token.as_str())),
            (format!("/api/v1/users/{}/avatar", alice.user_id), None),
            (url.to_owned(), Some(bob.token.as_str())),
        ] {
            let got = app.get(&path, token).await;
            got.expect(200);
            assert_eq!(header_str(&got, header::CONTENT_TYPE), "image/png", "{name} {path}");
            assert_eq!(image::guess_format(&got.bytes).unwrap(), image::ImageFormat::Png);
            let img = image::load_from_memory(&got.bytes).expect("avatar decodes");
            assert_eq!((img.width(), img.height()), (256, 256), "{name} {path}");
            assert!(header_str(&got, header::CACHE_CONTROL).contains("max-age"), "{name}");
            let etag = header_str(&got, header::ETAG).to_owned();
            assert!(etag.starts_with('"') && etag.ends_with('"'), "a quoted ETag: {etag}");
            assert!(url.ends_with(&format!("v={}", etag.trim_matches('"'))), "avatar_url carries the version: {url}");
            etags.push(etag);
        }
        let profile = app.get(&format!("/api/v1/users/{}", alice.user_id), Some(&bob.token)).await;
        assert_eq!(profile.expect(200)["avatar_url"], url, "public profile shows the photo");
    }
    assert_ne!(etags[0], etags[3], "a different photo has a different ETag");
    assert_ne!(etags[3], etags[6]);
    app.stop().await;
}

async fn avatar_conditional_get(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    put_avatar(&app, &alice.token, encode(gradient(64, 64), image::ImageFormat::Png), "image/png").await.expect(200);
    let first = app.get("/api/v1/users/me/avatar", Some(&alice.token)).await;
    first.expect(200);
    let etag = header_str(&first, header::ETAG).to_owned();
    let public = format!("{}/api/v1/users/{}/avatar", app.base, alice.user_id);

    let cached = app.raw(app.client.get(&public).header(header::IF_NONE_MATCH, &etag)).await;
    assert_eq!(cached.status.as_u16(), 304);
    assert!(cached.bytes.is_empty(), "304 carries no body");
    assert_eq!(header_str(&cached, header::ETAG), etag);
    let mine = app
        .raw(
            app.client
                .get(format!("{}/api/v1/users/me/avatar", app.base))
                .bearer_auth(&alice.token)
                .header(header::IF_NONE_MATCH, format!("\"other\", {etag}")),
        )
        .await;
    assert_eq!(mine.status.as_u16(), 304, "a list of ETags containing the current one matches");

    let stale = app.raw(app.client.get(&public).header(header::IF_NONE_MATCH, "\"stale\"")).await;
    stale.expect(200);
    assert_eq!(stale.bytes, first.bytes);

    // After a new upload the old ETag no longer matches.
    put_avatar(&app, &alice.token, encode(gradient(80, 80), image::ImageFormat::Jpeg), "image/jpeg").await.expect(200);
    let changed = app.raw(app.client.get(&public).header(header::IF_NONE_MATCH, &etag)).await;
    changed.expect(200);
    assert_ne!(header_str(&changed, header::ETAG), etag);
    app.stop().await;
}

async fn avatar_is_cropped_to_the_centre(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    // 600×200: red outer thirds, blue centre square.
    let img = image::RgbImage::from_fn(600, 200, |x, _| {
        if (200..400).contains(&x) {
            image::Rgb([0, 0, 255])
        } else {
            image::Rgb([255, 0, 0])
        }
    });
    let png = encode(image::DynamicImage::ImageRgb8(img), image::ImageFormat::Png);
    put_avatar(&app, &alice.token, png, "image/png").await.expect(200);
    let got = app.get("/api/v1/users/me/avatar", Some(&alice.token)).await;
    got.expect(200);
    let out = image::load_from_memory(&got.bytes).expect("avatar decodes").to_rgb8();
    assert_eq!(out.dimensions(), (256, 256));
    for (x, y) in [(0, 0), (255, 0), (0, 255), (255, 255), (128, 128)] {
        let p = out.get_pixel(x, y);
        assert!(p[2] > 200 && p[0] < 50, "pixel ({x},{y}) should be blue, is {p:?}");
    }
    app.stop().await;
}

async fn avatar_refuses_bad_uploads(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    put_avatar(&app, &alice.token, GIF.to_vec(), "image/gif").await.expect_error(415, "unsupported_image");
    // Declaring another type does not help: the content decides.
    put_avatar(&app, &alice.token, GIF.to_vec(), "image/png").await.expect_error(415, "unsupported_image");
    let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    put_avatar(&app, &alice.token, noise, "image/png").await.expect_error(415, "unsupported_image");
    put_avatar(&app, &alice.token, b"\x89PNG\r\n\x1a\nnot really a png".to_vec(), "image/png")
        .await
        .expect_error(415, "unsupported_image");
    put_avatar(&app, &alice.token, Vec::new(), "image/png").await.expect_error(415, "unsupported_image");
    // A PNG cut off part-way.
    let mut png = encode(gradient(200, 200), image::ImageFormat::Png);
    png.truncate(png.len() / 3);
    put_avatar(&app, &alice.token, png, "image/png").await.expect_error(415, "unsupported_image");

    // One byte over 5 MB (a valid PNG signature, so only the size is wrong).
    let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
    big.resize(5 * 1024 * 1024 + 1, 0);
    put_avatar(&app, &alice.token, big, "image/png").await.expect_error(413, "payload_too_large");

    let unauth = app
        .raw(
            app.client
                .put(format!("{}/api/v1/users/me/avatar", app.base))
                .body(encode(gradient(32, 32), image::ImageFormat::Png)),
        )
        .await;
    unauth.expect_error(401, "missing_token");

    // Nothing was stored by any of that.
    app.get("/api/v1/users/me/avatar", Some(&alice.token)).await.expect_error(404, "no_avatar");
    assert!(app.get("/api/v1/users/me", Some(&alice.token)).await.expect(200)["avatar_url"].is_null());
    app.stop().await;
}

async fn avatar_larger_than_a_megabyte_is_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    // Noise does not compress: a PNG of a few MB, above the 1 MB limit of ordinary requests.
    let mut seed = 0x1234_5678u32;
    let img = image::RgbImage::from_fn(1000, 1000, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        image::Rgb([seed as u8, (seed >> 8) as u8, (seed >> 16) as u8])
    });
    let png = encode(image::DynamicImage::ImageRgb8(img), image::ImageFormat::Png);
    assert!(png.len() > 2 * 1024 * 1024 && png.len() < 5 * 1024 * 1024, "test image is {} bytes", png.len());
    let r = put_avatar(&app, &alice.token, png, "image/png").await;
    assert!(r.expect(200)["avatar_url"].is_string());
    app.stop().await;
}

async fn avatar_can_be_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    app.get(&format!("/api/v1/users/{}/avatar", alice.user_id), None).await.expect_error(404, "no_avatar");
    put_avatar(&app, &alice.token, encode(gradient(50, 50), image::ImageFormat::Png), "image/png").await.expect(200);
    app.get(&format!("/api/v1/users/{}/avatar", alice.user_id), None).await.expect(200);

    app.delete("/api/v1/users/me/avatar", None, None).await.expect_error(401, "missing_token");
    let r = app.delete("/api/v1/users/me/avatar", Some(&alice.token), None).await;
    r.expect(204);
    app.get("/api/v1/users/me/avatar", Some(&alice.token)).await.expect_error(404, "no_avatar");
    app.get(&format!("/api/v1/users/{}/avatar", alice.user_id), None).await.expect_error(404, "no_avatar");
    assert!(app.get("/api/v1/users/me", Some(&alice.token)).await.expect(200)["avatar_url"].is_null());
    let profile = app.get(&format!("/api/v1/users/{}", alice.user_id), Some(&bob.token)).await;
    assert!(profile.expect(200)["avatar_url"].is_null());
    app.get("/api/v1/users/00000000-0000-0000-0000-000000000000/avatar", None).await.expect(404);
    app.stop().await;
}

// ----- password -----

async fn change_password_signs_out_other_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let other = app.login("alice@example.com", PASSWORD).await;
    let new_password = "a brand new passphrase";

    let wrong = app
        .post(
            "/api/v1/users/me/password",
            Some(&alice.token),
            json!({"current_password": "not it at all", "new_password": new_password}),
        )
        .await;
    wrong.expect_error(403, "wrong_password");
    app.post(
        "/api/v1/users/me/password",
        Some(&alice.token),
        json!({"current_password": PASSWORD, "new_password": "short"}),
    )
    .await
    .expect_error(422, "weak_password");
    app.post(
        "/api/v1/users/me/password",
        Some(&alice.token),
        json!({"current_password": PASSWORD, "new_password": "ALICE"}),
    )
    .await
    .expect_error(422, "weak_password");
    app.post(
        "/api/v1/users/me/password",
        Some(&alice.token),
        json!({"current_password": PASSWORD, "new_password": "Alice@Example.com"}),
    )
    .await
    .expect_error(422, "weak_password");
    app.post("/api/v1/users/me/password", None, json!({"current_password": PASSWORD, "new_password": new_password}))
        .await
        .expect_error(401, "missing_token");
    // The refused attempts changed nothing and ended nothing.
    app.get("/api/v1/users/me", Some(&other.token)).await.expect(200);

    let ok = app
        .post(
            "/api/v1/users/me/password",
            Some(&alice.token),
            json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    ok.expect(204);
    app.get("/api/v1/users/me", Some(&alice.token)).await.expect(200);
    refresh(&app, &alice.refresh_token).await.expect(200);
    app.get("/api/v1/users/me", Some(&other.token)).await.expect_error(401, "session_ended");
    refresh(&app, &other.refresh_token).await.expect_error(401, "invalid_refresh_token");

    login_reply(&app, json!({"email": "alice@example.com", "password": PASSWORD}))
        .await
        .expect_error(401, "invalid_credentials");
    login_reply(&app, json!({"email": "alice@example.com", "password": new_password})).await.expect(200);
    app.stop().await;
}

async fn password_reset_flow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let known = app.post("/api/v1/users/password-reset", None, json!({"email": "Alice@Example.com"})).await;
    known.expect(202);
    let unknown = app.post("/api/v1/users/password-reset", None, json!({"email": "nobody@example.com"})).await;
    unknown.expect(202);
    assert_eq!(known.body, unknown.body, "the answer does not reveal whether the account exists");
    assert!(known.body["message"].is_string());

    wait_for_mail(&app, 1).await;
    // Give a (wrong) second mail time to show up too.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let outbox = app.outbox();
    assert_eq!(outbox.len(), 1, "one mail, for the existing account only");
    let mail = &outbox[0];
    assert!(mail.contains("alice@example.com"), "addressed to alice:\n{mail}");
    assert!(!mail.contains("nobody@example.com"));
    let text = mail_text(mail);
    assert!(text.contains(&format!("{}/#/reset-password?token=", app.base)), "link to this server:\n{text}");
    let token = reset_token(mail);
    let new_password = "reset to something new";

    app.post("/api/v1/users/password-reset/confirm", None, json!({"token": token, "new_password": "short"}))
        .await
        .expect_error(422, "weak_password");
    app.post(
        "/api/v1/users/password-reset/confirm",
        None,
        json!({"token": "not-a-token", "new_password": new_password}),
    )
    .await
    .expect_error(400, "invalid_reset_token");
    // The weak attempt did not use the token up.
    let ok = app
        .post("/api/v1/users/password-reset/confirm", None, json!({"token": token, "new_password": new_password}))
        .await;
    ok.expect(204);
    app.get("/api/v1/users/me", Some(&alice.token)).await.expect_error(401, "session_ended");
    login_reply(&app, json!({"email": "alice@example.com", "password": PASSWORD}))
        .await
        .expect_error(401, "invalid_credentials");
    login_reply(&app, json!({"email": "alice@example.com", "password": new_password})).await.expect(200);

    let again = app
        .post("/api/v1/users/password-reset/confirm", None, json!({"token": token, "new_password": "yet another one"}))
        .await;
    again.expect_error(400, "invalid_reset_token");
    login_reply(&app, json!({"email": "alice@example.com", "password": new_password})).await.expect(200);

    app.post("/api/v1/users/password-reset", None, json!({"email": "not an address"}))
        .await
        .expect_error(422, "invalid_email");
    assert_eq!(app.outbox().len(), 1);
    app.stop().await;
}

async fn password_reset_token_expires(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.account("alice").await;
    app.post("/api/v1/users/password-reset", None, json!({"email": "alice@example.com"})).await.expect(202);
    let outbox = wait_for_mail(&app, 1).await;
    assert_eq!(outbox.len(), 1);
    let token = reset_token(&outbox[0]);
    app.state.clock.advance(Duration::hours(2));
    app.post(
        "/api/v1/users/password-reset/confirm",
        None,
        json!({"token": token, "new_password": "too late for this"}),
    )
    .await
    .expect_error(400, "invalid_reset_token");
    login_reply(&app, json!({"email": "alice@example.com", "password": PASSWORD})).await.expect(200);
    login_reply(&app, json!({"email": "alice@example.com", "password": "too late for this"}))
        .await
        .expect_error(401, "invalid_credentials");
    app.stop().await;
}

async fn password_reset_lifts_a_lockout(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.login_failures_per_account = 2).await;
    app.account("alice").await;
    for _ in 0..2 {
        login_reply(&app, json!({"email": "alice@example.com", "password": "guessing wrong"}))
            .await
            .expect_error(401, "invalid_credentials");
    }
    login_reply(&app, json!({"email": "alice@example.com", "password": PASSWORD}))
        .await
        .expect_error(429, "rate_limited");
    app.post("/api/v1/users/password-reset", None, json!({"email": "alice@example.com"})).await.expect(202);
    let token = reset_token(&wait_for_mail(&app, 1).await[0]);
    app.post(
        "/api/v1/users/password-reset/confirm",
        None,
        json!({"token": token, "new_password": "the owner is back"}),
    )
    .await
    .expect(204);
    login_reply(&app, json!({"email": "alice@example.com", "password": "the owner is back"})).await.expect(200);
    app.stop().await;
}

// ----- export and erasure -----

async fn export_contains_my_data_but_no_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    let meeting = app.meeting(&alice, json!({"title": "Exported sync", "invitees": [bob.email]})).await;
    let invited = app.meeting(&bob, json!({"title": "Bob's call", "invitees": [alice.email]})).await;

    app.get("/api/v1/users/me/export", None).await.expect_error(401, "missing_token");
    let r = app.get("/api/v1/users/me/export", Some(&alice.token)).await;
    let export = r.expect(200);
    assert!(header_str(&r, header::CONTENT_DISPOSITION).starts_with("attachment"));
    assert!(header_str(&r, header::CONTENT_TYPE).starts_with("application/json"));
    assert!(export["exported_at"].is_string());
    assert_eq!(export["account"]["user_id"], alice.user_id.as_str());
    assert_eq!(export["account"]["email"], "alice@example.com");
    assert_eq!(export["account"]["username"], "alice");
    let sessions = export["sessions"].as_array().expect("sessions list");
    assert!(!sessions.is_empty());
    assert!(sessions.iter().all(|s| s["session_id"].is_string() && s["created_at"].is_string()));
    let hosted = export["meetings_hosted"].as_array().expect("meetings_hosted list");
    assert!(
        hosted.iter().any(|m| m["meeting_id"] == meeting["meeting_id"] && m["title"] == "Exported sync"),
        "hosted meeting in export: {hosted:?}"
    );
    assert!(hosted.iter().all(|m| m["host_id"] == alice.user_id.as_str()));
    let invited_list = export["meetings_invited"].as_array().expect("meetings_invited list");
    assert!(invited_list.iter().any(|m| m["meeting_id"] == invited["meeting_id"]), "{invited_list:?}");
    assert!(export["attendance"].is_array());

    let raw = String::from_utf8_lossy(&r.bytes);
    assert!(!raw.contains("argon2"), "no password hash in the export");
    assert!(!raw.contains("password_hash"));
    assert!(!raw.contains(&alice.refresh_token), "no refresh token in the export");
    app.stop().await;
}

async fn delete_account_needs_password_and_another_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    app.delete("/api/v1/users/me", Some(&alice.token), Some(json!({"password": "not my password"})))
        .await
        .expect_error(403, "wrong_password");
    app.delete("/api/v1/users/me", Some(&alice.token), Some(json!({"password": PASSWORD})))
        .await
        .expect_error(409, "last_admin");
    app.delete("/api/v1/users/me", Some(&bob.token), Some(json!({"password": "not my password"})))
        .await
        .expect_error(403, "wrong_password");
    app.delete("/api/v1/users/me", Some(&bob.token), None).await.expect_error(415, "unsupported_media_type");
    app.delete("/api/v1/users/me", None, Some(json!({"password": PASSWORD}))).await.expect_error(401, "missing_token");
    // Both accounts are still there and usable.
    app.get("/api/v1/users/me", Some(&alice.token)).await.expect(200);
    app.get("/api/v1/users/me", Some(&bob.token)).await.expect(200);
    login_reply(&app, json!({"email": "alice@example.com", "password": PASSWORD})).await.expect(200);
    app.stop().await;
}

async fn delete_account_erases_it_and_cancels_hosted_meetings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let _admin = app.account("alice").await;
    let bob = app.account("bob").await;
    let carol = app.account("carol").await;
    let meeting = app.meeting(&bob, json!({"title": "Bob's planning", "invitees": [carol.email]})).await;
    let path = format!("/api/v1/meetings/{}", meeting["meeting_id"]);
    assert_eq!(app.get(&path, Some(&carol.token)).await.expect(200)["status"], "scheduled");

    let r = app.delete("/api/v1/users/me", Some(&bob.token), Some(json!({"password": PASSWORD}))).await;
    r.expect(204);
    let gone = app.get("/api/v1/users/me", Some(&bob.token)).await;
    gone.expect(401);
    refresh(&app, &bob.refresh_token).await.expect_error(401, "invalid_refresh_token");
    login_reply(&app, json!({"email": "bob@example.com", "password": PASSWORD}))
        .await
        .expect_error(401, "invalid_credentials");
    app.get(&format!("/api/v1/users/{}", bob.user_id), Some(&carol.token)).await.expect_error(404, "user_not_found");

    let seen = app.get(&path, Some(&carol.token)).await;
    assert_eq!(seen.expect(200)["status"], "cancelled", "the invitee sees the meeting was cancelled");
    // The name and address are free again.
    register(&app, "bob", "bob@example.com", PASSWORD).await.expect(202);
    let again = app.login("bob", PASSWORD).await;
    assert_eq!(app.get("/api/v1/users/me", Some(&again.token)).await.expect(200)["role"], "user");
    assert_ne!(again.user_id, bob.user_id);
    app.stop().await;
}

backend_tests!(
    register_returns_account_and_first_is_admin,
    register_rejects_duplicates,
    register_validates_fields,
    register_rejects_malformed_requests,
    login_by_email_and_username,
    login_failures_do_not_reveal_accounts,
    login_locks_account_after_repeated_failures,
    login_rate_limited_per_ip,
    access_token_expiry_and_bad_tokens,
    refresh_rotates_tokens,
    refresh_token_reuse_revokes_the_family,
    refresh_token_expires,
    logout_ends_the_session,
    read_and_update_my_profile,
    public_profile_needs_sign_in_and_hides_email,
    avatar_accepts_png_jpeg_and_webp,
    avatar_conditional_get,
    avatar_is_cropped_to_the_centre,
    avatar_refuses_bad_uploads,
    avatar_larger_than_a_megabyte_is_accepted,
    avatar_can_be_deleted,
    change_password_signs_out_other_sessions,
    password_reset_flow,
    password_reset_token_expires,
    password_reset_lifts_a_lockout,
    export_contains_my_data_but_no_secrets,
    delete_account_needs_password_and_another_admin,
    delete_account_erases_it_and_cancels_hosted_meetings,
);
