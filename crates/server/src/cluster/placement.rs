//! The placement policy: which live node a new meeting's media goes to.

use serde::{Deserialize, Serialize};

/// A node's entry in the registry: who it is, where clients reach it, how loaded it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeInfo {
    pub id: String,
    /// The node's own HTTP address (clients of meetings hosted here are sent to it).
    pub url: String,
    /// The address in its ICE candidates.
    pub media: String,
    pub region: Option<String>,
    pub rooms: usize,
    pub participants: usize,
    /// Media the node sent over the last heartbeat period, in bit/s (what it forwards).
    #[serde(default)]
    pub egress_bps: u64,
    /// Share of one core the process used since the previous heartbeat (1.0 = one core).
    pub cpu: f64,
    pub cores: usize,
    pub draining: bool,
    /// Every media worker of the node is past its high-water mark or shedding: it refuses
    /// new joins with `server_busy`, and placement sends new meetings elsewhere.
    #[serde(default)]
    pub busy: bool,
    /// When the entry was written (ms since the epoch).
    pub updated_ms: i64,
}

/// An entry older than this is a dead node even if the registry still holds it.
pub const STALE_MS: i64 = 3_500;

impl NodeInfo {
    pub fn is_alive(&self, now_ms: i64) -> bool {
        now_ms - self.updated_ms <= STALE_MS
    }

    /// What placement compares: participants weigh most (they are the media load), then
    /// forwarded bitrate in steps of 5 Mbit/s (smaller differences are noise: one camera
    /// layer more or less), then CPU per core, then rooms.
    fn load_key(&self) -> (usize, u64, u64, usize) {
        let cpu_per_core = self.cpu / self.cores.max(1) as f64;
        (self.participants, self.egress_bps / 5_000_000, (cpu_per_core * 100.0) as u64, self.rooms)
    }
}

/// Picks the node for a new meeting: live, not draining, not busy when any node is not
/// (a busy node would refuse the meeting's people; when every node is busy the least loaded
/// one answers `server_busy` itself), in the client's region when any node there qualifies,
/// least loaded; ties go to `me` (no redirect), then the lowest id.
pub fn choose<'a>(nodes: &'a [NodeInfo], me: &str, region: Option<&str>, now_ms: i64) -> Option<&'a NodeInfo> {
    let mut eligible: Vec<&NodeInfo> = nodes.iter().filter(|n| n.is_alive(now_ms) && !n.draining).collect();
    if eligible.iter().any(|n| !n.busy) {
        eligible.retain(|n| !n.busy);
    }
    let in_region: Vec<&NodeInfo> = match region {
        Some(r) => eligible.iter().copied().filter(|n| n.region.as_deref() == Some(r)).collect(),
        None => Vec::new(),
    };
    let pool = if in_region.is_empty() { eligible } else { in_region };
    pool.into_iter().min_by(|a, b| {
        a.load_key().cmp(&b.load_key()).then_with(|| (a.id != me).cmp(&(b.id != me))).then_with(|| a.id.cmp(&b.id))
    })
}

/// How long a placement made here counts on top of what the chosen node reports: its
/// client still has to be redirected and connect, and the node's next heartbeat (every
/// second) and this node's next read of it must pass before the registry shows it.
pub const PENDING_MS: i64 = 3_000;

/// Placements this node made recently. The registry lags them by a heartbeat or two, and a
/// registry refresh in between must not make a node look empty again — that is how three
/// meetings started in one second would all land on the same "idle" node. Counting a
/// placement twice for a moment (pending and reported) errs toward spreading, which is safe.
#[derive(Debug, Default)]
pub struct Pending {
    recent: Vec<(String, i64)>,
}

impl Pending {
    pub fn record(&mut self, node: &str, now_ms: i64) {
        self.recent.retain(|(_, at)| now_ms - at < PENDING_MS);
        self.recent.push((node.to_owned(), now_ms));
    }

    /// Adds each node's still-pending placements to its reported load.
    pub fn add_to(&mut self, view: &mut [NodeInfo], now_ms: i64) {
        self.recent.retain(|(_, at)| now_ms - at < PENDING_MS);
        for (id, _) in &self.recent {
            if let Some(n) = view.iter_mut().find(|n| n.id == *id) {
                n.rooms += 1;
                n.participants += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, participants: usize, rooms: usize) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            url: format!("http://{id}"),
            media: "127.0.0.1:50000".into(),
            region: None,
            rooms,
            participants,
            egress_bps: 0,
            cpu: 0.0,
            cores: 2,
            draining: false,
            busy: false,
            updated_ms: 1_000_000,
        }
    }

