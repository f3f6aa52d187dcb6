//! The meetings API as a client sees it: scheduling, recurrence, conflicts, invitees, editing,
//! cancelling, the personal room, joining by ID + passcode, and the meeting lists.
mod common;
use chrono::{DateTime, Duration, Utc};
use common::{in_hours, Account, Backend, Reply, TestApp};
use convene::meeting::MeetingStatus;
use convene::store::AttendanceRow;
use serde_json::{json, Value};

// ----- helpers -----

/// A timestamp field of a response.
#[track_caller]
fn ts(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")).parse().expect("RFC 3339 timestamp")
}

/// A whole minute `hours` from now, so round trips compare exactly.
fn minute_in_hours(hours: i64) -> DateTime<Utc> {
    let t = Utc::now() + Duration::hours(hours);
    DateTime::from_timestamp(t.timestamp() / 60 * 60, 0).unwrap()
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

#[track_caller]
fn id_of(m: &Value) -> i64 {
    m["meeting_id"].as_i64().unwrap_or_else(|| panic!("no meeting_id in {m}"))
}

fn passcode_of(m: &Value) -> String {
    m["passcode"].as_str().expect("passcode").to_owned()
}

async fn create(app: &TestApp, who: &Account, body: Value) -> Reply {
    app.post("/api/v1/meetings", Some(&who.token), body).await
}

async fn join(app: &TestApp, id: i64, token: Option<&str>, body: Value) -> Reply {
    app.post(&format!("/api/v1/meetings/{id}/join"), token, body).await
}

async fn list(app: &TestApp, who: &Account, query: &str) -> Value {
    app.get(&format!("/api/v1/meetings?{query}"), Some(&who.token)).await.expect(200).clone()
}

/// Meeting ids in a list page, in order.
fn ids_in(page: &Value) -> Vec<i64> {
    page["items"].as_array().expect("items").iter().map(id_of).collect()
}

fn item(page: &Value, id: i64) -> &Value {
    page["items"].as_array().unwrap().iter().find(|m| id_of(m) == id).unwrap_or_else(|| panic!("{id} not in {page}"))
}

fn attendance(
    meeting_id: i64,
    user: Option<&Account>,
    name: &str,
    role: &str,
    joined: i64,
    left: Option<i64>,
) -> AttendanceRow {
    AttendanceRow {
        id: uuid::Uuid::new_v4().to_string(),
        meeting_id,
        user_id: user.map(|u| u.user_id.clone()),
        display_name: name.into(),
        role: role.into(),
        joined_at: joined,
        left_at: left,
    }
}

// ----- creating -----

async fn create_scheduled_meeting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let start = minute_in_hours(48);
    let r = create(
        &app,
        &alice,
        json!({"title": "  Planning  ", "description": "Q3", "start_time": rfc(start), "duration_minutes": 45}),
    )
    .await;
    let m = r.expect(201).clone();
    let id = id_of(&m);
    assert_eq!(id.to_string().len(), 10, "scheduled meetings have 10-digit ids: {id}");
    assert_eq!(m["title"], "Planning", "title is trimmed");
    assert_eq!(m["description"], "Q3");
    assert_eq!(m["kind"], "scheduled");
    assert_eq!(m["status"], "scheduled");
    assert_eq!(m["host_id"], alice.user_id.as_str());
    assert_eq!(ts(&m["start_time"]), start);
    assert_eq!(ts(&m["end_time"]), start + Duration::minutes(45));
    assert_eq!(m["duration_minutes"], 45);
    assert_eq!(m["timezone"], "UTC");
    assert!(m["recurrence"].is_null());
    assert_eq!(m["sequence"], 0);
    assert_eq!(m["conflicts"], json!([]));
    let passcode = passcode_of(&m);
    assert!(passcode.len() >= 6, "passcode {passcode:?}");
    let join_url = m["join_url"].as_str().unwrap();
    assert!(join_url.starts_with(&app.base), "join_url {join_url} on the public URL");
    assert!(join_url.contains(&id.to_string()) && join_url.contains(&passcode), "join_url {join_url}");
    let s = &m["settings"];
    assert_eq!(s["max_participants"], 100);
    assert_eq!(s["duration_limit_minutes"], 60);
    assert_eq!(s["allow_guests"], true);
    assert_eq!(s["waiting_room"], false);
    let next = m["next_occurrences"].as_array().unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(ts(&next[0]["start_time"]), start);

    // Settings given at creation are kept; what the host reads back is what was stored.
    let got = app.get(&format!("/api/v1/meetings/{id}"), Some(&alice.token)).await;
    let got = got.expect(200);
    assert_eq!(got["passcode"], passcode.as_str());
    assert_eq!(ts(&got["start_time"]), start);
    assert_eq!(got["host_name"], "alice");
    let m2 = app
        .meeting(&alice, json!({"start_time": in_hours(72), "settings": {"waiting_room": true, "max_participants": 7}}))
        .await;
    assert_eq!(m2["settings"]["waiting_room"], true);
    assert_eq!(m2["settings"]["max_participants"], 7);
    assert_ne!(passcode_of(&m2), passcode, "each meeting gets its own passcode");
    app.stop().await;
}

async fn duration_from_end_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let start = minute_in_hours(5);
    let end = start + Duration::minutes(90);
    let m = create(&app, &alice, json!({"title": "Long", "start_time": rfc(start), "end_time": rfc(end)})).await;
    let m = m.expect(201);
    assert_eq!(m["duration_minutes"], 90);
    assert_eq!(ts(&m["end_time"]), end);
    // Neither given: an hour.
    let m = create(&app, &alice, json!({"title": "Default", "start_time": rfc(start + Duration::days(1))})).await;
    assert_eq!(m.expect(201)["duration_minutes"], 60);
    app.stop().await;
}

