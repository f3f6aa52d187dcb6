//! Live captions through the real server: a str0m client publishes a phrase spoken by
//! espeak-ng (encoded to Opus by ffmpeg), the host turns captions on, everyone in the room
//! gets `caption` messages with the phrase's words, and after the meeting its participants
//! read the transcript as JSON and download it as WebVTT. The denials: a participant who is
//! not a moderator, an end-to-end encrypted meeting, a server without an engine, and a
//! meeting whose captions were never on.
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::media::{ogg_packets, MediaClient, RealMedia};
use common::ws::{meeting_with, Client};
use common::{Backend, TestApp};
use serde_json::json;

const PHRASE: &str = "please send me the report by friday";
const KEY_WORDS: [&str; 2] = ["report", "friday"];
/// The engine loads and recognises on a loaded 2-core machine: generous.
const CAPTION_WITHIN: Duration = Duration::from_secs(90);

/// A server that captions with PocketSphinx (Debian's model), one engine worker.
async fn captioning_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |c| {
        c.captions = Some(convene_captions::EngineConfig::parse("pocketsphinx", None).unwrap());
        c.captions_workers = 1;
    })
    .await
}

/// The phrase as Opus packets (20 ms) followed by 1.5 s of silence, with the test pattern
/// video of [`RealMedia::generate`]; a client sends it in a loop.
fn spoken(dir: &std::path::Path) -> RealMedia {
    let wav = dir.join("phrase.wav");
    let ogg = dir.join("phrase.ogg");
    let espeak = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us+klatt2", "-w", wav.to_str().unwrap(), PHRASE])
        .status()
        .expect("espeak-ng is needed for the captions tests");
    assert!(espeak.success());
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y", "-i", wav.to_str().unwrap()])
        .args(["-af", "apad=pad_dur=1.5", "-ar", "48000", "-ac", "1", "-c:a", "libopus", "-b:a", "32k"])
        .args(["-frame_duration", "20", "-application", "voip", "-f", "ogg", ogg.to_str().unwrap()])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    let opus = ogg_packets(&std::fs::read(ogg).unwrap()).into_iter().skip(2).collect(); // OpusHead, OpusTags
    RealMedia { vp8: RealMedia::generate(dir, 440).vp8, opus }
}

fn has_word(text: &str, word: &str) -> bool {
    text.split_whitespace().any(|w| w.eq_ignore_ascii_case(word))
}

