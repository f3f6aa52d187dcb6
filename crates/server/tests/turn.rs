//! TURN: the embedded server relays between a client and the SFU's media address and nowhere
//! else, refuses expired and forged credentials with 401, over UDP and TCP; join tickets carry
//! credentials it accepts; Debian's coturn accepts the same credentials with the same secret.

mod common;
mod netkit;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Backend, TestApp};
use convene::turn::{Minter, Site, Turn, TurnConfig};
use netkit::turn_client::{Relayed, TurnClient};
use serde_json::{json, Value};
use tokio::net::UdpSocket;

const SECRET: &str = "correct-horse-turn-secret";

#[derive(Clone, Copy, Debug)]
enum Transport {
    Udp,
    Tcp,
}

async fn client(t: Transport, server: SocketAddr, username: &str, password: &str) -> TurnClient {
    match t {
        Transport::Udp => TurnClient::udp(server, username, password).await,
        Transport::Tcp => TurnClient::tcp(server, username, password).await,
    }
}

/// An embedded TURN server whose "SFU" is `sfu` (a socket of the test).
async fn embedded(sfu: SocketAddr) -> (Turn, SocketAddr) {
    let cfg = TurnConfig {
        embedded: true,
        listen: "127.0.0.1:0".parse().unwrap(),
        public_ip: None,
        secret: Some(SECRET.into()),
        urls: vec![],
        ttl_secs: 3600,
    };
    let turn = Turn::start(&cfg, "unused".into(), Site { sfu_public: sfu, sfu_local: sfu, https: None }).await.unwrap();
    let addr = turn.listen_addr().unwrap();
    (turn, addr)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The next datagram on `socket`, if one comes within `wait`.
async fn datagram(socket: &UdpSocket, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(wait, socket.recv_from(&mut buf)).await.ok()?.ok()?;
    buf.truncate(n);
    Some((buf, from))
}

#[tokio::test]
async fn the_embedded_server_relays_to_the_sfu_and_refuses_every_other_peer() {
    let sfu = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sfu_addr = sfu.local_addr().unwrap();
    // Another service on the SFU's host, and a host elsewhere (127.0.0.2 is another address).
    let neighbour = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let elsewhere = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let (_turn, server) = embedded(sfu_addr).await;
    let c = Minter::new(SECRET).mint("alice", now(), 600);

    for t in [Transport::Udp, Transport::Tcp] {
        let mut turn = client(t, server, &c.username, &c.password).await;
        let relayed = turn.allocate().await.unwrap_or_else(|code| panic!("{t:?}: allocation refused: {code}"));

        // To the SFU and back, as a Send / Data indication…
        turn.create_permission(sfu_addr).await.unwrap();
        turn.send_indication(sfu_addr, b"offer from the client").await;
        let (got, from) = datagram(&sfu, Duration::from_secs(5)).await.expect("the SFU receives the relayed packet");
        assert_eq!(got, b"offer from the client");
        assert_eq!(from.port(), relayed.port(), "{t:?}: it comes from the relayed address");
        sfu.send_to(b"answer from the SFU", from).await.unwrap();
        let back = turn.relayed(Duration::from_secs(5)).await;
        assert_eq!(
            back,
            Some(Relayed { from: Some(sfu_addr), channel: None, data: b"answer from the SFU".to_vec() }),
            "{t:?}"
        );

        // …and on a channel.
        turn.channel_bind(0x4001, sfu_addr).await.unwrap();
        turn.send_channel_data(0x4001, b"media on a channel").await;
        let (got, from) = datagram(&sfu, Duration::from_secs(5)).await.expect("channel data reaches the SFU");
        assert_eq!(got, b"media on a channel");
        sfu.send_to(b"media back", from).await.unwrap();
        let back = turn.relayed(Duration::from_secs(5)).await;
        assert_eq!(back, Some(Relayed { from: None, channel: Some(0x4001), data: b"media back".to_vec() }), "{t:?}");

        // Anywhere else: refused with 403, and nothing gets through.
        let other_host = elsewhere.local_addr().unwrap();
        assert_eq!(turn.create_permission(other_host).await, Err(403), "{t:?}: another host");
        assert_eq!(turn.channel_bind(0x4002, other_host).await, Err(403), "{t:?}");
        let other_port = neighbour.local_addr().unwrap();
        assert_eq!(turn.channel_bind(0x4003, other_port).await, Err(403), "{t:?}: the SFU's host, another port");
        turn.send_indication(other_host, b"let me out").await;
        turn.send_indication(other_port, b"let me in").await;
        assert_eq!(datagram(&elsewhere, Duration::from_millis(500)).await, None, "{t:?}: relayed to another host");
        assert_eq!(datagram(&neighbour, Duration::from_millis(500)).await, None, "{t:?}: relayed to another port");
        // A stranger cannot reach the client through its relayed address either.
        elsewhere.send_to(b"spam", relayed).await.unwrap();
        assert_eq!(turn.relayed(Duration::from_millis(500)).await, None, "{t:?}");
    }
}

#[tokio::test]
async fn expired_and_forged_credentials_are_refused_with_401() {
    let sfu = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (_turn, server) = embedded(sfu.local_addr().unwrap()).await;
    let minter = Minter::new(SECRET);
    let good = minter.mint("alice", now(), 600);
    let expired = minter.mint("alice", now() - 7200, 3600);
    let other_secret = Minter::new("guessed").mint("alice", now(), 600);

    for t in [Transport::Udp, Transport::Tcp] {
        let refused = [
            ("expired", expired.username.as_str(), expired.password.as_str()),
            ("wrong password", good.username.as_str(), "not-the-password"),
            ("minted with another secret", other_secret.username.as_str(), other_secret.password.as_str()),
            ("not a TURN REST username", "alice", good.password.as_str()),
        ];
        for (what, user, pass) in refused {
            assert_eq!(client(t, server, user, pass).await.allocate().await, Err(401), "{t:?}: {what}");
        }
        assert!(client(t, server, &good.username, &good.password).await.allocate().await.is_ok(), "{t:?}");
    }
}

/// The `turn:…?transport=udp` URL and credentials of a join answer.
fn udp_turn(join: &Value) -> (SocketAddr, String, String, String) {
    let servers = join["ice_servers"].as_array().expect("ice_servers");
    let turn = servers.iter().find(|s| s["username"].is_string()).expect("a TURN entry with credentials");
    let url = turn["urls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|u| u.starts_with("turn:") && u.ends_with("?transport=udp"))
        .expect("a turn: UDP URL");
    let addr = url.trim_start_matches("turn:").trim_end_matches("?transport=udp").parse().unwrap();
    (
        addr,
        turn["username"].as_str().unwrap().into(),
        turn["credential"].as_str().unwrap().into(),
        turn["expires_at"].as_str().unwrap().into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_tickets_carry_credentials_the_embedded_server_accepts() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.turn.embedded = true;
        c.turn.listen = "127.0.0.1:0".parse().unwrap();
    })
    .await;
    let host = app.account("hanna").await;
    let m = app.meeting(&host, json!({"settings": {"allow_guests": true, "join_before_host": true}})).await;
    let id = m["meeting_id"].as_i64().unwrap();
    let join = app.post(&format!("/api/v1/meetings/{id}/join"), Some(&host.token), json!({})).await;
    let join = join.expect(200);
    let stun = &join["ice_servers"][0]["urls"][0];
    assert!(stun.as_str().unwrap().starts_with("stun:127.0.0.1:"), "{join}");
    let (server, username, password, expires_at) = udp_turn(join);
    assert!(username.ends_with(&format!(":{}", host.user_id)), "{username}");
    let expires = chrono::DateTime::parse_from_rfc3339(&expires_at).unwrap().timestamp();
    assert!((expires - now() - 86_400).abs() < 60, "a day by default: {expires_at}");
    let urls = join["ice_servers"][1]["urls"].to_string();
    assert!(urls.contains("?transport=tcp") && !urls.contains("turns:"), "TLS only with HTTPS on: {urls}");

    let mut turn = TurnClient::udp(server, &username, &password).await;
    turn.allocate().await.expect("the join ticket's credentials allocate");
    turn.create_permission(app.state.media.candidate).await.expect("toward the SFU");
    assert_eq!(turn.create_permission("127.0.0.2:9".parse().unwrap()).await, Err(403));

    // A guest gets credentials of its own.
    let guest = app
        .post(&format!("/api/v1/meetings/{id}/join"), None, json!({"passcode": m["passcode"], "display_name": "Gus"}))
        .await;
    let (_, guest_user, _, _) = udp_turn(guest.expect(200));
    assert!(guest_user.contains(":guest_"), "{guest_user}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_turn_the_join_ticket_has_no_ice_servers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let host = app.account("hanna").await;
    let m = app.meeting(&host, json!({})).await;
    let join = app.post(&format!("/api/v1/meetings/{}/join", m["meeting_id"]), Some(&host.token), json!({})).await;
    assert_eq!(join.expect(200)["ice_servers"], json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_accepts_the_credentials_convene_hands_out() {
    let sfu = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let Some(coturn) = netkit::Coturn::start(SECRET, "127.0.0.1".parse().unwrap()).await else { return };
    let url = format!("turn:{}?transport=udp", coturn.addr);
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.turn.urls = vec![url.clone()];
        c.turn.secret = Some(SECRET.into());
    })
    .await;
    let host = app.account("hanna").await;
    let m = app.meeting(&host, json!({})).await;
    let join = app.post(&format!("/api/v1/meetings/{}/join", m["meeting_id"]), Some(&host.token), json!({})).await;
    let (server, username, password, _) = udp_turn(join.expect(200));
    assert_eq!(server, coturn.addr, "the external server is handed out");

    let mut turn = TurnClient::udp(server, &username, &password).await;
    turn.allocate().await.unwrap_or_else(|code| panic!("coturn refused ({code}):\n{}", coturn.output()));
    let sfu_addr = sfu.local_addr().unwrap();
    turn.create_permission(sfu_addr).await.unwrap();
    turn.send_indication(sfu_addr, b"through coturn").await;
    let (got, from) = datagram(&sfu, Duration::from_secs(5)).await.expect("coturn relays to the SFU");
    assert_eq!(got, b"through coturn");
    sfu.send_to(b"and back", from).await.unwrap();
    assert_eq!(turn.relayed(Duration::from_secs(5)).await.map(|r| r.data), Some(b"and back".to_vec()));
    // coturn configured as docs/operations.md says: nothing but the SFU.
    assert_eq!(turn.create_permission("127.0.0.2:9".parse().unwrap()).await, Err(403));

    let minter = Minter::new(SECRET);
    let expired = minter.mint("hanna", now() - 7200, 3600);
    assert_eq!(TurnClient::udp(server, &expired.username, &expired.password).await.allocate().await, Err(401));
    assert_eq!(TurnClient::udp(server, &username, "forged").await.allocate().await, Err(401));
    app.stop().await;
}
