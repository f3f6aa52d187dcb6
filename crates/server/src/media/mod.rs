//! The media runtime: owns the media sockets and the worker threads that drive every
//! meeting's SFU room (`convene_sfu`, sans-IO) with real time, and sends the rooms' events,
//! in protocol names, on a channel the live meetings read ([`events`]).
//!
//! Rooms are spread over worker threads (one per core by default): a meeting lives on one
//! worker for its whole life, placed on the least-loaded one when it first needs media.
//! Each worker has its own socket on the shared UDP port (`SO_REUSEPORT`), reads and sends
//! datagrams in batches, and hands what arrived for another worker's room over to it
//! ([`router`]). Signaling talks to the workers through [`Media`] (commands over channels,
//! with a doorbell; replies through oneshots).
//!
//! Each worker measures its own load ([`load`]); an overloaded node refuses new joins with
//! `server_busy` ([`Media::admit`]) and sheds video in the meetings it has.

mod command;
mod events;
mod load;
mod peer_budget;
mod router;
pub(crate) mod sojourn;
mod tcp;
mod udp;
mod worker;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use convene_protocol::PublishedTrack;
use tokio::sync::oneshot;

pub use crate::config::HighWater;
use crate::error::Error;
use crate::recorder::PacketSink;
use command::Command;
pub use convene_sfu::{Subscription, MAX_VIDEO_SLOTS};
pub(crate) use events::track_number;
pub use events::{breakout_of, sfu_room};
pub use events::{channel, EventReceiver, EventSender, MediaEvent, MeetingEvent};
use load::{Board, Ramp};
use peer_budget::{PeerBudget, PEERS_PER_MINUTE};
use router::{Inlet, Router};
use worker::Worker;

/// The subscription of someone who asked for `video_slots` at join (`None`: per track), as
/// a join ticket and a stored seat keep it.
pub fn subscription(video_slots: Option<u8>) -> Subscription {
    video_slots.map_or(Subscription::PerTrack, |video| Subscription::Slots { video })
}

/// The video slots of a subscription (`None`: per track): the inverse of [`subscription`].
pub fn video_slots(subscription: Subscription) -> Option<u8> {
    match subscription {
        Subscription::PerTrack => None,
        Subscription::Slots { video } => Some(video),
    }
}

/// Why a media request failed, as the signaling layer reports it.
#[derive(Debug)]
pub struct MediaError(pub String);

/// Why a subscriber's answer was not taken.
#[derive(Debug)]
pub enum AnswerRefused {
    /// It answers an offer that was since replaced; the current one still waits. Harmless.
    Stale(String),
    Invalid(MediaError),
}

/// Handle to the media runtime; cheap to clone.
#[derive(Clone)]
pub struct Media {
    inner: Arc<Inner>,
    /// The address put into ICE candidates.
    pub candidate: SocketAddr,
}

struct Inner {
    /// Bytes the workers sent (media, DTLS, STUN, RTCP) since start.
    sent: Arc<std::sync::atomic::AtomicU64>,
    placement: Mutex<Placement>,
    router: Arc<Router>,
    peers: Mutex<PeerBudget>,
    /// Each worker's load, as it last published it.
    board: Arc<Board>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone (a test server stopped): let the threads end.
        self.router.stop();
    }
}

/// Which worker each meeting's room lives on, and how loaded each worker is.
#[derive(Default)]
struct Placement {
    rooms: HashMap<i64, Placed>,
    /// Per worker: rooms and participants placed on it.
    load: Vec<Load>,
    /// Whether each worker is overloaded (placement avoids those).
    board: Arc<Board>,
    /// Per worker: who joined lately, whose load has not shown yet.
    ramps: Vec<Ramp>,
}

#[derive(Clone, Copy)]
struct Placed {
    worker: usize,
    participants: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Load {
    participants: usize,
    rooms: usize,
}

impl Placement {
    /// The worker of `meeting`, placing it on the least-loaded worker (not overloaded, then
    /// fewest participants, then fewest rooms, then lowest index) the first time.
    fn worker(&mut self, meeting: i64) -> usize {
        if let Some(p) = self.rooms.get(&meeting) {
            return p.worker;
        }
        let worker = self.candidate();
        self.rooms.insert(meeting, Placed { worker, participants: 0 });
        if let Some(l) = self.load.get_mut(worker) {
            l.rooms += 1;
        }
        self.publish(worker);
        worker
    }

