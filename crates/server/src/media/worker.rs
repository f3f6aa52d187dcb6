//! One media worker thread: reads its socket of the media port, drives the SFU rooms
//! placed on it with real time, sends what they want sent in batches, and relays their
//! events to signaling.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use convene_captions::{AudioPacket, AudioSink};
use convene_sfu::{
    stun_local_ufrag, Datagram, Forwarding, Input, Output, ParticipantId, Proto, RecordedCodec, Room, RoomConfig,
    Source,
};

use super::command::Command;
use super::events::{self, EventSender, MeetingEvent};
use super::load::{thread_cpu_time, Board, Governor, Meter};
use super::router::{FastMap, Outlet, Packet, Paths, Router};
use super::sojourn::Sojourns;
use super::tcp::Writers;
use super::udp::{Inbox, Outbox, BATCH};
use crate::config::HighWater;
use crate::recorder::PacketSink;

mod commands;

/// The longest a worker sleeps with nothing due (it wakes for every command and packet).
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Signaling commands (joins, SDP offers and answers) cost a few ms each on the worker. Media
/// comes first: a worker whose last read filled a whole batch reads on before it takes a
/// command, and then takes commands for at most [`COMMAND_BUDGET`] before it reads again —
/// but never waits longer than [`COMMAND_PATIENCE`] for its turn, or a saturated worker would
/// never answer a join. Before, every waiting command ran, then one batch was read: the answers
/// of a meeting renegotiated for a newcomer (one per participant) held media for 25–40 ms, past
/// the overload mark, and a join burst made a node at half a core refuse joins and shed video
/// (bench/RESULTS.md, fourteenth pass).
const COMMAND_BUDGET: Duration = Duration::from_millis(2);
/// The longest commands wait while media keeps the socket full.
const COMMAND_PATIENCE: Duration = Duration::from_millis(20);
/// The longest a datagram a room produced waits in the outbox for others to share its system
/// call. Each round of the worker loop (one read of up to [`BATCH`] datagrams) sends what it
/// produced together at its end; a long round sends whatever has waited this long at once.
/// The bound keeps the send times written into abs-send-time (which the subscribers' bandwidth
/// estimates difference) within a fraction of the 5 ms in which libwebrtc groups packets, and
/// the added latency far under the SFU's budget.
const FLUSH_WITHIN: Duration = Duration::from_micros(250);
/// How often a worker forgets the paths it hands to other workers whose peer is gone.
const PRUNE_EVERY: Duration = Duration::from_secs(10);
/// mio tokens: the worker's socket and its doorbell.
const SOCKET: mio::Token = mio::Token(0);
pub(super) const DOORBELL: mio::Token = mio::Token(1);

/// One meeting's SFU room and its participant numbering.
struct Slot {
    room: Room,
    ids: HashMap<String, ParticipantId>,
    names: HashMap<ParticipantId, String>,
    next: u64,
    deadline: Instant,
    /// The room's forwarded packets already counted in `media_forwarded_packets_total`.
    forwarded: u64,
    /// The tap's copies go to the recorder (recording on).
    recording: bool,
    /// The tap's microphone copies go to the captioner (live captions on).
    captions: bool,
}

pub(super) struct Worker {
    index: usize,
    socket: UdpSocket,
    candidate: SocketAddr,
    rooms: FastMap<i64, Slot>,
    /// Where the rooms' events go (the live meetings read them).
    events: EventSender,
    tcp: Writers,
    router: Arc<Router>,
    /// The local ICE ufrags of this worker's peers → their meeting.
    ufrags: FastMap<String, i64>,
    /// Known paths → meeting.
    paths: Paths<(Proto, SocketAddr), i64>,
    /// Paths whose datagrams arrive on this worker's socket but belong to another worker →
    /// (that worker, the ufrag that named the path).
    foreign: FastMap<SocketAddr, (usize, String)>,
    /// UDP datagrams to send, flushed in batches.
    outbox: Outbox,
    /// Datagrams the rooms gave to send, ever (a media packet that raised it made something).
    produced: u64,
    /// Media packets handled whose sends are not out yet, for the sojourn histogram.
    sojourns: Sojourns,
    /// Where recorded packets go (never blocks).
    recorder: PacketSink,
    /// Where microphone packets go while a meeting has live captions (never blocks); none
    /// when the server runs no captions engine.
    captioner: Option<AudioSink>,
    /// Bytes sent by every worker (the node's egress, for the cluster's load figure).
    sent: Arc<AtomicU64>,
    /// Loudest microphones a crowded room forwards (0: all).
    audible_speakers: usize,
    /// Where viewers' downlink estimates come from, and whose transport carries media.
    forwarding: Forwarding,
    sent_metric: metrics::Counter,
    /// Media packets forwarded (the SFU's work; a peer-to-peer pair adds none).
    forwarded_metric: metrics::Counter,
    handed_over: metrics::Counter,
    /// Messages sent (`media_send_messages_total`), and how many of the outbox's were counted.
    messages_metric: metrics::Counter,
    messages_counted: u64,
    /// This worker's load: measured per window, published for admission, acted on.
    meter: Meter,
    governor: Governor,
    board: Arc<Board>,
    /// When the worker was last ready to read its socket (a media packet read later waited
    /// at most since then): the wait of a datagram without the kernel's arrival stamp.
    ready_at: Instant,
}

