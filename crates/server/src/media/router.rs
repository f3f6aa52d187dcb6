//! Hands datagrams and commands to the worker thread whose room owns them, in O(1): by
//! the path (transport + remote address) once known, and by the local ICE ufrag named in a
//! STUN binding request for a new path. The [`Packet`] it hands over is defined here too.
//!
//! Every worker reads its own socket of the media port (`SO_REUSEPORT`: the kernel spreads
//! remote addresses over them) and handles what is for its own rooms at once; what is for
//! another worker's room is handed over here, as are ICE-TCP frames. A worker asleep in its
//! poll is woken by its doorbell; a busy one finds the packet on its next round, without a
//! system call.
//!
//! Workers register their participants' ufrags here; the room on the worker then checks the
//! request's MESSAGE-INTEGRITY before it accepts the path, so a forged request can at worst
//! send a path's packets to a worker that drops them — and the next genuine STUN request
//! (checked first, on every packet) puts the path back where it belongs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::Instant;

use convene_sfu::{stun_local_ufrag, Proto};
use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::command::Command;

/// The maps looked up for every datagram (keys are addresses, ufrags, meeting ids): foldhash,
/// seeded per process, hashes them several times faster than std's SipHash.
pub(super) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Datagrams queued for one worker before new ones are dropped (and counted), so one
/// overloaded worker cannot stall the others.
const WORKER_QUEUE: usize = 8192;

/// A datagram for one of a worker's rooms: what the router hands over. It lives here, not
/// in the worker, because the worker imports the router (and the TCP reader that feeds it)
/// and the router must name what it carries without importing the worker back.
pub(super) struct Packet {
    pub(super) proto: Proto,
    pub(super) source: SocketAddr,
    pub(super) contents: Vec<u8>,
    /// When another worker handed it over (its wait counts towards this worker's load).
    pub(super) at: Instant,
}

/// How work reaches one worker.
pub(super) struct Inlet {
    packets: Sender<Packet>,
    commands: Sender<Command>,
    waker: mio::Waker,
    /// The worker is (about to be) blocked in its poll: ring to wake it.
    asleep: AtomicBool,
}

/// The receiving ends a worker keeps.
pub(super) struct Outlet {
    pub(super) packets: Receiver<Packet>,
    pub(super) commands: Receiver<Command>,
}

impl Inlet {
    /// A worker's inlet and outlet; `waker` must belong to the worker's poll.
    pub(super) fn new(waker: mio::Waker) -> (Inlet, Outlet) {
        let (packets, packet_rx) = crossbeam_channel::bounded(WORKER_QUEUE);
        let (commands, command_rx) = crossbeam_channel::unbounded();
        (
            Inlet { packets, commands, waker, asleep: AtomicBool::new(false) },
            Outlet { packets: packet_rx, commands: command_rx },
        )
    }

    fn ring(&self) {
        if self.asleep.swap(false, Ordering::SeqCst) {
            if let Err(e) = self.waker.wake() {
                tracing::warn!(error = %e, "could not wake a media worker");
            }
        }
    }
}

/// The ufrag → worker map and every worker's inlet, shared by the workers, the ICE-TCP
/// readers and signaling.
pub(super) struct Router {
    ufrags: RwLock<HashMap<String, usize>>,
    inlets: Vec<Inlet>,
}

impl Router {
    pub(super) fn new(inlets: Vec<Inlet>) -> Router {
        Router { ufrags: RwLock::new(HashMap::new()), inlets }
    }

    /// STUN naming these ufrags goes to `worker`.
    pub(super) fn register(&self, worker: usize, ufrags: impl IntoIterator<Item = String>) {
        let mut map = self.ufrags.write().unwrap_or_else(|e| e.into_inner());
        for u in ufrags {
            map.insert(u, worker);
        }
    }

    pub(super) fn unregister(&self, ufrags: impl IntoIterator<Item = String>) {
        let mut map = self.ufrags.write().unwrap_or_else(|e| e.into_inner());
        for u in ufrags {
            map.remove(&u);
        }
    }

    /// The worker whose peer has this local ICE ufrag.
    pub(super) fn worker_of(&self, ufrag: &str) -> Option<usize> {
        self.ufrags.read().unwrap_or_else(|e| e.into_inner()).get(ufrag).copied()
    }

    pub(super) fn is_registered(&self, ufrag: &str) -> bool {
        self.ufrags.read().unwrap_or_else(|e| e.into_inner()).contains_key(ufrag)
    }

