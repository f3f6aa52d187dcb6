//! Cluster mode: several nodes on one PostgreSQL database and NATS JetStream. Clients may
//! reach any node; a meeting lives on one, and the others send its clients there.
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::media::MediaClient;
use common::ws::{meeting_with, Client};
use common::{cluster, TestApp};
use serde_json::{json, Value};

/// The index of the node that hosts `meeting` live (exactly one must).
fn host_of(apps: &[TestApp], meeting: &Value) -> usize {
    let id = meeting["meeting_id"].as_i64().unwrap();
    let hosts: Vec<usize> = (0..apps.len()).filter(|i| apps[*i].state.live.participants(id).is_some()).collect();
    assert_eq!(hosts.len(), 1, "meeting {id} is live on nodes {hosts:?}");
    hosts[0]
}

async fn join_via(app: &TestApp, meeting: &Value, name: &str) -> (Client, Value) {
    Client::join(app, meeting, None, name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meetings_spread_over_nodes_and_clients_of_any_node_meet() {
    let Some(apps) = cluster::nodes(3).await else { return };
    let host = apps[0].account("clusterhost").await;
    let mut meetings = Vec::new();
    for _ in 0..3 {
        meetings.push(meeting_with(&apps[0], &host, json!({})).await);
    }

    // Everyone enters through node 0; the meetings spread over the three nodes by load.
    let mut first = Vec::new();
    for (i, m) in meetings.iter().enumerate() {
        first.push(join_via(&apps[0], m, &format!("First{i}")).await);
    }
    let owners: BTreeSet<usize> = meetings.iter().map(|m| host_of(&apps, m)).collect();
    assert_eq!(owners.len(), 3, "three meetings on three idle nodes go to three nodes");

    // A second person per meeting comes in through yet another node and lands in the same
    // room: they see each other, and chat reaches them both.
    for (i, m) in meetings.iter().enumerate() {
        let (mut second, welcome) = join_via(&apps[(i + 1) % 3], m, &format!("Second{i}")).await;
        let (a, _) = &mut first[i];
        let names: Vec<&str> =
            welcome["participants"].as_array().unwrap().iter().map(|p| p["display_name"].as_str().unwrap()).collect();
        assert!(names.contains(&format!("First{i}").as_str()), "the second sees the first: {names:?}");
        a.expect_where("participant_joined", |j| j["participant"]["display_name"] == format!("Second{i}")).await;
        second.send(json!({"type": "chat_send", "text": format!("hello from node {}", (i + 1) % 3)})).await;
        for c in [a, &mut second] {
            let msg = c.expect("chat_message").await;
            assert_eq!(msg["message"]["text"], format!("hello from node {}", (i + 1) % 3));
        }
    }

    // Chat is in the shared database, readable through any node.
    let id = meetings[0]["meeting_id"].as_i64().unwrap();
    for app in &apps {
        let r = app.get(&format!("/api/v1/meetings/{id}/chat"), Some(&host.token)).await;
        let texts: Vec<&str> =
            r.expect(200)["items"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
        assert_eq!(texts, ["hello from node 1"], "node {} reads the chat", app.state.cluster.node_id());
    }
    for app in apps {
        app.stop().await;
    }
}

/// A node whose media workers are all past their high-water mark says so in the registry
/// (`busy`), and new meetings go to another node — even when they are opened through the busy
/// node, whose HTTP join leaves the judgement to the node that takes the meeting. The busy
/// node's own meeting goes on, and a newcomer to it is refused with `server_busy`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_meetings_avoid_a_busy_node() {
    // Every node's one worker counts as overloaded from its first media packet (delay mark
    // 0 ms): the node that takes the media meeting turns busy, the other stays idle.
    let Some(apps) = cluster::nodes_configured(&[None, None], |_, c| {
        c.media_workers = 1;
        c.media_high_water = convene::media::HighWater { busy_pct: 100, delay_ms: 0 };
    })
    .await
    else {
        return;
    };
    let host = apps[0].account("busyhost").await;
    let media = meeting_with(&apps[0], &host, json!({})).await;
    let mut a = MediaClient::join(&apps[0], &media, Some(&host), "Ann").await;
    let mut b = MediaClient::join(&apps[0], &media, None, "Bob").await;
    tokio::join!(a.publish(), b.publish());
    let busy = host_of(&apps, &media);
    let idle = 1 - busy;
    let busy_id = format!("n{busy}");

    // The busy node says so, and the other reads it from the registry.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !apps[idle].state.cluster.nodes().iter().any(|n| n.id == busy_id && n.busy) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{busy_id} never showed busy: {:?}",
            apps[idle].state.cluster.nodes()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while !apps[busy].state.media.busy() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A new meeting opened through the busy node lands on the other one.
    let fresh = meeting_with(&apps[busy], &host, json!({})).await;
    let (_cleo, welcome) = join_via(&apps[busy], &fresh, "Cleo").await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(host_of(&apps, &fresh), idle, "placement avoids the busy node");
    // The busy node's own meeting: a newcomer is refused, the two in still hear each other.
    let id = media["meeting_id"].as_i64().unwrap();
    let r = apps[busy]
        .post(
            &format!("/api/v1/meetings/{id}/join"),
            None,
            json!({"passcode": media["passcode"], "display_name": "Dan"}),
        )
        .await;
    r.expect_error(503, "server_busy");
    let tag = b.tag();
    let heard = a.received().audio_packets_from(tag);
    a.wait_until("Bob's audio keeps flowing", move |s| s.audio_packets_from(tag) > heard + 25, Duration::from_secs(20))
        .await;
    drop((a, b));
    for app in apps {
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_flows_between_clients_who_came_through_different_nodes() {
    let Some(apps) = cluster::nodes(2).await else { return };
    let host = apps[0].account("clustermedia").await;
    let m = meeting_with(&apps[0], &host, json!({})).await;
    let mut a = MediaClient::join(&apps[0], &m, Some(&host), "Ann").await;
    let mut b = MediaClient::join(&apps[1], &m, None, "Bob").await;
    a.publish().await;
    b.publish().await;
    for (me, other) in [(&a, b.tag()), (&b, a.tag())] {
        me.wait_until("media from the other node's client", move |s| s.has_media_from(other), Duration::from_secs(10))
            .await;
    }
    // The owner reports what it forwards in its load; every node sees it in the registry.
    let owner = apps[host_of(&apps, &m)].state.cluster.node_id().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let seen: Vec<u64> = apps
            .iter()
            .filter_map(|app| app.state.cluster.nodes().into_iter().find(|n| n.id == owner).map(|n| n.egress_bps))
            .collect();
        if seen.len() == apps.len() && seen.iter().all(|bps| *bps > 50_000) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the owner's forwarded bitrate in the registry: {seen:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop((a, b));
    for app in apps {
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_nodes_agree_on_one_placement() {
    let Some(apps) = cluster::nodes(3).await else { return };
    let host = apps[0].account("racer").await;
    let m = meeting_with(&apps[0], &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let answers = futures_util::future::join_all(apps.iter().map(|a| a.state.cluster.owner(id, None))).await;
    let owners: BTreeSet<String> = answers
        .into_iter()
        .zip(&apps)
        .map(|(o, app)| match o.expect("placement") {
            convene::cluster::Owner::Here => app.state.cluster.node_id().to_owned(),
            convene::cluster::Owner::Elsewhere { node_id, .. } => node_id,
        })
        .collect();
    assert_eq!(owners.len(), 1, "every node names the same owner: {owners:?}");
    for app in apps {
        app.stop().await;
    }
}

/// Resumes through `app` (the load balancer's pick), following `moved`, until the meeting
/// is back; a moved to a node that is dead by now is retried until placement notices.
async fn resume_until_back(app: &TestApp, meeting_id: i64, resume_token: &str) -> (Client, Value) {
    use tokio_tungstenite::connect_async;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(tokio::time::Instant::now() < deadline, "the meeting did not come back");
        let query = format!("resume={resume_token}");
        let mut c = Client::connect(app, meeting_id, &query).await;
        let Some(first) = c.next().await else { continue };
        if first["type"] == "welcome" {
            return (c, first);
        }
        if first["type"] == "moved" {
            let url = format!("{}?{query}", first["ws_url"].as_str().unwrap());
            if let Ok((ws, _)) = connect_async(url).await {
                let mut c = Client { ws };
                if let Some(first) = c.next().await {
                    if first["type"] == "welcome" {
                        return (c, first);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_whose_node_is_killed_comes_back_on_another_with_its_people_and_chat() {
    let Some(mut apps) = cluster::nodes(1).await else { return };
    let front = apps.remove(0);
    // The front node (the load balancer's pick for this test) takes no meetings itself, so
    // the meeting lands on a node this test can kill.
    front.state.cluster.set_draining(true).await;
    let mut nodes =
        vec![cluster::ProcessNode::start(&front, "p1").await, cluster::ProcessNode::start(&front, "p2").await];
    cluster::until_seen(&front, &["p1", "p2"]).await;

    let host = front.account("failoverhost").await;
    let m = meeting_with(&front, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, hw) = Client::join(&front, &m, Some(&host), "Hana").await;
    let (mut g, gw) = join_via(&front, &m, "Gus").await;
    h.send(json!({"type": "chat_send", "text": "before the crash"})).await;
    g.expect("chat_message").await;

    // Kill the node that hosts it.
    let owner = match front.state.cluster.owner(id, None).await.unwrap() {
        convene::cluster::Owner::Elsewhere { node_id, .. } => node_id,
        convene::cluster::Owner::Here => panic!("the draining front node took the meeting"),
    };
    let killed = nodes.iter().position(|n| n.id == owner).unwrap();
    nodes[killed].kill();
    let started = std::time::Instant::now();
    while h.next().await.is_some() {} // what was queued, then the socket dies with the node

    // Both come back through the front with their resume tokens: same ids, same roles,
    // the chat history intact, on the surviving node.
    let (mut h2, hw2) = resume_until_back(&front, id, hw["resume_token"].as_str().unwrap()).await;
    let (_g2, gw2) = resume_until_back(&front, id, gw["resume_token"].as_str().unwrap()).await;
    let back_in = started.elapsed();
    eprintln!("meeting back after {back_in:?}");
    for (before, after) in [(&hw, &hw2), (&gw, &gw2)] {
        assert_eq!(after["participant_id"], before["participant_id"]);
        assert_eq!(after["role"], before["role"]);
        assert_eq!(after["resumed"], true);
        let chat: Vec<&str> = after["chat"].as_array().unwrap().iter().filter_map(|c| c["text"].as_str()).collect();
        assert_eq!(chat, ["before the crash"]);
    }
    let names: Vec<&str> =
        gw2["participants"].as_array().unwrap().iter().map(|p| p["display_name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Hana") && names.contains(&"Gus"), "both are in the rebuilt room: {names:?}");
    let new_owner = match front.state.cluster.owner(id, None).await.unwrap() {
        convene::cluster::Owner::Elsewhere { node_id, .. } => node_id,
        convene::cluster::Owner::Here => panic!("the draining front node took the meeting"),
    };
    assert_ne!(new_owner, owner, "rebuilt on a live node");
    // And the rebuilt meeting works: chat flows.
    h2.send(json!({"type": "chat_send", "text": "after the crash"})).await;
    let msg = h2.expect("chat_message").await;
    assert_eq!(msg["message"]["text"], "after the crash");
    drop(nodes);
    front.stop().await;
}

/// The failover target of SPEC §2.7: media flows again within 5 s of the node's death.
const MEDIA_BACK_WITHIN: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_is_back_within_five_seconds_after_its_node_is_killed() {
    let Some(mut apps) = cluster::nodes(1).await else { return };
    let front = apps.remove(0);
    front.state.cluster.set_draining(true).await;
    let mut nodes =
        vec![cluster::ProcessNode::start(&front, "q1").await, cluster::ProcessNode::start(&front, "q2").await];
    cluster::until_seen(&front, &["q1", "q2"]).await;

    let host = front.account("mediafailover").await;
    let m = meeting_with(&front, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let mut a = MediaClient::join(&front, &m, Some(&host), "Ann").await;
    let mut b = MediaClient::join(&front, &m, None, "Bob").await;
    a.publish().await;
    b.publish().await;
    for (me, other) in [(&a, b.tag()), (&b, a.tag())] {
        me.wait_until("media before the crash", move |s| s.has_media_from(other), Duration::from_secs(10)).await;
    }
    let owner = match front.state.cluster.owner(id, None).await.unwrap() {
        convene::cluster::Owner::Elsewhere { node_id, .. } => node_id,
        convene::cluster::Owner::Here => panic!("the draining front node took the meeting"),
    };

    nodes.iter_mut().find(|n| n.id == owner).unwrap().kill();
    let killed_at = std::time::Instant::now();
    let (before_a, before_b) = (a.received(), b.received());
    // Both notice the dead socket at once and come back through the front, as the web
    // client does: resume, follow `moved`, start media over on the new node.
    let (wa, wb) = tokio::join!(
        a.resume_until_back(&front, Duration::from_secs(15)),
        b.resume_until_back(&front, Duration::from_secs(15))
    );
    for (w, c) in [(&wa, &a), (&wb, &b)] {
        assert_eq!(w["resumed"], true, "{w}");
        assert_eq!(w["participant_id"], c.participant_id.as_str(), "the same seat");
    }
    let (ta, tb) = (a.tag(), b.tag());
    let (va, vb) = (before_a.video_packets_from(tb), before_b.video_packets_from(ta));
    eprintln!("back in the meeting {:?} after the kill", killed_at.elapsed());
    let wait = MEDIA_BACK_WITHIN.saturating_sub(killed_at.elapsed()).max(Duration::from_millis(1));
    let (sa, sb) = tokio::join!(
        a.wait_until("Bob's media back at Ann", move |s| s.grew_from(&before_a, tb, 10), wait),
        b.wait_until("Ann's media back at Bob", move |s| s.grew_from(&before_b, ta, 10), wait)
    );
    eprintln!("media back {:?} after the kill", killed_at.elapsed());
    assert!(sa.video_packets_from(tb) > va, "video too, not only audio");
    assert!(sb.video_packets_from(ta) > vb);
    drop((a, b));
    drop(nodes);
    front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_a_node_moves_its_meetings_and_nobody_is_dropped() {
    let Some(apps) = cluster::nodes(2).await else { return };
    let admin = apps[0].account("drainadmin").await; // the first account is an administrator
    let plain = apps[0].account("drainplain").await;
    let m = meeting_with(&apps[0], &admin, json!({})).await;
    let (mut h, hw) = Client::join(&apps[0], &m, Some(&admin), "Hana").await;
    let (mut g, gw) = Client::join(&apps[0], &m, Some(&plain), "Gus").await;
    // Drain whichever node took it (placement weighs CPU too, so either may have).
    let (owner, other) = if host_of(&apps, &m) == 0 { (0, 1) } else { (1, 0) };
    h.send(json!({"type": "chat_send", "text": "before the drain"})).await;
    g.expect("chat_message").await;

    // Only administrators drain; bad deadlines are refused and change nothing.
    let drain = "/api/v1/admin/cluster/drain";
    apps[owner].post(drain, Some(&plain.token), json!({})).await.expect_error(403, "admin_only");
    apps[owner]
        .post(drain, Some(&admin.token), json!({"deadline_seconds": 99999}))
        .await
        .expect_error(422, "invalid_deadline");
    apps[owner].post(drain, None, json!({})).await.expect(401);
    let status = apps[owner].get("/api/v1/admin/cluster", Some(&admin.token)).await;
    assert_eq!(status.expect(200)["draining"], false);
    assert_eq!(status.body["nodes"].as_array().unwrap().len(), 2);

    let r = apps[owner].post(drain, Some(&admin.token), json!({"deadline_seconds": 0})).await;
    assert_eq!(r.expect(202)["draining"], true);

    // Each person is told where the meeting went and resumes there: same seat, same role,
    // the chat intact, and nobody ever saw anyone leave.
    let target = apps[other].base.replace("http://", "ws://");
    let mut back = Vec::new();
    for (c, w) in [(&mut h, &hw), (&mut g, &gw)] {
        let moved = loop {
            let f = c.next().await.expect("moved before the socket closes");
            assert_ne!(f["type"], "participant_left", "nobody leaves in a drain: {f}");
            if f["type"] == "moved" {
                break f;
            }
        };
        let ws_url = moved["ws_url"].as_str().unwrap();
        assert!(ws_url.starts_with(&target), "moved to the other node: {ws_url}");
        assert_eq!(c.close_code().await, Some(4302));
        let mut c2 = Client::connect_url(&format!("{ws_url}?resume={}", w["resume_token"].as_str().unwrap())).await;
        let w2 = c2.expect("welcome").await;
        assert_eq!(
            (w2["participant_id"].clone(), w2["role"].clone()),
            (w["participant_id"].clone(), w["role"].clone())
        );
        let chat: Vec<&str> = w2["chat"].as_array().unwrap().iter().filter_map(|c| c["text"].as_str()).collect();
        assert_eq!(chat, ["before the drain"]);
        back.push(c2);
    }
    assert_eq!(host_of(&apps, &m), other);
    back[0].send(json!({"type": "chat_send", "text": "after the drain"})).await;
    for c in &mut back {
        assert_eq!(c.expect("chat_message").await["message"]["text"], "after the drain");
    }

    // New meetings go elsewhere while a node drains.
    let m2 = meeting_with(&apps[0], &admin, json!({})).await;
    let _c = Client::join(&apps[owner], &m2, Some(&admin), "Hana").await;
    assert_eq!(host_of(&apps, &m2), other, "a draining node takes no new meeting");
    for app in apps {
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_has_no_cluster_to_drain_into() {
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    let admin = app.account("solo").await;
    let status = app.get("/api/v1/admin/cluster", Some(&admin.token)).await;
    assert_eq!(status.expect(200)["clustered"], false);
    app.post("/api/v1/admin/cluster/drain", Some(&admin.token), json!({})).await.expect_error(409, "not_clustered");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_keeps_flowing_while_the_database_is_away_and_is_stored_once_when_it_returns() {
    let Some(backend) = common::Backend::postgres() else { return };
    let pg: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = common::proxy::Proxy::start(pg).await;
    let mut direct_url = String::new();
    let app = TestApp::spawn_with(backend, |c| {
        direct_url = c.database_url.clone();
        let mut url = url::Url::parse(&c.database_url).unwrap();
        url.set_port(Some(proxy.addr.port())).unwrap();
        c.database_url = url.to_string();
    })
    .await;
    let host = app.account("partitionhost").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Hana").await;
    let (mut g, _) = join_via(&app, &m, "Gus").await;
    h.send(json!({"type": "chat_send", "text": "m0"})).await;
    g.expect("chat_message").await;

    // The database goes away: the meeting and its chat go on.
    proxy.cut();
    for i in 1..=5 {
        h.send(json!({"type": "chat_send", "text": format!("m{i}")})).await;
        let got = g.expect("chat_message").await;
        assert_eq!(got["message"]["text"], format!("m{i}"), "chat flows during the outage");
    }
    g.send(json!({"type": "leave"})).await;
    h.expect("participant_left").await;
    assert!(!app.state.backlog.is_empty(), "writes wait for the database");

    // It comes back: everything is written, in order, exactly once.
    proxy.restore();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !app.state.backlog.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the backlog did not drain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(&direct_url).await.unwrap();
    let texts: Vec<String> =
        sqlx::query_scalar("SELECT text FROM chat_messages WHERE meeting_id = $1 ORDER BY sent_at, id")
            .bind(id)
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4", "m5"]);
    let gus_left: Option<i64> =
        sqlx::query_scalar("SELECT left_at FROM attendance WHERE meeting_id = $1 AND display_name = 'Gus'")
            .bind(id)
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert!(gus_left.is_some(), "the leave during the outage was recorded");
    drop(db);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_queued_during_a_database_outage_outlives_the_node_that_queued_it() {
    let Some(backend) = common::Backend::postgres() else { return };
    let proxy = common::proxy::Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let data = tempfile::tempdir().unwrap();
    let mut direct_url = String::new();
    let app = TestApp::spawn_with(backend, |c| {
        direct_url = c.database_url.clone();
        c.data_dir = data.path().to_owned();
        let mut url = url::Url::parse(&c.database_url).unwrap();
        url.set_port(Some(proxy.addr.port())).unwrap();
        c.database_url = url.to_string();
    })
    .await;
    let host = app.account("journalhost").await;
    let m = meeting_with(&app, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, _) = Client::join(&app, &m, Some(&host), "Hana").await;
    proxy.cut();
    for i in 1..=3 {
        h.send(json!({"type": "chat_send", "text": format!("during {i}")})).await;
        h.expect("chat_message").await;
    }
    assert_eq!(app.state.backlog.len(), 3, "queued while the database is away");

    // The node is as good as dead (still cut off, its queue never drains); it restarts on the
    // same data directory, reaching the database again, and writes what the first run queued.
    let restarted = TestApp::spawn_with(common::Backend::Sqlite, |c| {
        c.database_url = direct_url.clone();
        c.data_dir = data.path().to_owned();
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = restarted.get(&format!("/api/v1/meetings/{id}/chat"), Some(&host.token)).await;
        let texts: Vec<String> = r.expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["text"].as_str().map(str::to_owned))
            .collect();
        if texts.len() == 3 {
            assert_eq!(texts, ["during 1", "during 2", "during 3"], "in order, once each");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the journal was not replayed: {texts:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(restarted.state.backlog.is_empty());
    restarted.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meetings_continue_while_nats_is_away_and_new_ones_are_told_to_retry() {
    let Some(nats) = cluster::nats() else { return };
    let Some(backend) = common::Backend::postgres() else { return };
    let nats_addr: std::net::SocketAddr = nats.trim_start_matches("nats://").parse().unwrap();
    let proxy = common::proxy::Proxy::start(nats_addr).await;
    let app = TestApp::spawn_with(backend, |c| {
        c.nats_url = Some(format!("nats://{}", proxy.addr));
        c.cluster_name = format!("t{}", uuid::Uuid::new_v4().simple());
        c.node_id = "alone".into();
    })
    .await;
    let host = app.account("natsaway").await;
    let live = meeting_with(&app, &host, json!({})).await;
    let later = meeting_with(&app, &host, json!({})).await;
    let (mut h, _) = Client::join(&app, &live, Some(&host), "Hana").await;
    let (mut g, _) = join_via(&app, &live, "Gus").await;

    // NATS goes away: the meeting on this node goes on, and people can still join it.
    proxy.cut();
    h.send(json!({"type": "chat_send", "text": "still here"})).await;
    assert_eq!(g.expect("chat_message").await["message"]["text"], "still here");
    let (_i, welcome) = join_via(&app, &live, "Ivy").await;
    assert_eq!(welcome["type"], "welcome");
    h.expect_where("participant_joined", |j| j["participant"]["display_name"] == "Ivy").await;

    // A meeting not placed yet cannot be: the client is told so at once, with a retry hint.
    let id = later["meeting_id"].as_i64().unwrap();
    let body = json!({"passcode": later["passcode"], "display_name": "Jo"});
    let ticket = app.post(&format!("/api/v1/meetings/{id}/join"), None, body).await.expect(200)["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let asked = std::time::Instant::now();
    let mut c = Client::connect(&app, id, &format!("ticket={ticket}")).await;
    let refusal = c.next().await.expect("an answer");
    assert_eq!(refusal["type"], "error", "{refusal}");
    assert_eq!(refusal["code"], "cluster_unavailable");
    assert_eq!(c.close_code().await, Some(1011));
    assert!(asked.elapsed() < Duration::from_secs(5), "told promptly, not after a long hang");

    // NATS returns: the new meeting gets placed (the client's retry gets in).
    proxy.restore();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (mut c, first) = Client::connect_following(&app, id, &format!("ticket={ticket}")).await;
        if first["type"] == "welcome" {
            c.send(json!({"type": "chat_send", "text": "placed"})).await;
            assert_eq!(c.expect("chat_message").await["message"]["text"], "placed");
            break;
        }
        assert_eq!(first["code"], "cluster_unavailable", "{first}");
        assert!(std::time::Instant::now() < deadline, "placement did not come back with NATS");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_goes_to_a_node_in_the_clients_region() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let Some(apps) = cluster::nodes_in(&[Some("eu-west"), Some("us-east"), Some("us-east")]).await else { return };
    let host = apps[0].account("regional").await;
    let id_of = |m: &Value| m["meeting_id"].as_i64().unwrap();
    // Opens the meeting's socket through node 0 as a load balancer would, naming the
    // client's region (or a bad tag, or none); returns where the meeting went.
    let place = |m: Value, region: Option<&'static str>| {
        let (app, host) = (&apps[0], &host);
        async move {
            let body = json!({"passcode": m["passcode"], "display_name": "Traveller"});
            let path = format!("/api/v1/meetings/{}/join", id_of(&m));
            let ticket =
                app.post(&path, Some(&host.token), body).await.expect(200)["ticket"].as_str().unwrap().to_owned();
            let url =
                format!("{}/api/v1/meetings/{}/ws?ticket={ticket}", app.base.replace("http://", "ws://"), id_of(&m));
            let mut request = url.into_client_request().unwrap();
            if let Some(r) = region {
                request.headers_mut().insert("X-Convene-Region", r.parse().unwrap());
            }
            let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
            let mut c = Client { ws };
            let first = c.next().await.unwrap();
            match first["type"].as_str() {
                Some("moved") => first["node_id"].as_str().unwrap().to_owned(),
                Some("welcome") => "n0".to_owned(),
                _ => panic!("{first}"),
            }
        }
    };
    for _ in 0..2 {
        let m = meeting_with(&apps[0], &host, json!({})).await;
        let node = place(m, Some("us-east")).await;
        assert!(node == "n1" || node == "n2", "a client in us-east gets a us-east node, not {node}");
    }
    // No node in the client's region, a tag that is not one, or no tag: placed by load alone
    // (the unit tests of the policy pin which), never refused.
    for region in [Some("ap-south"), Some("eu west; drop"), None] {
        let m = meeting_with(&apps[0], &host, json!({})).await;
        let node = place(m, region).await;
        assert!(["n0", "n1", "n2"].contains(&node.as_str()), "region {region:?}: {node}");
    }
    // And eu-west has exactly one node: every eu-west meeting goes there, however loaded.
    for _ in 0..2 {
        let m = meeting_with(&apps[0], &host, json!({})).await;
        assert_eq!(place(m, Some("eu-west")).await, "n0");
    }
    let m = meeting_with(&apps[1], &host, json!({})).await;
    let body = json!({"passcode": m["passcode"], "display_name": "Traveller"});
    let path = format!("/api/v1/meetings/{}/join", id_of(&m));
    let ticket = apps[1].post(&path, Some(&host.token), body).await.expect(200)["ticket"].as_str().unwrap().to_owned();
    let url = format!("{}/api/v1/meetings/{}/ws?ticket={ticket}", apps[1].base.replace("http://", "ws://"), id_of(&m));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("X-Convene-Region", "eu-west".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let first = Client { ws }.next().await.unwrap();
    assert_eq!(first["type"], "moved", "asked on a us-east node, an eu-west client goes to eu-west: {first}");
    assert_eq!(first["node_id"], "n0");
    for app in apps {
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_is_started_and_stopped_through_any_node() {
    let Some(apps) = cluster::nodes(2).await else { return };
    let host = apps[0].account("recanywhere").await;
    let other_user = apps[0].account("recnobody").await;
    let m = meeting_with(&apps[0], &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let (mut h, _) = Client::join(&apps[0], &m, Some(&host), "Hana").await;
    let elsewhere = &apps[1 - host_of(&apps, &m)];
    let path = |action: &str| format!("/api/v1/meetings/{id}/recording/{action}");

    // The node that does not host the meeting passes the request on; the owner decides.
    elsewhere.post(&path("start"), None, json!({})).await.expect(401);
    elsewhere.post(&path("start"), Some(&other_user.token), json!({})).await.expect_error(403, "not_host");
    let started = elsewhere.post(&path("start"), Some(&host.token), json!({})).await;
    assert_eq!(started.expect(200)["recording"]["status"], "recording");
    h.expect_where("meeting_updated", |u| u["recording"] == true).await;
    elsewhere.post(&path("start"), Some(&host.token), json!({})).await.expect_error(409, "already_recording");

    let stopped = elsewhere.post(&path("stop"), Some(&host.token), json!({})).await;
    assert_eq!(stopped.expect(200)["message"], "Recording stopped");
    h.expect_where("meeting_updated", |u| u["recording"] == false).await;
    for app in apps {
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_nats_hands_its_meeting_over_when_it_returns() {
    // Node x reaches NATS through a proxy the test cuts; node y directly.
    let Some(nats) = cluster::nats() else { return };
    let Some(backend) = common::Backend::postgres() else { return };
    let proxy = common::proxy::Proxy::start(nats.trim_start_matches("nats://").parse().unwrap()).await;
    let cluster_name = format!("t{}", uuid::Uuid::new_v4().simple());
    let x = TestApp::spawn_with(backend, |c| {
        c.nats_url = Some(format!("nats://{}", proxy.addr));
        c.cluster_name = cluster_name.clone();
        c.node_id = "x".into();
    })
    .await;
    let database_url = x.state.config.database_url.clone();
    let y = TestApp::spawn_with(common::Backend::Sqlite, |c| {
        c.database_url = database_url.clone();
        c.nats_url = Some(nats.clone());
        c.cluster_name = cluster_name.clone();
        c.node_id = "y".into();
    })
    .await;
    while x.state.cluster.nodes().len() < 2 || y.state.cluster.nodes().len() < 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let host = x.account("splithost").await;
    let m = meeting_with(&x, &host, json!({})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    y.state.cluster.set_draining(true).await; // so the meeting starts on x
    while !x.state.cluster.nodes().iter().any(|n| n.id == "y" && n.draining) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut h, hw) = Client::join(&x, &m, Some(&host), "Hana").await;
    assert!(x.state.live.participants(id).is_some(), "x hosts the meeting");
    y.state.cluster.set_draining(false).await;

    // x is cut off long enough for the cluster to take it for dead; meanwhile Gus comes in
    // through y, which places the meeting anew — on itself. For a while the meeting is split.
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let (mut g, _) = join_via(&y, &m, "Gus").await;
    assert!(y.state.live.participants(id).is_some(), "y hosts the meeting now");

    // x comes back, finds the meeting placed on y and sends Hana there; she resumes with
    // her seat, and the two are in one room again.
    proxy.restore();
    let moved = tokio::time::timeout(Duration::from_secs(15), h.expect("moved")).await.expect("moved within 15 s");
    assert_eq!(moved["node_id"], "y");
    assert!(x.state.live.participants(id).is_none(), "x let the room go");
    let url = format!("{}?resume={}", moved["ws_url"].as_str().unwrap(), hw["resume_token"].as_str().unwrap());
    let mut h2 = Client::connect_url(&url).await;
    let w = h2.expect("welcome").await;
    assert_eq!(w["participant_id"], hw["participant_id"], "the same seat");
    let names: Vec<&str> =
        w["participants"].as_array().unwrap().iter().map(|p| p["display_name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Gus") && names.contains(&"Hana"), "{names:?}");
    h2.send(json!({"type": "chat_send", "text": "together again"})).await;
    assert_eq!(g.expect("chat_message").await["message"]["text"], "together again");
    x.stop().await;
    y.stop().await;
}

/// Waits until `c` gets audio and a video keyframe from `tag` anew.
async fn fresh(c: &MediaClient, tag: u32) {
    let before = c.received();
    c.wait_until("fresh media", move |s| s.grew_from(&before, tag, 25), Duration::from_secs(15)).await;
}

/// Breakout rooms in a cluster: people who came through different nodes are placed in a room
/// together (its SFU room lives on the meeting's node, like the main room), see and hear each
/// other there and not the main room, and are back with everyone when the rooms close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakout_rooms_work_for_people_who_came_through_different_nodes() {
    let Some(apps) = cluster::nodes(2).await else { return };
    let host = apps[0].account("clusterbreakout").await;
    let m = meeting_with(&apps[0], &host, json!({})).await;
    let mut h = MediaClient::join(&apps[0], &m, Some(&host), "Hana").await;
    let mut a = MediaClient::join(&apps[1], &m, None, "Ann").await;
    let mut b = MediaClient::join(&apps[0], &m, None, "Bob").await;
    for x in [&mut h, &mut a, &mut b] {
        x.publish().await;
    }
    let (ta, tb, th) = (a.tag(), b.tag(), h.tag());
    fresh(&h, ta).await;

    let room_of = |x: &MediaClient| json!({"participant_id": x.participant_id, "room": 1});
    let assignments = json!([room_of(&a), room_of(&b)]);
    h.signaling().send(json!({"type": "breakout_open", "rooms": 2, "assign": "manual", "assignments": assignments}));
    for x in [&mut a, &mut b] {
        assert_eq!(x.follow_breakout_move().await["room"], 1);
    }
    fresh(&a, tb).await;
    fresh(&b, ta).await;
    let (sh, sa) = (h.received(), a.received());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (nh, na) = (h.received(), a.received());
    for t in [ta, tb] {
        assert_eq!(nh.audio_packets_from(t), sh.audio_packets_from(t), "the main room hears a breakout room");
    }
    assert_eq!(na.audio_packets_from(th), sa.audio_packets_from(th), "a breakout room hears the main room");

    h.signaling().send(json!({"type": "breakout_close", "countdown_seconds": 0}));
    for x in [&mut a, &mut b] {
        assert_eq!(x.follow_breakout_move().await["room"], 0);
    }
    fresh(&h, ta).await;
    fresh(&a, th).await;
    drop((h, a, b));
    for app in apps {
        app.stop().await;
    }
}
