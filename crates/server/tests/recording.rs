//! Recording through the real server: three str0m clients send real VP8 and Opus (encoded
//! by ffmpeg), the host records for a few seconds, and the composed file is checked with
//! ffprobe / ffmpeg the way a person watching it would notice: it plays for as long as the
//! recording ran, has sound and a picture that is not blank. Only people the meeting allows
//! get a link, links expire, and a failing recorder leaves the meeting alone.
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::media::{MediaClient, RealMedia};
use common::ws::meeting_with;
use common::{Backend, TestApp};
use serde_json::{json, Value};

const MEDIA_WITHIN: Duration = Duration::from_secs(15);
const READY_WITHIN: Duration = Duration::from_secs(90);

/// Three participants (host with an account, an attendee with an account, a guest) sending
/// real media, each receiving the other two.
async fn three_in_a_meeting(
    app: &TestApp,
    settings: Value,
) -> (common::Account, common::Account, Value, Vec<MediaClient>) {
    let host = app.account("rechost").await;
    let attendee = app.account("recattendee").await;
    let m = meeting_with(app, &host, settings).await;
    let media = [440, 660, 880].map(|hz| Arc::new(RealMedia::generate(app.data_dir.path(), hz)));
    let mut clients = vec![
        MediaClient::join(app, &m, Some(&host), "Hana").await,
        MediaClient::join(app, &m, Some(&attendee), "Ari").await,
        MediaClient::join(app, &m, None, "Gus").await,
    ];
    for (c, media) in clients.iter_mut().zip(media) {
        c.send_real_media(media);
        c.publish().await;
    }
    for c in &clients {
        // 2 peers × (audio + video): packets on four mids.
        c.wait_until(
            "media from both others",
            |s| s.tracks.values().filter(|t| t.packets > 20).count() >= 4,
            MEDIA_WITHIN,
        )
        .await;
    }
    (host, attendee, m, clients)
}