    #[test]
    fn least_loaded_wins_and_ties_stay_here() {
        let nodes = [node("a", 5, 1), node("b", 2, 1), node("c", 2, 1)];
        assert_eq!(choose(&nodes, "a", None, 1_000_000).unwrap().id, "b", "lowest id among equals");
        assert_eq!(choose(&nodes, "c", None, 1_000_000).unwrap().id, "c", "no redirect on a tie");
    }

    #[test]
    fn dead_and_draining_nodes_get_nothing() {
        let mut dead = node("a", 0, 0);
        dead.updated_ms = 1_000_000 - STALE_MS - 1;
        let mut draining = node("b", 0, 0);
        draining.draining = true;
        let nodes = [dead, draining, node("c", 9, 3)];
        assert_eq!(choose(&nodes, "a", None, 1_000_000).unwrap().id, "c");
        assert!(choose(&nodes[..2], "a", None, 1_000_000).is_none(), "nowhere to go");
    }

    #[test]
    fn a_busy_node_gets_no_new_meeting_while_another_has_room() {
        let mut busy = node("a", 0, 0);
        busy.busy = true;
        busy.region = Some("eu".into());
        let nodes = [busy, node("b", 40, 4)];
        assert_eq!(choose(&nodes, "a", None, 1_000_000).unwrap().id, "b", "emptier, but busy");
        assert_eq!(choose(&nodes, "a", Some("eu"), 1_000_000).unwrap().id, "b", "load comes before region");
        let mut all = nodes.clone();
        all[1].busy = true;
        assert_eq!(choose(&all, "b", None, 1_000_000).unwrap().id, "a", "all busy: the least loaded refuses itself");
        // An entry from a node that does not know the field yet reads as not busy.
        let old: NodeInfo = serde_json::from_str(
            r#"{"id":"x","url":"u","media":"m","region":null,"rooms":0,"participants":0,"cpu":0.0,"cores":1,"draining":false,"updated_ms":0}"#,
        )
        .unwrap();
        assert!(!old.busy);
    }

    #[test]
    fn the_clients_region_comes_first_when_it_has_a_node() {
        let mut eu = node("eu1", 50, 5);
        eu.region = Some("eu".into());
        let us = node("us1", 0, 0);
        let nodes = [eu, us];
        assert_eq!(choose(&nodes, "us1", Some("eu"), 1_000_000).unwrap().id, "eu1");
        assert_eq!(choose(&nodes, "us1", Some("ap"), 1_000_000).unwrap().id, "us1", "no node there: anywhere");
    }

    #[test]
    fn a_burst_of_placements_spreads_although_the_registry_lags() {
        let now = 1_000_000;
        let mut pending = Pending::default();
        let mut chosen = Vec::new();
        for i in 0..3 {
            // Every choice sees the registry as it was: all three idle.
            let mut view = [node("a", 0, 0), node("b", 0, 0), node("c", 0, 0)];
            pending.add_to(&mut view, now + i);
            let id = choose(&view, "a", None, now + i).unwrap().id.clone();
            pending.record(&id, now + i);
            chosen.push(id);
        }
        assert_eq!(chosen, ["a", "b", "c"]);

        // Once the placements are old, the registry is the truth again.
        let mut view = [node("a", 0, 0), node("b", 1, 1)];
        pending.add_to(&mut view, now + PENDING_MS + 10);
        assert_eq!(view[0].participants, 0);
        assert_eq!(choose(&view, "b", None, now + PENDING_MS + 10).unwrap().id, "a");
    }

    #[test]
    fn forwarded_bitrate_breaks_ties_between_equally_crowded_nodes() {
        let mut busy = node("a", 4, 1);
        busy.egress_bps = 40_000_000; // four people on HD screen shares
        let mut quiet = node("b", 4, 1);
        quiet.egress_bps = 2_000_000; // four people, audio only
        let nodes = [busy, quiet];
        assert_eq!(choose(&nodes, "a", None, 1_000_000).unwrap().id, "b");
        let mut near = nodes.clone();
        near[0].egress_bps = 3_000_000; // within one step: noise, the tie stays here
        assert_eq!(choose(&near, "a", None, 1_000_000).unwrap().id, "a");
    }
}
