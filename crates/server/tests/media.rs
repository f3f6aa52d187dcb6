//! Media through the real server: str0m clients on UDP sockets publish Opus and simulcast VP8
//! over the signaling protocol and receive each other's RTP (see `common/media.rs`).
mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::media::{JoinOptions, MediaClient, Stats, RIDS};
use common::ws::meeting_with;
use common::{Backend, TestApp};
use serde_json::{json, Value};

/// How long media may take to start flowing.
const MEDIA_WITHIN: Duration = Duration::from_secs(10);

async fn meeting(app: &TestApp, host_name: &str) -> (common::Account, Value) {
    let host = app.account(host_name).await;
    let m = meeting_with(app, &host, json!({})).await;
    (host, m)
}

/// Waits until `c` has audio and a video keyframe from every one of `others`.
async fn wait_for_media_from(c: &MediaClient, others: &[u32]) -> Stats {
    let others = others.to_vec();
    c.wait_until(
        "audio and video (with a keyframe) from everyone else",
        move |s| others.iter().all(|t| s.has_media_from(*t)),
        MEDIA_WITHIN,
    )
    .await
}

/// Waits until audio and video from `tag` grew by `by` packets each past `before`.
async fn wait_for_more(c: &MediaClient, before: &Stats, tag: u32, by: u64) -> Stats {
    let before = before.clone();
    c.wait_until("media keeps flowing", move |s| s.grew_from(&before, tag, by), MEDIA_WITHIN).await
}

async fn two_participants_exchange_audio_and_video(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (host, m) = meeting(&app, "hostm1").await;
    let mut a = MediaClient::join(&app, &m, Some(&host), "Ann").await;
    let mut b = MediaClient::join(&app, &m, None, "Bob").await;
    a.publish().await;
    b.publish().await;

    // Signaling announces both tracks of the other side.
    let (aid, bid) = (a.participant_id.clone(), b.participant_id.clone());
    for (me, other) in [(&mut a, bid), (&mut b, aid)] {
        let mut kinds = vec![];
        while kinds.len() < 2 {
            let t = me
                .signaling()
                .expect_where("track_published", |t| t["track"]["participant_id"] == other.as_str())
                .await;
            kinds.push(t["track"]["kind"].as_str().unwrap().to_owned());
        }
        kinds.sort();
        assert_eq!(kinds, ["audio", "video"]);
    }

    let got_a = wait_for_media_from(&a, &[b.tag()]).await;
    let got_b = wait_for_media_from(&b, &[a.tag()]).await;
    // Packet counts keep growing.
    wait_for_more(&a, &got_a, b.tag(), 25).await;
    let s = wait_for_more(&b, &got_b, a.tag(), 25).await;

    for (me, other, s) in [(&a, &b, a.received()), (&b, &a, s)] {
        assert_eq!(s.from(me.tag()).count(), 0, "nobody receives their own media: {}", s.summary());
        for t in s.from(other.tag()) {
            assert!(t.bytes > 0 && t.packets as usize >= t.seqs.len().min(100_000));
            // Sequence numbers as a subscriber sees them: increasing (a loopback network
            // does not reorder much), never the same twice.
            let mut sorted = t.seqs.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert!(sorted.len() + 5 >= t.seqs.len(), "mid {}: duplicate sequence numbers", t.mid);
        }
    }
    drop((a, b));
    app.stop().await;
}

async fn five_participants_each_receive_all_four_others(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (host, m) = meeting(&app, "hostm2").await;
    let mut clients = vec![MediaClient::join(&app, &m, Some(&host), "P0").await];
    for i in 1..5 {
        clients.push(MediaClient::join(&app, &m, None, &format!("P{i}")).await);
    }
    for c in &mut clients {
        c.publish().await;
    }
    let tags: Vec<u32> = clients.iter().map(|c| c.tag()).collect();
    let started = Instant::now();
    for c in &clients {
        let others: Vec<u32> = tags.iter().copied().filter(|t| *t != c.tag()).collect();
        let s = wait_for_media_from(c, &others).await;
        assert_eq!(s.from(c.tag()).count(), 0, "own media came back: {}", s.summary());
    }
    assert!(started.elapsed() < MEDIA_WITHIN + Duration::from_secs(2));
    drop(clients);
    app.stop().await;
}