/// What every worker of a node shares.
#[derive(Clone)]
pub(super) struct Shared {
    pub events: EventSender,
    pub tcp: Writers,
    pub router: Arc<Router>,
    pub recorder: PacketSink,
    pub captioner: Option<AudioSink>,
    pub sent: Arc<AtomicU64>,
    /// Loudest microphones a crowded room forwards (0: all).
    pub audible_speakers: usize,
    /// Where viewers' downlink estimates come from, and whose transport carries media.
    pub forwarding: Forwarding,
    /// Where workers publish their load.
    pub board: Arc<Board>,
    /// When a worker is overloaded.
    pub high_water: HighWater,
    /// Whether runs of datagrams to one viewer go as one segmented send.
    pub udp_gso: bool,
}

impl Worker {
    pub(super) fn new(index: usize, socket: UdpSocket, candidate: SocketAddr, shared: Shared) -> Worker {
        let Shared {
            events,
            tcp,
            router,
            recorder,
            captioner,
            sent,
            audible_speakers,
            forwarding,
            board,
            high_water,
            udp_gso,
        } = shared;
        let now = Instant::now();
        let outbox = Outbox::for_socket(&socket, udp_gso);
        Worker {
            index,
            socket,
            candidate,
            rooms: FastMap::default(),
            events,
            tcp,
            router,
            ufrags: FastMap::default(),
            paths: Paths::default(),
            foreign: FastMap::default(),
            outbox,
            produced: 0,
            sojourns: Sojourns::new(),
            recorder,
            captioner,
            sent,
            audible_speakers,
            forwarding,
            sent_metric: metrics::counter!("media_sent_bytes_total"),
            forwarded_metric: metrics::counter!("media_forwarded_packets_total"),
            handed_over: metrics::counter!("media_datagrams_handed_over_total"),
            messages_metric: metrics::counter!("media_send_messages_total"),
            messages_counted: 0,
            meter: Meter::new(now, Duration::ZERO),
            governor: Governor::new(high_water),
            board,
            ready_at: now,
        }
    }

