//! The media runtime: owns the UDP socket and the thread that drives every meeting's SFU
//! room (`convene_sfu`, sans-IO) with real time, and relays the rooms' events to signaling.
//!
//! Signaling talks to it through [`Media`] (commands over a channel; replies through
//! oneshots). Datagrams are routed to their room by source address, learned once per path by
//! asking the rooms (which know their ICE ufrags), so the steady state is one map lookup.

mod relay;
mod tcp;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use convene_protocol::PublishedTrack;
use convene_sfu::{Datagram, Input, Output, ParticipantId, Proto, Room, RoomConfig};
use tokio::sync::oneshot;

use crate::live::Live;
use relay::Relay;

/// How long the media thread sleeps at most before looking at new commands.
const COMMAND_POLL: Duration = Duration::from_millis(5);

/// Why a media request failed, as the signaling layer reports it.
#[derive(Debug)]
pub struct MediaError(pub String);

/// Handle to the media thread; cheap to clone.
#[derive(Clone)]
pub struct Media {
    tx: mpsc::Sender<Command>,
    /// The address put into ICE candidates.
    pub candidate: SocketAddr,
}

enum Command {
    Join {
        meeting: i64,
        participant: String,
    },
    Leave {
        meeting: i64,
        participant: String,
    },
    EndRoom {
        meeting: i64,
    },
    Publish {
        meeting: i64,
        participant: String,
        sdp: String,
        tracks: Vec<PublishedTrack>,
        reply: oneshot::Sender<Result<String, MediaError>>,
    },
    SubscribeAnswer {
        meeting: i64,
        participant: String,
        sdp: String,
        reply: oneshot::Sender<Result<(), MediaError>>,
    },
    VideoSize {
        meeting: i64,
        participant: String,
        track: u64,
        width: u32,
        height: u32,
    },
    /// Forward a participant's audio or not (the authoritative mute).
    Muted {
        meeting: i64,
        participant: String,
        muted: bool,
    },
    /// An ICE-TCP connection opened: where to write frames for that remote address.
    TcpOpen {
        remote: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
    },
    TcpClosed {
        remote: SocketAddr,
    },
    /// One RFC 4571 frame read from an ICE-TCP connection.
    TcpFrame {
        remote: SocketAddr,
        bytes: Vec<u8>,
    },
}

impl Media {
    /// Binds the media socket and starts the media thread.
    pub fn start(listen: SocketAddr, public_ip: Option<IpAddr>, live: Live) -> std::io::Result<Media> {
        let (socket, tcp) = bind_pair(listen)?;
        let local = socket.local_addr()?;
        let ip =
            public_ip.unwrap_or(if local.ip().is_unspecified() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { local.ip() });
        let candidate = SocketAddr::new(ip, local.port());
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("convene-media".into())
            .spawn(move || Engine::new(socket, candidate, Relay::new(live)).run(rx))?;
        tcp::accept(tcp, tx.clone())?;
        tracing::info!(%local, %candidate, "media listening (UDP and ICE-TCP)");
        Ok(Media { tx, candidate })
    }

    /// A handle with no engine behind it, for commands that never carry media (the admin
    /// CLI): every request fails with "media engine stopped".
    pub fn detached() -> Media {
        let (tx, _) = mpsc::channel();
        Media { tx, candidate: SocketAddr::from(([0, 0, 0, 0], 0)) }
    }

    pub fn join(&self, meeting: i64, participant: &str) {
        let _ = self.tx.send(Command::Join { meeting, participant: participant.to_owned() });
    }

    pub fn leave(&self, meeting: i64, participant: &str) {
        let _ = self.tx.send(Command::Leave { meeting, participant: participant.to_owned() });
    }

    /// Stops or resumes forwarding a participant's audio.
    pub fn set_muted(&self, meeting: i64, participant: &str, muted: bool) {
        let _ = self.tx.send(Command::Muted { meeting, participant: participant.to_owned(), muted });
    }

    pub fn end_room(&self, meeting: i64) {
        let _ = self.tx.send(Command::EndRoom { meeting });
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
        self.tx
            .send(Command::Publish { meeting, participant: participant.to_owned(), sdp, tracks, reply })
            .map_err(|_| MediaError("media engine stopped".into()))?;
        rx.await.map_err(|_| MediaError("media engine stopped".into()))?
    }