/// A meeting with more than ten open microphones forwards only the loudest: everyone sees all
/// eleven other cameras but, once the meeting is that large, hears only the two who talk; the
/// microphones opened after that point, silent, are not even offered.
async fn a_crowded_meeting_forwards_only_the_talkers_microphones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (host, m) = meeting(&app, "hostcrowd").await;
    let mut clients = vec![
        MediaClient::join(&app, &m, Some(&host), "Talker 0").await,
        MediaClient::join(&app, &m, None, "Talker 1").await,
    ];
    let silent = JoinOptions { silent: true, ..Default::default() };
    for i in 2..12 {
        clients.push(MediaClient::join_with(&app, &m, None, &format!("Quiet {i}"), silent).await);
    }
    for c in &mut clients {
        c.publish().await;
    }
    let tags: Vec<u32> = clients.iter().map(|c| c.tag()).collect();
    let talkers = [tags[0], tags[1]];
    for c in &clients {
        let others: Vec<u32> = tags.iter().copied().filter(|t| *t != c.tag()).collect();
        let voices: Vec<u32> = talkers.iter().copied().filter(|t| *t != c.tag()).collect();
        c.wait_until(
            "every camera and the talkers' voices",
            move |s| {
                others.iter().all(|t| s.video_packets_from(*t) > 0)
                    && voices.iter().all(|t| s.audio_packets_from(*t) > 0)
            },
            MEDIA_WITHIN,
        )
        .await;
    }
    let before: Vec<Stats> = clients.iter().map(|c| c.received()).collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (c, before) in clients.iter().zip(&before) {
        let now = c.received();
        for &t in tags.iter().filter(|t| **t != c.tag()) {
            let grew = now.audio_packets_from(t) - before.audio_packets_from(t);
            if talkers.contains(&t) {
                assert!(grew > 50, "a talker is heard ({grew} packets in 2 s): {}", now.summary());
            } else {
                assert_eq!(grew, 0, "an open but silent microphone is not forwarded: {}", now.summary());
            }
            assert!(now.video_packets_from(t) > before.video_packets_from(t), "cameras all flow");
        }
        for late in &tags[10..] {
            assert_eq!(now.audio_packets_from(*late), 0, "microphones opened once crowded, never heard: never offered");
        }
    }
    drop(clients);
    app.stop().await;
}