    /// Runs until told to stop: each round takes the commands and handed-over datagrams
    /// queued, reads a batch from the socket, sends what all that produced in batches, and
    /// only when a round found nothing to do blocks in `poll` until a datagram arrives, the
    /// doorbell rings or the rooms' next deadline.
    pub(super) fn run(mut self, mut poll: mio::Poll, outlet: Outlet) {
        tracing::debug!(worker = self.index, "media worker started");
        self.warm_up();
        let fd = self.socket.as_raw_fd();
        if let Err(e) = poll.registry().register(&mut mio::unix::SourceFd(&fd), SOCKET, mio::Interest::READABLE) {
            tracing::error!(error = %e, worker = self.index, "media worker cannot poll its socket");
            return;
        }
        let mut events = mio::Events::with_capacity(8);
        let mut inbox = Inbox::new();
        let mut pruned = Instant::now();
        // The window starts on this thread, with its CPU time.
        self.meter = Meter::new(Instant::now(), thread_cpu_time());
        // Whether the last read left datagrams behind, and when commands last had their turn.
        let mut backlog = false;
        let mut commands_at = Instant::now();
        'run: loop {
            let now = Instant::now();
            self.drive_timeouts(now);
            let mut busy = false;
            let commands_from = Instant::now();
            if !backlog || commands_from.saturating_duration_since(commands_at) >= COMMAND_PATIENCE {
                commands_at = commands_from;
                loop {
                    if busy && commands_from.elapsed() >= COMMAND_BUDGET {
                        // More may be waiting: `busy` keeps the worker awake for them.
                        break;
                    }
                    match outlet.commands.try_recv() {
                        Ok(Command::Stop) | Err(crossbeam_channel::TryRecvError::Disconnected) => break 'run,
                        Ok(cmd) => {
                            busy = true;
                            self.command(cmd);
                        }
                        Err(crossbeam_channel::TryRecvError::Empty) => break,
                    }
                }
            }
            for _ in 0..BATCH {
                let Ok(packet) = outlet.packets.try_recv() else { break };
                busy = true;
                let now = Instant::now();
                let media = is_rtp(&packet.contents);
                if media {
                    self.meter.waited(now.saturating_duration_since(packet.at));
                }
                let produced = self.produced;
                self.datagram(now, packet.proto, packet.source, &packet.contents);
                if media && self.produced > produced {
                    self.sojourns.arrived(packet.at);
                }
            }
            let read_at = Instant::now();
            backlog = false;
            match inbox.receive(&self.socket) {
                Ok(n) => {
                    backlog = n == BATCH;
                    // Only a full batch can have left datagrams behind; the socket is polled
                    // edge-triggered, so whatever arrives after this read wakes the poll
                    // (another read now would be one system call per wake-up for nothing).
                    busy |= n == BATCH;
                    for i in 0..n {
                        if let Some((source, contents)) = inbox.get(i) {
                            let now = Instant::now();
                            let media = is_rtp(contents);
                            let mut arrived = now;
                            if media {
                                let waited = inbox.waited(i, now);
                                let waited = waited.unwrap_or(now.saturating_duration_since(self.ready_at));
                                self.meter.waited(waited);
                                arrived = now.checked_sub(waited).unwrap_or(now);
                            }
                            let produced = self.produced;
                            self.inbound(now, source, contents);
                            if media && self.produced > produced {
                                self.sojourns.arrived(arrived);
                            }
                        }
                    }
                    // A full batch left datagrams behind: they have waited since before.
                    if n < BATCH {
                        self.ready_at = read_at;
                    }
                }
                // Nothing was waiting then: whatever comes next waits from there.
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.ready_at = read_at,
                Err(e) if e.kind() == ErrorKind::Interrupted => busy = true,
                // ICMP errors of earlier sends (a peer's port closed) surface here; go on.
                Err(e) => tracing::debug!(error = %e, "media socket read"),
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                let router = &self.router;
                self.foreign.retain(|_, (_, ufrag)| router.is_registered(ufrag));
                pruned = Instant::now();
            }
            self.measure();
            // The round's sends, together (see FLUSH_WITHIN).
            flush(&mut self.outbox, &self.socket);
            self.sojourns.sent(Instant::now());
            if busy {
                continue;
            }
            let now = Instant::now();
            let wait = self
                .rooms
                .values()
                .map(|s| s.deadline.saturating_duration_since(now))
                .min()
                .unwrap_or(IDLE_WAIT)
                .min(IDLE_WAIT);
            if wait.is_zero() || !self.router.may_sleep(self.index, &outlet) {
                continue;
            }
            if let Err(e) = poll.poll(&mut events, Some(wait)) {
                if e.kind() != ErrorKind::Interrupted {
                    tracing::error!(error = %e, "media worker poll");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            // What arrived while it slept woke it: it waited from now on.
            self.ready_at = self.ready_at.max(Instant::now());
            // Whatever woke it, the next round looks at everything.
            self.router.awake(self.index);
        }
        flush(&mut self.outbox, &self.socket);
        let ufrags: Vec<String> = self.ufrags.drain().map(|(u, _)| u).collect();
        self.router.unregister(ufrags);
    }

    /// Ends a measuring window when one is over: publishes the figures and sheds (or stops
    /// shedding) in every room as the governor says.
    fn measure(&mut self) {
        let now = Instant::now();
        let Some(sample) = self.meter.tick(now, thread_cpu_time) else { return };
        let overloaded = sample.overloaded(self.governor.marks());
        if let Some(level) = self.governor.observe(sample) {
            tracing::warn!(worker = self.index, ?sample, ?level, "media worker load: shedding level changed");
            let meetings: Vec<i64> = self.rooms.keys().copied().collect();
            for m in meetings {
                if let Some(slot) = self.rooms.get_mut(&m) {
                    slot.room.set_shedding(now, level);
                }
                self.drain(m);
            }
        }
        self.board.publish(self.index, sample, overloaded, self.governor.level());
        let messages = self.outbox.messages();
        self.messages_metric.increment(messages - self.messages_counted);
        self.messages_counted = messages;
    }

    /// A datagram read from this worker's socket: handled here if it is for one of this
    /// worker's rooms, handed over if it is for another worker's.
    fn inbound(&mut self, now: Instant, source: SocketAddr, contents: &[u8]) {
        if let Some(ufrag) = stun_local_ufrag(contents) {
            if self.ufrags.contains_key(ufrag) {
                self.foreign.remove(&source);
            } else if let Some(w) = self.router.worker_of(ufrag).filter(|w| *w != self.index) {
                // The path now belongs to a peer on another worker (the kernel chose this
                // socket for its address): hand it and what follows over.
                self.paths.remove(&(Proto::Udp, source));
                match self.foreign.get(&source) {
                    Some((known, u)) if *known == w && u == ufrag => {}
                    _ => {
                        self.foreign.insert(source, (w, ufrag.to_owned()));
                    }
                }
                self.hand_over(w, source, contents);
                return;
            }
        }
        if let Some(&(w, _)) = self.foreign.get(&source) {
            self.hand_over(w, source, contents);
            return;
        }
        self.datagram(now, Proto::Udp, source, contents);
    }

    fn hand_over(&self, worker: usize, source: SocketAddr, contents: &[u8]) {
        self.handed_over.increment(1);
        let packet = Packet { proto: Proto::Udp, source, contents: contents.to_vec(), at: Instant::now() };
        self.router.deliver(worker, packet);
    }

    /// The meeting a datagram is for (see [`Paths::route`]). The room then checks the STUN
    /// message integrity before it accepts a new path.
    fn meeting_of(&mut self, proto: Proto, source: SocketAddr, contents: &[u8]) -> Option<i64> {
        let ufrags = &self.ufrags;
        self.paths.route((proto, source), contents, |u| ufrags.get(u).copied())
    }

    fn datagram(&mut self, now: Instant, proto: Proto, source: SocketAddr, contents: &[u8]) {
        let Some(meeting) = self.meeting_of(proto, source, contents) else {
            metrics::counter!("media_datagrams_dropped_total", "reason" => "unknown_peer").increment(1);
            return;
        };
        let d = Datagram { proto, source, destination: self.candidate, contents };
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
                    self.produced += 1;
                    match t.proto {
                        Proto::Udp => {
                            self.outbox.push(t.destination, t.contents);
                            if self.outbox.len() >= BATCH {
                                flush(&mut self.outbox, &self.socket);
                            }
                        }
                        Proto::Tcp => self.tcp.send(t.destination, t.contents),
                    }
                }
                Output::Event(e) => {
                    if let Some(event) = events::translate(meeting, &slot.names, e) {
                        // The live meetings are gone only when the server stops.
                        let _ = self.events.send(MeetingEvent { meeting_id: meeting, event });
                    }
                }
                Output::Timeout(at) => {
                    slot.deadline = at;
                    break;
                }
            }
        }
        // Out with the rest of the round's (see `run`), or now if the first queued has
        // waited FLUSH_WITHIN. (One `sendmmsg` per datagram read paid a system call's fixed
        // cost for every three packets of a ten-person meeting.)
        if self.outbox.waited(Instant::now()) >= FLUSH_WITHIN {
            flush(&mut self.outbox, &self.socket);
            // Every packet handled so far is out in full (a flush inside the loop above may
            // have sent only part of this one's copies: those count at the next).
            self.sojourns.sent(Instant::now());
        }
        let forwarded = slot.room.forwarded_packets();
        if forwarded > slot.forwarded {
            self.forwarded_metric.increment(forwarded - slot.forwarded);
            slot.forwarded = forwarded;
        }
        if sent > 0 {
            self.sent.fetch_add(sent, Ordering::Relaxed);
            self.sent_metric.increment(sent);
        }
        // Recording copies go to the recorder's bounded queue, microphones to the captioner's:
        // both drop rather than wait.
        while let Some(mut p) = slot.room.poll_recorded() {
            let name: Arc<str> = slot.names.get(&p.participant).map_or("", String::as_str).into();
            if slot.captions {
                if let Some(captioner) = &self.captioner {
                    if p.source == Source::Microphone && p.codec == RecordedCodec::Opus {
                        let packet = AudioPacket {
                            participant: name.clone(),
                            seq: p.seq,
                            timestamp: p.timestamp,
                            payload: if slot.recording { p.payload.clone() } else { std::mem::take(&mut p.payload) },
                            arrived: p.arrived,
                        };
                        captioner.offer(meeting, packet);
                    }
                }
            }
            if slot.recording {
                self.recorder.offer(meeting, name, p);
            }
        }
    }

    /// Pays the one-off costs of a first join before anyone joins: a throwaway participant
    /// in a throwaway room. Without it the first person on a fresh worker waited while this
    /// thread seeded aws-lc's random generator from CPU jitter, the process validated its DTLS
    /// configuration (a trial key exchange on every curve) and started its pool of
    /// certificates — about 60 ms of the jitter seeding alone (perf, first join of `meeting10`).
    fn warm_up(&self) {
        let started = Instant::now();
        let mut room = Room::new(started, room_config(self.candidate, self.audible_speakers, self.forwarding));
        let id = ParticipantId(0);
        match room.add_participant(started, id) {
            Ok(()) => room.remove_participant(started, id),
            Err(e) => tracing::warn!(error = %e, worker = self.index, "media worker warm-up failed"),
        }
        tracing::debug!(worker = self.index, ms = started.elapsed().as_millis() as u64, "media worker warmed up");
    }

    fn slot(&mut self, meeting: i64) -> &mut Slot {
        let candidate = self.candidate;
        let audible_limit = self.audible_speakers;
        let forwarding = self.forwarding;
        let shedding = self.governor.level();
        self.rooms.entry(meeting).or_insert_with(|| {
            let now = Instant::now();
            let mut room = Room::new(now, room_config(candidate, audible_limit, forwarding));
            // A room opened on an overloaded worker sheds like the others there.
            room.set_shedding(now, shedding);
            Slot {
                room,
                ids: HashMap::new(),
                names: HashMap::new(),
                next: 0,
                deadline: now,
                forwarded: 0,
                recording: false,
                captions: false,
            }
        })
    }
}