async fn create_refuses_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let start = minute_in_hours(3);
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"title": "x", "start_time": rfc(start), "duration_minutes": 30, "end_time": rfc(start + Duration::hours(1))}),
            422,
            "ambiguous_duration",
        ),
        (
            json!({"title": "x", "start_time": rfc(start), "end_time": rfc(start - Duration::minutes(5))}),
            422,
            "invalid_end_time",
        ),
        (json!({"title": "x", "start_time": rfc(start), "end_time": rfc(start)}), 422, "invalid_end_time"),
        (json!({"title": "x", "start_time": in_hours(-2), "duration_minutes": 30}), 422, "start_in_past"),
        (json!({"title": "x", "start_time": rfc(start), "timezone": "Mars/Olympus"}), 422, "invalid_timezone"),
        (json!({"title": "x", "start_time": rfc(start), "recurrence": "FREQ=SOMETIMES"}), 422, "invalid_recurrence"),
        (json!({"title": "x", "start_time": rfc(start), "recurrence": "FREQ=HOURLY"}), 422, "invalid_recurrence"),
        (
            json!({"title": "x", "start_time": rfc(start), "recurrence": "FREQ=MINUTELY;COUNT=5"}),
            422,
            "invalid_recurrence",
        ),
        (
            json!({"title": "x", "start_time": rfc(start), "recurrence": "FREQ=DAILY\nDTSTART:20200101T000000Z"}),
            422,
            "invalid_recurrence",
        ),
        (
            json!({"title": "x", "start_time": rfc(start), "settings": {"max_participants": 101}}),
            422,
            "invalid_max_participants",
        ),
        (
            json!({"title": "x", "start_time": rfc(start), "settings": {"max_participants": 1}}),
            422,
            "invalid_max_participants",
        ),
        (json!({"title": "x", "start_time": rfc(start), "duration_minutes": 0}), 422, "invalid_duration"),
        (json!({"title": "x", "start_time": rfc(start), "duration_minutes": -30}), 422, "invalid_duration"),
        (json!({"title": "x", "start_time": rfc(start), "colour": "blue"}), 422, "invalid_body"),
        (json!({"title": "x", "start_time": rfc(start), "settings": {"colour": "blue"}}), 422, "invalid_body"),
        (json!({"start_time": rfc(start)}), 422, "invalid_body"),
        (json!({"title": "   ", "start_time": rfc(start)}), 422, "invalid_title"),
        (json!({"title": "x", "start_time": "tomorrow at nine"}), 422, "invalid_body"),
        (json!({"title": "x", "invitees": ["nobody-with-this-id"]}), 422, "unknown_user"),
        (json!({"title": "x", "co_hosts": ["ghost@example.com"]}), 422, "unknown_user"),
        (json!({"title": "x", "host_id": "someone-else"}), 403, "not_host"),
    ];
    for (body, status, code) in cases {
        let r = create(&app, &alice, body.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{body} -> {}", r.body);
        r.expect_error(status, code);
    }
    // Nothing was created by the refused requests.
    assert_eq!(list(&app, &alice, "scope=upcoming").await["total"], 0);

    let r = app.post("/api/v1/meetings", None, json!({"title": "x"})).await;
    r.expect_error(401, "missing_token");
    let r = app.post("/api/v1/meetings", Some("not-a-token"), json!({"title": "x"})).await;
    r.expect_error(401, "invalid_token");
    app.stop().await;
}

async fn max_participants_cap_follows_server_config(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_participants = 10).await;
    let alice = app.account("alice").await;
    let m = app.meeting(&alice, json!({})).await;
    assert_eq!(m["settings"]["max_participants"], 10, "default is the server cap");
    let r = create(&app, &alice, json!({"title": "x", "settings": {"max_participants": 11}})).await;
    r.expect_error(422, "invalid_max_participants");
    assert!(r.code() == "invalid_max_participants" && r.body["error"]["message"].as_str().unwrap().contains("10"));
    let m = app.meeting(&alice, json!({"start_time": in_hours(3), "settings": {"max_participants": 10}})).await;
    assert_eq!(m["settings"]["max_participants"], 10);
    let r = app
        .patch(
            &format!("/api/v1/meetings/{}", id_of(&m)),
            Some(&alice.token),
            json!({"settings": {"max_participants": 50}}),
        )
        .await;
    r.expect_error(422, "invalid_max_participants");
    app.stop().await;
}

async fn instant_meeting_starts_now(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let before = Utc::now();
    let m = create(&app, &alice, json!({"title": "Quick call"})).await;
    let m = m.expect(201);
    assert_eq!(m["kind"], "instant");
    let start = ts(&m["start_time"]);
    assert!((start - before).num_seconds().abs() <= 5, "instant meeting starts now, not at {start}");
    assert_eq!(m["duration_minutes"], 60);
    // It is running now, so it is upcoming (current) and joinable.
    let page = list(&app, &alice, "scope=upcoming").await;
    assert_eq!(ids_in(&page), vec![id_of(m)]);
    join(&app, id_of(m), Some(&alice.token), json!({})).await.expect(200);
    app.stop().await;
}

async fn meeting_ids_are_not_sequential(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let mut ids = Vec::new();
    for h in 1..=8 {
        let m = app.meeting(&alice, json!({"start_time": in_hours(h * 2)})).await;
        ids.push(id_of(&m));
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "ids are unique: {ids:?}");
    for w in sorted.windows(2) {
        assert!(w[1] - w[0] > 1, "neighbouring ids {} and {} are guessable", w[0], w[1]);
    }
    for w in ids.windows(2) {
        assert!((w[1] - w[0]).abs() > 1, "consecutive meetings got consecutive ids: {ids:?}");
    }
    assert!(ids.iter().all(|id| id.to_string().len() == 10));
    app.stop().await;
}

// ----- recurrence -----

async fn weekly_recurrence(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let start = minute_in_hours(24);
    let m = app.meeting(&alice, json!({"start_time": rfc(start), "recurrence": "FREQ=WEEKLY;COUNT=3"})).await;
    assert_eq!(m["recurrence"], "FREQ=WEEKLY;COUNT=3");
    let next = m["next_occurrences"].as_array().unwrap();
    assert_eq!(next.len(), 3, "COUNT=3: {next:?}");
    for (i, o) in next.iter().enumerate() {
        assert_eq!(ts(&o["start_time"]), start + Duration::weeks(i as i64));
        assert_eq!(ts(&o["end_time"]), start + Duration::weeks(i as i64) + Duration::minutes(30));
    }
    let id = id_of(&m);
    let occ = app.get(&format!("/api/v1/meetings/{id}/occurrences?count=2"), Some(&alice.token)).await;
    let occ = occ.expect(200).as_array().unwrap().clone();
    assert_eq!(occ.len(), 2);
    assert_eq!(ts(&occ[1]["start_time"]), start + Duration::weeks(1));
    let all = app.get(&format!("/api/v1/meetings/{id}/occurrences"), Some(&alice.token)).await;
    assert_eq!(all.expect(200).as_array().unwrap().len(), 3, "never more than COUNT");
    for bad in ["count=0", "count=101", "count=many", "count=-1"] {
        let r = app.get(&format!("/api/v1/meetings/{id}/occurrences?{bad}"), Some(&alice.token)).await;
        assert_eq!(r.status.as_u16(), 400, "{bad}: {}", r.body);
        r.expect(400);
    }
    // A one-off meeting has exactly one occurrence.
    let once = app.meeting(&alice, json!({"start_time": in_hours(100)})).await;
    let occ = app.get(&format!("/api/v1/meetings/{}/occurrences", id_of(&once)), Some(&alice.token)).await;
    assert_eq!(occ.expect(200).as_array().unwrap().len(), 1);
    // Strangers may not read it.
    let eve = app.account("eve").await;
    app.get(&format!("/api/v1/meetings/{id}/occurrences"), Some(&eve.token)).await.expect_error(403, "not_invited");
    app.stop().await;
}

