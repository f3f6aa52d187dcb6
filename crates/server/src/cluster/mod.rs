//! Cluster mode: several Convene nodes share one PostgreSQL database and coordinate through
//! NATS JetStream key-value buckets — a node registry with short-lived entries and the
//! meeting → node placements. Without `--nats-url` the node is a cluster of one and every
//! meeting is here.
//!
//! A meeting's live room (signaling and media) lives on one node. A client may connect to
//! any node: a node that does not host the meeting answers the WebSocket with a `moved`
//! frame naming the owner's address, and the client connects there (see docs/protocol.md).

pub mod placement;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation, Store};
use futures_util::StreamExt;

use crate::config::Config;
use crate::error::{Error, Result};
use placement::NodeInfo;

/// How often a node writes its registry entry (and refreshes its view of the others).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a placement lookup may wait for NATS before the client is told to retry.
const KV_TIMEOUT: Duration = Duration::from_secs(3);
/// The registry forgets a node this long after its last heartbeat.
const NODE_TTL: Duration = Duration::from_secs(3);
/// Placement attempts before giving up on a race that keeps being lost.
const PLACEMENT_TRIES: usize = 5;

/// Where a meeting's room lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Here,
    /// On another live node, reached at `url`.
    Elsewhere {
        node_id: String,
        url: String,
    },
}

/// This node's membership in the cluster; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    node_id: Arc<str>,
    nats: Option<Arc<Nats>>,
}

struct Nats {
    client: async_nats::Client,
    /// The cluster's name, prefixing the subjects nodes tell each other things on.
    prefix: String,
    nodes: Store,
    placements: Store,
    /// This node's latest view of the registry, refreshed every heartbeat.
    view: Mutex<Vec<NodeInfo>>,
    me: Mutex<NodeInfo>,
    /// Meetings this node placed recently (node id, when): counted on top of the registry
    /// until the chosen node's own heartbeats carry them (see `placement::Pending`).
    pending: Mutex<placement::Pending>,
}

/// A meeting's placement as read from the bucket.
enum Placed {
    Live(Owner),
    Vacant(Option<u64>),
}

impl Cluster {
    /// A node on its own (no NATS): every meeting is here.
    pub fn single(node_id: &str) -> Cluster {
        Cluster { node_id: node_id.into(), nats: None }
    }

    /// Joins the cluster named in `config` when it has a NATS URL.
    pub async fn connect(config: &Config, media: &crate::media::Media) -> anyhow::Result<Cluster> {
        let Some(url) = &config.nats_url else { return Ok(Cluster::single(&config.node_id)) };
        let client = async_nats::ConnectOptions::new()
            .name(format!("convene {}", config.node_id))
            .connection_timeout(Duration::from_secs(5))
            .connect(url.as_str())
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach NATS at {url}: {e}"))?;
        let js = async_nats::jetstream::new(client.clone());
        let bucket = |suffix: &str| format!("{}_{suffix}", config.cluster_name);
        let nodes = js
            .create_key_value(kv::Config {
                bucket: bucket("nodes"),
                description: "Convene node registry".into(),
                history: 1,
                max_age: NODE_TTL,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("NATS JetStream key-value bucket {}: {e}", bucket("nodes")))?;
        let placements = js
            .create_key_value(kv::Config {
                bucket: bucket("placements"),
                description: "Convene meeting placements (meeting id → node id)".into(),
                history: 1,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("NATS JetStream key-value bucket {}: {e}", bucket("placements")))?;
        let me = NodeInfo {
            id: config.node_id.clone(),
            url: config.node_url.clone(),
            media: media.candidate.to_string(),
            region: config.region.clone(),
            rooms: 0,
            participants: 0,
            egress_bps: 0,
            cpu: 0.0,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            draining: false,
            busy: false,
            updated_ms: now_ms(),
        };
        let nats = Arc::new(Nats {
            client,
            prefix: config.cluster_name.clone(),
            nodes,
            placements,
            view: Mutex::new(Vec::new()),
            me: Mutex::new(me),
            pending: Mutex::new(placement::Pending::default()),
        });
        nats.beat().await.map_err(|e| anyhow::anyhow!("cannot register in the cluster: {e}"))?;
        nats.refresh().await;
        tracing::info!(node_id = %config.node_id, cluster = %config.cluster_name, "joined the cluster");
        Ok(Cluster { node_id: config.node_id.as_str().into(), nats: Some(nats) })
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn is_clustered(&self) -> bool {
        self.nats.is_some()
    }

    /// Keeps this node's registry entry fresh (with its load) until the process ends.
    pub fn spawn_heartbeat(
        &self,
        load: impl Fn() -> (usize, usize) + Send + 'static,
        media: crate::media::Media,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let nats = self.nats.clone()?;
        Some(tokio::spawn(async move {
            let mut cpu = CpuMeter::default();
            let mut egress = RateMeter::new(media.sent_bytes());
            let mut tick = tokio::time::interval(HEARTBEAT);
            loop {
                tick.tick().await;
                let (rooms, participants) = load();
                {
                    let mut me = nats.me.lock().unwrap_or_else(|e| e.into_inner());
                    me.rooms = rooms;
                    me.participants = participants;
                    me.cpu = cpu.sample();
                    me.egress_bps = egress.sample(media.sent_bytes()) * 8;
                    me.busy = media.busy();
                }
                // Both bounded: a NATS call that never answers must not freeze this node's
                // heartbeat (others would drop it) nor its view of the others.
                match tokio::time::timeout(KV_TIMEOUT, nats.beat()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "cluster heartbeat failed"),
                    Err(_) => tracing::warn!("cluster heartbeat: NATS did not answer in time"),
                }
                if tokio::time::timeout(KV_TIMEOUT, nats.refresh()).await.is_err() {
                    tracing::warn!("cluster view not refreshed: NATS did not answer in time");
                }
            }
        }))
    }

    /// Marks this node draining: no new meetings are placed here.
    pub async fn set_draining(&self, draining: bool) {
        let Some(nats) = &self.nats else { return };
        nats.me.lock().unwrap_or_else(|e| e.into_inner()).draining = draining;
        if let Err(e) = nats.beat().await {
            tracing::warn!(error = %e, "could not announce draining");
        }
    }

    /// The live nodes as this node last saw them.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        match &self.nats {
            Some(n) => n.view.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            None => Vec::new(),
        }
    }

