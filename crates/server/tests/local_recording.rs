//! Local (client-side) recording: who may record on their device (host, co-hosts, people a
//! host allowed; everyone sees who records), and the resumable upload that turns the file into
//! a recording of the meeting — chunked, resumed after a cut connection, refused when the
//! offset, size or type is wrong or the caller may not, aborted or expired without a trace.
mod common;

use std::time::Duration;

use futures_util::StreamExt;

use common::ws::{meeting_with, Client};
use common::{Account, Backend, Reply, TestApp};
use serde_json::{json, Value};

/// A real WebM file (VP8 + Opus, ~2 s), as a browser's MediaRecorder would produce.
fn webm(app: &TestApp) -> Vec<u8> {
    let path = app.data_dir.path().join("sample.webm");
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2"])
        .args(["-c:v", "libvpx", "-b:v", "300k", "-c:a", "libopus", "-f", "webm"])
        .arg(&path)
        .output()
        .expect("ffmpeg is needed");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(path).unwrap()
}

async fn create(app: &TestApp, who: &Account, meeting_id: i64, body: Value) -> Reply {
    app.post(&format!("/api/v1/meetings/{meeting_id}/recording-uploads"), Some(&who.token), body).await
}

async fn chunk(app: &TestApp, who: &Account, url: &str, offset: u64, length: Option<usize>, bytes: &[u8]) -> Reply {
    let mut req = app
        .client
        .patch(format!("{}{url}", app.base))
        .bearer_auth(&who.token)
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", offset.to_string())
        .body(bytes.to_vec());
    if let Some(l) = length {
        req = req.header("upload-length", l.to_string());
    }
    app.raw(req).await
}

fn offset_header(r: &Reply) -> u64 {
    r.headers.get("upload-offset").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).expect("Upload-Offset")
}

/// Sends `bytes` from the server's offset on, in `size`-byte chunks.
async fn upload_rest(app: &TestApp, who: &Account, url: &str, bytes: &[u8], size: usize) {
    let head = app.raw(app.client.head(format!("{}{url}", app.base)).bearer_auth(&who.token)).await;
    assert_eq!(head.status.as_u16(), 200);
    let mut offset = offset_header(&head) as usize;
    while offset < bytes.len() {
        let end = (offset + size).min(bytes.len());
        let r = chunk(app, who, url, offset as u64, Some(bytes.len()), &bytes[offset..end]).await;
        if r.status.as_u16() == 409 && r.code() == "upload_busy" {
            tokio::time::sleep(Duration::from_millis(50)).await; // the cut request is still finishing
            continue;
        }
        assert_eq!(r.expect(200)["offset"], end as u64);
        assert_eq!(offset_header(&r), end as u64);
        offset = end;
    }
}

/// Host (account), a participant with an account and a guest, in a live meeting.
async fn meeting(app: &TestApp) -> (Account, Account, i64, Client, Client, Client) {
    let host = app.account("lrhost").await;
    let member = app.account("lrmember").await;
    let m = meeting_with(app, &host, json!({})).await;
    let (h, _) = Client::join(app, &m, Some(&host), "Hana").await;
    let (p, _) = Client::join(app, &m, Some(&member), "Pia").await;
    let (g, _) = Client::join(app, &m, None, "Gus").await;
    (host, member, m["meeting_id"].as_i64().unwrap(), h, p, g)
}

fn pid(welcome_or_update: &Value) -> String {
    welcome_or_update["participant"]["participant_id"].as_str().unwrap().to_owned()
}

