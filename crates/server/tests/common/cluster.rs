//! Clusters for tests: several in-process nodes on one fresh PostgreSQL database and the
//! NATS server on loopback, in a cluster of their own (unique KV bucket names).
#![allow(dead_code)]

use std::time::Duration;

use super::{Backend, TestApp};

/// The NATS URL if NATS is reachable. Under CI=true a missing NATS fails the test; locally
/// the test is skipped with a notice.
pub fn nats() -> Option<String> {
    let url = std::env::var("CONVENE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let addr = url.trim_start_matches("nats://").to_owned();
    let reachable =
        addr.parse().ok().is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    if reachable {
        return Some(url);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("NATS is not reachable at {url} and CI=true: refusing to skip cluster tests");
    }
    eprintln!("SKIPPED: NATS not reachable at {url} (set CI=true to make this an error)");
    None
}

/// Waits until `front` sees every node of `ids` in its registry view, taking meetings: their
/// first heartbeats have reached it. Placing a meeting right after the nodes started would
/// otherwise race those heartbeats (`no_node_available` on a loaded machine).
pub async fn until_seen(front: &TestApp, ids: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let nodes = front.state.cluster.nodes();
        if ids.iter().all(|id| nodes.iter().any(|n| n.id == *id && !n.draining)) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "nodes {ids:?} never seen by the front: {nodes:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` nodes (`n0`, `n1`, …) of one new cluster, or `None` when PostgreSQL or NATS is missing.
pub async fn nodes(n: usize) -> Option<Vec<TestApp>> {
    nodes_in(&vec![None; n]).await
}

/// Like [`nodes`], one node per entry, each tagged with that region.
pub async fn nodes_in(regions: &[Option<&str>]) -> Option<Vec<TestApp>> {
    nodes_configured(regions, |_, _| {}).await
}

/// Like [`nodes_in`], each node's configuration changed by `tweak(index, config)` last.
pub async fn nodes_configured(
    regions: &[Option<&str>],
    tweak: impl Fn(usize, &mut convene::Config),
) -> Option<Vec<TestApp>> {
    let n = regions.len();
    let nats = nats()?;
    let backend = Backend::postgres()?;
    let cluster = format!("t{}", uuid::Uuid::new_v4().simple());
    let first = TestApp::spawn_with(backend, |c| {
        c.nats_url = Some(nats.clone());
        c.cluster_name = cluster.clone();
        c.node_id = "n0".into();
        c.region = regions[0].map(str::to_owned);
        tweak(0, c);
    })
    .await;
    let database_url = first.state.config.database_url.clone();
    let mut apps = vec![first];
    for (i, region) in regions.iter().enumerate().skip(1) {
        apps.push(
            TestApp::spawn_with(Backend::Sqlite, |c| {
                c.database_url = database_url.clone();
                c.nats_url = Some(nats.clone());
                c.cluster_name = cluster.clone();
                c.node_id = format!("n{i}");
                c.region = region.map(str::to_owned);
                tweak(i, c);
            })
            .await,
        );
    }
    // Every node has seen every other's heartbeat.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while apps.iter().any(|a| a.state.cluster.nodes().len() < n) {
        assert!(tokio::time::Instant::now() < deadline, "nodes did not see each other");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(apps)
}

/// A node running as its own process (so a test can SIGKILL it), joined to the cluster of
/// `with` (same database, NATS and cluster name).
pub struct ProcessNode {
    pub id: String,
    pub base: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl ProcessNode {
    pub async fn start(with: &TestApp, id: &str) -> ProcessNode {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let cfg = &with.state.config;
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_convene"))
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--database-url", &cfg.database_url])
            .args(["--nats-url", cfg.nats_url.as_deref().unwrap()])
            .args(["--cluster-name", &cfg.cluster_name])
            .args(["--node-id", id])
            .args(["--media-listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start a convene node");
        let node = ProcessNode { id: id.to_owned(), base, child, _dir: dir };
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ok = client.get(format!("{}/readyz", node.base)).send().await.is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "node {id} did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        node
    }

    /// SIGKILL: no goodbye, no cleanup — as a crashed machine.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        self.kill();
    }
}