    /// Where `meeting` lives, placing it (atomically: racing nodes agree) on the least
    /// loaded live node when it has no live owner yet.
    pub async fn owner(&self, meeting: i64, region: Option<&str>) -> Result<Owner> {
        let Some(nats) = &self.nats else { return Ok(Owner::Here) };
        nats.ensure_connected()?;
        let key = meeting.to_string();
        for _ in 0..PLACEMENT_TRIES {
            let revision = match self.placed(nats, &key).await? {
                Placed::Live(owner) => return Ok(owner),
                Placed::Vacant(revision) => revision,
            };
            if revision.is_some() {
                tracing::info!(meeting, "meeting's node is gone: placing it again");
            }
            let chosen = nats.choose(&self.node_id, region).ok_or_else(|| Error::Client {
                status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
                code: "no_node_available",
                message: "no node can take this meeting right now; try again shortly".into(),
                retry_after: Some(2),
            })?;
            if nats.claim(&key, revision, &chosen).await {
                tracing::info!(meeting, node = %chosen.id, "meeting placed");
                return Ok(self.owner_is(chosen));
            }
            // Another node placed it first: read what it decided.
        }
        Err(unavailable("placement kept racing"))
    }

    /// What the placements bucket says of `key`: a live owner, or vacant (never placed, or
    /// placed on a dead node: the revision a compare-and-set must replace).
    async fn placed(&self, nats: &Nats, key: &str) -> Result<Placed> {
        let Some(e) = nats.entry(key).await?.filter(|e| e.operation == Operation::Put) else {
            return Ok(Placed::Vacant(None));
        };
        let owner = String::from_utf8_lossy(&e.value).into_owned();
        if owner == *self.node_id {
            return Ok(Placed::Live(Owner::Here));
        }
        Ok(match nats.live_node(&owner).await {
            Some(node) => Placed::Live(Owner::Elsewhere { node_id: node.id, url: node.url }),
            None => Placed::Vacant(Some(e.revision)),
        })
    }

    fn owner_is(&self, node: NodeInfo) -> Owner {
        if node.id == *self.node_id {
            Owner::Here
        } else {
            Owner::Elsewhere { node_id: node.id, url: node.url }
        }
    }

    /// Where `meeting`, live here, belongs now. A node cut off from NATS long enough to be
    /// taken for dead may find, once back, that its meetings were placed elsewhere (their
    /// people resumed through other nodes): `Elsewhere`, and the room here must go. A meeting
    /// live here without a placement (or placed on a dead node) is claimed back: `Here`.
    pub async fn reconcile(&self, meeting: i64) -> Result<Owner> {
        let Some(nats) = &self.nats else { return Ok(Owner::Here) };
        nats.ensure_connected()?;
        let key = meeting.to_string();
        for _ in 0..PLACEMENT_TRIES {
            let revision = match self.placed(nats, &key).await? {
                Placed::Live(owner) => return Ok(owner),
                Placed::Vacant(revision) => revision,
            };
            if nats.write_placement(&key, revision, &self.node_id).await {
                tracing::info!(meeting, "meeting live here had no live placement: claimed back");
                return Ok(Owner::Here);
            }
        }
        Err(unavailable("placement kept racing"))
    }

