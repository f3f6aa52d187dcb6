//! TURN (RFC 8656) for browsers that cannot reach the media port directly: an embedded server
//! (UDP and TCP on `--turn-listen`, TLS on the HTTPS port) and/or external ones such as coturn,
//! all sharing one secret for short-lived credentials handed out with every join ticket.
//!
//! The protocol is the `turn` crate's (webrtc-rs). Convene adds the parts that make it its own:
//! credentials in the TURN REST API convention ([`credentials`]), a gate that answers forged or
//! expired credentials with 401 and relaying anywhere but the SFU with 403 ([`gate`]), relay
//! sockets that reach the SFU only ([`relay`]), and TCP / TLS clients ([`streams`]).

mod credentials;
mod gate;
mod ice;
mod relay;
mod streams;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::net::{TcpListener, UdpSocket};

pub use credentials::{Credential, Minter};
pub use ice::IceServer;
pub use relay::Peers;
pub use streams::Streams;

/// The realm the embedded server names in its challenges.
pub const REALM: &str = "convene";

/// The resolved TURN settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnConfig {
    /// Run the embedded TURN server.
    pub embedded: bool,
    /// UDP and TCP address of the embedded server.
    pub listen: SocketAddr,
    /// The address clients reach the embedded server at [default: the media public IP].
    pub public_ip: Option<IpAddr>,
    /// Shared secret; generated and kept in the database when unset (embedded only).
    pub secret: Option<String>,
    /// External TURN / STUN servers handed to clients (e.g. coturn with the same secret).
    pub urls: Vec<String>,
    /// Lifetime of handed-out credentials, in seconds.
    pub ttl_secs: u64,
}

impl TurnConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        for url in &self.urls {
            anyhow::ensure!(
                ["stun:", "turn:", "turns:"].iter().any(|s| url.starts_with(s)),
                "turn_url {url:?} must start with stun:, turn: or turns:"
            );
            anyhow::ensure!(
                url.starts_with("stun:") || self.secret.is_some(),
                "turn_url {url:?} needs turn_secret (the static-auth-secret the TURN server checks)"
            );
        }
        anyhow::ensure!((60..=7 * 86_400).contains(&self.ttl_secs), "turn_ttl_secs must be between 60 and 604800");
        Ok(())
    }
}

/// TURN as the rest of the server sees it: which servers to hand out, with what credentials.
#[derive(Clone, Default)]
pub struct Turn {
    minter: Option<Minter>,
    /// `stun:` URLs (no credentials).
    stun: Vec<String>,
    /// `turn:` / `turns:` URLs (with credentials).
    relays: Vec<String>,
    ttl_secs: u64,
    running: Option<Arc<Running>>,
}

/// The embedded server while it runs.
struct Running {
    /// The UDP and TCP address (its port drawn when configured as 0).
    listen: SocketAddr,
    server: Arc<turn::server::Server>,
    tls: Option<Arc<Streams>>,
    /// Where relaying may go (the SFU, and peer-to-peer pairs while they last).
    peers: Arc<Peers>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.accepting.abort();
        let server = self.server.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = server.close().await;
            });
        }
    }
}

/// What the embedded server relays to and how clients reach it.
pub struct Site {
    /// The SFU's media address as advertised in ICE candidates.
    pub sfu_public: SocketAddr,
    /// The SFU's media address on this host.
    pub sfu_local: SocketAddr,
    /// HTTPS is on: `turns:` on `https_host:https_port` reaches the embedded server.
    pub https: Option<(String, u16)>,
}

impl Turn {
    /// Starts the embedded server when configured and prepares the list handed to clients.
    /// `secret` is used when the configuration names none.
    pub async fn start(cfg: &TurnConfig, secret: String, site: Site) -> anyhow::Result<Turn> {
        let secret = cfg.secret.clone().unwrap_or(secret);
        let minter = Minter::new(secret);
        let mut turn = Turn { minter: Some(minter.clone()), ttl_secs: cfg.ttl_secs, ..Default::default() };
        if cfg.embedded {
            let public_ip = cfg.public_ip.unwrap_or(site.sfu_public.ip());
            let running = run(cfg, &minter, public_ip, &site).await?;
            let host = SocketAddr::new(public_ip, running.listen.port()).to_string();
            turn.stun.push(format!("stun:{host}"));
            turn.relays.push(format!("turn:{host}?transport=udp"));
            turn.relays.push(format!("turn:{host}?transport=tcp"));
            if let Some((https_host, port)) = &site.https {
                turn.relays.push(format!("turns:{https_host}:{port}?transport=tcp"));
            }
            turn.running = Some(Arc::new(running));
        }
        for url in &cfg.urls {
            if url.starts_with("stun:") {
                turn.stun.push(url.clone());
            } else {
                turn.relays.push(url.clone());
            }
        }
        if turn.relays.is_empty() {
            turn.minter = None;
        }
        Ok(turn)
    }

