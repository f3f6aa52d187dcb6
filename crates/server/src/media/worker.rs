//! One media worker thread: drives the SFU rooms placed on it with real time, sends what
//! they want sent, and relays their events to signaling.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use convene_protocol::PublishedTrack;
use convene_sfu::{Datagram, Input, Output, ParticipantId, Proto, Room, RoomConfig};
use crossbeam_channel::Receiver;
use tokio::sync::oneshot;

use super::relay::{self, Relay};
use super::router::{Paths, Router};
use super::tcp::Writers;
use super::{AnswerRefused, MediaError};
use crate::live::Live;
use crate::recording::recorder::PacketSink;

/// The longest a worker sleeps with nothing due (it wakes for every command and packet).
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// A datagram for one of the worker's rooms.
pub(super) struct Packet {
    pub(super) proto: Proto,
    pub(super) source: SocketAddr,
    pub(super) contents: Vec<u8>,
}

/// What signaling (through [`super::Media`]) and the router ask of a worker.
pub(super) enum Command {
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
        offer_id: Option<u64>,
        reply: oneshot::Sender<Result<(), AnswerRefused>>,
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
    /// Copy the room's forwarded packets to the recorder, or stop.
    Recording {
        meeting: i64,
        on: bool,
    },
    /// An ICE-TCP connection closed: forget its path.
    TcpClosed {
        remote: SocketAddr,
    },
    /// The runtime is shutting down.
    Stop,
}

/// One meeting's SFU room and its participant numbering.
struct Slot {
    room: Room,
    ids: HashMap<String, ParticipantId>,
    names: HashMap<ParticipantId, String>,
    next: u64,
    deadline: Instant,
}

pub(super) struct Worker {
    index: usize,
    socket: UdpSocket,
    candidate: SocketAddr,
    rooms: HashMap<i64, Slot>,
    relay: Relay,
    tcp: Writers,
    router: Arc<Router>,
    /// The local ICE ufrags of this worker's peers → their meeting.
    ufrags: HashMap<String, i64>,
    /// Known paths → meeting.
    paths: Paths<(Proto, SocketAddr), i64>,
    /// Where recorded packets go (never blocks).
    recorder: PacketSink,
    /// Bytes sent by every worker (the node's egress, for the cluster's load figure).
    sent: Arc<AtomicU64>,
    sent_metric: metrics::Counter,
}

/// What every worker of a node shares.
#[derive(Clone)]
pub(super) struct Shared {
    pub live: Live,
    pub tcp: Writers,
    pub router: Arc<Router>,
    pub recorder: PacketSink,
    pub sent: Arc<AtomicU64>,
}

impl Worker {
    pub(super) fn new(index: usize, socket: UdpSocket, candidate: SocketAddr, shared: Shared) -> Worker {
        let Shared { live, tcp, router, recorder, sent } = shared;
        Worker {
            index,
            socket,
            candidate,
            rooms: HashMap::new(),
            relay: Relay::new(live),
            tcp,
            router,
            ufrags: HashMap::new(),
            paths: Paths::default(),
            recorder,
            sent,
            sent_metric: metrics::counter!("media_sent_bytes_total"),
        }
    }

    pub(super) fn run(mut self, commands: Receiver<Command>, packets: Receiver<Packet>) {
        tracing::debug!(worker = self.index, "media worker started");
        loop {
            let now = Instant::now();
            self.drive_timeouts(now);
            let wait = self
                .rooms
                .values()
                .map(|s| s.deadline.saturating_duration_since(now))
                .min()
                .unwrap_or(IDLE_WAIT)
                .min(IDLE_WAIT);
            crossbeam_channel::select_biased! {
                recv(commands) -> cmd => match cmd {
                    Ok(Command::Stop) | Err(_) => break,
                    Ok(cmd) => self.command(cmd),
                },
                recv(packets) -> packet => match packet {
                    Ok(p) => self.datagram(Instant::now(), p),
                    Err(_) => break,
                },
                default(wait) => {},
            }
        }
        let ufrags: Vec<String> = self.ufrags.drain().map(|(u, _)| u).collect();
        self.router.unregister(ufrags);
    }

    /// The meeting a datagram is for (see [`Paths::route`]). The room then checks the STUN
    /// message integrity before it accepts a new path.
    fn meeting_of(&mut self, proto: Proto, source: SocketAddr, contents: &[u8]) -> Option<i64> {
        let ufrags = &self.ufrags;
        self.paths.route((proto, source), contents, |u| ufrags.get(u).copied())
    }