/// A gauge's value per `worker` label from the Prometheus text.
fn per_worker(metrics: &str, name: &str) -> Vec<(String, f64)> {
    let mut found: Vec<(String, f64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix("{worker=\""))
        .filter_map(|rest| {
            let (worker, value) = rest.split_once("\"} ")?;
            Some((worker.to_owned(), value.parse().ok()?))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

async fn meetings_spread_over_worker_threads(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.media_workers = 2).await;
    let mut meetings = Vec::new();
    for (n, host) in ["hostw1", "hostw2"].into_iter().enumerate() {
        let (host, m) = meeting(&app, host).await;
        let mut a = MediaClient::join(&app, &m, Some(&host), &format!("A{n}")).await;
        let mut b = MediaClient::join(&app, &m, None, &format!("B{n}")).await;
        a.publish().await;
        b.publish().await;
        meetings.push((a, b));
    }
    // Each meeting went to its own worker thread, and media flows in both.
    let text = String::from_utf8_lossy(&app.get("/metrics", Some(common::METRICS_TOKEN)).await.bytes).into_owned();
    let rooms = per_worker(&text, "media_worker_rooms");
    assert_eq!(rooms, [("0".to_owned(), 1.0), ("1".to_owned(), 1.0)], "rooms per worker:\n{text}");
    let people = per_worker(&text, "media_worker_participants");
    assert_eq!(people, [("0".to_owned(), 2.0), ("1".to_owned(), 2.0)]);
    for (a, b) in &meetings {
        let s = wait_for_media_from(a, &[b.tag()]).await;
        wait_for_media_from(b, &[a.tag()]).await;
        for (other, _) in &meetings {
            if other.tag() != a.tag() {
                assert_eq!(s.from(other.tag()).count(), 0, "media crossed meetings: {}", s.summary());
            }
        }
    }
    // The server's own account of the latency it adds counted the packets it forwarded.
    let text = String::from_utf8_lossy(&app.get("/metrics", Some(common::METRICS_TOKEN)).await.bytes).into_owned();
    let counted = text
        .lines()
        .find_map(|l| l.strip_prefix("media_packet_sojourn_seconds_count "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(counted.is_some_and(|n| n > 0.0), "no sojourn histogram:\n{text}");
    drop(meetings);
    app.stop().await;
}

async fn lost_network_resumes_seat_and_media(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (host, m) = meeting(&app, "hostm3").await;
    let mut a = MediaClient::join(&app, &m, Some(&host), "Ann").await;
    let mut b = MediaClient::join(&app, &m, None, "Bob").await;
    a.publish().await;
    b.publish().await;
    wait_for_media_from(&a, &[b.tag()]).await;
    wait_for_media_from(&b, &[a.tag()]).await;

    b.drop_network();
    let bid = b.participant_id.clone();
    let lost =
        a.signaling().expect_where("participant_updated", |u| u["participant"]["participant_id"] == bid.as_str()).await;
    assert_eq!(lost["participant"]["reconnecting"], true);
    tokio::time::sleep(Duration::from_secs(5)).await;

    let before_a = a.received();
    let before_b = b.received();
    let w = b.resume(&app).await;
    assert_eq!(w["type"], "welcome", "{w}");
    assert_eq!(w["resumed"], true);
    assert_eq!(w["participant_id"], bid.as_str(), "the same seat");
    let back = a
        .signaling()
        .expect_where("participant_updated", |u| {
            u["participant"]["participant_id"] == bid.as_str() && u["participant"]["reconnecting"] == false
        })
        .await;
    assert_eq!(back["participant"]["reconnecting"], false);

    // Media flows both ways again.
    wait_for_more(&a, &before_a, b.tag(), 25).await;
    wait_for_more(&b, &before_b, a.tag(), 25).await;
    let s = b
        .wait_until(
            "a video keyframe from Ann after the resume",
            {
                let (tag, before) = (a.tag(), before_b.video_keyframes_from(a.tag()));
                move |s| s.video_keyframes_from(tag) > before
            },
            MEDIA_WITHIN,
        )
        .await;
    assert_eq!(s.from(b.tag()).count(), 0);
    drop((a, b));
    app.stop().await;
}

/// A client that starts its media over and over (it did every ~5 s on a network that blocks
/// media) is refused after its budget of new peer connections for the minute, with a code that
/// says why; the refusal changes nothing, and others keep their own budget.
async fn restarting_media_too_often_is_refused_with_a_reason(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (host, m) = meeting(&app, "hostbudget").await;
    let mut a = MediaClient::join(&app, &m, Some(&host), "Ann").await;
    let mut b = MediaClient::join(&app, &m, None, "Bob").await;
    a.publish().await;
    b.publish().await;
    wait_for_media_from(&b, &[a.tag()]).await;

    // Eight restarts make sixteen peer connections: all within the budget.
    for i in 0..8 {
        assert_eq!(a.try_republish().await, Ok(()), "restart {i}");
    }
    wait_for_more(&b, &b.received(), a.tag(), 25).await;
    let aid = a.participant_id.clone();
    b.signaling().clear();
    let refused = a.try_republish().await.expect_err("the ninth restart within a minute is refused");
    assert_eq!(refused["code"], "media_restart_limited", "{refused}");
    assert_eq!(refused["request"], "publish_offer");
    assert!(refused["message"].as_str().unwrap().contains("16 new media connections a minute"), "{refused}");

    // Nothing changed: Ann's tracks stay published (her previous connection stays) and the
    // socket stays open.
    a.signaling().send(json!({"type": "ping", "id": 9}));
    assert_eq!(a.signaling().expect("pong").await["id"], 9);
    let unpublished = {
        let mut n = 0;
        while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(300), b.signaling().next()).await {
            n += usize::from(msg["type"] == "track_unpublished");
        }
        n
    };
    assert_eq!(unpublished, 0, "the refused restart dropped no track of {aid}");
    // Bob has a budget of his own.
    assert_eq!(b.try_republish().await, Ok(()));
    drop((a, b));
    app.stop().await;
}

/// Deterministic junk: empty, tiny, STUN-, DTLS- and RTP/RTCP-looking datagrams.
fn junk() -> Vec<Vec<u8>> {
    let mut seed = 0x9e37_79b9_u32;
    let mut random = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect()
    };
    let mut all = vec![vec![], vec![0x00], vec![0x16, 0xfe, 0xfd], vec![0x80, 0x60, 0x00]];
    for len in [1, 12, 20, 28, 100, 600, 1200] {
        for first in [0x00, 0x01, 0x16, 0x17, 0x80, 0x81, 0x90, 0xc8, 0xff] {
            let mut p = random(len);
            p[0] = first;
            all.push(p);
        }
    }
    // A STUN binding request for a ufrag nobody has.
    let user = b"nobody:knows";
    let mut stun = vec![0x00, 0x01, 0x00, 16, 0x21, 0x12, 0xA4, 0x42];
    stun.extend([7; 12]);
    stun.extend([0x00, 0x06, 0x00, user.len() as u8]);
    stun.extend(user);
    all.push(stun);
    all
}

async fn garbage_datagrams_do_not_disturb_a_meeting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (host, m) = meeting(&app, "hostm4").await;
    let mut a = MediaClient::join(&app, &m, Some(&host), "Ann").await;
    let mut b = MediaClient::join(&app, &m, None, "Bob").await;
    a.publish().await;
    b.publish().await;
    wait_for_media_from(&a, &[b.tag()]).await;
    wait_for_media_from(&b, &[a.tag()]).await;
    let server = a.server_media_addr().expect("the server's UDP candidate in its SDP");

    let before_a = a.received();
    let before_b = b.received();
    let strangers: Vec<UdpSocket> = (0..3).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
    for round in 0..10 {
        for p in junk() {
            let _ = strangers[round % strangers.len()].send_to(&p, server);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    wait_for_more(&a, &before_a, b.tag(), 25).await;
    wait_for_more(&b, &before_b, a.tag(), 25).await;
    // Signaling is fine too.
    a.signaling().send(json!({"type": "ping", "id": 7}));
    assert_eq!(a.signaling().expect("pong").await["id"], 7);
    assert!(a.errors().is_empty() && b.errors().is_empty(), "{:?} {:?}", a.errors(), b.errors());
    drop((a, b));
    app.stop().await;
}

/// Ann (the host) and Bob (a guest) publish, and Ann receives Bob's media.
async fn host_and_guest_publishing(app: &TestApp, name: &str) -> (MediaClient, MediaClient) {
    let (host, m) = meeting(app, name).await;
    let mut a = MediaClient::join(app, &m, Some(&host), "Ann").await;
    let mut b = MediaClient::join(app, &m, None, "Bob").await;
    a.publish().await;
    b.publish().await;
    let got = wait_for_media_from(&a, &[b.tag()]).await;
    wait_for_more(&a, &got, b.tag(), 25).await;
    (a, b)
}

async fn host_mute_stops_forwarding_audio(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut a, mut b) = host_and_guest_publishing(&app, "hostmute").await;

    // The host mutes Bob: his client keeps sending, but Ann stops hearing him (video goes on).
    let bid = b.participant_id.clone();
    a.signaling().send(json!({"type": "mute", "participant_id": bid}));
    b.signaling().expect_where("host_action", |m| m["action"] == "muted").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let muted_at = a.received();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = a.received();
    let (audio_then, audio_now) = (muted_at.audio_packets_from(b.tag()), later.audio_packets_from(b.tag()));
    assert!(audio_now <= audio_then + 3, "no audio from Bob while muted ({audio_then} → {audio_now})");
    assert!(later.video_packets_from(b.tag()) > muted_at.video_packets_from(b.tag()) + 20, "video unaffected");

    // Bob unmutes himself: Ann hears him again.
    b.signaling().send(json!({"type": "set_state", "muted": false}));
    let tag = b.tag();
    a.wait_until("audio grows after unmute", move |s| s.audio_packets_from(tag) > audio_now + 25, MEDIA_WITHIN).await;
}

async fn host_stop_video_stops_forwarding_the_camera(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut a, mut b) = host_and_guest_publishing(&app, "hoststopvideo").await;

    // The host stops Bob's video: his client keeps sending, but Ann stops seeing him (audio
    // goes on).
    let bid = b.participant_id.clone();
    a.signaling().send(json!({"type": "stop_video", "participant_id": bid}));
    b.signaling().expect_where("host_action", |m| m["action"] == "video_stopped").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped_at = a.received();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = a.received();
    let (video_then, video_now) = (stopped_at.video_packets_from(b.tag()), later.video_packets_from(b.tag()));
    assert!(video_now <= video_then + 3, "no video from Bob while stopped ({video_then} → {video_now})");
    assert!(later.audio_packets_from(b.tag()) > stopped_at.audio_packets_from(b.tag()) + 25, "audio unaffected");

    // Bob turns his camera on again: Ann sees him again, from a keyframe.
    b.signaling().send(json!({"type": "set_state", "camera_on": true}));
    let (tag, keyframes) = (b.tag(), later.video_keyframes_from(b.tag()));
    let after = a
        .wait_until(
            "video grows after the camera is on",
            move |s| s.video_packets_from(tag) > video_now + 25 && s.video_keyframes_from(tag) > keyframes,
            MEDIA_WITHIN,
        )
        .await;
    let resumed = after.video_arrivals_from(tag);
    assert!(resumed[video_now as usize].keyframe, "the camera comes back at a keyframe");
}

/// The id of `publisher`'s camera track, from `track_published` on `me`'s WebSocket.
async fn camera_track(me: &mut MediaClient, publisher: &str) -> String {
    let t = me
        .signaling()
        .expect_where("track_published", |t| t["track"]["participant_id"] == publisher && t["track"]["kind"] == "video")
        .await;
    t["track"]["track_id"].as_str().unwrap().to_owned()
}

fn set_video_size(me: &mut MediaClient, track: &str, width: u32, height: u32) {
    me.signaling().send(json!({"type": "set_video_size", "track_id": track, "width": width, "height": height}));
}

/// The layers of the video packets from `tag` after the first `skip`, in arrival order.
fn layers_after(s: &Stats, tag: u32, skip: usize) -> Vec<Option<u8>> {
    s.video_arrivals_from(tag).iter().skip(skip).map(|a| a.layer).collect()
}

/// Waits until the last 60 video packets from `tag` (two seconds of the low layer) all came
/// on a layer for which `ok` holds.
async fn wait_for_layers(c: &MediaClient, tag: u32, what: &str, ok: fn(u8) -> bool, timeout: Duration) -> Stats {
    c.wait_until(
        what,
        move |s| {
            let got = s.video_arrivals_from(tag);
            got.len() >= 60 && got[got.len() - 60..].iter().all(|a| a.layer.is_some_and(ok))
        },
        timeout,
    )
    .await
}

async fn subscriber_tile_size_picks_the_simulcast_layer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (host, m) = meeting(&app, "hostlayers").await;
    let mut a = MediaClient::join(&app, &m, Some(&host), "Ann").await;
    // Bob's client sends no congestion-control feedback, so the server has no bandwidth
    // estimate for him and only the tile size picks his layer (on a loopback shared with a
    // debug build the estimate wanders below what the high layer needs).
    let no_twcc = JoinOptions { no_twcc: true, ..Default::default() };
    let mut b = MediaClient::join_with(&app, &m, None, "Bob", no_twcc).await;
    a.publish().await;
    let camera = camera_track(&mut b, &a.participant_id).await;
    let tag = a.tag();
    wait_for_media_from(&b, &[tag]).await;

    // A small tile: after a moment, only the low layer arrives.
    set_video_size(&mut b, &camera, 320, 180);
    let s = wait_for_layers(&b, tag, "only the low layer for a 320×180 tile", |l| l == 0, MEDIA_WITHIN).await;
    let settled = s.video_arrivals_from(tag).len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let small = layers_after(&b.received(), tag, settled);
    assert!(small.len() >= 30, "video keeps coming for the small tile: {} packets", small.len());
    assert!(small.iter().all(|l| *l == Some(0)), "only layer {} for a small tile: {small:?}", RIDS[0]);

    // A large tile: the high layer takes over (once the estimate allows it: generous time).
    let before = b.received().video_arrivals_from(tag).len();
    set_video_size(&mut b, &camera, 1280, 720);
    wait_for_layers(&b, tag, "the high layer for a 1280×720 tile", |l| l == 2, Duration::from_secs(25)).await;
    let s = b.received();
    let got = s.video_arrivals_from(tag);
    let window = &got[before..];
    let first_high = window.iter().position(|a| a.layer == Some(2)).expect("high-layer packets");
    assert!(window[first_high].keyframe, "the switch to the high layer starts with a keyframe");
    let back_down = window[first_high..].iter().filter(|a| a.layer != Some(2)).count();
    assert!(back_down <= 3, "once switched up it stays up ({back_down} lower-layer packets after)");
    // The subscriber sees one continuous stream: no duplicates, no jump, across the switch
    // (the layers' own sequence numbers are hundreds apart by now).
    let seqs: Vec<u64> = got[before.saturating_sub(30)..].iter().map(|a| a.seq).collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), seqs.len(), "no sequence number twice");
    let largest_step = sorted.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(largest_step <= 3, "sequence numbers continue across the switch (largest step {largest_step})");

    // A hidden tile: A's video stops, its audio goes on.
    set_video_size(&mut b, &camera, 0, 0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hidden = b.received();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = b.received();
    let (video_then, video_now) = (hidden.video_packets_from(tag), later.video_packets_from(tag));
    assert!(video_now <= video_then + 2, "no video for a hidden tile ({video_then} → {video_now})");
    let (audio_then, audio_now) = (hidden.audio_packets_from(tag), later.audio_packets_from(tag));
    assert!(audio_now >= audio_then + 50, "audio goes on ({audio_then} → {audio_now})");
    drop((a, b));
    app.stop().await;
}