    pub async fn subscribe_answer(&self, meeting: i64, participant: &str, sdp: String) -> Result<(), MediaError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::SubscribeAnswer { meeting, participant: participant.to_owned(), sdp, reply })
            .map_err(|_| MediaError("media engine stopped".into()))?;
        rx.await.map_err(|_| MediaError("media engine stopped".into()))?
    }

    pub fn video_size(&self, meeting: i64, participant: &str, track: u64, width: u32, height: u32) {
        let _ = self.tx.send(Command::VideoSize { meeting, participant: participant.to_owned(), track, width, height });
    }
}

/// Binds UDP and TCP on the same port. With port 0 the UDP port is drawn first and the TCP
/// port must match, which another socket may hold: then draw again.
fn bind_pair(listen: SocketAddr) -> std::io::Result<(UdpSocket, std::net::TcpListener)> {
    let mut last = None;
    for _ in 0..if listen.port() == 0 { 20 } else { 1 } {
        let udp = UdpSocket::bind(listen)?;
        match std::net::TcpListener::bind(udp.local_addr()?) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no port")))
}

/// One meeting's SFU room and its participant numbering.
struct Slot {
    room: Room,
    ids: HashMap<String, ParticipantId>,
    names: HashMap<ParticipantId, String>,
    next: u64,
    deadline: Instant,
}

impl Slot {
    fn id(&mut self, now: Instant, participant: &str) -> ParticipantId {
        if let Some(id) = self.ids.get(participant) {
            return *id;
        }
        self.next += 1;
        let id = ParticipantId(self.next);
        if let Err(e) = self.room.add_participant(now, id) {
            tracing::warn!(error = %e, "could not add participant to media room");
        }
        self.ids.insert(participant.to_owned(), id);
        self.names.insert(id, participant.to_owned());
        id
    }
}

struct Engine {
    socket: UdpSocket,
    candidate: SocketAddr,
    rooms: HashMap<i64, Slot>,
    /// Remote address → meeting, learned from the first packet of each path.
    paths: HashMap<SocketAddr, i64>,
    relay: Relay,
    dropped: u64,
    /// Open ICE-TCP connections by remote address.
    tcp: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
}

impl Engine {
    fn new(socket: UdpSocket, candidate: SocketAddr, relay: Relay) -> Engine {
        Engine {
            socket,
            candidate,
            rooms: HashMap::new(),
            paths: HashMap::new(),
            relay,
            dropped: 0,
            tcp: HashMap::new(),
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Command>) {
        let mut buf = vec![0u8; 2048];
        loop {
            loop {
                match rx.try_recv() {
                    Ok(cmd) => self.command(cmd),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
            let now = Instant::now();
            self.drive_timeouts(now);
            let wait = self
                .rooms
                .values()
                .map(|s| s.deadline.saturating_duration_since(now))
                .min()
                .unwrap_or(COMMAND_POLL)
                .clamp(Duration::from_millis(1), COMMAND_POLL);
            let _ = self.socket.set_read_timeout(Some(wait));
            match self.socket.recv_from(&mut buf) {
                Ok((n, source)) => self.datagram(Instant::now(), Proto::Udp, source, &buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => tracing::debug!(error = %e, "media socket read"),
            }
        }
    }

    fn datagram(&mut self, now: Instant, proto: Proto, source: SocketAddr, contents: &[u8]) {
        let d = Datagram { proto, source, destination: self.candidate, contents };
        let meeting = match self.paths.get(&source) {
            Some(m) => Some(*m),
            None => {
                let found = self.rooms.iter_mut().find_map(|(m, s)| s.room.route(&d).map(|_| *m));
                if let Some(m) = found {
                    self.paths.insert(source, m);
                }
                found
            }
        };
        let Some(meeting) = meeting else {
            self.dropped += 1;
            metrics::counter!("media_datagrams_dropped_total").increment(1);
            return;
        };
        if let Some(slot) = self.rooms.get_mut(&meeting) {
            slot.room.handle_input(now, Input::Receive(d));
        }
        self.drain(meeting);
    }

    fn drive_timeouts(&mut self, now: Instant) {
        let due: Vec<i64> = self.rooms.iter().filter(|(_, s)| s.deadline <= now).map(|(m, _)| *m).collect();
        for m in due {
            if let Some(slot) = self.rooms.get_mut(&m) {
                slot.room.handle_input(now, Input::Timeout);
            }
            self.drain(m);
        }
    }

    /// Sends what a room wants sent and relays its events, until it asks to be woken later.
    fn drain(&mut self, meeting: i64) {
        let Some(slot) = self.rooms.get_mut(&meeting) else { return };
        loop {
            match slot.room.poll_output() {
                Output::Transmit(t) => match t.proto {
                    Proto::Udp => {
                        if let Err(e) = self.socket.send_to(&t.contents, t.destination) {
                            tracing::debug!(error = %e, "media send");
                        }
                    }
                    Proto::Tcp => {
                        if let Some(w) = self.tcp.get(&t.destination) {
                            let _ = w.send(t.contents);
                        }
                    }
                },
                Output::Event(e) => self.relay.event(meeting, &slot.names, e),
                Output::Timeout(at) => {
                    slot.deadline = at;
                    return;
                }
            }
        }
    }

    fn slot(&mut self, meeting: i64) -> &mut Slot {
        let candidate = self.candidate;
        self.rooms.entry(meeting).or_insert_with(|| {
            let now = Instant::now();
            Slot {
                room: Room::new(now, RoomConfig::new(vec![(Proto::Udp, candidate), (Proto::Tcp, candidate)])),
                ids: HashMap::new(),
                names: HashMap::new(),
                next: 0,
                deadline: now,
            }
        })
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Join { meeting, participant } => {
                let slot = self.slot(meeting);
                slot.id(now, &participant);
                self.drain(meeting);
            }
            Command::Leave { meeting, participant } => {
                if let Some(slot) = self.rooms.get_mut(&meeting) {
                    if let Some(id) = slot.ids.remove(&participant) {
                        slot.names.remove(&id);
                        slot.room.remove_participant(now, id);
                    }
                }
                self.drain(meeting);
            }
            Command::EndRoom { meeting } => {
                self.rooms.remove(&meeting);
                self.paths.retain(|_, m| *m != meeting);
            }
            Command::Publish { meeting, participant, sdp, tracks, reply } => {
                let slot = self.slot(meeting);
                let id = slot.id(now, &participant);
                for t in &tracks {
                    if let Err(e) = slot.room.set_track_source(id, &t.mid, relay::source_to_sfu(t.source)) {
                        tracing::debug!(error = %e, "track source");
                    }
                }
                let answer = slot.room.publish_offer(now, id, &sdp).map_err(|e| MediaError(e.to_string()));
                let _ = reply.send(answer);
                self.drain(meeting);
            }
            Command::SubscribeAnswer { meeting, participant, sdp, reply } => {
                let result = match self.rooms.get_mut(&meeting) {
                    Some(slot) => match slot.ids.get(&participant) {
                        Some(id) => slot.room.subscribe_answer(now, *id, &sdp).map_err(|e| MediaError(e.to_string())),
                        None => Err(MediaError("not in the media room".into())),
                    },
                    None => Err(MediaError("the meeting has no media yet".into())),
                };
                let _ = reply.send(result);
                self.drain(meeting);
            }
            Command::Muted { meeting, participant, muted } => {
                let slot = self.slot(meeting);
                let id = slot.id(now, &participant);
                if let Err(e) = slot.room.set_audio_muted(id, muted) {
                    tracing::debug!(error = %e, "mute");
                }
            }
            Command::TcpOpen { remote, writer } => {
                self.tcp.insert(remote, writer);
            }
            Command::TcpClosed { remote } => {
                self.tcp.remove(&remote);
                self.paths.remove(&remote);
            }
            Command::TcpFrame { remote, bytes } => self.datagram(now, Proto::Tcp, remote, &bytes),
            Command::VideoSize { meeting, participant, track, width, height } => {
                if let Some(slot) = self.rooms.get_mut(&meeting) {
                    if let Some(id) = slot.ids.get(&participant).copied() {
                        let _ = slot.room.set_preferred_size(now, id, convene_sfu::TrackId(track), width, height);
                    }
                }
                self.drain(meeting);
            }
        }
    }
}