async fn permission_and_indicator(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let host = app.account("lrhost").await;
    let member = app.account("lrmember").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, hw) = Client::join(&app, &m, Some(&host), "Hana").await;
    let (mut p, pw) = Client::join(&app, &m, Some(&member), "Pia").await;
    let (mut g, gw) = Client::join(&app, &m, None, "Gus").await;
    let host_pid = hw["participant_id"].as_str().unwrap().to_owned();
    let member_pid = pw["participant_id"].as_str().unwrap().to_owned();
    let guest_pid = gw["participant_id"].as_str().unwrap().to_owned();
    let me = gw["participants"].as_array().unwrap().iter().find(|x| x["participant_id"] == guest_pid.as_str()).unwrap();
    assert_eq!(me["local_recording_allowed"], false, "{me}");
    assert_eq!(me["recording_locally"], false);

    // A participant may not record until a host allows it: no indicator, no upload.
    p.send(json!({"type": "set_state", "recording_locally": true})).await;
    let refused = p.expect("error").await;
    assert_eq!(refused["code"], "local_recording_not_allowed", "{refused}");
    create(&app, &member, id, json!({"content_type": "video/webm"}))
        .await
        .expect_error(403, "local_recording_not_allowed");
    // Only moderators allow; guests cannot be allowed (an upload needs an account).
    p.send(json!({"type": "allow_local_recording", "participant_id": member_pid, "allowed": true})).await;
    assert_eq!(p.expect("error").await["code"], "not_allowed");
    h.send(json!({"type": "allow_local_recording", "participant_id": guest_pid, "allowed": true})).await;
    assert_eq!(h.expect("error").await["code"], "invalid_message");
    g.send(json!({"type": "set_state", "recording_locally": true})).await;
    assert_eq!(g.expect("error").await["code"], "local_recording_not_allowed");

    // The host allows Pia: everyone sees it, she is told, and now she may.
    h.send(json!({"type": "allow_local_recording", "participant_id": member_pid, "allowed": true})).await;
    for c in [&mut h, &mut p, &mut g] {
        let u =
            c.expect_where("participant_updated", |u| u["participant"]["participant_id"] == member_pid.as_str()).await;
        assert_eq!(u["participant"]["local_recording_allowed"], true, "{u}");
    }
    let told = p.expect_action("local_recording_allowed").await;
    assert_eq!(told["target"], member_pid.as_str());
    let up = create(&app, &member, id, json!({"content_type": "video/webm;codecs=vp8,opus"})).await;
    assert_eq!(up.expect(201)["offset"], 0);
    p.send(json!({"type": "set_state", "recording_locally": true})).await;
    for c in [&mut h, &mut g] {
        let u = c
            .expect_where("participant_updated", |u| {
                pid(u) == member_pid && u["participant"]["recording_locally"] == true
            })
            .await;
        assert_eq!(u["participant"]["display_name"], "Pia");
    }
    // The host records too (always allowed), and a newcomer sees both indicators at once.
    h.send(json!({"type": "set_state", "recording_locally": true})).await;
    g.expect_where("participant_updated", |u| pid(u) == host_pid && u["participant"]["recording_locally"] == true)
        .await;
    let (_late, welcome) = Client::join(&app, &m, None, "Late").await;
    let recording: Vec<_> = welcome["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["recording_locally"] == true)
        .map(|x| x["display_name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recording, ["Hana", "Pia"]);

    // Withdrawing the permission stops her recording (the indicator goes), and new uploads are
    // refused; the upload she started while allowed may still be finished.
    h.send(json!({"type": "allow_local_recording", "participant_id": member_pid, "allowed": false})).await;
    let u = g
        .expect_where("participant_updated", |u| pid(u) == member_pid && u["participant"]["recording_locally"] == false)
        .await;
    assert_eq!(u["participant"]["local_recording_allowed"], false);
    create(&app, &member, id, json!({"content_type": "video/webm"}))
        .await
        .expect_error(403, "local_recording_not_allowed");
    let url = up.body["url"].as_str().unwrap();
    let bytes = webm(&app);
    upload_rest(&app, &member, url, &bytes, 64 * 1024).await;
    app.post(&format!("{url}/complete"), Some(&member.token), json!({})).await.expect(201);

    // A co-host may always; made a participant again, the recording stops.
    h.send(json!({"type": "set_role", "participant_id": member_pid, "role": "cohost"})).await;
    p.expect_action("promoted").await;
    create(&app, &member, id, json!({"content_type": "video/webm"})).await.expect(201);
    p.send(json!({"type": "set_state", "recording_locally": true})).await;
    g.expect_where("participant_updated", |u| pid(u) == member_pid && u["participant"]["recording_locally"] == true)
        .await;
    h.send(json!({"type": "set_role", "participant_id": member_pid, "role": "participant"})).await;
    g.expect_where("participant_updated", |u| pid(u) == member_pid && u["participant"]["recording_locally"] == false)
        .await;
    app.stop().await;
}

async fn a_chunked_upload_becomes_a_recording_of_the_meeting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (host, member, id, _h, _p, _g) = meeting(&app).await;
    let outsider = app.account("lroutsider").await;
    let bytes = webm(&app);
    assert_eq!(&bytes[..4], [0x1A, 0x45, 0xDF, 0xA3]);

    // Created as recording starts (size not known yet), then sent in chunks.
    let up = create(&app, &host, id, json!({"content_type": "video/webm"})).await;
    let body = up.expect(201).clone();
    assert_eq!(body["size"], Value::Null);
    assert_eq!(body["max_bytes"], 2048u64 * 1024 * 1024);
    let url = body["url"].as_str().unwrap().to_owned();
    assert_eq!(up.headers["location"], url.as_str());
    assert_eq!(offset_header(&up), 0);
    // Not complete before all bytes are there.
    let first = chunk(&app, &host, &url, 0, Some(bytes.len()), &bytes[..10_000]).await;
    assert_eq!(first.expect(200)["offset"], 10_000);
    assert_eq!(first.body["size"], bytes.len());
    app.post(&format!("{url}/complete"), Some(&host.token), json!({})).await.expect_error(409, "upload_incomplete");
    let status = app.get(&url, Some(&host.token)).await;
    assert_eq!(status.expect(200)["offset"], 10_000);
    assert_eq!(status.headers["upload-length"], bytes.len().to_string().as_str());
    upload_rest(&app, &host, &url, &bytes, 50_000).await;
    // Nobody else sees or touches the upload.
    app.get(&url, Some(&member.token)).await.expect_error(404, "upload_not_found");
    app.post(&format!("{url}/complete"), Some(&outsider.token), json!({})).await.expect_error(404, "upload_not_found");
    app.get(&url, None).await.expect_error(401, "missing_token");

    let done = app.post(&format!("{url}/complete"), Some(&host.token), json!({})).await;
    let rec = done.expect(201).clone();
    assert_eq!(rec["kind"], "client");
    assert_eq!(rec["status"], "ready");
    assert_eq!(rec["recorded_by"], "lrhost");
    assert_eq!(rec["size_bytes"], bytes.len());
    let duration = rec["duration_seconds"].as_f64().unwrap();
    assert!((1.5..=2.5).contains(&duration), "ffprobe measured {duration}s");
    let rec_id = rec["id"].as_str().unwrap();
    // The upload is gone; its bytes moved to the recording storage.
    app.get(&url, Some(&host.token)).await.expect_error(404, "upload_not_found");
    let uploads = app.data_dir.path().join("recording-uploads");
    assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), 0, "no part files left");

    // Listed, played and downloaded like any recording: the same bytes, with Range.
    let list = app.get("/api/v1/recordings", Some(&member.token)).await;
    assert!(list.expect(200).as_array().unwrap().iter().any(|r| r["id"] == rec_id && r["kind"] == "client"));
    let detail = app.get(&format!("/api/v1/recordings/{rec_id}"), Some(&host.token)).await;
    let detail = detail.expect(200).clone();
    assert!(detail["participants"].as_array().unwrap().iter().any(|p| p == "Pia"), "{detail}");
    let stream = detail["stream_url"].as_str().unwrap();
    let whole = app.raw(app.client.get(format!("{}{stream}", app.base))).await;
    assert_eq!(whole.status.as_u16(), 200);
    assert_eq!(whole.headers["content-type"], "video/webm");
    assert!(whole.bytes == bytes, "the file is the uploaded bytes");
    let part = app.raw(app.client.get(format!("{}{stream}", app.base)).header("Range", "bytes=0-3")).await;
    assert_eq!(part.status.as_u16(), 206);
    assert_eq!(part.bytes, [0x1A, 0x45, 0xDF, 0xA3]);
    // Same access rules: not for someone who was not there.
    app.get(&format!("/api/v1/recordings/{rec_id}"), Some(&outsider.token)).await.expect_error(403, "not_allowed");
    // Retention applies to it too (none by default); the host deletes it.
    assert_eq!(detail["expires_at"], Value::Null);
    app.delete(&format!("/api/v1/recordings/{rec_id}"), Some(&member.token), None).await.expect_error(403, "not_host");
    app.delete(&format!("/api/v1/recordings/{rec_id}"), Some(&host.token), None).await.expect(204);
    assert!(std::fs::read_dir(app.data_dir.path().join("recordings")).unwrap().next().is_none());
    app.stop().await;
}

