//! Mail, calendar and reminders as people receive them: through a real SMTP server (Python's
//! aiosmtpd on loopback), with the `.ics` parsed back the way calendar apps read it.
mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{in_hours, Backend, TestApp};
use icalendar::{Calendar, CalendarComponent, Component};
use serde_json::json;

/// An aiosmtpd server storing every message in a maildir.
struct Smtp {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Smtp {
    fn start() -> Smtp {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let maildir = tempfile::tempdir().unwrap();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 must be installed (scripts/test installs aiosmtpd)");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start; is it installed? (pip install aiosmtpd)");
            std::thread::sleep(Duration::from_millis(50));
        }
        Smtp { child, port, maildir }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first.
    fn messages(&self) -> Vec<Vec<u8>> {
        let new = self.maildir.path().join("mail").join("new");
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&new).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    /// Waits until `pred` holds for the received messages.
    async fn wait_for(&self, what: &str, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got: Vec<Received> = self.messages().iter().map(|m| Received::parse(m)).collect();
            if pred(&got) {
                return got;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; got subjects {:?}", subjects(&got));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A received mail, decoded.
#[derive(Debug, Clone)]
struct Received {
    to: String,
    subject: String,
    text: String,
    html: String,
    /// The inline text/calendar part, if any.
    calendar: Option<String>,
    /// The invite.ics attachment, if any.
    attachment: Option<String>,
}

impl Received {
    fn parse(raw: &[u8]) -> Received {
        let mail = mailparse::parse_mail(raw).expect("valid RFC 5322 message");
        let header = |name: &str| {
            mail.headers
                .iter()
                .find(|h| h.get_key().eq_ignore_ascii_case(name))
                .map(|h| h.get_value())
                .unwrap_or_default()
        };
        let mut r = Received {
            to: header("To"),
            subject: header("Subject"),
            text: String::new(),
            html: String::new(),
            calendar: None,
            attachment: None,
        };
        fn walk(part: &mailparse::ParsedMail<'_>, r: &mut Received) {
            let ct = part.ctype.mimetype.to_lowercase();
            let disposition = part.get_content_disposition();
            let body = || part.get_body().unwrap_or_default();
            if disposition.disposition == mailparse::DispositionType::Attachment {
                r.attachment = Some(body());
            } else if ct == "text/plain" {
                r.text = body();
            } else if ct == "text/html" {
                r.html = body();
            } else if ct == "text/calendar" {
                r.calendar = Some(body());
            }
            for sub in &part.subparts {
                walk(sub, r);
            }
        }
        walk(&mail, &mut r);
        r
    }

    fn ics(&self) -> Calendar {
        self.calendar.as_deref().expect("inline calendar part").parse().expect("valid iCalendar")
    }
}

fn subjects(got: &[Received]) -> Vec<String> {
    got.iter().map(|r| format!("{} → {}", r.subject, r.to)).collect()
}

fn event_prop(cal: &Calendar, key: &str) -> Option<String> {
    cal.components.iter().find_map(|c| match c {
        CalendarComponent::Event(e) => e.property_value(key).map(str::to_owned),
        _ => None,
    })
}

fn event_raw(cal: &Calendar, key: &str) -> Option<icalendar::Property> {
    cal.components.iter().find_map(|c| match c {
        CalendarComponent::Event(e) => e.properties().get(key).cloned(),
        _ => None,
    })
}

async fn with_smtp(backend: Backend, smtp: &Smtp) -> TestApp {
    let url = smtp.url();
    TestApp::spawn_with(backend, move |c| {
        c.smtp_url = Some(url);
        c.job_poll_ms = 50;
        c.reminder_scan_ms = 100;
    })
    .await
}

async fn invitation_update_and_cancellation_reach_invitees(backend: Backend) {
    let smtp = Smtp::start();
    let app = with_smtp(backend, &smtp).await;
    let host = app.account("hana").await;
    let m = app
        .meeting(
            &host,
            json!({"title": "Planning", "start_time": "2031-03-17T09:00:00Z", "duration_minutes": 45,
                   "timezone": "Europe/Paris", "recurrence": "FREQ=WEEKLY;COUNT=6",
                   "invitees": ["bob@example.com", "carol@example.com"]}),
        )
        .await;
    let id = m["meeting_id"].as_i64().unwrap();
    let passcode = m["passcode"].as_str().unwrap().to_owned();

    let got = smtp.wait_for("two invitations", |g| g.len() >= 2).await;
    let bob = got.iter().find(|r| r.to.contains("bob@example.com")).expect("bob invited");
    assert!(bob.subject.starts_with("Invitation: Planning"), "{}", bob.subject);
    assert!(bob.text.contains(&passcode) && bob.html.contains(&passcode), "passcode in both bodies");
    assert!(bob.attachment.is_some(), "invite.ics attached too");
    let cal = bob.ics();
    assert_eq!(cal.property_value("METHOD"), Some("REQUEST"));
    let uid = event_prop(&cal, "UID").expect("UID");
    assert_eq!(event_prop(&cal, "SEQUENCE").as_deref(), Some("0"));
    assert_eq!(event_prop(&cal, "RRULE").as_deref(), Some("FREQ=WEEKLY;COUNT=6"));
    let dtstart = event_raw(&cal, "DTSTART").expect("DTSTART");
    assert_eq!(dtstart.params().get("TZID").map(|p| p.value()), Some("Europe/Paris"), "recurring → local time zone");
    assert_eq!(dtstart.value(), "20310317T100000", "09:00 UTC is 10:00 in Paris in March");
    let description = event_prop(&cal, "DESCRIPTION").unwrap();
    assert!(description.contains(&passcode) && description.contains(&format!("/j/{id}")), "{description}");

    // An edit: the remaining invitee gets an update with a higher SEQUENCE, the removed one a
    // cancellation.
    app.patch(
        &format!("/api/v1/meetings/{id}"),
        Some(&host.token),
        json!({"title": "Planning v2", "invitees": ["bob@example.com"]}),
    )
    .await
    .expect(200);
    let got = smtp.wait_for("update and removal", |g| g.len() >= 4).await;
    let update = got.iter().find(|r| r.subject.starts_with("Updated: Planning v2")).expect("update mail");
    assert!(update.to.contains("bob@example.com"));
    let cal = update.ics();
    assert_eq!(event_prop(&cal, "UID"), Some(uid.clone()), "same UID so calendars move the event");
    assert_eq!(event_prop(&cal, "SEQUENCE").as_deref(), Some("1"));
    assert_eq!(event_prop(&cal, "SUMMARY").as_deref(), Some("Planning v2"));
    let removed = got.iter().find(|r| r.to.contains("carol@example.com") && r.subject.starts_with("Cancelled"));
    assert_eq!(removed.expect("carol told she is off").ics().property_value("METHOD"), Some("CANCEL"));

    // Cancelling the meeting cancels it in bob's calendar.
    app.delete(&format!("/api/v1/meetings/{id}"), Some(&host.token), None).await.expect(200);
    let got =
        smtp.wait_for("cancellation", |g| g.iter().filter(|r| r.subject.starts_with("Cancelled")).count() >= 2).await;
    let cancel =
        got.iter().rev().find(|r| r.to.contains("bob@example.com") && r.subject.starts_with("Cancelled")).unwrap();
    let cal = cancel.ics();
    assert_eq!(cal.property_value("METHOD"), Some("CANCEL"));
    assert_eq!(event_prop(&cal, "UID"), Some(uid));
    assert_eq!(event_prop(&cal, "STATUS").as_deref(), Some("CANCELLED"));
    assert_eq!(event_prop(&cal, "SEQUENCE").as_deref(), Some("2"));
    assert!(!got.iter().any(|r| r.to.contains("hana@")), "the host is not mailed invitations");
    app.stop().await;
}

async fn reminder_is_sent_once_across_a_restart(backend: Backend) {
    let smtp = Smtp::start();
    let app = with_smtp(backend, &smtp).await;
    let host = app.account("rita").await;
    app.meeting(&host, json!({"title": "Standup", "start_time": in_hours(1), "duration_minutes": 15, "invitees": ["guest@example.org"]}))
        .await;
    smtp.wait_for("invitation", |g| g.len() == 1).await;
    // Restart before the reminder is due, then move time to 8 minutes before the start.
    let app = app.restart().await;
    app.state.clock.advance(chrono::Duration::minutes(52));
    let got = smtp
        .wait_for("two reminders", |g| g.iter().filter(|r| r.subject.starts_with("Starting in")).count() >= 2)
        .await;
    let reminders: Vec<_> = got.iter().filter(|r| r.subject.starts_with("Starting in")).collect();
    assert!(reminders.iter().any(|r| r.to.contains("rita@example.com")), "host reminded");
    assert!(reminders.iter().any(|r| r.to.contains("guest@example.org")), "invitee without account reminded");
    assert!(reminders[0].subject.contains("Standup") && reminders[0].text.contains("Passcode"));

    // Another restart, with the same time: many scans later, still exactly one each.
    let app = app.restart().await;
    app.state.clock.advance(chrono::Duration::minutes(53));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let count =
        smtp.messages().iter().map(|m| Received::parse(m)).filter(|r| r.subject.starts_with("Starting in")).count();
    assert_eq!(count, 2, "a reminder is sent once per person, restarts or not");
    app.stop().await;
}

async fn reminder_preference_is_respected(backend: Backend) {
    let smtp = Smtp::start();
    let app = with_smtp(backend, &smtp).await;
    let host = app.account("paul").await;
    let prefs = app.get("/api/v1/users/me/notifications", Some(&host.token)).await;
    assert_eq!(prefs.expect(200)["reminder_minutes"], 10);
    app.request(
        reqwest::Method::PUT,
        "/api/v1/users/me/notifications",
        Some(&host.token),
        Some(json!({"reminder_minutes": 0})),
    )
    .await
    .expect(200);
    app.request(
        reqwest::Method::PUT,
        "/api/v1/users/me/notifications",
        Some(&host.token),
        Some(json!({"reminder_minutes": -5})),
    )
    .await
    .expect_error(422, "invalid_reminder");
    app.meeting(&host, json!({"title": "Solo", "start_time": in_hours(1), "duration_minutes": 15})).await;
    app.state.clock.advance(chrono::Duration::minutes(55));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(smtp.messages().is_empty(), "reminders off means no reminder");
    app.stop().await;
}

async fn failing_smtp_is_retried_without_slowing_requests(backend: Backend) {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = TestApp::spawn_with(backend, move |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{dead}"));
        c.job_poll_ms = 50;
    })
    .await;
    let host = app.account("sam").await;
    let started = Instant::now();
    app.meeting(&host, json!({"invitees": ["x@example.com"]})).await;
    assert!(started.elapsed() < Duration::from_secs(5), "scheduling does not wait for mail");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let counts = app.state.store.job_counts("mail").await.unwrap();
        if counts.iter().any(|(s, _)| s == "pending") {
            break; // attempted, failed, waiting for its retry
        }
        assert!(Instant::now() < deadline, "mail job never failed over to retry: {counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

async fn calendar_file_and_secret_feed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("fern").await;
    let guest = app.account("gil").await;
    let stranger = app.account("sly").await;
    let m = app.meeting(&host, json!({"title": "Review", "invitees": [guest.email]})).await;
    let id = m["meeting_id"].as_i64().unwrap();

    let ics = app.get(&format!("/api/v1/meetings/{id}/calendar.ics"), Some(&guest.token)).await;
    assert_eq!(ics.status, 200);
    assert!(ics.headers["content-type"].to_str().unwrap().starts_with("text/calendar"));
    let cal: Calendar = std::str::from_utf8(&ics.bytes).unwrap().parse().unwrap();
    assert_eq!(event_prop(&cal, "SUMMARY").as_deref(), Some("Review"));
    app.get(&format!("/api/v1/meetings/{id}/calendar.ics"), Some(&stranger.token))
        .await
        .expect_error(403, "not_invited");
    app.get(&format!("/api/v1/meetings/{id}/calendar.ics"), None).await.expect_error(401, "missing_token");

    assert_eq!(app.get("/api/v1/users/me/calendar-feed", Some(&guest.token)).await.expect(200)["active"], false);
    let created = app.post("/api/v1/users/me/calendar-feed", Some(&guest.token), json!({})).await;
    let url = created.expect(201)["url"].as_str().unwrap().to_owned();
    assert!(created.body["webcal_url"].as_str().unwrap().starts_with("webcal://"));
    let path = url.trim_start_matches(&app.base).to_owned();
    let feed = app.get(&path, None).await;
    assert_eq!(feed.status, 200, "calendar apps fetch without a token");
    let text = String::from_utf8(feed.bytes.clone()).unwrap();
    let cal: Calendar = text.parse().unwrap();
    assert_eq!(event_prop(&cal, "SUMMARY").as_deref(), Some("Review"), "invited meeting is in the feed");
    assert!(!text.contains("argon2"));

    let rotated = app.post("/api/v1/users/me/calendar-feed", Some(&guest.token), json!({})).await;
    let new_path = rotated.expect(201)["url"].as_str().unwrap().trim_start_matches(&app.base).to_owned();
    app.get(&path, None).await.expect_error(404, "feed_not_found");
    assert_eq!(app.get(&new_path, None).await.status, 200);
    app.delete("/api/v1/users/me/calendar-feed", Some(&guest.token), None).await;
    app.get(&new_path, None).await.expect_error(404, "feed_not_found");
    app.get("/calendar/not-a-token.ics", None).await.expect_error(404, "feed_not_found");
    app.stop().await;
}

async fn without_smtp_invitations_land_in_the_outbox(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.job_poll_ms = 50).await;
    let host = app.account("olga").await;
    app.meeting(&host, json!({"title": "Offline", "invitees": ["z@example.com"]})).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.outbox().is_empty() {
        assert!(Instant::now() < deadline, "no .eml written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let raw = app.outbox().remove(0);
    let r = Received::parse(raw.as_bytes());
    assert!(r.subject.starts_with("Invitation: Offline"));
    assert_eq!(r.ics().property_value("METHOD"), Some("REQUEST"));
    app.stop().await;
}

async fn recording_ready_mail_links_the_recording(backend: Backend) {
    let smtp = Smtp::start();
    let app = with_smtp(backend, &smtp).await;
    let host = app.account("rory").await;
    let m = app.meeting(&host, json!({"title": "Town hall"})).await;
    let row = app.state.store.meeting(m["meeting_id"].as_i64().unwrap()).await.unwrap().unwrap();
    let link = format!("{}/#/recordings/r_123", app.base);
    convene::notify::recording_ready(&app.state, &row, &["rory@example.com".into(), "ann@example.org".into()], &link)
        .await
        .unwrap();
    let got = smtp
        .wait_for("two recording mails", |g| g.iter().filter(|r| r.subject.starts_with("Recording ready")).count() == 2)
        .await;
    let mail = got.iter().find(|r| r.to.contains("ann@example.org")).unwrap();
    assert_eq!(mail.subject, "Recording ready: Town hall");
    assert!(mail.text.contains(&link), "{}", mail.text);
    // HTML escaping writes '/' as an entity inside href; decoded it is the same link.
    assert!(mail.html.replace("&#x2f;", "/").contains(&link), "{}", mail.html);
    app.stop().await;
}

backend_tests!(
    recording_ready_mail_links_the_recording,
    invitation_update_and_cancellation_reach_invitees,
    reminder_is_sent_once_across_a_restart,
    reminder_preference_is_respected,
    failing_smtp_is_retried_without_slowing_requests,
    calendar_file_and_secret_feed,
    without_smtp_invitations_land_in_the_outbox,
);