    /// The worker a new meeting goes to: not overloaded, then fewest participants, then
    /// fewest rooms, then lowest index.
    fn candidate(&self) -> usize {
        (0..self.load.len()).min_by_key(|w| (self.board.overloaded(*w), self.load[*w], *w)).unwrap_or(0)
    }

    fn new(workers: usize, board: Arc<Board>) -> Placement {
        Placement {
            rooms: HashMap::new(),
            load: vec![Load::default(); workers],
            board,
            ramps: vec![Ramp::default(); workers],
        }
    }

    /// Whether one more join on `worker` would likely overload it once the joins still
    /// ramping up there send what they will ([`Board::ramp_would_overload`]).
    fn ramp_would_overload(&mut self, worker: usize, now: std::time::Instant) -> bool {
        let Some(ramping) = self.ramps.get_mut(worker).map(|r| r.ramping(now)) else { return false };
        let people = self.load.get(worker).map_or(0, |l| l.participants);
        self.board.ramp_would_overload(worker, people.saturating_sub(ramping), ramping)
    }

    fn joined(&mut self, meeting: i64) -> usize {
        let worker = self.worker(meeting);
        if let Some(r) = self.ramps.get_mut(worker) {
            r.joined(std::time::Instant::now());
        }
        if let Some(p) = self.rooms.get_mut(&meeting) {
            p.participants += 1;
        }
        if let Some(l) = self.load.get_mut(worker) {
            l.participants += 1;
        }
        self.publish(worker);
        worker
    }

    fn left(&mut self, meeting: i64) -> Option<usize> {
        let p = self.rooms.get_mut(&meeting)?;
        let worker = p.worker;
        if p.participants > 0 {
            p.participants -= 1;
            if let Some(l) = self.load.get_mut(worker) {
                l.participants = l.participants.saturating_sub(1);
            }
        }
        self.publish(worker);
        Some(worker)
    }

    fn ended(&mut self, meeting: i64) -> Option<usize> {
        let p = self.rooms.remove(&meeting)?;
        if let Some(l) = self.load.get_mut(p.worker) {
            l.rooms = l.rooms.saturating_sub(1);
            l.participants = l.participants.saturating_sub(p.participants);
        }
        self.publish(p.worker);
        Some(p.worker)
    }

    fn publish(&self, worker: usize) {
        let Some(l) = self.load.get(worker) else { return };
        let label = worker.to_string();
        metrics::gauge!("media_worker_rooms", "worker" => label.clone()).set(l.rooms as f64);
        metrics::gauge!("media_worker_participants", "worker" => label).set(l.participants as f64);
    }
}

impl Media {
    /// Binds the media sockets (UDP and ICE-TCP on one port) and starts `workers` worker
    /// threads (0: one per core), each with its own UDP socket on the port. A crowded room
    /// (more than ten microphones) forwards the `audible_speakers` loudest (0: all); viewers'
    /// layers follow `forwarding`; a worker past `high_water` is overloaded; `udp_gso` lets
    /// a worker send a viewer's run of packets as one segmented send.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        listen: SocketAddr,
        public_ip: Option<IpAddr>,
        workers: usize,
        audible_speakers: usize,
        forwarding: convene_sfu::Forwarding,
        high_water: HighWater,
        udp_gso: bool,
        events: EventSender,
        recorder: PacketSink,
        captioner: Option<convene_captions::AudioSink>,
    ) -> std::io::Result<Media> {
        let count = if workers == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { workers };
        let (sockets, tcp) = bind_group(listen, count)?;
        let local = sockets[0].local_addr()?;
        let ip =
            public_ip.unwrap_or(if local.ip().is_unspecified() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { local.ip() });
        let candidate = SocketAddr::new(ip, local.port());

        let tcp_writers = tcp::Writers::default();
        let mut inlets = Vec::with_capacity(count);
        let mut parts = Vec::with_capacity(count);
        for socket in sockets {
            enlarge_buffers(&socket);
            if let Err(e) = udp::stamp_arrivals(&socket) {
                tracing::debug!(error = %e, "media socket: no arrival stamps; queue delay is estimated");
            }
            socket.set_nonblocking(true)?;
            let poll = mio::Poll::new()?;
            let waker = mio::Waker::new(poll.registry(), worker::DOORBELL)?;
            let (inlet, outlet) = Inlet::new(waker);
            inlets.push(inlet);
            parts.push((socket, poll, outlet));
        }
        let router = Arc::new(Router::new(inlets));
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let board = Arc::new(Board::new(count, high_water));
        for (index, (socket, poll, outlet)) in parts.into_iter().enumerate() {
            let shared = worker::Shared {
                events: events.clone(),
                tcp: tcp_writers.clone(),
                router: router.clone(),
                recorder: recorder.clone(),
                captioner: captioner.clone(),
                sent: sent.clone(),
                audible_speakers,
                forwarding,
                board: board.clone(),
                high_water,
                udp_gso,
            };
            let worker = Worker::new(index, socket, candidate, shared);
            std::thread::Builder::new()
                .name(format!("convene-media-{index}"))
                .spawn(move || worker.run(poll, outlet))?;
        }
        tcp::accept(tcp, router.clone(), tcp_writers)?;

        let placement = Placement::new(count, board.clone());
        for w in 0..count {
            placement.publish(w);
        }
        tracing::info!(
            %local,
            %candidate,
            workers = count,
            estimate = ?forwarding.estimate,
            own_downlink = forwarding.own_downlink,
            own_uplink = forwarding.own_uplink,
            "media listening (UDP and ICE-TCP)"
        );
        let inner = Inner { sent, placement: Mutex::new(placement), router, peers: Mutex::default(), board };
        Ok(Media { inner: Arc::new(inner), candidate })
    }