async fn an_interrupted_chunk_resumes_from_the_servers_offset(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_host, member, id, mut h, _p, _g) = meeting(&app).await;
    let people = app.state.live.participants(id).unwrap();
    let member_pid = people.iter().find(|x| x.display_name == "Pia").unwrap().participant_id.clone();
    h.send(json!({"type": "allow_local_recording", "participant_id": member_pid, "allowed": true})).await;
    h.expect_action("local_recording_allowed").await;
    let bytes = webm(&app);
    let up = create(&app, &member, id, json!({"content_type": "video/webm", "size": bytes.len()})).await;
    let url = up.expect(201)["url"].as_str().unwrap().to_owned();
    assert_eq!(up.body["size"], bytes.len());

    // The connection breaks in the middle of a chunk: what arrived is kept.
    let sent = 30_000;
    let head = bytes[..sent].to_vec();
    let stream =
        futures_util::stream::iter(vec![Ok::<_, std::io::Error>(head)]).chain(futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Err(std::io::Error::other("network down"))
        }));
    let cut = app
        .client
        .patch(format!("{}{url}", app.base))
        .bearer_auth(&member.token)
        .header("upload-offset", "0")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    assert!(cut.is_err(), "the request failed on the client's side");
    // The server notices and records what it got (poll: it learns of the cut asynchronously).
    let mut offset = 0;
    for _ in 0..100 {
        let r = app.get(&url, Some(&member.token)).await;
        offset = r.expect(200)["offset"].as_u64().unwrap();
        if offset > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(offset, sent as u64, "the bytes before the cut are kept");

    // A chunk at a stale offset is refused with the current one.
    let stale = chunk(&app, &member, &url, 0, None, &bytes[..1000]).await;
    stale.expect_error(409, "offset_mismatch");
    assert_eq!(offset_header(&stale), sent as u64);
    assert!(stale.body["error"]["message"].as_str().unwrap().contains(&sent.to_string()));
    let ahead = chunk(&app, &member, &url, sent as u64 + 10, None, &bytes[..1000]).await;
    ahead.expect_error(409, "offset_mismatch");
    // A different total than declared is refused; so are bytes past it.
    chunk(&app, &member, &url, sent as u64, Some(bytes.len() + 1), &bytes[sent..sent + 10])
        .await
        .expect_error(409, "length_mismatch");
    let mut too_long = bytes[sent..].to_vec();
    too_long.extend_from_slice(b"extra");
    chunk(&app, &member, &url, sent as u64, None, &too_long).await.expect_error(409, "beyond_length");
    // Missing or bad offset headers.
    let r = app.raw(app.client.patch(format!("{}{url}", app.base)).bearer_auth(&member.token).body("x")).await;
    r.expect_error(400, "missing_offset");

    // Resume from the server's offset; the result is the exact file.
    upload_rest(&app, &member, &url, &bytes, 40_000).await;
    let rec = app.post(&format!("{url}/complete"), Some(&member.token), json!({})).await;
    let rec = rec.expect(201).clone();
    assert_eq!(rec["recorded_by"], "lrmember");
    assert_eq!(rec["can_manage"], true, "the person who recorded it manages it");
    let detail = app.get(&format!("/api/v1/recordings/{}", rec["id"].as_str().unwrap()), Some(&member.token)).await;
    let stream = detail.expect(200)["stream_url"].as_str().unwrap().to_owned();
    let whole = app.raw(app.client.get(format!("{}{stream}", app.base))).await;
    assert!(whole.bytes == bytes, "resumed upload is byte-identical");
    app.stop().await;
}