/// On str0m's transport with its sender-side estimate: the test client (str0m) estimates
/// nothing on its side, so it cannot report REMB as a browser does for the default downlink;
/// tests/e2e/downlink.test.mjs narrows a real Chromium's link on every downlink there is.
async fn bandwidth_drop_switches_to_a_lower_layer(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.forwarding = convene_sfu::Forwarding::STR0M_SENDER_SIDE).await;
    let (host, m) = meeting(&app, "hostbwe").await;
    let mut a = MediaClient::join(&app, &m, Some(&host), "Ann").await;
    let mut b = MediaClient::join(&app, &m, None, "Bob").await;
    a.publish().await;
    let camera = camera_track(&mut b, &a.participant_id).await;
    let tag = a.tag();
    wait_for_media_from(&b, &[tag]).await;
    // A large tile: Bob gets a layer above the lowest (the high one when the estimate
    // reaches 1.5 Mbit/s; on a busy loopback it often settles on the mid one).
    set_video_size(&mut b, &camera, 1280, 720);
    wait_for_layers(&b, tag, "a layer above the lowest for a 1280×720 tile", |l| l >= 1, Duration::from_secs(25)).await;

    // Bob's downlink narrows to 300 kbit/s: neither the mid nor the high layer fits, and
    // the server moves him to the low one.
    b.limit_downlink(Some(300_000));
    let s =
        wait_for_layers(&b, tag, "the low layer on a 300 kbit/s downlink", |l| l == 0, Duration::from_secs(20)).await;
    // Audio still gets through.
    let before = s.audio_packets_from(tag);
    b.wait_until("audio on the narrow link", move |s| s.audio_packets_from(tag) >= before + 25, MEDIA_WITHIN).await;
    drop((a, b));
    app.stop().await;
}