/// What every room of a worker starts from: its candidates, how many microphones it forwards,
/// the downlink's estimate and whose transport carries media each way.
fn room_config(candidate: SocketAddr, audible_limit: usize, forwarding: Forwarding) -> RoomConfig {
    let mut config = RoomConfig::new(vec![(Proto::Udp, candidate), (Proto::Tcp, candidate)]);
    config.audible_limit = audible_limit;
    forwarding.apply(&mut config);
    config
}

/// Whether a datagram is RTP (media; RFC 7983's first-byte range minus RTCP's packet types),
/// the traffic whose queueing people notice.
fn is_rtp(d: &[u8]) -> bool {
    matches!(d, [128..=191, second, ..] if !(64..=95).contains(&(second & 0x7f)))
}

/// Sends what `outbox` holds, counting what the kernel refused.
fn flush(outbox: &mut Outbox, socket: &UdpSocket) {
    if outbox.len() == 0 {
        return;
    }
    let refused = outbox.flush(socket);
    if refused > 0 {
        metrics::counter!("media_datagrams_dropped_total", "reason" => "send_failed").increment(refused as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::is_rtp;

    #[test]
    fn media_packets_are_told_from_rtcp_stun_and_dtls() {
        assert!(is_rtp(&[0x80, 111, 0, 1]), "Opus");
        assert!(is_rtp(&[0x90, 96 | 0x80, 0, 1]), "VP8 with the marker bit and an extension");
        assert!(!is_rtp(&[0x80, 200, 0, 6]), "a sender report");
        assert!(!is_rtp(&[0x81, 205, 0, 4]), "transport feedback");
        assert!(!is_rtp(&[0x00, 0x01, 0, 0]), "STUN");
        assert!(!is_rtp(&[22, 254, 253]), "DTLS");
        assert!(!is_rtp(&[0x80]));
    }
}