    /// [`Turn::start`] for a server configured by `config` whose SFU advertises `sfu_public`.
    pub async fn start_for(config: &crate::Config, secret: String, sfu_public: SocketAddr) -> anyhow::Result<Turn> {
        let https = config.tls.is_on().then(|| {
            let url = url::Url::parse(&config.public_url).ok();
            let host = url.as_ref().and_then(|u| u.host_str().map(str::to_owned));
            let port = url.as_ref().and_then(url::Url::port_or_known_default);
            let https = config.tls.https_addr(config.listen);
            (host.unwrap_or_else(|| https.ip().to_string()), port.unwrap_or(https.port()))
        });
        let site = Site { sfu_public, sfu_local: SocketAddr::new(config.media_listen.ip(), sfu_public.port()), https };
        Turn::start(&config.turn, secret, site).await
    }

    /// The ICE servers for a participant `user` joining at `now`: STUN, then TURN with
    /// credentials valid for the configured lifetime. Empty when no TURN is configured.
    pub fn ice_servers(&self, user: &str, now: DateTime<Utc>) -> Vec<IceServer> {
        let mut servers = Vec::new();
        if !self.stun.is_empty() {
            servers.push(IceServer::stun(self.stun.clone()));
        }
        if let Some(minter) = &self.minter {
            let c = minter.mint(user, now.timestamp(), self.ttl_secs);
            servers.push(IceServer::turn(self.relays.clone(), c));
        }
        servers
    }

    /// The UDP and TCP address of the embedded server, when it runs.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().map(|r| r.listen)
    }

    /// Lets the embedded server relay to a peer-to-peer pair's candidate addresses
    /// (live/p2p.rs) until [`Turn::forbid_peers`] takes them back; returns those it allowed
    /// (public ones, and this server's relayed ones; never private or this host's others).
    /// No-op without the embedded server.
    pub fn allow_peers(&self, addrs: &[SocketAddr]) -> Vec<SocketAddr> {
        match &self.running {
            Some(r) => r.peers.allow(addrs),
            None => Vec::new(),
        }
    }

    /// Takes back what [`Turn::allow_peers`] gave.
    pub fn forbid_peers(&self, ips: &[SocketAddr]) {
        if let Some(r) = &self.running {
            r.peers.forbid(ips);
        }
    }

    /// Where TURN-over-TLS connections accepted on the HTTPS port go (embedded server on).
    pub fn tls_streams(&self) -> Option<Arc<Streams>> {
        self.running.as_ref().and_then(|r| r.tls.clone())
    }
}

async fn run(cfg: &TurnConfig, minter: &Minter, public_ip: IpAddr, site: &Site) -> anyhow::Result<Running> {
    let peers = Arc::new(Peers::sfu(site.sfu_public, site.sfu_local));
    let policy = Arc::new(gate::Policy { minter: minter.clone(), realm: REALM.to_owned(), peers: peers.clone() });
    let (udp, tcp) = bind_pair(cfg.listen).await?;
    let listen = udp.local_addr()?;
    let tcp_streams = Streams::new(listen);
    let tls = site.https.as_ref().map(|(_, port)| Streams::new(SocketAddr::new(listen.ip(), *port)));
    let mut conns: Vec<Arc<dyn webrtc_util::Conn + Send + Sync>> = vec![Arc::new(udp), tcp_streams.clone()];
    conns.extend(tls.iter().map(|s| s.clone() as Arc<dyn webrtc_util::Conn + Send + Sync>));
    let conn_configs = conns
        .into_iter()
        .map(|inner| turn::server::config::ConnConfig {
            conn: Arc::new(gate::Gate { inner, policy: policy.clone() }),
            relay_addr_generator: Box::new(relay::SfuRelays { peers: peers.clone(), relay_ip: public_ip }),
        })
        .collect();
    let server = turn::server::Server::new(turn::server::config::ServerConfig {
        conn_configs,
        realm: REALM.to_owned(),
        auth_handler: Arc::new(credentials::Auth(minter.clone())),
        channel_bind_timeout: std::time::Duration::from_secs(0),
        alloc_close_notify: None,
    })
    .await
    .map_err(|e| anyhow::anyhow!("cannot start the TURN server: {e}"))?;
    let accepting = tokio::spawn(async move {
        loop {
            match tcp.accept().await {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    tcp_streams.attach(stream, remote);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TURN accept");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    });
    tracing::info!(
        %listen,
        tls_on_https_port = tls.is_some(),
        relays_to = %site.sfu_public,
        "TURN server listening (UDP and TCP)"
    );
    Ok(Running { listen, server: Arc::new(server), tls, peers, accepting })
}

/// A UDP socket and a TCP listener on one port (drawn when `addr` has port 0).
async fn bind_pair(addr: SocketAddr) -> anyhow::Result<(UdpSocket, TcpListener)> {
    let mut tries = if addr.port() == 0 { 20 } else { 1 };
    loop {
        let udp =
            UdpSocket::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot open the TURN port {addr} (UDP): {e}"))?;
        let at = udp.local_addr()?;
        match TcpListener::bind(at).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if tries <= 1 => anyhow::bail!("cannot open the TURN port {at} (TCP): {e}"),
            Err(_) => tries -= 1,
        }
    }
}