    /// Hands a datagram to a worker; `false` (counted) when its queue is full.
    pub(super) fn deliver(&self, worker: usize, packet: Packet) -> bool {
        let Some(inlet) = self.inlets.get(worker) else { return false };
        let delivered = match inlet.packets.try_send(packet) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                metrics::counter!("media_datagrams_dropped_total", "reason" => "worker_busy").increment(1);
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        };
        inlet.ring();
        delivered
    }

    /// Sends a command to a worker; `false` if it has stopped.
    pub(super) fn command(&self, worker: usize, cmd: Command) -> bool {
        let Some(inlet) = self.inlets.get(worker) else { return false };
        let sent = inlet.commands.send(cmd).is_ok();
        inlet.ring();
        sent
    }

    pub(super) fn workers(&self) -> usize {
        self.inlets.len()
    }

    /// Marks `worker` asleep before it blocks; `false` (and awake) when work arrived
    /// meanwhile, so it must not block. Closes the race with [`Inlet::ring`]: whatever is
    /// queued after this finds the flag set and rings.
    pub(super) fn may_sleep(&self, worker: usize, outlet: &Outlet) -> bool {
        let Some(inlet) = self.inlets.get(worker) else { return true };
        inlet.asleep.store(true, Ordering::SeqCst);
        if outlet.packets.is_empty() && outlet.commands.is_empty() {
            return true;
        }
        inlet.asleep.store(false, Ordering::SeqCst);
        false
    }

    /// The worker is back from its poll.
    pub(super) fn awake(&self, worker: usize) {
        if let Some(inlet) = self.inlets.get(worker) {
            inlet.asleep.store(false, Ordering::SeqCst);
        }
    }

    /// Tells every worker (TCP writers are shared; paths are per worker).
    pub(super) fn tcp_closed(&self, remote: SocketAddr) {
        for w in 0..self.inlets.len() {
            self.command(w, Command::TcpClosed { remote });
        }
    }

    /// Tells every worker to stop.
    pub(super) fn stop(&self) {
        for w in 0..self.inlets.len() {
            self.command(w, Command::Stop);
        }
    }

    /// Routes one frame read from an ICE-TCP connection (whose remote never changes, so the
    /// reader keeps its own one-entry cache).
    pub(super) fn tcp_frame(&self, remote: SocketAddr, cached: &mut Option<usize>, bytes: Vec<u8>) {
        if let Some(w) = stun_local_ufrag(&bytes).and_then(|u| self.worker_of(u)) {
            *cached = Some(w);
        }
        match *cached {
            Some(w) => {
                self.deliver(w, Packet { proto: Proto::Tcp, source: remote, contents: bytes, at: Instant::now() });
            }
            None => metrics::counter!("media_datagrams_dropped_total", "reason" => "unknown_path").increment(1),
        }
    }
}

/// Known paths → (where they go, the ufrag whose STUN request named them): the receiver's
/// map to workers, and each worker's map to its meetings.
pub(super) struct Paths<K, T> {
    by_path: FastMap<K, (T, String)>,
}

impl<K, T> Default for Paths<K, T> {
    fn default() -> Self {
        Paths { by_path: FastMap::default() }
    }
}

impl<K: std::hash::Hash + Eq, T: Copy + PartialEq> Paths<K, T> {
    /// Where a datagram from `path` goes. STUN naming a known ufrag (`lookup`) wins and
    /// (re)sets the path — so a path that moved to another peer, or was claimed by a forged
    /// request, is corrected by the next genuine binding request; anything else follows the path.
    pub(super) fn route(&mut self, path: K, contents: &[u8], lookup: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        if let Some(ufrag) = stun_local_ufrag(contents) {
            if let Some(target) = lookup(ufrag) {
                match self.by_path.get(&path) {
                    Some((t, u)) if *t == target && u == ufrag => {}
                    _ => {
                        self.by_path.insert(path, (target, ufrag.to_owned()));
                    }
                }
                return Some(target);
            }
        }
        self.by_path.get(&path).map(|(t, _)| *t)
    }

    /// Keeps only the paths for which `keep(target, ufrag)` holds.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&T, &str) -> bool) {
        self.by_path.retain(|_, (t, u)| keep(t, u));
    }

    pub(super) fn remove(&mut self, path: &K) {
        self.by_path.remove(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stun(username: &str) -> Vec<u8> {
        let padded = username.len().div_ceil(4) * 4;
        let mut msg = vec![0x00, 0x01];
        msg.extend(((4 + padded) as u16).to_be_bytes());
        msg.extend([0x21, 0x12, 0xA4, 0x42]);
        msg.extend([1; 12]);
        msg.extend([0x00, 0x06]);
        msg.extend((username.len() as u16).to_be_bytes());
        msg.extend(username.as_bytes());
        msg.resize(20 + 4 + padded, 0);
        msg
    }

    #[test]
    fn a_path_follows_the_worker_its_stun_names() {
        let router = Router::new(Vec::new());
        router.register(1, ["aaaa".to_owned()]);
        router.register(0, ["bbbb".to_owned()]);
        let mut paths: Paths<SocketAddr, usize> = Paths::default();
        let from: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let route = |paths: &mut Paths<SocketAddr, usize>, contents: &[u8]| {
            paths.route(from, contents, |u| router.worker_of(u))
        };

        assert_eq!(route(&mut paths, &[0x80, 0x60]), None, "unknown path, not STUN");
        assert_eq!(route(&mut paths, &stun("aaaa:x")), Some(1));
        assert_eq!(route(&mut paths, &[0x80, 0x60]), Some(1), "RTP follows the path");
        assert_eq!(route(&mut paths, &stun("bbbb:x")), Some(0), "a newer STUN moves it");
        assert_eq!(route(&mut paths, &stun("zzzz:x")), Some(0), "unknown ufrag: the path stands");

        router.unregister(["bbbb".to_owned()]);
        paths.retain(|_, ufrag| router.is_registered(ufrag));
        assert_eq!(route(&mut paths, &[0x80, 0x60]), None, "the peer left: the path is forgotten");
    }
}