async fn refusals_leave_nothing_behind(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_local_recording_bytes = 100_000).await;
    let (host, member, id, _h, _p, _g) = meeting(&app).await;
    let stranger = app.account("lrstranger").await;
    let uploads = app.data_dir.path().join("recording-uploads");
    let parts = || std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0);

    // Who may start: not signed in, not in the meeting, no such meeting.
    app.post(&format!("/api/v1/meetings/{id}/recording-uploads"), None, json!({"content_type": "video/webm"}))
        .await
        .expect_error(401, "missing_token");
    create(&app, &stranger, id, json!({"content_type": "video/webm"})).await.expect_error(403, "not_in_meeting");
    create(&app, &member, id, json!({"content_type": "video/webm"}))
        .await
        .expect_error(403, "local_recording_not_allowed");
    create(&app, &host, 1_234_567_890, json!({"content_type": "video/webm"}))
        .await
        .expect_error(404, "meeting_not_found");
    // What: the size cap (413) and the type (415), declared up front.
    create(&app, &host, id, json!({"content_type": "video/webm", "size": 100_001}))
        .await
        .expect_error(413, "recording_too_large");
    create(&app, &host, id, json!({"content_type": "video/mp4"})).await.expect_error(415, "unsupported_recording_type");
    create(&app, &host, id, json!({"content_type": "video/webm", "extra": 1})).await.expect(422);
    assert_eq!(parts(), 0);
    assert_eq!(app.state.store.open_uploads(&host.user_id).await.unwrap(), 0);

    // A client still sending a refused chunk gets the refusal, not a reset connection (the
    // server reads and drops the rest of a refused body, up to a bound).
    for _ in 0..5 {
        let up = create(&app, &host, id, json!({"content_type": "video/webm"})).await;
        let url = up.expect(201)["url"].as_str().unwrap().to_owned();
        let big = vec![0u8; 600_000];
        chunk(&app, &host, &url, 0, Some(big.len()), &big).await.expect_error(413, "recording_too_large");
        chunk(&app, &host, &url, 0, None, &big).await.expect_error(413, "recording_too_large");
        app.delete(&url, Some(&host.token), None).await.expect(204);
    }

    // Past the cap while sending (size not declared): 413, nothing beyond the cap kept.
    let up = create(&app, &host, id, json!({"content_type": "video/webm"})).await;
    let url = up.expect(201)["url"].as_str().unwrap().to_owned();
    let mut big = vec![0u8; 100_001];
    big[..4].copy_from_slice(&[0x1A, 0x45, 0xDF, 0xA3]);
    chunk(&app, &host, &url, 0, Some(big.len()), &big).await.expect_error(413, "recording_too_large");
    let r = chunk(&app, &host, &url, 0, None, &big).await;
    r.expect_error(413, "recording_too_large");
    assert!(offset_header(&r) <= 100_000);
    // Abort: the upload and its bytes go.
    app.delete(&url, Some(&stranger.token), None).await.expect_error(404, "upload_not_found");
    app.delete(&url, Some(&host.token), None).await.expect(204);
    app.get(&url, Some(&host.token)).await.expect_error(404, "upload_not_found");
    app.delete(&url, Some(&host.token), None).await.expect_error(404, "upload_not_found");
    assert_eq!(parts(), 0, "abort deletes the bytes");

    // Not WebM: refused at completion, and discarded (resuming cannot fix a file's start).
    let up = create(&app, &host, id, json!({"content_type": "video/webm"})).await;
    let url = up.expect(201)["url"].as_str().unwrap().to_owned();
    chunk(&app, &host, &url, 0, Some(11), b"hello world").await.expect(200);
    app.post(&format!("{url}/complete"), Some(&host.token), json!({})).await.expect_error(415, "not_webm");
    app.get(&url, Some(&host.token)).await.expect_error(404, "upload_not_found");
    // The right magic but no video in it: ffprobe cannot read it.
    let up = create(&app, &host, id, json!({"content_type": "video/webm"})).await;
    let url = up.expect(201)["url"].as_str().unwrap().to_owned();
    let mut fake = vec![0x1A, 0x45, 0xDF, 0xA3];
    fake.extend_from_slice(&[0u8; 200]);
    chunk(&app, &host, &url, 0, None, &fake).await.expect(200);
    app.post(&format!("{url}/complete"), Some(&host.token), json!({})).await.expect_error(415, "unreadable_recording");
    // Empty.
    let up = create(&app, &host, id, json!({"content_type": "video/webm"})).await;
    let url = up.expect(201)["url"].as_str().unwrap().to_owned();
    app.post(&format!("{url}/complete"), Some(&host.token), json!({})).await.expect_error(422, "empty_recording");
    app.delete(&url, Some(&host.token), None).await.expect(204);
    assert_eq!(parts(), 0);

    // None of that became a recording.
    let list = app.get("/api/v1/recordings", Some(&host.token)).await;
    assert!(list.expect(200).as_array().unwrap().is_empty(), "{}", list.body);
    app.stop().await;
}