    /// The live node other than this one that hosts `meeting` now, if any (never places it).
    pub async fn owner_elsewhere(&self, meeting: i64) -> Result<Option<NodeInfo>> {
        let Some(nats) = &self.nats else { return Ok(None) };
        nats.ensure_connected()?;
        let Some(entry) = nats.entry(&meeting.to_string()).await? else { return Ok(None) };
        if entry.operation != Operation::Put {
            return Ok(None);
        }
        let owner = String::from_utf8_lossy(&entry.value).into_owned();
        if owner == *self.node_id {
            return Ok(None);
        }
        Ok(nats.live_node(&owner).await)
    }

    /// Moves the placement of `meeting` (hosted here) to another live node, for a drain.
    pub async fn hand_over(&self, meeting: i64) -> Result<Owner> {
        let Some(nats) = &self.nats else { return Ok(Owner::Here) };
        nats.ensure_connected()?;
        let key = meeting.to_string();
        for _ in 0..PLACEMENT_TRIES {
            let entry = nats.entry(&key).await?;
            let chosen = nats
                .choose(&self.node_id, None)
                .filter(|n| n.id != *self.node_id)
                .ok_or_else(|| unavailable("no other node can take the meeting"))?;
            let revision = entry.filter(|e| e.operation == Operation::Put).map(|e| e.revision);
            if nats.claim(&key, revision, &chosen).await {
                return Ok(self.owner_is(chosen));
            }
        }
        Err(unavailable("placement kept racing"))
    }

    /// Removes this node from the registry (a clean shutdown; a crash just expires).
    pub async fn leave(&self) {
        if let Some(nats) = &self.nats {
            let _ = nats.nodes.delete(self.node_id.as_ref()).await;
        }
    }

    /// Whether this node takes no new meetings.
    pub fn is_draining(&self) -> bool {
        self.nats.as_ref().is_some_and(|n| n.me.lock().unwrap_or_else(|e| e.into_inner()).draining)
    }

    /// Tells every node (this one too) `payload` on `topic`; best effort, logged on failure.
    pub async fn publish(&self, topic: &str, payload: Vec<u8>) {
        let Some(nats) = &self.nats else { return };
        let subject = format!("{}.{topic}", nats.prefix);
        let sent = async {
            nats.client.publish(subject, payload.into()).await.map_err(|e| e.to_string())?;
            nats.client.flush().await.map_err(|e| e.to_string())
        };
        match tokio::time::timeout(KV_TIMEOUT, sent).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(topic, error = %e, "could not tell the other nodes"),
            Err(_) => tracing::warn!(topic, "could not tell the other nodes: NATS did not answer in time"),
        }
    }

    /// What nodes publish on `topic` (see [`Cluster::publish`]); `None` without NATS.
    pub async fn subscribe(&self, topic: &str) -> Option<futures_util::stream::BoxStream<'static, Vec<u8>>> {
        let nats = self.nats.as_ref()?;
        match nats.client.subscribe(format!("{}.{topic}", nats.prefix)).await {
            Ok(sub) => Some(sub.map(|m| m.payload.to_vec()).boxed()),
            Err(e) => {
                tracing::error!(topic, error = %e, "cannot listen to the other nodes");
                None
            }
        }
    }

    /// Forgets the placement of a meeting that ended here, so its next start is placed anew.
    pub async fn release(&self, meeting: i64) {
        let Some(nats) = &self.nats else { return };
        let key = meeting.to_string();
        if let Ok(Some(e)) = nats.placements.entry(key.as_str()).await {
            if e.operation == Operation::Put && *e.value == *self.node_id.as_bytes() {
                let _ = nats.placements.delete_expect_revision(key.as_str(), Some(e.revision)).await;
            }
        }
    }
}

/// The WebSocket address of `meeting` on the node reached at `node_url`.
pub fn ws_url(node_url: &str, meeting: i64) -> String {
    let base = node_url.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    format!("{base}/api/v1/meetings/{meeting}/ws")
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    tracing::warn!(error = %e, "cluster coordination unavailable");
    Error::Client {
        status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
        code: "cluster_unavailable",
        message: "meeting placement is unavailable right now (NATS unreachable); try again shortly".into(),
        retry_after: Some(2),
    }
}