    /// A handle with no runtime behind it, for commands that never carry media (the admin
    /// CLI): every request fails with "media engine stopped".
    pub fn detached() -> Media {
        Media {
            inner: Arc::new(Inner {
                sent: Arc::default(),
                placement: Mutex::new(Placement::default()),
                router: Arc::new(Router::new(Vec::new())),
                peers: Mutex::default(),
                board: Arc::default(),
            }),
            candidate: SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    /// Whether this node takes no new meetings for load: every worker is past its high-water
    /// mark or still shedding (the cluster heartbeat tells the other nodes, whose placement
    /// then avoids this one).
    pub fn busy(&self) -> bool {
        self.inner.board.all_overloaded()
    }

    /// Bytes sent on the media port since start (for the node's egress rate).
    pub fn sent_bytes(&self) -> u64 {
        self.inner.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn placement(&self) -> std::sync::MutexGuard<'_, Placement> {
        self.inner.placement.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, worker: usize, cmd: Command) -> Result<(), MediaError> {
        if self.inner.router.command(worker, cmd) {
            Ok(())
        } else {
            Err(MediaError("media engine stopped".into()))
        }
    }

    /// Whether someone may ask to join `meeting` now (the HTTP join, the first gate): as
    /// [`Media::admit`], and not when the worker it lives on — or, for a meeting not placed
    /// yet, the worker it would be placed on — would be overloaded once those who joined it in
    /// the last seconds send what they will ([`load::Board::ramp_would_overload`]).
    pub fn admit_join(&self, meeting: i64) -> Result<(), Error> {
        self.admit(meeting)?;
        let now = std::time::Instant::now();
        let mut placement = self.placement();
        let worker = placement.rooms.get(&meeting).map_or_else(|| placement.candidate(), |p| p.worker);
        if placement.ramp_would_overload(worker, now) {
            return Err(busy_error());
        }
        Ok(())
    }

    /// Whether someone may join `meeting`'s media now: not when the worker the meeting lives
    /// on is overloaded, nor, for a meeting not placed yet, when every worker is.
    /// `server_busy` (503) otherwise; the people already in keep their seats and audio.
    pub fn admit(&self, meeting: i64) -> Result<(), Error> {
        let busy = match self.placement().rooms.get(&meeting) {
            Some(p) => self.inner.board.overloaded(p.worker),
            None => self.inner.board.all_overloaded(),
        };
        if busy {
            return Err(busy_error());
        }
        Ok(())
    }

    /// Sends to the worker of `meeting`, placing the meeting if it has none yet.
    fn to_room(&self, meeting: i64, cmd: Command) -> Result<(), MediaError> {
        let worker = self.placement().worker(meeting);
        self.send(worker, cmd)
    }

    /// Adds a participant to the meeting's media, receiving the others' tracks as
    /// `subscription` says (the same for their whole stay).
    pub fn join(&self, meeting: i64, participant: &str, subscription: Subscription) {
        let worker = self.placement().joined(meeting);
        let _ = self.send(worker, Command::Join { meeting, participant: participant.to_owned(), subscription });
    }

    /// Starts a participant's media over: drops both peer connections and makes two new ones,
    /// unless that would exceed the participant's budget of peer connections for the last
    /// minute ([`PEERS_PER_MINUTE`]); then nothing changes and the error says so.
    pub fn restart(&self, meeting: i64, participant: &str, subscription: Subscription) -> Result<(), MediaError> {
        let taken = self.inner.peers.lock().unwrap_or_else(|e| e.into_inner()).take(
            meeting,
            participant,
            2,
            std::time::Instant::now(),
        );
        if let Err(wait) = taken {
            tracing::info!(meeting, participant, wait_s = wait.as_secs(), "media restart refused: peer budget spent");
            return Err(MediaError(format!(
                "too many media restarts: at most {PEERS_PER_MINUTE} new media connections a minute per participant"
            )));
        }
        self.leave(meeting, participant);
        self.join(meeting, participant, subscription);
        Ok(())
    }

    pub fn leave(&self, meeting: i64, participant: &str) {
        let Some(worker) = self.placement().left(meeting) else { return };
        let _ = self.send(worker, Command::Leave { meeting, participant: participant.to_owned() });
    }

    /// Stops or resumes forwarding a participant's audio.
    pub fn set_muted(&self, meeting: i64, participant: &str, muted: bool) {
        let _ = self.to_room(meeting, Command::Muted { meeting, participant: participant.to_owned(), muted });
    }

    /// Stops forwarding a participant's camera (`true`: a host stopped their video) until it
    /// is called again with `false` (the participant turned the camera back on); subscribers
    /// then get it from its next keyframe. Their screen share and audio are not affected.
    pub fn set_video_stopped(&self, meeting: i64, participant: &str, stopped: bool) {
        let _ = self.to_room(meeting, Command::VideoStopped { meeting, participant: participant.to_owned(), stopped });
    }

    /// Starts or stops handing the meeting's forwarded packets to the recorder.
    pub fn set_recording(&self, meeting: i64, on: bool) {
        let _ = self.to_room(meeting, Command::Recording { meeting, on });
    }

    /// Starts or stops handing the meeting's microphone packets to the captioner.
    pub fn set_captions(&self, meeting: i64, on: bool) {
        let _ = self.to_room(meeting, Command::Captions { meeting, on });
    }

    pub fn end_room(&self, meeting: i64) {
        let Some(worker) = self.placement().ended(meeting) else { return };
        let _ = self.send(worker, Command::EndRoom { meeting });
    }

    /// Applies a publish offer; the answer SDP.
    pub async fn publish(
        &self,
        meeting: i64,
        participant: &str,
        sdp: String,
        tracks: Vec<PublishedTrack>,
    ) -> Result<String, MediaError> {
        let (reply, rx) = oneshot::channel();
        self.to_room(meeting, Command::Publish { meeting, participant: participant.to_owned(), sdp, tracks, reply })?;
        rx.await.map_err(|_| MediaError("media engine stopped".into()))?
    }

    pub async fn subscribe_answer(
        &self,
        meeting: i64,
        participant: &str,
        sdp: String,
        offer_id: Option<u64>,
    ) -> Result<(), AnswerRefused> {
        let (reply, rx) = oneshot::channel();
        let command = Command::SubscribeAnswer { meeting, participant: participant.to_owned(), sdp, offer_id, reply };
        self.to_room(meeting, command).map_err(AnswerRefused::Invalid)?;
        rx.await.map_err(|_| AnswerRefused::Invalid(MediaError("media engine stopped".into())))?
    }

    pub fn video_size(&self, meeting: i64, participant: &str, track: u64, width: u32, height: u32) {
        let _ = self.to_room(
            meeting,
            Command::VideoSize { meeting, participant: participant.to_owned(), track, width, height },
        );
    }

    /// How many worker threads drive rooms.
    pub fn workers(&self) -> usize {
        self.inner.router.workers()
    }
}

/// What a refused join is told to wait (`Retry-After`): a few measuring windows, for
/// shedding to take effect or a meeting to end.
const BUSY_RETRY_AFTER_SECS: u64 = 30;

/// The socket buffers the media port asks for. One UDP socket carries every participant,
/// so the kernel's default (~208 KB, ~150 full-size datagrams) overflows as soon as the
/// receiver thread is descheduled for a few milliseconds on a busy machine; the benchmark
/// (bench/RESULTS.md) saw thousands of drops a second there. The kernel caps the request at
/// net.core.rmem_max / wmem_max (see docs/operations.md).
const SOCKET_BUFFER_BYTES: usize = 8 << 20;

/// Asks for large send and receive buffers on the media socket; logs what the kernel gave.
fn enlarge_buffers(socket: &UdpSocket) {
    let s = socket2::SockRef::from(socket);
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    tracing::info!(
        recv_buffer = s.recv_buffer_size().unwrap_or(0),
        send_buffer = s.send_buffer_size().unwrap_or(0),
        "media socket buffers"
    );
}

/// Binds TCP and `count` UDP sockets on one port (the UDP ones share it with
/// `SO_REUSEPORT` when there are several). TCP goes first and without port sharing, so a
/// second server on a taken port fails here instead of silently sharing its datagrams.
/// With port 0 a plain socket draws the port: the kernel's own draw for a port-sharing
/// socket may pick a port another sharing group of this user holds.
fn bind_group(listen: SocketAddr, count: usize) -> std::io::Result<(Vec<UdpSocket>, std::net::TcpListener)> {
    let mut last = None;
    for _ in 0..if listen.port() == 0 { 20 } else { 1 } {
        let port = match listen.port() {
            0 => UdpSocket::bind(listen)?.local_addr()?.port(),
            p => p,
        };
        let addr = SocketAddr::new(listen.ip(), port);
        let tcp = match std::net::TcpListener::bind(addr) {
            Ok(tcp) => tcp,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        match (0..count).map(|_| bind_udp(addr, count > 1)).collect::<std::io::Result<Vec<_>>>() {
            Ok(sockets) => return Ok((sockets, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no port")))
}

/// The refusal of a join or a new publisher for load.
fn busy_error() -> Error {
    metrics::counter!("media_joins_refused_total").increment(1);
    Error::Client {
        status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
        code: "server_busy",
        message: "this server is at capacity; try again in a minute".into(),
        retry_after: Some(BUSY_RETRY_AFTER_SECS),
    }
}

fn bind_udp(addr: SocketAddr, shared: bool) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, None)?;
    if shared {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(workers: usize) -> Placement {
        Placement::new(workers, Arc::new(Board::new(workers, HighWater::default())))
    }

    #[test]
    fn meetings_spread_over_workers_by_load() {
        let mut p = placement(2);
        assert_eq!(p.joined(1), 0);
        assert_eq!(p.joined(1), 0);
        // Worker 1 is empty: the next meeting goes there, and stays there.
        assert_eq!(p.joined(2), 1);
        assert_eq!(p.joined(2), 1);
        assert_eq!(p.joined(2), 1);
        // Worker 0 has fewer participants now.
        assert_eq!(p.worker(3), 0);
        assert_eq!(p.left(2), Some(1));
        assert_eq!(p.ended(2), Some(1));
        assert_eq!(p.load[1], Load::default());
        assert_eq!(p.left(99), None, "a meeting never placed has no worker");
    }

    #[test]
    fn new_meetings_avoid_an_overloaded_worker() {
        let mut p = placement(2);
        let busy = load::Sample { busy_permille: 990, queue_delay: std::time::Duration::ZERO };
        p.board.publish(0, busy, true, convene_sfu::Shedding::LowerLayers);
        assert_eq!(p.joined(1), 1, "worker 0 is emptier but overloaded");
        assert_eq!(p.joined(2), 1);
        assert_eq!(p.joined(2), 1, "a placed meeting stays");
    }
}