async fn recurrence_keeps_local_time_across_dst(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    // Mondays at 10:00 Berlin time. Summer time starts on Sunday 2027-03-28:
    // 10:00 CET is 09:00 UTC, 10:00 CEST is 08:00 UTC.
    let m = app
        .meeting(
            &alice,
            json!({"start_time": "2027-03-15T09:00:00Z", "timezone": "Europe/Berlin", "recurrence": "FREQ=WEEKLY;COUNT=4"}),
        )
        .await;
    assert_eq!(m["timezone"], "Europe/Berlin");
    let expected = ["2027-03-15T09:00:00Z", "2027-03-22T09:00:00Z", "2027-03-29T08:00:00Z", "2027-04-05T08:00:00Z"];
    let next: Vec<DateTime<Utc>> =
        m["next_occurrences"].as_array().unwrap().iter().map(|o| ts(&o["start_time"])).collect();
    let want: Vec<DateTime<Utc>> = expected.iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(next, want);
    let occ = app.get(&format!("/api/v1/meetings/{}/occurrences?count=4", id_of(&m)), Some(&alice.token)).await;
    let occ: Vec<DateTime<Utc>> = occ.expect(200).as_array().unwrap().iter().map(|o| ts(&o["start_time"])).collect();
    assert_eq!(occ, want);
    app.stop().await;
}

// ----- conflicts -----

async fn conflicts_are_reported_not_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let t = minute_in_hours(24);
    let first = app.meeting(&alice, json!({"title": "First", "start_time": rfc(t), "duration_minutes": 60})).await;
    assert_eq!(first["conflicts"], json!([]));

    let r = create(
        &app,
        &alice,
        json!({"title": "Overlap", "start_time": rfc(t + Duration::minutes(30)), "duration_minutes": 60}),
    )
    .await;
    let overlap = r.expect(201).clone();
    let c = overlap["conflicts"].as_array().unwrap();
    assert_eq!(c.len(), 1, "{overlap}");
    assert_eq!(c[0]["meeting_id"], id_of(&first));
    assert_eq!(c[0]["title"], "First");
    assert_eq!(ts(&c[0]["start_time"]), t);
    assert_eq!(ts(&c[0]["end_time"]), t + Duration::minutes(60));

    // Back to back with the first is fine (and clear of the overlapping one too).
    let r = create(
        &app,
        &alice,
        json!({"title": "After", "start_time": rfc(t + Duration::minutes(90)), "duration_minutes": 30}),
    )
    .await;
    assert_eq!(r.expect(201)["conflicts"], json!([]));
    let r = create(
        &app,
        &alice,
        json!({"title": "Before", "start_time": rfc(t - Duration::minutes(30)), "duration_minutes": 30}),
    )
    .await;
    assert_eq!(r.expect(201)["conflicts"], json!([]));

    // Editing a meeting does not report the meeting itself.
    let r = app
        .patch(&format!("/api/v1/meetings/{}", id_of(&first)), Some(&alice.token), json!({"title": "First (edited)"}))
        .await;
    let c: Vec<i64> = r.expect(200)["conflicts"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(c, vec![id_of(&overlap)]);

    // Another host's meetings are not my conflicts.
    let bob = app.account("bob").await;
    let r = create(&app, &bob, json!({"title": "Bob's", "start_time": rfc(t), "duration_minutes": 60})).await;
    assert_eq!(r.expect(201)["conflicts"], json!([]));

    // A cancelled meeting no longer conflicts.
    app.delete(&format!("/api/v1/meetings/{}", id_of(&overlap)), Some(&alice.token), None).await.expect(200);
    app.delete(&format!("/api/v1/meetings/{}", id_of(&first)), Some(&alice.token), None).await.expect(200);
    let r = create(&app, &alice, json!({"title": "Again", "start_time": rfc(t), "duration_minutes": 60})).await;
    assert_eq!(r.expect(201)["conflicts"], json!([]));
    app.stop().await;
}

async fn conflict_with_later_occurrence_of_recurring_meeting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let t = minute_in_hours(24);
    let weekly = app
        .meeting(
            &alice,
            json!({"title": "Weekly", "start_time": rfc(t), "duration_minutes": 60, "recurrence": "FREQ=WEEKLY"}),
        )
        .await;
    let later = t + Duration::weeks(3);
    let r = create(
        &app,
        &alice,
        json!({"title": "Clash", "start_time": rfc(later + Duration::minutes(15)), "duration_minutes": 15}),
    )
    .await;
    let c = r.expect(201)["conflicts"].as_array().unwrap().clone();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0]["meeting_id"], id_of(&weekly));
    assert_eq!(ts(&c[0]["start_time"]), later, "the clashing occurrence is reported");
    // The same slot on a day the series does not meet is free.
    let r = create(
        &app,
        &alice,
        json!({"title": "Free", "start_time": rfc(later + Duration::days(1)), "duration_minutes": 60}),
    )
    .await;
    assert_eq!(r.expect(201)["conflicts"], json!([]));
    app.stop().await;
}

// ----- invitees and access -----

async fn invitees_by_email_and_user_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    let carol = app.account("carol").await;
    let m = app
        .meeting(
            &alice,
            json!({"invitees": ["Bob@Example.com", carol.user_id, "outsider@elsewhere.org", "alice@example.com"]}),
        )
        .await;
    let mut inv: Vec<(String, Value)> = m["invitees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["email"].as_str().unwrap().to_owned(), i["user_id"].clone()))
        .collect();
    inv.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        inv,
        vec![
            ("bob@example.com".to_owned(), json!(bob.user_id)),
            ("carol@example.com".to_owned(), json!(carol.user_id)),
            ("outsider@elsewhere.org".to_owned(), Value::Null),
        ],
        "e-mails normalised and linked to accounts; the host is not their own invitee"
    );
    let id = id_of(&m);

    for invitee in [&bob, &carol] {
        let page = list(&app, invitee, "scope=upcoming").await;
        assert_eq!(ids_in(&page), vec![id], "{} sees the invitation", invitee.username);
        assert_eq!(item(&page, id)["my_role"], "invitee");
        let got = app.get(&format!("/api/v1/meetings/{id}"), Some(&invitee.token)).await;
        assert_eq!(got.expect(200)["title"], "Weekly sync");
    }
    assert_eq!(item(&list(&app, &alice, "").await, id)["my_role"], "host");

    let eve = app.account("eve").await;
    app.get(&format!("/api/v1/meetings/{id}"), Some(&eve.token)).await.expect_error(403, "not_invited");
    assert_eq!(list(&app, &eve, "scope=upcoming").await["total"], 0, "strangers do not see it listed");
    app.get("/api/v1/meetings/1000000000", Some(&eve.token)).await.expect_error(404, "meeting_not_found");
    app.get("/api/v1/meetings/abc", Some(&eve.token)).await.expect_error(404, "meeting_not_found");
    app.get("/api/v1/meetings/12", Some(&eve.token)).await.expect_error(404, "meeting_not_found");
    app.get(&format!("/api/v1/meetings/{id}"), None).await.expect_error(401, "missing_token");

    // An unknown user id among invitees refuses the whole request.
    let r =
        create(&app, &alice, json!({"title": "x", "invitees": [bob.user_id, "0d1b0a4e-0000-4000-8000-000000000000"]}))
            .await;
    r.expect_error(422, "unknown_user");
    app.stop().await;
}