    fn datagram(&mut self, now: Instant, packet: Packet) {
        let Some(meeting) = self.meeting_of(packet.proto, packet.source, &packet.contents) else {
            metrics::counter!("media_datagrams_dropped_total", "reason" => "unknown_peer").increment(1);
            return;
        };
        let d = Datagram {
            proto: packet.proto,
            source: packet.source,
            destination: self.candidate,
            contents: &packet.contents,
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
        let mut sent = 0u64;
        loop {
            match slot.room.poll_output() {
                Output::Transmit(t) => {
                    sent += t.contents.len() as u64;
                    match t.proto {
                        Proto::Udp => {
                            if let Err(e) = self.socket.send_to(&t.contents, t.destination) {
                                tracing::debug!(error = %e, "media send");
                            }
                        }
                        Proto::Tcp => self.tcp.send(t.destination, t.contents),
                    }
                }
                Output::Event(e) => self.relay.event(meeting, &slot.names, e),
                Output::Timeout(at) => {
                    slot.deadline = at;
                    break;
                }
            }
        }
        if sent > 0 {
            self.sent.fetch_add(sent, Ordering::Relaxed);
            self.sent_metric.increment(sent);
        }
        // Recording copies go to the recorder's bounded queue: it drops rather than waits.
        while let Some(p) = slot.room.poll_recorded() {
            let name: Arc<str> = slot.names.get(&p.participant).map_or("", String::as_str).into();
            self.recorder.offer(meeting, name, p);
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

    /// The room's number for `participant`, adding them (and routing their ufrags here) the
    /// first time.
    fn participant(&mut self, now: Instant, meeting: i64, participant: &str) -> ParticipantId {
        let slot = self.slot(meeting);
        if let Some(id) = slot.ids.get(participant) {
            return *id;
        }
        slot.next += 1;
        let id = ParticipantId(slot.next);
        if let Err(e) = slot.room.add_participant(now, id) {
            tracing::warn!(error = %e, "could not add participant to media room");
        }
        slot.ids.insert(participant.to_owned(), id);
        slot.names.insert(id, participant.to_owned());
        let ufrags = slot.room.ice_ufrags(id);
        for u in &ufrags {
            self.ufrags.insert(u.clone(), meeting);
        }
        // Registered before the answer leaves, so the client's first STUN finds this worker.
        self.router.register(self.index, ufrags);
        id
    }

    /// Forgets the routes of ufrags that are gone.
    fn unroute(&mut self, gone: Vec<String>) {
        for u in &gone {
            self.ufrags.remove(u);
        }
        self.paths.retain(|_, u| !gone.iter().any(|g| g == u));
        self.router.unregister(gone);
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Join { meeting, participant } => {
                self.participant(now, meeting, &participant);
                self.drain(meeting);
            }
            Command::Leave { meeting, participant } => {
                let mut gone = Vec::new();
                if let Some(slot) = self.rooms.get_mut(&meeting) {
                    if let Some(id) = slot.ids.remove(&participant) {
                        gone = slot.room.ice_ufrags(id);
                        slot.names.remove(&id);
                        slot.room.remove_participant(now, id);
                    }
                }
                self.unroute(gone);
                self.drain(meeting);
            }
            Command::EndRoom { meeting } => {
                self.rooms.remove(&meeting);
                let gone: Vec<String> =
                    self.ufrags.iter().filter(|(_, m)| **m == meeting).map(|(u, _)| u.clone()).collect();
                self.unroute(gone);
                self.paths.retain(|m, _| *m != meeting);
            }
            Command::Publish { meeting, participant, sdp, tracks, reply } => {
                let id = self.participant(now, meeting, &participant);
                let slot = self.slot(meeting);
                for t in &tracks {
                    if let Err(e) = slot.room.set_track_source(id, &t.mid, relay::source_to_sfu(t.source)) {
                        tracing::debug!(error = %e, "track source");
                    }
                }
                let answer = slot.room.publish_offer(now, id, &sdp).map_err(|e| MediaError(e.to_string()));
                let _ = reply.send(answer);
                self.drain(meeting);
            }
            Command::SubscribeAnswer { meeting, participant, sdp, offer_id, reply } => {
                let result = match self.rooms.get_mut(&meeting) {
                    Some(slot) => match slot.ids.get(&participant) {
                        Some(id) => slot.room.subscribe_answer(now, *id, &sdp, offer_id).map_err(|e| match e {
                            convene_sfu::SfuError::StaleAnswer { .. } => AnswerRefused::Stale(e.to_string()),
                            e => AnswerRefused::Invalid(MediaError(e.to_string())),
                        }),
                        None => Err(AnswerRefused::Invalid(MediaError("not in the media room".into()))),
                    },
                    None => Err(AnswerRefused::Invalid(MediaError("the meeting has no media yet".into()))),
                };
                let _ = reply.send(result);
                self.drain(meeting);
            }
            Command::Muted { meeting, participant, muted } => {
                let id = self.participant(now, meeting, &participant);
                if let Some(slot) = self.rooms.get_mut(&meeting) {
                    if let Err(e) = slot.room.set_audio_muted(id, muted) {
                        tracing::debug!(error = %e, "mute");
                    }
                }
            }
            Command::Recording { meeting, on } => {
                self.slot(meeting).room.set_recording(on);
            }
            Command::TcpClosed { remote } => {
                self.paths.remove(&(Proto::Tcp, remote));
            }
            Command::VideoSize { meeting, participant, track, width, height } => {
                if let Some(slot) = self.rooms.get_mut(&meeting) {
                    if let Some(id) = slot.ids.get(&participant).copied() {
                        let _ = slot.room.set_preferred_size(now, id, convene_sfu::TrackId(track), width, height);
                    }
                }
                self.drain(meeting);
            }
            Command::Stop => {}
        }
    }
}