async fn ice_tcp_carries_media(backend: Backend) {
    ice_tcp_carries_media_with(backend, convene_sfu::Forwarding::default()).await
}

/// ICE-TCP for both of a participant's connections, the subscriber's on `forwarding`'s transport.
async fn ice_tcp_carries_media_with(backend: Backend, forwarding: convene_sfu::Forwarding) {
    let app = TestApp::spawn_with(backend, |c| c.forwarding = forwarding).await;
    let (host, m) = meeting(&app, "hosttcp").await;
    let mut a = MediaClient::join_tcp(&app, &m, Some(&host), "Ann over TCP").await;
    let mut b = MediaClient::join(&app, &m, None, "Bob over UDP").await;
    a.publish().await;
    b.publish().await;
    let got_a = wait_for_media_from(&a, &[b.tag()]).await;
    let got_b = wait_for_media_from(&b, &[a.tag()]).await;
    wait_for_more(&a, &got_a, b.tag(), 25).await;
    wait_for_more(&b, &got_b, a.tag(), 25).await;

    let s = a.received();
    assert_eq!(a.tcp_open(), [true, true], "both of Ann's connections run over TCP");
    assert!(s.tcp_frames_in > 100 && s.tcp_frames_out > 100, "{}", s.summary());
    assert_eq!(s.datagrams_in + s.datagrams_out, 0, "nothing over UDP: {}", s.summary());
    assert!(a.errors().is_empty() && b.errors().is_empty(), "{:?} {:?}", a.errors(), b.errors());
    drop((a, b));
    app.stop().await;
}