async fn spoken_words_become_captions_and_a_transcript_for_the_participants(backend: Backend) {
    let app = captioning_app(backend).await;
    let host = app.account("cchost").await;
    let attendee = app.account("ccattendee").await;
    let outsider = app.account("ccoutsider").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();

    let mut speaker = MediaClient::join(&app, &m, Some(&host), "Hana").await;
    speaker.send_real_media(Arc::new(spoken(app.data_dir.path())));
    speaker.publish().await;
    let (mut listener, welcome) = Client::join(&app, &m, Some(&attendee), "Ari").await;
    assert_eq!(welcome["meeting"]["captions"], false, "captions are off by default");

    // Nothing was captioned yet.
    app.get(&format!("/api/v1/meetings/{id}/transcript"), Some(&host.token)).await.expect_error(404, "no_transcript");

    // Only a moderator turns them on.
    listener.send(json!({"type": "captions", "on": true})).await;
    let refused = listener.expect("error").await;
    assert_eq!(refused["code"], "not_allowed", "{refused}");
    assert_eq!(refused["request"], "captions");

    speaker.signaling().send(json!({"type": "captions", "on": true}));
    let on = listener.expect("captions_updated").await;
    assert_eq!(on["on"], true);
    assert_eq!(on["by"], speaker.participant_id.as_str());

    // The words come as captions of the speaker, partial ones first (PocketSphinx streams).
    let started = Instant::now();
    let (mut partials, mut finals) = (0, Vec::new());
    while started.elapsed() < CAPTION_WITHIN {
        let Some(msg) = speaker.signaling().next().await else { continue };
        if msg["type"] != "caption" {
            continue;
        }
        assert_eq!(msg["participant_id"], speaker.participant_id.as_str(), "{msg}");
        assert!(msg["end_ms"].as_u64() >= msg["start_ms"].as_u64(), "{msg}");
        if msg["is_final"] == true {
            let text = msg["text"].as_str().unwrap().to_owned();
            if KEY_WORDS.iter().any(|w| has_word(&text, w)) {
                finals.push(text);
                break;
            }
        } else {
            partials += 1;
        }
    }
    assert!(!finals.is_empty(), "no final caption with {KEY_WORDS:?} within {CAPTION_WITHIN:?}");
    assert!(partials > 0, "partial captions while speaking");
    // The other participant saw them too.
    let seen = listener.expect_where("caption", |c| c["is_final"] == true).await;
    assert_eq!(seen["participant_id"], speaker.participant_id.as_str());

    speaker.signaling().send(json!({"type": "end_meeting"}));
    listener.expect("meeting_ended").await;
    drop(speaker);

    // After the meeting: the participants read the transcript.
    let path = format!("/api/v1/meetings/{id}/transcript");
    let t = app.get(&path, Some(&attendee.token)).await;
    let t = t.expect(200);
    let lines = t["lines"].as_array().unwrap();
    assert!(!lines.is_empty(), "{t}");
    assert!(lines.iter().all(|l| l["speaker"] == "Hana"), "{t}");
    let said: Vec<&str> = lines.iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert!(said.iter().any(|s| KEY_WORDS.iter().any(|w| has_word(s, w))), "{said:?}");
    assert_eq!(lines[0]["start_ms"], 0, "times run from the transcript's start");

    let vtt = app.get(&format!("{path}?format=vtt"), Some(&host.token)).await;
    assert_eq!(vtt.status.as_u16(), 200);
    assert!(vtt.headers["content-type"].to_str().unwrap().starts_with("text/vtt"));
    assert!(vtt.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let text = String::from_utf8(vtt.bytes.clone()).unwrap();
    assert!(text.starts_with("WEBVTT\n"), "{text}");
    assert!(text.contains("<v Hana>"), "{text}");
    assert!(text.contains(" --> "), "{text}");

    // Not for someone who was not there; bad input answered.
    app.get(&path, Some(&outsider.token)).await.expect(403);
    app.get(&format!("{path}?format=doc"), Some(&host.token)).await.expect_error(400, "invalid_format");
    app.stop().await;
}

/// In breakout rooms captions are each room's own: a room's members get its captions, the
/// main room does not, and the transcript marks the lines with the room.
async fn breakout_rooms_are_captioned_apart(backend: Backend) {
    let app = captioning_app(backend).await;
    let host = app.account("cbhost").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Hana").await;
    h.send(json!({"type": "captions", "on": true})).await;
    assert_eq!(h.expect("captions_updated").await["on"], true);

    // Sam (who speaks) and Ari go to room 1 before Sam publishes: every word is said there.
    let mut speaker = MediaClient::join(&app, &m, None, "Sam").await;
    speaker.send_real_media(Arc::new(spoken(app.data_dir.path())));
    let (mut listener, welcome) = Client::join(&app, &m, None, "Ari").await;
    let ari = welcome["participant_id"].as_str().unwrap().to_owned();
    let sam = speaker.participant_id.clone();
    h.send(json!({"type": "breakout_open", "rooms": 2, "assign": "manual",
        "assignments": [{"participant_id": sam, "room": 1}, {"participant_id": ari, "room": 1}]}))
        .await;
    assert_eq!(speaker.follow_breakout_move().await["room"], 1);
    assert_eq!(listener.expect("breakout_moved").await["room"], 1);

    let started = Instant::now();
    let mut heard = None;
    while heard.is_none() && started.elapsed() < CAPTION_WITHIN {
        let Some(msg) = listener.next_within(CAPTION_WITHIN).await else { break };
        if msg["type"] == "caption"
            && msg["is_final"] == true
            && KEY_WORDS.iter().any(|w| has_word(msg["text"].as_str().unwrap(), w))
        {
            assert_eq!(msg["participant_id"], sam.as_str(), "{msg}");
            heard = Some(msg);
        }
    }
    assert!(heard.is_some(), "no final caption with {KEY_WORDS:?} in room 1 within {CAPTION_WITHIN:?}");
    // The host, in the main room, got none of them (everything before her own chat line).
    h.send(json!({"type": "chat_send", "text": "checking"})).await;
    loop {
        let msg = h.next().await.expect("the host's socket stays open");
        assert_ne!(msg["type"], "caption", "a breakout room's caption reached the main room: {msg}");
        if msg["type"] == "chat_message" {
            break;
        }
    }

    h.send(json!({"type": "end_meeting"})).await;
    listener.expect("meeting_ended").await;
    drop(speaker);
    let path = format!("/api/v1/meetings/{id}/transcript");
    let t = app.get(&path, Some(&host.token)).await;
    let t = t.expect(200);
    let lines = t["lines"].as_array().unwrap();
    assert!(!lines.is_empty() && lines.iter().all(|l| l["room"] == 1 && l["speaker"] == "Sam"), "{t}");
    let vtt = app.get(&format!("{path}?format=vtt"), Some(&host.token)).await;
    let text = String::from_utf8(vtt.bytes.clone()).unwrap();
    assert!(text.contains("<v Sam (breakout room 1)>"), "{text}");
    app.stop().await;
}

async fn captions_are_refused_where_they_cannot_or_may_not_run(backend: Backend) {
    let app = captioning_app(backend).await;
    let host = app.account("ccdeny").await;

    // E2EE meetings: refused when scheduling, and in the room.
    let r = app
        .post(
            "/api/v1/meetings",
            Some(&host.token),
            json!({"title": "Secret", "start_time": null, "settings": {"e2ee": true, "captions": true}}),
        )
        .await;
    r.expect_error(422, "e2ee_no_server_captions");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("end-to-end encrypted"), "{}", r.body);
    let e2ee = meeting_with(&app, &host, json!({"e2ee": true})).await;
    let body = json!({"passcode": e2ee["passcode"], "display_name": "Hana",
        "e2ee": {"version": 1, "identity_key": "H".repeat(87)}});
    let (mut c, welcome) = Client::join_body(&app, &e2ee, Some(&host), body).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    c.send(json!({"type": "captions", "on": true})).await;
    let refused = c.expect("error").await;
    assert_eq!(refused["code"], "e2ee_no_server_captions", "{refused}");
    assert_eq!(
        refused["message"],
        "Captions are unavailable in end-to-end encrypted meetings: the server cannot hear them"
    );

    // The meeting's setting starts them when it goes live, and says so in `welcome`.
    let with = meeting_with(&app, &host, json!({"captions": true})).await;
    assert_eq!(with["settings"]["captions"], true, "{with}");
    let (mut h, welcome) = Client::join(&app, &with, Some(&host), "Hana").await;
    assert_eq!(welcome["meeting"]["captions"], true, "{welcome}");
    h.send(json!({"type": "captions", "on": false})).await;
    let off = h.expect("captions_updated").await;
    assert_eq!(off["on"], false);
    app.stop().await;

    // A server without a captions engine.
    let plain = TestApp::spawn(Backend::Sqlite).await;
    let host = plain.account("ccplain").await;
    let m = meeting_with(&plain, &host, json!({})).await;
    let (mut c, _) = Client::join(&plain, &m, Some(&host), "Hana").await;
    c.send(json!({"type": "captions", "on": true})).await;
    let refused = c.expect("error").await;
    assert_eq!(refused["code"], "captions_unavailable", "{refused}");
    plain.stop().await;
}

backend_tests!(
    spoken_words_become_captions_and_a_transcript_for_the_participants,
    breakout_rooms_are_captioned_apart,
    captions_are_refused_where_they_cannot_or_may_not_run,
);