impl Nats {
    /// Fails at once while the connection to NATS is down (async-nats would otherwise hold
    /// the request until its timeout): a client is better told to retry in a moment.
    fn ensure_connected(&self) -> Result<()> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(unavailable(format!("not connected to NATS ({state:?})"))),
        }
    }

    /// The placement entry of `key`, waiting at most [`KV_TIMEOUT`] for NATS.
    async fn entry(&self, key: &str) -> Result<Option<async_nats::jetstream::kv::Entry>> {
        match tokio::time::timeout(KV_TIMEOUT, self.placements.entry(key)).await {
            Ok(r) => r.map_err(unavailable),
            Err(_) => Err(unavailable("NATS did not answer in time")),
        }
    }

    async fn beat(&self) -> std::result::Result<(), async_nats::Error> {
        let me = {
            let mut me = self.me.lock().unwrap_or_else(|e| e.into_inner());
            me.updated_ms = now_ms();
            me.clone()
        };
        self.nodes.put(me.id.as_str(), serde_json::to_vec(&me)?.into()).await?;
        Ok(())
    }

    /// Reads every live entry of the registry. A read that fails part-way keeps the previous
    /// view: a partial one would make the other nodes look dead until the next heartbeat.
    async fn refresh(&self) {
        let Ok(mut keys) = self.nodes.keys().await else { return };
        let mut found = Vec::new();
        while let Some(key) = keys.next().await {
            let Ok(key) = key else { return };
            match self.nodes.get(key).await {
                Ok(Some(bytes)) => {
                    if let Ok(n) = serde_json::from_slice::<NodeInfo>(&bytes) {
                        found.push(n);
                    }
                }
                // Deleted or expired between listing and reading.
                Ok(None) => {}
                Err(_) => return,
            }
        }
        found.sort_by(|a, b| a.id.cmp(&b.id));
        *self.view.lock().unwrap_or_else(|e| e.into_inner()) = found;
    }

    /// The registry entry of `id` if that node is alive (asking NATS, not the cached view,
    /// so a node that just started is found).
    async fn live_node(&self, id: &str) -> Option<NodeInfo> {
        let bytes = self.nodes.get(id).await.ok()??;
        let node: NodeInfo = serde_json::from_slice(&bytes).ok()?;
        node.is_alive(now_ms()).then_some(node)
    }

    fn choose(&self, me: &str, region: Option<&str>) -> Option<NodeInfo> {
        let mut view = self.view.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // This node's own entry is the freshest there is.
        let mine = self.me.lock().unwrap_or_else(|e| e.into_inner()).clone();
        view.retain(|n| n.id != mine.id);
        view.push(mine);
        let now = now_ms();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).add_to(&mut view, now);
        placement::choose(&view, me, region, now).cloned()
    }

    /// Writes `node` as the placement of `key`: created if there is none (`revision` None),
    /// else replacing exactly that revision — so of racing writers one wins. Counts it locally.
    async fn claim(&self, key: &str, revision: Option<u64>, node: &NodeInfo) -> bool {
        let won = self.write_placement(key, revision, &node.id).await;
        if won {
            self.count_placement(&node.id);
        }
        won
    }

    /// The compare-and-set under [`Nats::claim`], without counting a new meeting.
    async fn write_placement(&self, key: &str, revision: Option<u64>, node_id: &str) -> bool {
        let value = node_id.as_bytes().to_vec().into();
        let write = async {
            match revision {
                Some(r) => self.placements.update(key, value, r).await.is_ok(),
                None => self.placements.create(key, value).await.is_ok(),
            }
        };
        tokio::time::timeout(KV_TIMEOUT, write).await.unwrap_or(false)
    }

    /// Remembers a meeting placed on `node`, so a burst of new meetings spreads instead of
    /// piling onto the node that looked emptiest a heartbeat ago.
    fn count_placement(&self, node: &str) {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).record(node, now_ms());
    }
}

/// Turns a growing byte count into a per-second rate between samples.
struct RateMeter {
    last: u64,
    at: std::time::Instant,
}

impl RateMeter {
    fn new(total: u64) -> RateMeter {
        RateMeter { last: total, at: std::time::Instant::now() }
    }

    /// Bytes per second since the previous sample.
    fn sample(&mut self, total: u64) -> u64 {
        let now = std::time::Instant::now();
        let secs = now.duration_since(self.at).as_secs_f64();
        let rate = if secs > 0.0 { (total.saturating_sub(self.last) as f64 / secs) as u64 } else { 0 };
        (self.last, self.at) = (total, now);
        rate
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The process's CPU use between samples, from /proc/self/stat (utime + stime).
#[derive(Default)]
struct CpuMeter {
    last: Option<(std::time::Instant, f64)>,
}

impl CpuMeter {
    fn sample(&mut self) -> f64 {
        let Some(now_secs) = process_cpu_seconds() else { return 0.0 };
        let at = std::time::Instant::now();
        let share = match self.last {
            Some((then, secs)) => {
                let wall = at.duration_since(then).as_secs_f64();
                if wall > 0.0 {
                    (now_secs - secs) / wall
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last = Some((at, now_secs));
        share
    }
}

fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at ")".
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0) // USER_HZ is 100 on Linux
}
