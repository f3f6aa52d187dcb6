//! The engine: a few threads, each driving many [`Peer`]s with one `epoll` (mio) and a
//! timer heap, so hundreds of simulated participants cost a handful of threads and no
//! busy polling. Signaling reaches a peer through its [`PeerHandle`] (a mutex the engine
//! takes only while it works on that peer).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};

use crate::peer::Peer;

const WAKER: Token = Token(usize::MAX);
/// The longest the engine sleeps without looking at its queue.
const MAX_SLEEP: Duration = Duration::from_millis(50);

enum Command {
    Add(Arc<Mutex<Peer>>, mpsc::Sender<usize>),
    Kick(usize),
}

struct Worker {
    tx: mpsc::Sender<Command>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

/// The peer threads of one run.
pub(crate) struct Engine {
    workers: Vec<Worker>,
    next: AtomicUsize,
    stop: Arc<AtomicBool>,
}

/// A peer as signaling sees it.
#[derive(Clone)]
pub(crate) struct PeerHandle {
    peer: Arc<Mutex<Peer>>,
    tx: mpsc::Sender<Command>,
    waker: Arc<Waker>,
    token: usize,
}

impl PeerHandle {
    /// Works on the peer (e.g. applies SDP), then has the engine look at it again.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Peer) -> R) -> R {
        let r = {
            let mut p = lock(&self.peer);
            let r = f(&mut p);
            p.drain(Instant::now(), 0);
            r
        };
        let _ = self.tx.send(Command::Kick(self.token));
        let _ = self.waker.wake();
        r
    }

    /// Reads the peer without waking the engine.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Peer) -> R) -> R {
        f(&lock(&self.peer))
    }
}

impl Engine {
    /// Starts `threads` engine threads.
    pub(crate) fn start(threads: usize) -> crate::Result<Engine> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for i in 0..threads.max(1) {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let (tx, rx) = mpsc::channel();
            let stop = stop.clone();
            let thread =
                std::thread::Builder::new().name(format!("bench-peers-{i}")).spawn(move || run(poll, &rx, &stop))?;
            workers.push(Worker { tx, waker, thread: Some(thread) });
        }
        Ok(Engine { workers, next: AtomicUsize::new(0), stop })
    }

    /// Hands a peer to one of the threads (round robin).
    pub(crate) fn add(&self, peer: Peer) -> crate::Result<PeerHandle> {
        let w = &self.workers[self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len()];
        let peer = Arc::new(Mutex::new(peer));
        let (tx, rx) = mpsc::channel();
        w.tx.send(Command::Add(peer.clone(), tx)).map_err(|_| crate::Error::setup("engine stopped"))?;
        w.waker.wake()?;
        let token = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| crate::Error::setup("engine did not take the peer"))?;
        Ok(PeerHandle { peer, tx: w.tx.clone(), waker: w.waker.clone(), token })
    }

    /// Stops the threads and waits for them.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for w in &mut self.workers {
            let _ = w.waker.wake();
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock(p: &Mutex<Peer>) -> MutexGuard<'_, Peer> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// One engine thread: sockets that became readable, then peers whose time came.
fn run(mut poll: Poll, rx: &mpsc::Receiver<Command>, stop: &AtomicBool) {
    let mut peers: Vec<Arc<Mutex<Peer>>> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut events = Events::with_capacity(1_024);
    let mut buf = vec![0u8; 2_048];
    let schedule = |heap: &mut BinaryHeap<Reverse<(Instant, usize)>>, p: &mut Peer, i: usize| {
        let at = p.next_wake();
        if p.scheduled.is_none_or(|s| at < s) {
            p.scheduled = Some(at);
            heap.push(Reverse((at, i)));
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let sleep = heap.peek().map_or(MAX_SLEEP, |Reverse((t, _))| t.saturating_duration_since(now)).min(MAX_SLEEP);
        if poll.poll(&mut events, Some(sleep)).is_err() {
            continue;
        }
        for ev in events.iter() {
            if ev.token() == WAKER {
                while let Ok(cmd) = rx.try_recv() {
                    match cmd {
                        Command::Add(peer, reply) => {
                            let i = peers.len();
                            {
                                let mut p = lock(&peer);
                                let registered = poll.registry().register(&mut p.socket, Token(i), Interest::READABLE);
                                if let Err(e) = registered {
                                    p.conn.dead = Some(format!("epoll: {e}"));
                                }
                                schedule(&mut heap, &mut p, i);
                            }
                            peers.push(peer);
                            let _ = reply.send(i);
                        }
                        Command::Kick(i) => {
                            if let Some(peer) = peers.get(i) {
                                let mut p = lock(peer);
                                p.scheduled = None;
                                schedule(&mut heap, &mut p, i);
                            }
                        }
                    }
                }
                continue;
            }
            let i = ev.token().0;
            if let Some(peer) = peers.get(i) {
                let mut p = lock(peer);
                p.read_all(&mut buf);
                schedule(&mut heap, &mut p, i);
            }
        }
        let now = Instant::now();
        while let Some(&Reverse((at, i))) = heap.peek() {
            if at > now {
                break;
            }
            heap.pop();
            let mut p = lock(&peers[i]);
            if p.scheduled != Some(at) {
                continue; // superseded by an earlier wake-up
            }
            p.scheduled = None;
            p.tick(now);
            schedule(&mut heap, &mut p, i);
        }
    }
}