/// Polls `/metrics` until `name{worker="0"}` is at least `value`.
async fn wait_for_metric(app: &TestApp, name: &str, value: f64) {
    let deadline = Instant::now() + MEDIA_WITHIN;
    loop {
        let text = String::from_utf8_lossy(&app.get("/metrics", Some(common::METRICS_TOKEN)).await.bytes).into_owned();
        let got = per_worker(&text, name).first().map(|(_, v)| *v);
        if got.is_some_and(|v| v >= value) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} stayed at {got:?}, wanted {value}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A media worker past its high-water mark refuses new joins with `server_busy` (503 on the
/// HTTP join, an `error` frame on a socket opening with a ticket from before), sheds video
/// step by step, and the people already in keep hearing each other. The delay mark is 0 ms,
/// so any media packet overloads the worker: it is overloaded from the moment Ann and Bob
/// send media, and not before (joining sends none).
async fn an_overloaded_worker_refuses_joins_and_keeps_audio(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.media_workers = 1;
        c.media_high_water = convene::media::HighWater { busy_pct: 100, delay_ms: 0 };
    })
    .await;
    let (host, m) = meeting(&app, "hostbusy").await;
    let id = m["meeting_id"].as_i64().unwrap();
    let join_body = |name: &str| json!({"passcode": m["passcode"], "display_name": name});
    let mut a = MediaClient::join(&app, &m, Some(&host), "Ann").await;
    let mut b = MediaClient::join(&app, &m, None, "Bob").await;
    // Eve is seated before the load comes but publishes only after.
    let mut eve = MediaClient::join(&app, &m, None, "Eve").await;
    let early = app.post(&format!("/api/v1/meetings/{id}/join"), None, join_body("Cleo")).await;
    let early_ticket = early.expect(200)["ticket"].as_str().unwrap().to_owned();
    tokio::join!(a.publish(), b.publish());
    wait_for_media_from(&a, &[b.tag()]).await;

    // Within a measuring window or two of the media starting, joins are refused.
    let deadline = Instant::now() + MEDIA_WITHIN;
    let refused = loop {
        let r = app.post(&format!("/api/v1/meetings/{id}/join"), None, join_body("Dan")).await;
        if r.status.as_u16() != 200 {
            break r;
        }
        assert!(Instant::now() < deadline, "joins were never refused");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    refused.expect_error(503, "server_busy");
    assert!(refused.headers.get("retry-after").is_some(), "a refused join is told when to retry");
    let (mut cleo, first) = common::ws::Client::connect_following(&app, id, &format!("ticket={early_ticket}")).await;
    assert_eq!((first["type"].as_str(), first["code"].as_str()), (Some("error"), Some("server_busy")), "{first}");
    assert_eq!(cleo.close_code().await, Some(1011));
    // A new publisher is refused too (an error frame; the socket stays open), not those in.
    let frame = eve.try_publish().await.expect_err("a new publisher is refused while the worker is busy");
    assert_eq!(frame["code"].as_str(), Some("server_busy"), "{frame}");

    // Overloaded window after window, the worker reaches the last step (only the active
    // speaker's camera); Ann still hears Bob.
    wait_for_metric(&app, "media_worker_shedding_level", 4.0).await;
    let before = a.received();
    let tag = b.tag();
    let heard = before.audio_packets_from(tag);
    a.wait_until("Bob's audio keeps flowing", move |s| s.audio_packets_from(tag) > heard + 50, MEDIA_WITHIN).await;
    drop((a, b, eve));
    app.stop().await;
}

/// The SFU names a speaker only when it changes: someone who arrives while the same person
/// keeps talking is told at once who it is (right after the welcome, or after a move between
/// breakout rooms), not at the next change.
async fn a_newcomer_is_told_who_is_speaking(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (host, m) = meeting(&app, "speakhost").await;
    let mut ann = MediaClient::join(&app, &m, Some(&host), "Ann").await;
    ann.publish().await;
    let pid = ann.participant_id.clone();
    ann.signaling().expect_where("active_speaker", |f| f["participant_id"] == pid.as_str()).await;
    // Ann is the only one talking, so the speaker does not change again.
    let (mut lee, lee_welcome) = common::ws::Client::join(&app, &m, None, "Lee").await;
    let told = lee.expect("active_speaker").await;
    assert_eq!(told["participant_id"], pid.as_str(), "{told}");
    // Sent to a breakout room where nobody talks, Lee is told of no speaker; back in the main
    // room, where Ann still talks, Lee is told it is her right after the move.
    let lee_id = lee_welcome["participant_id"].as_str().unwrap().to_owned();
    ann.signaling().send(json!({"type": "breakout_open", "rooms": 2, "assign": "manual", "assignments": [{"participant_id": lee_id, "room": 1}]}));
    assert_eq!(lee.expect("breakout_moved").await["room"], 1);
    ann.signaling().send(json!({"type": "breakout_move", "participant_id": lee_id, "room": 0}));
    loop {
        let m = lee.next().await.expect("socket open");
        assert_ne!(m["type"], "active_speaker", "nobody talks in the breakout room: {m}");
        if m["type"] == "breakout_moved" {
            assert_eq!(m["room"], 0);
            break;
        }
    }
    let told = lee.expect("active_speaker").await;
    assert_eq!(told["participant_id"], pid.as_str(), "{told}");
    drop(ann);
    app.stop().await;
}

mod sqlite {
    use common::Backend;

    use super::common;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_newcomer_is_told_who_is_speaking() {
        super::a_newcomer_is_told_who_is_speaking(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_participants_exchange_audio_and_video() {
        super::two_participants_exchange_audio_and_video(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crowded_meeting_forwards_only_the_talkers_microphones() {
        super::a_crowded_meeting_forwards_only_the_talkers_microphones(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn five_participants_each_receive_all_four_others() {
        super::five_participants_each_receive_all_four_others(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lost_network_resumes_seat_and_media() {
        super::lost_network_resumes_seat_and_media(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn host_mute_stops_forwarding_audio() {
        super::host_mute_stops_forwarding_audio(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn host_stop_video_stops_forwarding_the_camera() {
        super::host_stop_video_stops_forwarding_the_camera(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn garbage_datagrams_do_not_disturb_a_meeting() {
        super::garbage_datagrams_do_not_disturb_a_meeting(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscriber_tile_size_picks_the_simulcast_layer() {
        super::subscriber_tile_size_picks_the_simulcast_layer(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bandwidth_drop_switches_to_a_lower_layer() {
        super::bandwidth_drop_switches_to_a_lower_layer(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn meetings_spread_over_worker_threads() {
        super::meetings_spread_over_worker_threads(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_overloaded_worker_refuses_joins_and_keeps_audio() {
        super::an_overloaded_worker_refuses_joins_and_keeps_audio(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ice_tcp_carries_media() {
        super::ice_tcp_carries_media(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ice_tcp_carries_media_on_str0ms_downlink_transport() {
        super::ice_tcp_carries_media_with(Backend::Sqlite, convene_sfu::Forwarding::STR0M_SENDER_SIDE).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn restarting_media_too_often_is_refused_with_a_reason() {
        super::restarting_media_too_often_is_refused_with_a_reason(Backend::Sqlite).await
    }
}