// ----- editing -----

async fn host_edits_meeting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    let carol = app.account("carol").await;
    let m = app.meeting(&alice, json!({"invitees": [bob.email]})).await;
    let id = id_of(&m);
    let path = format!("/api/v1/meetings/{id}");
    let new_start = minute_in_hours(30);
    let r = app
        .patch(
            &path,
            Some(&alice.token),
            json!({"title": "Renamed", "start_time": rfc(new_start), "duration_minutes": 45,
                   "settings": {"allow_guests": false, "mute_on_entry": true}, "invitees": [carol.user_id]}),
        )
        .await;
    let u = r.expect(200).clone();
    assert_eq!(u["title"], "Renamed");
    assert_eq!(ts(&u["start_time"]), new_start);
    assert_eq!(ts(&u["end_time"]), new_start + Duration::minutes(45));
    assert_eq!(u["settings"]["allow_guests"], false);
    assert_eq!(u["settings"]["mute_on_entry"], true);
    assert_eq!(u["settings"]["max_participants"], 100, "untouched settings keep their value");
    assert_eq!(u["sequence"], 1);
    assert_eq!(u["meeting_id"], id, "the id never changes");
    assert_eq!(u["passcode"], m["passcode"], "nor does the passcode");
    let emails: Vec<&str> = u["invitees"].as_array().unwrap().iter().map(|i| i["email"].as_str().unwrap()).collect();
    assert_eq!(emails, vec!["carol@example.com"]);

    // The change is stored: bob is no longer invited, carol is.
    app.get(&path, Some(&bob.token)).await.expect_error(403, "not_invited");
    app.get(&path, Some(&carol.token)).await.expect(200);
    let got = app.get(&path, Some(&alice.token)).await;
    assert_eq!(got.expect(200)["title"], "Renamed");
    assert_eq!(got.body["sequence"], 1);

    // end_time alone moves the end; start stays.
    let end = new_start + Duration::minutes(120);
    let r = app.patch(&path, Some(&alice.token), json!({"end_time": rfc(end)})).await;
    assert_eq!(r.expect(200)["duration_minutes"], 120);
    assert_eq!(ts(&r.body["start_time"]), new_start);
    assert_eq!(r.body["sequence"], 2);

    // Same validation as creation.
    app.patch(&path, Some(&alice.token), json!({"start_time": in_hours(-3)})).await.expect_error(422, "start_in_past");
    app.patch(&path, Some(&alice.token), json!({"timezone": "Nowhere/Land"}))
        .await
        .expect_error(422, "invalid_timezone");
    app.patch(&path, Some(&alice.token), json!({"recurrence": "FREQ=HOURLY"}))
        .await
        .expect_error(422, "invalid_recurrence");
    app.patch(&path, Some(&alice.token), json!({"title": ""})).await.expect_error(422, "invalid_title");
    app.patch(&path, Some(&alice.token), json!({"passcode": "1234"})).await.expect_error(422, "invalid_body");
    app.patch(&path, Some(&alice.token), json!({"duration_minutes": 10, "end_time": rfc(end)}))
        .await
        .expect_error(422, "ambiguous_duration");
    let got = app.get(&path, Some(&alice.token)).await;
    assert_eq!(got.expect(200)["sequence"], 2, "refused edits change nothing");
    assert_eq!(got.body["duration_minutes"], 120);

    // A recurrence can be added and removed again.
    let r = app.patch(&path, Some(&alice.token), json!({"recurrence": "FREQ=DAILY;COUNT=2"})).await;
    assert_eq!(r.expect(200)["next_occurrences"].as_array().unwrap().len(), 2);
    let r = app.patch(&path, Some(&alice.token), json!({"recurrence": ""})).await;
    assert!(r.expect(200)["recurrence"].is_null());
    assert_eq!(r.body["next_occurrences"].as_array().unwrap().len(), 1);
    app.patch("/api/v1/meetings/1000000000", Some(&alice.token), json!({"title": "x"}))
        .await
        .expect_error(404, "meeting_not_found");
    app.stop().await;
}

async fn co_host_edits_but_cannot_change_co_hosts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    let carol = app.account("carol").await;
    let m = app.meeting(&alice, json!({"co_hosts": [bob.user_id]})).await;
    assert_eq!(m["co_hosts"], json!([bob.user_id]));
    let id = id_of(&m);
    let path = format!("/api/v1/meetings/{id}");
    assert_eq!(item(&list(&app, &bob, "scope=upcoming").await, id)["my_role"], "cohost");

    let r =
        app.patch(&path, Some(&bob.token), json!({"title": "Bob was here", "settings": {"waiting_room": true}})).await;
    assert_eq!(r.expect(200)["title"], "Bob was here");
    assert_eq!(r.body["settings"]["waiting_room"], true);
    assert_eq!(r.body["host_id"], alice.user_id.as_str(), "a co-host's edit does not change the host");

    let r = app.patch(&path, Some(&bob.token), json!({"co_hosts": [bob.user_id, carol.user_id]})).await;
    r.expect_error(403, "not_host");
    let r = app.patch(&path, Some(&bob.token), json!({"co_hosts": []})).await;
    r.expect_error(403, "not_host");
    let got = app.get(&path, Some(&alice.token)).await;
    assert_eq!(got.expect(200)["co_hosts"], json!([bob.user_id]), "co-hosts unchanged");

    // The host can change them.
    let r = app.patch(&path, Some(&alice.token), json!({"co_hosts": [carol.email]})).await;
    assert_eq!(r.expect(200)["co_hosts"], json!([carol.user_id]));
    app.patch(&path, Some(&bob.token), json!({"title": "x"})).await.expect_error(403, "not_host");
    app.stop().await;
}

async fn invitee_and_stranger_cannot_edit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    let eve = app.account("eve").await;
    let m = app.meeting(&alice, json!({"invitees": [bob.user_id]})).await;
    let path = format!("/api/v1/meetings/{}", id_of(&m));
    app.patch(&path, Some(&bob.token), json!({"title": "Mine now"})).await.expect_error(403, "not_host");
    app.patch(&path, Some(&eve.token), json!({"title": "Mine now"})).await.expect_error(403, "not_host");
    app.patch(&path, None, json!({"title": "Mine now"})).await.expect_error(401, "missing_token");
    let got = app.get(&path, Some(&alice.token)).await;
    assert_eq!(got.expect(200)["title"], "Weekly sync");
    assert_eq!(got.body["sequence"], 0);
    app.stop().await;
}

// ----- cancelling -----