async fn wait_for_status(app: &TestApp, token: &str, id: &str, wanted: &[&str]) -> Value {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let r = app.get(&format!("/api/v1/recordings/{id}"), Some(token)).await;
        let body = r.expect(200).clone();
        if wanted.contains(&body["status"].as_str().unwrap_or("")) {
            return body;
        }
        assert!(Instant::now() < deadline, "recording still {} after {READY_WITHIN:?}: {body}", body["status"]);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `ffprobe` facts about a file: its duration and the kinds of its streams.
fn probe(path: &std::path::Path) -> (f64, Vec<String>) {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration:stream=codec_type", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe (part of ffmpeg) is needed");
    assert!(out.status.success(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let duration = v["format"]["duration"].as_str().unwrap().parse().unwrap();
    let kinds = v["streams"].as_array().unwrap().iter().map(|s| s["codec_type"].as_str().unwrap().to_owned()).collect();
    (duration, kinds)
}

/// The brightest luma value of the picture `at` seconds in (16 is black in video range).
fn brightest_at(path: &std::path::Path, at: f64) -> f64 {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-ss", &at.to_string(), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-vf", "signalstats,metadata=print:file=-", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("lavfi.signalstats.YMAX="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no picture at {at}s: {text} {}", String::from_utf8_lossy(&out.stderr)))
}

/// The loudest sample of the whole file, in dB (−91 is digital silence).
fn loudest(path: &std::path::Path) -> f64 {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-i"])
        .arg(path)
        .args(["-map", "0:a", "-af", "volumedetect", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .find_map(|l| l.split("max_volume: ").nth(1))
        .and_then(|v| v.trim_end_matches(" dB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no volume in {text}"))
}

async fn a_recorded_meeting_becomes_one_playable_file_for_the_people_allowed(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.recording_chunk_ms = 1_500; // several chunks per track, joined again by composition
        c.job_poll_ms = 100;
    })
    .await;
    let (host, attendee, m, mut clients) = three_in_a_meeting(&app, json!({})).await;
    let outsider = app.account("recoutsider").await;
    let meeting_id = m["meeting_id"].as_i64().unwrap();

    // Only moderators start a recording.
    app.post(&format!("/api/v1/meetings/{meeting_id}/recording/start"), Some(&attendee.token), json!({}))
        .await
        .expect_error(403, "not_host");
    let started = app
        .post(
            &format!("/api/v1/meetings/{meeting_id}/recording/start"),
            Some(&host.token),
            json!({"user_id": host.user_id}),
        )
        .await;
    let started = started.expect(200).clone();
    assert_eq!(started["message"], "Recording started");
    assert_eq!(started["recording"]["status"], "recording");
    let id = started["recording"]["id"].as_str().unwrap().to_owned();
    let t0 = Instant::now();
    for c in &mut clients {
        c.signaling().expect_where("meeting_updated", |u| u["recording"] == true).await;
    }
    app.post(&format!("/api/v1/meetings/{meeting_id}/recording/start"), Some(&host.token), json!({}))
        .await
        .expect_error(409, "already_recording");
    // A newcomer is told at once.
    let (late, welcome) = common::ws::Client::join(&app, &m, None, "Late").await;
    assert_eq!(welcome["meeting"]["recording"], true, "{welcome}");
    drop(late);
    clients[0].signaling().send(json!({"type": "chat_send", "text": "on the record"}));

    tokio::time::sleep(Duration::from_secs(4)).await;
    // Only moderators stop it either; the host stops it from the meeting.
    clients[2].signaling().send(json!({"type": "record", "recording": false}));
    let refused = clients[2].signaling().expect("error").await;
    assert_eq!(refused["code"], "not_allowed", "{refused}");
    clients[0].signaling().send(json!({"type": "record", "recording": false}));
    for c in &mut clients {
        c.signaling().expect_where("meeting_updated", |u| u["recording"] == false).await;
    }
    let recorded_for = t0.elapsed().as_secs_f64();

    let ready = wait_for_status(&app, &host.token, &id, &["ready", "failed"]).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let duration = ready["duration_seconds"].as_f64().unwrap();
    assert!((duration - recorded_for).abs() < 1.0, "recorded for {recorded_for:.1}s, says {duration}s");
    assert!(ready["participants"].as_array().unwrap().len() >= 3, "{ready}");
    assert!(ready["chat"].as_array().unwrap().iter().any(|c| c["text"] == "on the record"), "{ready}");
    let raw = app.data_dir.path().join("recordings-raw").join(&id);
    let deadline = Instant::now() + Duration::from_secs(5);
    while raw.exists() {
        assert!(Instant::now() < deadline, "raw tracks go once composed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The file plays for as long as the recording ran, with sound and a picture.
    let stream = ready["stream_url"].as_str().unwrap();
    let whole = app.raw(app.client.get(format!("{}{stream}", app.base))).await;
    assert_eq!(whole.status.as_u16(), 200);
    assert_eq!(whole.headers["content-type"], "video/webm");
    let file = app.data_dir.path().join("downloaded.webm");
    std::fs::write(&file, &whole.bytes).unwrap();
    let (probed, kinds) = probe(&file);
    assert!((probed - duration).abs() <= 1.0, "ffprobe says {probed}s, the recording {duration}s");
    assert!(kinds.contains(&"video".to_owned()) && kinds.contains(&"audio".to_owned()), "{kinds:?}");
    assert!(brightest_at(&file, probed / 2.0) > 100.0, "the middle of the recording shows the test pattern");
    assert!(loudest(&file) > -30.0, "the tones are audible");

    // Seeking: a byte range.
    let part = app.raw(app.client.get(format!("{}{stream}", app.base)).header("Range", "bytes=100-199")).await;
    assert_eq!(part.status.as_u16(), 206);
    assert_eq!(part.bytes, whole.bytes[100..200]);
    assert_eq!(part.headers["content-range"], format!("bytes 100-199/{}", whole.bytes.len()));
    let beyond = format!("bytes={}-", whole.bytes.len());
    app.raw(app.client.get(format!("{}{stream}", app.base)).header("Range", beyond))
        .await
        .expect_error(416, "range_not_satisfiable");
    let download = app.raw(app.client.get(format!("{}{}", app.base, ready["download_url"].as_str().unwrap()))).await;
    assert!(download.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));

    // Who may watch: host and attendee (the default), not someone who was not there.
    let listed = app.get("/api/v1/recordings", Some(&attendee.token)).await;
    assert!(listed.expect(200).as_array().unwrap().iter().any(|r| r["id"] == id.as_str()));
    app.get(&format!("/api/v1/recordings/{id}"), Some(&attendee.token)).await.expect(200);
    app.get(&format!("/api/v1/recordings/{id}"), Some(&outsider.token)).await.expect_error(403, "not_allowed");
    let outsider_list = app.get("/api/v1/recordings", Some(&outsider.token)).await;
    assert!(outsider_list.expect(200).as_array().unwrap().is_empty());
    app.get(&format!("/api/v1/recordings/{id}"), None).await.expect_error(401, "missing_token");
    // The host narrows it to themselves; the attendee loses access.
    app.patch(&format!("/api/v1/recordings/{id}"), Some(&attendee.token), json!({"access": "organisation"}))
        .await
        .expect_error(403, "not_host");
    app.patch(&format!("/api/v1/recordings/{id}"), Some(&host.token), json!({"access": "everyone"})).await.expect(422);
    app.patch(&format!("/api/v1/recordings/{id}"), Some(&host.token), json!({"access": "host"})).await.expect(200);
    app.get(&format!("/api/v1/recordings/{id}"), Some(&attendee.token)).await.expect_error(403, "not_allowed");

    // A forged link and an expired one are refused.
    let forged = stream.replace("signature=", "signature=00");
    app.raw(app.client.get(format!("{}{forged}", app.base))).await.expect_error(403, "invalid_link");
    app.state.clock.advance(chrono::Duration::seconds(3_601));
    app.raw(app.client.get(format!("{}{stream}", app.base))).await.expect_error(403, "link_expired");
    // (Access tokens expired with the clock too.)
    let host = app.login(&host.email, common::PASSWORD).await;
    let outsider = app.login(&outsider.email, common::PASSWORD).await;

    // Only the host deletes; then it is gone, file and all.
    app.delete(&format!("/api/v1/recordings/{id}"), Some(&outsider.token), None).await.expect_error(403, "not_allowed");
    app.delete(&format!("/api/v1/recordings/{id}"), Some(&host.token), None).await.expect(204);
    app.get(&format!("/api/v1/recordings/{id}"), Some(&host.token)).await.expect_error(404, "recording_not_found");
    assert_eq!(std::fs::read_dir(app.data_dir.path().join("recordings")).unwrap().count(), 0);
    app.stop().await;
}

async fn a_failing_recorder_does_not_disturb_the_meeting(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.recording_chunk_ms = 300).await;
    let (host, _, m, mut clients) = three_in_a_meeting(&app, json!({})).await;
    let meeting_id = m["meeting_id"].as_i64().unwrap();
    let started =
        app.post(&format!("/api/v1/meetings/{meeting_id}/recording/start"), Some(&host.token), json!({})).await;
    let id = started.expect(200)["recording"]["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The disk goes away under the recorder: its next chunk cannot be created.
    let raw = app.data_dir.path().join("recordings-raw").join(&id);
    std::fs::remove_dir_all(&raw).unwrap();
    std::fs::write(&raw, b"not a directory").unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Media keeps flowing to everyone, and the meeting answers as before.
    for c in &clients {
        let before = c.received();
        let total = before.total_packets();
        c.wait_until("media keeps flowing", move |s| s.total_packets() > total + 100, MEDIA_WITHIN).await;
    }
    clients[1].signaling().send(json!({"type": "chat_send", "text": "still here"}));
    clients[0].signaling().expect_where("chat_message", |c| c["message"]["text"] == "still here").await;

    let stopped =
        app.post(&format!("/api/v1/meetings/{meeting_id}/recording/stop"), Some(&host.token), json!({})).await;
    let stopped = stopped.expect(200).clone();
    assert_eq!(stopped["recording"]["status"], "failed", "{stopped}");
    assert!(stopped["recording"]["failure"].as_str().unwrap().contains("cannot write"), "{stopped}");
    for c in &mut clients {
        c.signaling().expect_where("meeting_updated", |u| u["recording"] == false).await;
    }
    // A new recording can start again in the same meeting.
    std::fs::remove_file(&raw).unwrap();
    app.post(&format!("/api/v1/meetings/{meeting_id}/recording/start"), Some(&host.token), json!({})).await.expect(200);
    app.post(&format!("/api/v1/meetings/{meeting_id}/recording/stop"), Some(&host.token), json!({})).await.expect(200);
    app.post(&format!("/api/v1/meetings/{meeting_id}/recording/stop"), Some(&host.token), json!({}))
        .await
        .expect_error(409, "not_recording");
    app.stop().await;
}

async fn auto_record_starts_with_the_meeting_and_ending_it_stops_the_recording(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.job_poll_ms = 100).await;
    let host = app.account("autohost").await;
    let m = meeting_with(&app, &host, json!({"auto_record": true, "recording_access": "host"})).await;
    let mut c = MediaClient::join(&app, &m, Some(&host), "Hana").await;
    assert_eq!(c.welcome["meeting"]["recording"], true, "{}", c.welcome);
    c.send_real_media(Arc::new(RealMedia::generate(app.data_dir.path(), 440)));
    c.publish().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.signaling().send(json!({"type": "end_meeting"}));
    c.signaling().expect("meeting_ended").await;
    let list = app.get("/api/v1/recordings", Some(&host.token)).await;
    let list = list.expect(200).as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["access"], "host");
    let id = list[0]["id"].as_str().unwrap();
    let ready = wait_for_status(&app, &host.token, id, &["ready", "failed"]).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    // The host is told by mail.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app.outbox().iter().any(|m| m.contains("Recording ready")) {
        assert!(Instant::now() < deadline, "no recording-ready mail");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

async fn retention_deletes_old_recordings(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.job_poll_ms = 100;
        c.recording_retention_days = 7;
    })
    .await;
    let host = app.account("rethost").await;
    let m = meeting_with(&app, &host, json!({"auto_record": true})).await;
    let mut c = MediaClient::join(&app, &m, Some(&host), "Hana").await;
    c.send_real_media(Arc::new(RealMedia::generate(app.data_dir.path(), 440)));
    c.publish().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    c.signaling().send(json!({"type": "end_meeting"}));
    c.signaling().expect("meeting_ended").await;
    let list = app.get("/api/v1/recordings", Some(&host.token)).await;
    let id = list.expect(200)[0]["id"].as_str().unwrap().to_owned();
    let ready = wait_for_status(&app, &host.token, &id, &["ready", "failed"]).await;
    assert!(ready["expires_at"].is_string(), "{ready}");
    assert_eq!(convene::recording::clean_up(&app.state).await.unwrap(), 0, "not yet");
    app.state.clock.advance(chrono::Duration::days(8));
    assert_eq!(convene::recording::clean_up(&app.state).await.unwrap(), 1);
    let host = app.login(&host.email, common::PASSWORD).await;
    app.get(&format!("/api/v1/recordings/{id}"), Some(&host.token)).await.expect_error(404, "recording_not_found");
    app.stop().await;
}

backend_tests!(
    a_recorded_meeting_becomes_one_playable_file_for_the_people_allowed,
    a_failing_recorder_does_not_disturb_the_meeting,
    auto_record_starts_with_the_meeting_and_ending_it_stops_the_recording,
    retention_deletes_old_recordings,
);