async fn abandoned_uploads_expire(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (host, _member, id, _h, _p, _g) = meeting(&app).await;
    let up = create(&app, &host, id, json!({"content_type": "video/webm"})).await;
    let url = up.expect(201)["url"].as_str().unwrap().to_owned();
    chunk(&app, &host, &url, 0, None, &[0x1A, 0x45, 0xDF, 0xA3, 1, 2, 3]).await.expect(200);
    let part = app.data_dir.path().join("recording-uploads").join(format!("{}.part", up.body["id"].as_str().unwrap()));
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 7);
    // A stray part file no upload owns (e.g. its meeting was deleted).
    let stray = app.data_dir.path().join("recording-uploads").join("up_stray.part");
    std::fs::write(&stray, b"x").unwrap();

    assert_eq!(convene::recording::clean_up(&app.state).await.unwrap(), 0, "not yet");
    app.state.clock.advance(chrono::Duration::seconds(86_401));
    let host = app.login(&host.email, common::PASSWORD).await; // the old access token expired too
    app.get(&url, Some(&host.token)).await.expect_error(404, "upload_not_found");
    assert_eq!(convene::recording::clean_up(&app.state).await.unwrap(), 1);
    assert!(!part.exists(), "the expired upload's bytes are deleted");
    assert!(stray.exists(), "a stray file is only deleted once it is as old as an expired upload");
    app.stop().await;
}

backend_tests!(
    permission_and_indicator,
    a_chunked_upload_becomes_a_recording_of_the_meeting,
    an_interrupted_chunk_resumes_from_the_servers_offset,
    refusals_leave_nothing_behind,
    abandoned_uploads_expire,
);