async fn cancel_meeting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    let eve = app.account("eve").await;
    let m = app.meeting(&alice, json!({"invitees": [bob.user_id]})).await;
    let keep = app.meeting(&alice, json!({"start_time": in_hours(5)})).await;
    let id = id_of(&m);
    let path = format!("/api/v1/meetings/{id}");
    app.delete(&path, Some(&eve.token), None).await.expect_error(403, "not_host");
    app.delete(&path, Some(&bob.token), None).await.expect_error(403, "not_host");
    app.delete(&path, None, None).await.expect_error(401, "missing_token");

    let r = app.delete(&path, Some(&alice.token), None).await;
    assert_eq!(r.expect(200)["status"], "cancelled");
    assert_eq!(r.body["sequence"], 1);
    app.delete(&path, Some(&alice.token), None).await.expect_error(409, "meeting_cancelled");
    app.patch(&path, Some(&alice.token), json!({"title": "Back"})).await.expect_error(409, "meeting_cancelled");

    assert_eq!(ids_in(&list(&app, &alice, "scope=upcoming").await), vec![id_of(&keep)]);
    assert_eq!(list(&app, &bob, "scope=upcoming").await["total"], 0);
    // The host and invitees can still look it up and see that it was cancelled.
    assert_eq!(app.get(&path, Some(&bob.token)).await.expect(200)["status"], "cancelled");

    let r = join(&app, id, None, json!({"passcode": passcode_of(&m), "display_name": "Gus"})).await;
    r.expect_error(410, "meeting_cancelled");
    join(&app, id, Some(&alice.token), json!({})).await.expect_error(410, "meeting_cancelled");
    app.delete("/api/v1/meetings/1000000000", Some(&alice.token), None).await.expect_error(404, "meeting_not_found");

    // A co-host may cancel too.
    let m = app.meeting(&alice, json!({"start_time": in_hours(9), "co_hosts": [bob.user_id]})).await;
    let r = app.delete(&format!("/api/v1/meetings/{}", id_of(&m)), Some(&bob.token), None).await;
    assert_eq!(r.expect(200)["status"], "cancelled");
    app.stop().await;
}

// ----- personal room -----

async fn personal_room(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let first = app.get("/api/v1/meetings/personal", Some(&alice.token)).await.expect(200).clone();
    let again = app.get("/api/v1/meetings/personal", Some(&alice.token)).await.expect(200).clone();
    let id = id_of(&first);
    assert_eq!(id_of(&again), id, "always the same room");
    assert_eq!(again["passcode"], first["passcode"]);
    assert_eq!(id.to_string().len(), 11, "personal rooms have 11-digit ids");
    assert_eq!(first["kind"], "personal");
    assert_eq!(first["host_id"], alice.user_id.as_str());
    let me = app.get("/api/v1/users/me", Some(&alice.token)).await;
    assert_eq!(me.expect(200)["personal_meeting_id"], id);

    let bob = app.account("bob").await;
    let bobs = app.get("/api/v1/meetings/personal", Some(&bob.token)).await.expect(200).clone();
    assert_ne!(id_of(&bobs), id, "everyone has their own room");
    app.get("/api/v1/meetings/personal", None).await.expect_error(401, "missing_token");

    let path = format!("/api/v1/meetings/{id}");
    app.delete(&path, Some(&alice.token), None).await.expect_error(409, "personal_room");
    app.patch(&path, Some(&alice.token), json!({"start_time": in_hours(2)}))
        .await
        .expect_error(422, "personal_room_untimed");
    app.patch(&path, Some(&alice.token), json!({"recurrence": "FREQ=DAILY"}))
        .await
        .expect_error(422, "personal_room_untimed");
    let r = app
        .patch(
            &path,
            Some(&alice.token),
            json!({"settings": {"waiting_room": true, "allow_guests": false, "join_before_host": true}}),
        )
        .await;
    assert_eq!(r.expect(200)["settings"]["waiting_room"], true);
    assert_eq!(r.body["conflicts"], json!([]));
    let r = app.get("/api/v1/meetings/personal", Some(&alice.token)).await;
    assert_eq!(r.expect(200)["settings"]["waiting_room"], true, "the change is stored");
    assert_eq!(r.body["settings"]["allow_guests"], false);
    assert_eq!(id_of(&r.body), id);
    app.patch(&path, Some(&bob.token), json!({"settings": {"waiting_room": false}}))
        .await
        .expect_error(403, "not_host");

    // Joinable with its passcode; the host needs none.
    let r = join(&app, id, Some(&bob.token), json!({"passcode": passcode_of(&first)})).await;
    assert_eq!(r.expect(200)["role"], "participant");
    assert_eq!(join(&app, id, Some(&alice.token), json!({})).await.expect(200)["role"], "host");
    // Not a scheduled meeting: not in the lists.
    assert_eq!(list(&app, &alice, "scope=upcoming").await["total"], 0);
    app.stop().await;
}

// ----- joining -----

async fn guest_joins_with_passcode(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let m = app.meeting(&alice, json!({"title": "Open house", "settings": {"join_before_host": true}})).await;
    let id = id_of(&m);
    let r = join(&app, id, None, json!({"passcode": passcode_of(&m), "display_name": "  Gus  "})).await;
    let t = r.expect(200).clone();
    assert_eq!(t["role"], "guest");
    assert_eq!(t["display_name"], "Gus");
    assert_eq!(t["meeting_id"], id);
    assert_eq!(t["title"], "Open house");
    assert_eq!(t["expires_in"], 300);
    assert_eq!(t["ws_url"], format!("/api/v1/meetings/{id}/ws"));
    let ticket = t["ticket"].as_str().unwrap();
    let now = Utc::now().timestamp();
    let claims = app.state.keys.verify_ticket(ticket, now).expect("a valid ticket");
    assert_eq!(claims.mid, id);
    assert_eq!(claims.role.as_str(), "guest");
    assert_eq!(claims.name, "Gus");
    assert!(claims.sub.starts_with("guest:"), "guest identity {}", claims.sub);
    assert!(app.state.keys.verify_ticket(ticket, now + 290).is_ok(), "valid for five minutes");
    assert!(app.state.keys.verify_ticket(ticket, now + 301).is_err(), "expired after five minutes");
    assert!(app.state.keys.verify_access(ticket, now).is_err(), "a ticket is not an access token");

    // Two guests are two different people.
    let r = join(&app, id, None, json!({"passcode": passcode_of(&m), "display_name": "Gus"})).await;
    let other = app.state.keys.verify_ticket(r.expect(200)["ticket"].as_str().unwrap(), now).unwrap();
    assert_ne!(other.sub, claims.sub);
    assert_ne!(other.jti, claims.jti);

    // Meeting IDs may be typed with separators.
    let s = id.to_string();
    let dashed = format!("{}-{}-{}", &s[..3], &s[3..6], &s[6..]);
    let r = app
        .post(
            &format!("/api/v1/meetings/{dashed}/join"),
            None,
            json!({"passcode": passcode_of(&m), "display_name": "Gus"}),
        )
        .await;
    assert_eq!(r.expect(200)["meeting_id"], id);
    app.stop().await;
}

async fn join_refusals(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let m = app.meeting(&alice, json!({})).await;
    let id = id_of(&m);
    let pass = passcode_of(&m);
    join(&app, id, None, json!({"passcode": pass})).await.expect_error(422, "display_name_required");
    join(&app, id, None, json!({"passcode": pass, "display_name": "   "}))
        .await
        .expect_error(422, "display_name_required");
    join(&app, id, None, json!({"passcode": pass, "display_name": "x".repeat(65)}))
        .await
        .expect_error(422, "invalid_display_name");
    join(&app, id, None, json!({"passcode": "wrong123", "display_name": "Gus"}))
        .await
        .expect_error(403, "wrong_passcode");
    join(&app, id, None, json!({"passcode": pass.to_uppercase() + "x", "display_name": "Gus"}))
        .await
        .expect_error(403, "wrong_passcode");
    join(&app, id, None, json!({"display_name": "Gus"})).await.expect_error(403, "passcode_required");
    join(&app, id, None, json!({"passcode": "", "display_name": "Gus"})).await.expect_error(403, "passcode_required");
    let eve = app.account("eve").await;
    join(&app, id, Some(&eve.token), json!({})).await.expect_error(403, "passcode_required");
    join(&app, id, Some("garbage"), json!({"passcode": pass})).await.expect_error(401, "invalid_token");
    join(&app, 1_000_000_000, None, json!({"passcode": pass, "display_name": "Gus"}))
        .await
        .expect_error(404, "meeting_not_found");
    let r =
        app.post("/api/v1/meetings/not-a-number/join", None, json!({"passcode": pass, "display_name": "Gus"})).await;
    r.expect_error(404, "meeting_not_found");
    app.stop().await;
}

async fn join_roles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    let carol = app.account("carol").await;
    app.patch("/api/v1/users/me", Some(&carol.token), json!({"display_name": "Carol C."})).await.expect(200);
    let m = app
        .meeting(
            &alice,
            json!({"co_hosts": [bob.user_id], "invitees": [carol.email], "settings": {"join_before_host": true}}),
        )
        .await;
    let id = id_of(&m);
    let now = Utc::now().timestamp();

    let r = join(&app, id, Some(&alice.token), json!({})).await;
    assert_eq!(r.expect(200)["role"], "host", "the host needs no passcode");
    let claims = app.state.keys.verify_ticket(r.body["ticket"].as_str().unwrap(), now).unwrap();
    assert_eq!((claims.sub.as_str(), claims.role.as_str(), claims.mid), (alice.user_id.as_str(), "host", id));
    assert_eq!(r.body["display_name"], "alice");

    let r = join(&app, id, Some(&bob.token), json!({})).await;
    assert_eq!(r.expect(200)["role"], "cohost", "co-hosts need no passcode");
    let claims = app.state.keys.verify_ticket(r.body["ticket"].as_str().unwrap(), now).unwrap();
    assert_eq!(claims.sub, bob.user_id);

    join(&app, id, Some(&carol.token), json!({})).await.expect_error(403, "passcode_required");
    let r = join(&app, id, Some(&carol.token), json!({"passcode": passcode_of(&m)})).await;
    assert_eq!(r.expect(200)["role"], "participant");
    assert_eq!(r.body["display_name"], "Carol C.", "the account's display name");
    let claims = app.state.keys.verify_ticket(r.body["ticket"].as_str().unwrap(), now).unwrap();
    assert_eq!((claims.sub.as_str(), claims.name.as_str()), (carol.user_id.as_str(), "Carol C."));
    let r = join(&app, id, Some(&carol.token), json!({"passcode": passcode_of(&m), "display_name": "CC"})).await;
    assert_eq!(r.expect(200)["display_name"], "CC", "an explicit name wins");
    app.stop().await;
}

async fn members_only_meeting_refuses_guests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let m = app.meeting(&alice, json!({"settings": {"allow_guests": false, "join_before_host": true}})).await;
    let id = id_of(&m);
    let pass = passcode_of(&m);
    let r = join(&app, id, None, json!({"passcode": pass, "display_name": "Gus"})).await;
    r.expect_error(401, "guests_not_allowed");
    let dave = app.account("dave").await;
    let r = join(&app, id, Some(&dave.token), json!({"passcode": pass})).await;
    assert_eq!(r.expect(200)["role"], "participant", "signed-in users with the passcode get in");
    join(&app, id, Some(&dave.token), json!({"passcode": "nope"})).await.expect_error(403, "wrong_passcode");
    app.stop().await;
}

async fn wrong_passcodes_are_rate_limited(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.passcode_failures_per_ip = 3).await;
    let alice = app.account("alice").await;
    let m = app.meeting(&alice, json!({"settings": {"join_before_host": true}})).await;
    let id = id_of(&m);
    let good = json!({"passcode": passcode_of(&m), "display_name": "Gus"});
    for i in 0..3 {
        let r = join(&app, id, None, json!({"passcode": format!("guess{i}"), "display_name": "Gus"})).await;
        r.expect_error(403, "wrong_passcode");
    }
    let r = join(&app, id, None, json!({"passcode": "guess4", "display_name": "Gus"})).await;
    r.expect_error(429, "rate_limited");
    let retry: u64 = r
        .headers
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=600).contains(&retry), "Retry-After {retry}");
    join(&app, id, None, good.clone()).await.expect_error(429, "rate_limited");
    // Blocked per address, whichever meeting is tried.
    let other = app.meeting(&alice, json!({"start_time": in_hours(4), "settings": {"join_before_host": true}})).await;
    let r = join(&app, id_of(&other), None, json!({"passcode": passcode_of(&other), "display_name": "Gus"})).await;
    r.expect_error(429, "rate_limited");

    app.state.clock.advance(Duration::minutes(11));
    let r = join(&app, id, None, good).await;
    assert_eq!(r.expect(200)["role"], "guest", "the block lifts after the window");
    app.stop().await;
}

async fn join_ended_meeting_is_gone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let m = app.meeting(&alice, json!({"settings": {"join_before_host": true}})).await;
    let id = id_of(&m);
    let now = app.state.clock.now_ms();
    app.state.store.set_meeting_status(id, MeetingStatus::Live, now).await.unwrap();
    let r = join(&app, id, None, json!({"passcode": passcode_of(&m), "display_name": "Gus"})).await;
    assert_eq!(r.expect(200)["role"], "guest", "a live meeting is joinable");
    app.state.store.set_meeting_status(id, MeetingStatus::Ended, now + 1000).await.unwrap();
    let r = join(&app, id, None, json!({"passcode": passcode_of(&m), "display_name": "Gus"})).await;
    r.expect_error(410, "meeting_ended");
    join(&app, id, Some(&alice.token), json!({})).await.expect_error(410, "meeting_ended");
    let path = format!("/api/v1/meetings/{id}");
    app.patch(&path, Some(&alice.token), json!({"title": "x"})).await.expect_error(409, "meeting_ended");
    app.delete(&path, Some(&alice.token), None).await.expect_error(409, "meeting_ended");
    app.stop().await;
}

// ----- lists -----

async fn list_pagination_and_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let mut by_hour = std::collections::BTreeMap::new();
    for h in [3, 1, 5, 2, 4] {
        let m = app.meeting(&alice, json!({"title": format!("In {h}h"), "start_time": in_hours(h * 3)})).await;
        by_hour.insert(h, id_of(&m));
    }
    let soonest_first: Vec<i64> = by_hour.values().copied().collect();
    let all = list(&app, &alice, "scope=upcoming").await;
    assert_eq!(ids_in(&all), soonest_first, "soonest first");
    assert_eq!(all["total"], 5);
    assert_eq!(all["page"], 1);
    assert_eq!(all["page_size"], 20);
    assert_eq!(ids_in(&list(&app, &alice, "").await), soonest_first, "upcoming is the default scope");

    let p1 = list(&app, &alice, "scope=upcoming&page_size=2").await;
    assert_eq!(ids_in(&p1), soonest_first[..2]);
    assert_eq!((p1["total"].as_i64(), p1["page"].as_i64(), p1["page_size"].as_i64()), (Some(5), Some(1), Some(2)));
    let p2 = list(&app, &alice, "scope=upcoming&page_size=2&page=2").await;
    assert_eq!(ids_in(&p2), soonest_first[2..4]);
    let p3 = list(&app, &alice, "scope=upcoming&page_size=2&page=3").await;
    assert_eq!(ids_in(&p3), soonest_first[4..]);
    assert_eq!(p3["total"], 5);
    let p4 = list(&app, &alice, "scope=upcoming&page_size=2&page=4").await;
    assert_eq!(p4["items"], json!([]));
    assert_eq!(p4["total"], 5);
    let first = item(&all, soonest_first[0]);
    assert_eq!(first["my_role"], "host");
    assert_eq!(first["attendee_count"], 0);
    assert_eq!(first["title"], "In 1h");
    app.stop().await;
}

async fn list_query_validation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    for (q, code) in [
        ("page=0", "invalid_page"),
        ("page=-1", "invalid_page"),
        ("page_size=0", "invalid_page"),
        ("page_size=101", "invalid_page"),
        ("scope=bogus", "invalid_scope"),
        ("page=one", "invalid_query"),
    ] {
        let r = app.get(&format!("/api/v1/meetings?{q}"), Some(&alice.token)).await;
        assert_eq!(r.status.as_u16(), 400, "{q}: {}", r.body);
        r.expect_error(400, code);
    }
    app.get("/api/v1/meetings", None).await.expect_error(401, "missing_token");
    app.stop().await;
}

async fn past_meetings_and_attendance(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    let carol = app.account("carol").await;
    let held = app.meeting(&alice, json!({"title": "Held", "invitees": [bob.user_id]})).await;
    let later = app.meeting(&alice, json!({"title": "Later", "start_time": in_hours(6)})).await;
    let (held_id, later_id) = (id_of(&held), id_of(&later));
    let now = app.state.clock.now_ms();
    let min = 60_000;
    let store = &app.state.store;
    store.set_meeting_status(held_id, MeetingStatus::Live, now - 60 * min).await.unwrap();
    store
        .record_join(&attendance(held_id, Some(&alice), "alice", "host", now - 60 * min, Some(now - 10 * min)))
        .await
        .unwrap();
    let carol_row = attendance(held_id, Some(&carol), "carol", "participant", now - 50 * min, None);
    store.record_join(&carol_row).await.unwrap();
    store.record_leave(&carol_row.id, now - 20 * min).await.unwrap();
    store.record_leave(&carol_row.id, now - 5 * min).await.unwrap(); // a second leave changes nothing
    store.record_join(&attendance(held_id, None, "Gus", "guest", now - 40 * min, Some(now - 39 * min))).await.unwrap();
    store.set_meeting_status(held_id, MeetingStatus::Ended, now - 10 * min).await.unwrap();

    let past = list(&app, &alice, "scope=past").await;
    assert_eq!(ids_in(&past), vec![held_id], "only the held meeting is past");
    let h = item(&past, held_id);
    assert_eq!(h["attendee_count"], 3);
    assert_eq!(h["my_role"], "host");
    assert_eq!(h["status"], "ended");
    assert!(h["started_at"].is_string() && h["ended_at"].is_string());
    assert_eq!(ts(&h["ended_at"]).timestamp_millis(), now - 10 * min);
    assert_eq!(ids_in(&list(&app, &alice, "scope=upcoming").await), vec![later_id], "ended is not upcoming");
    assert_eq!(list(&app, &alice, "scope=live").await["total"], 0);

    // An attendee who was not invited sees it as theirs; an invitee too.
    let cp = list(&app, &carol, "scope=past").await;
    assert_eq!(item(&cp, held_id)["my_role"], "attendee");
    app.get(&format!("/api/v1/meetings/{held_id}"), Some(&carol.token)).await.expect(200);
    assert_eq!(item(&list(&app, &bob, "scope=past").await, held_id)["my_role"], "invitee");

    let r = app.get(&format!("/api/v1/meetings/{held_id}/attendance"), Some(&alice.token)).await;
    let rows = r.expect(200).as_array().unwrap().clone();
    let summary: Vec<(Value, &str, &str, i64)> = rows
        .iter()
        .map(|a| {
            (
                a["user_id"].clone(),
                a["display_name"].as_str().unwrap(),
                a["role"].as_str().unwrap(),
                a["duration_seconds"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (json!(alice.user_id), "alice", "host", 50 * 60),
            (json!(carol.user_id), "carol", "participant", 30 * 60),
            (Value::Null, "Gus", "guest", 60),
        ],
        "in order of joining, with time present"
    );
    assert_eq!(ts(&rows[1]["left_at"]).timestamp_millis(), now - 20 * min);
    app.get(&format!("/api/v1/meetings/{held_id}/attendance"), Some(&bob.token)).await.expect_error(403, "not_host");
    app.get(&format!("/api/v1/meetings/{held_id}/attendance"), Some(&carol.token)).await.expect_error(403, "not_host");
    let r = app.get(&format!("/api/v1/meetings/{later_id}/attendance"), Some(&alice.token)).await;
    assert_eq!(r.expect(200), &json!([]));
    app.get("/api/v1/meetings/1000000000/attendance", Some(&alice.token)).await.expect_error(404, "meeting_not_found");
    app.stop().await;
}

async fn past_meetings_most_recent_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let now = app.state.clock.now_ms();
    let hour = 3_600_000;
    let mut ids = Vec::new();
    for (i, ended_hours_ago) in [5, 1, 3].into_iter().enumerate() {
        let m = app.meeting(&alice, json!({"start_time": in_hours(i as i64 + 1)})).await;
        let id = id_of(&m);
        app.state.store.set_meeting_status(id, MeetingStatus::Live, now - (ended_hours_ago + 1) * hour).await.unwrap();
        app.state.store.set_meeting_status(id, MeetingStatus::Ended, now - ended_hours_ago * hour).await.unwrap();
        ids.push(id);
    }
    let past = list(&app, &alice, "scope=past").await;
    assert_eq!(ids_in(&past), vec![ids[1], ids[2], ids[0]]);
    let p2 = list(&app, &alice, "scope=past&page_size=2&page=2").await;
    assert_eq!(ids_in(&p2), vec![ids[0]]);
    assert_eq!(p2["total"], 3);
    app.stop().await;
}

async fn attendee_count_counts_people_not_visits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let carol = app.account("carol").await;
    let m = app.meeting(&alice, json!({})).await;
    let id = id_of(&m);
    let now = app.state.clock.now_ms();
    let min = 60_000;
    let store = &app.state.store;
    store.set_meeting_status(id, MeetingStatus::Live, now - 60 * min).await.unwrap();
    store
        .record_join(&attendance(id, Some(&alice), "alice", "host", now - 60 * min, Some(now - 5 * min)))
        .await
        .unwrap();
    // Carol's connection dropped and she came back.
    store
        .record_join(&attendance(id, Some(&carol), "carol", "participant", now - 50 * min, Some(now - 40 * min)))
        .await
        .unwrap();
    store
        .record_join(&attendance(id, Some(&carol), "carol", "participant", now - 39 * min, Some(now - 5 * min)))
        .await
        .unwrap();
    store.set_meeting_status(id, MeetingStatus::Ended, now - 5 * min).await.unwrap();
    let past = list(&app, &alice, "scope=past").await;
    assert_eq!(item(&past, id)["attendee_count"], 2, "alice and carol attended, whatever carol's reconnects");
    let rows = app.get(&format!("/api/v1/meetings/{id}/attendance"), Some(&alice.token)).await;
    assert_eq!(rows.expect(200).as_array().unwrap().len(), 3, "attendance keeps every visit");
    app.stop().await;
}

async fn live_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    let live = app.meeting(&alice, json!({"start_time": in_hours(3), "invitees": [bob.email]})).await;
    let quiet = app.meeting(&alice, json!({"start_time": in_hours(1)})).await;
    let now = app.state.clock.now_ms();
    app.state.store.set_meeting_status(id_of(&live), MeetingStatus::Live, now).await.unwrap();
    let page = list(&app, &alice, "scope=live").await;
    assert_eq!(ids_in(&page), vec![id_of(&live)]);
    assert_eq!(item(&page, id_of(&live))["status"], "live");
    assert_eq!(ids_in(&list(&app, &bob, "scope=live").await), vec![id_of(&live)]);
    let up = list(&app, &alice, "scope=upcoming").await;
    assert_eq!(ids_in(&up), vec![id_of(&live), id_of(&quiet)], "a running meeting heads the upcoming list");
    assert_eq!(list(&app, &alice, "scope=past").await["total"], 0, "not past while running");
    app.stop().await;
}

async fn held_recurring_meeting_stays_upcoming(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let start = minute_in_hours(1);
    let weekly = app
        .meeting(
            &alice,
            json!({"title": "Weekly", "start_time": rfc(start), "duration_minutes": 30, "recurrence": "FREQ=WEEKLY"}),
        )
        .await;
    let id = id_of(&weekly);
    // The first occurrence happens and ends.
    app.state.clock.advance(Duration::minutes(65));
    let now = app.state.clock.now_ms();
    app.state.store.set_meeting_status(id, MeetingStatus::Live, now - 5 * 60_000).await.unwrap();
    app.state.clock.advance(Duration::minutes(30));
    app.state.store.set_meeting_status(id, MeetingStatus::Ended, app.state.clock.now_ms()).await.unwrap();
    let alice = app.login(&alice.email, common::PASSWORD).await; // the old token expired meanwhile

    let got = app.get(&format!("/api/v1/meetings/{id}"), Some(&alice.token)).await;
    let next = got.expect(200)["next_occurrences"].as_array().unwrap().clone();
    assert_eq!(ts(&next[0]["start_time"]), start + Duration::weeks(1));

    let up = list(&app, &alice, "scope=upcoming").await;
    assert_eq!(ids_in(&up), vec![id], "next week's occurrence is still upcoming");
    let past = list(&app, &alice, "scope=past").await;
    assert_eq!(ids_in(&past), vec![id], "and this week's is past");

    // Next week's occurrence still blocks the host's calendar.
    let r = create(
        &app,
        &alice,
        json!({"title": "Clash", "start_time": rfc(start + Duration::weeks(1)), "duration_minutes": 15}),
    )
    .await;
    let c = r.expect(201)["conflicts"].as_array().unwrap().clone();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0]["meeting_id"], id);
    // And it can still be joined.
    join(&app, id, Some(&alice.token), json!({})).await.expect(200);
    app.stop().await;
}

/// Numbers and times from outside are range-checked: an i64 of minutes or a date a few
/// thousand years out is a 422 in the JSON error shape, on create and edit alike (issue 16).
async fn numbers_from_outside_are_range_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let m = app.meeting(&alice, json!({"start_time": in_hours(2)})).await;
    let path = format!("/api/v1/meetings/{}", id_of(&m));
    for minutes in [i64::MAX, i64::MIN] {
        let body = json!({"title": "x", "start_time": in_hours(1), "duration_minutes": minutes});
        create(&app, &alice, body).await.expect_error(422, "invalid_duration");
        let r = app.patch(&path, Some(&alice.token), json!({"duration_minutes": minutes})).await;
        r.expect_error(422, "invalid_duration");
    }
    let far = "+200000-01-01T00:00:00Z";
    create(&app, &alice, json!({"title": "x", "start_time": far})).await.expect_error(422, "invalid_start_time");
    let r = app.patch(&path, Some(&alice.token), json!({"start_time": far})).await;
    r.expect_error(422, "invalid_start_time");
    let r = app.patch(&path, Some(&alice.token), json!({"end_time": far})).await;
    r.expect_error(422, "invalid_duration");
    let got = app.get(&path, Some(&alice.token)).await.expect(200).clone();
    assert_eq!(got["duration_minutes"], m["duration_minutes"], "nothing changed");
    app.stop().await;
}

backend_tests!(
    create_scheduled_meeting,
    duration_from_end_time,
    create_refuses_bad_input,
    numbers_from_outside_are_range_checked,
    max_participants_cap_follows_server_config,
    instant_meeting_starts_now,
    meeting_ids_are_not_sequential,
    weekly_recurrence,
    recurrence_keeps_local_time_across_dst,
    conflicts_are_reported_not_refused,
    conflict_with_later_occurrence_of_recurring_meeting,
    invitees_by_email_and_user_id,
    host_edits_meeting,
    co_host_edits_but_cannot_change_co_hosts,
    invitee_and_stranger_cannot_edit,
    cancel_meeting,
    personal_room,
    guest_joins_with_passcode,
    join_refusals,
    join_roles,
    members_only_meeting_refuses_guests,
    wrong_passcodes_are_rate_limited,
    join_ended_meeting_is_gone,
    list_pagination_and_order,
    list_query_validation,
    past_meetings_and_attendance,
    past_meetings_most_recent_first,
    attendee_count_counts_people_not_visits,
    live_scope,
    held_recurring_meeting_stays_upcoming,
);
