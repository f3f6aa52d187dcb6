//! One simulated peer connection: a str0m `Rtc` in RTP mode on its own UDP socket, with an
//! optional media source (a publisher's microphone and simulcast camera) and an optional
//! sink (what a subscriber measures). The engine drives it; signaling applies SDP to it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use convene_testkit::peer::{ClientPeer, PeerOptions, Polled};
use rand::Rng;
use str0m::format::Codec;
use str0m::media::{Mid, Pt, Rid};
use str0m::net::Protocol;
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Event, IceConnectionState, Rtc};

use crate::probe::{wall_ns, Probe, Stream};
use crate::remb::Remb;
use crate::stats::StreamTracker;
use crate::synth::{self, Profile};

/// The simulcast rids, lowest first.
pub(crate) use convene_testkit::synth::RIDS;
const AUDIO_INTERVAL: Duration = Duration::from_millis(synth::AUDIO_INTERVAL_MS);
const VIDEO_INTERVAL: Duration = Duration::from_nanos(1_000_000_000 / synth::FPS);
/// A generator further behind than this skips ahead instead of bursting (and counts it).
const MAX_LAG: Duration = Duration::from_millis(100);

/// Measurement phases, shared by every sink of a run.
pub(crate) const PHASE_WARMUP: u8 = 0;
pub(crate) const PHASE_MEASURE: u8 = 1;

/// A publisher's synthetic microphone and camera.
pub(crate) struct Source {
    pub(crate) tag: u32,
    pub(crate) audio: Option<Mid>,
    pub(crate) video: Option<Mid>,
    /// Whether the microphone carries speech (RFC 6464 level −30 dBov) or the silence of an
    /// open microphone in a quiet room (−127): what an SFU that forwards only the loudest
    /// microphones decides by.
    pub(crate) talking: bool,
    profile: Profile,
    /// Set once the SFU's answer is applied; media flows once ICE + DTLS are up too.
    pub(crate) sending: bool,
    next_audio: Instant,
    next_video: Instant,
    frame: u32,
    audio_n: u32,
    /// RTP sequence numbers: audio, then each layer.
    rtp_seq: [u64; 4],
    /// Probe sequence numbers: audio, then each layer.
    probe_seq: [u32; 4],
    keyframe_wanted: [bool; 3],
    pts: Option<(Option<Pt>, Option<Pt>)>,
    /// When the first packet went out.
    pub(crate) started: Option<Instant>,
    pub(crate) packets: u64,
    pub(crate) keyframe_requests: u64,
    /// Intervals skipped because the generator fell more than 100 ms behind.
    pub(crate) lagged: u64,
}

impl Source {
    pub(crate) fn new(tag: u32, profile: Profile, now: Instant) -> Source {
        // Publishers start at random phases, as real ones do, so their packets do not all
        // arrive in the same microsecond.
        let mut rng = rand::thread_rng();
        Source {
            tag,
            audio: None,
            video: None,
            talking: true,
            profile,
            sending: false,
            next_audio: now + Duration::from_micros(rng.gen_range(0..20_000)),
            next_video: now + Duration::from_micros(rng.gen_range(0..33_000)),
            frame: rng.gen_range(0..0x7fff),
            audio_n: 0,
            rtp_seq: [1_000, 2_000, 3_000, 4_000],
            probe_seq: [0; 4],
            keyframe_wanted: [true; 3],
            pts: None,
            started: None,
            packets: 0,
            keyframe_requests: 0,
            lagged: 0,
        }
    }

    /// Skips ahead (and counts it) on each clock of a kind this source sends that is more
    /// than `MAX_LAG` behind. A kind it does not send has a clock nobody advances: counting
    /// it made every audio-only publisher look late ~8 times a second (the ~48,000 "lag
    /// events" a minute of the soaks up to bench/RESULTS.md's sixteenth pass).
    ///
    /// A clock skips by whole intervals, to its last tick at or before `now`: its phase stays.
    /// Setting it to `now` put every source that lagged in one stall (a hypervisor's steal,
    /// anything that stops the generator's thread) on the same phase for the rest of the run,
    /// so the server saw a hundred publishers' packets in bursts from then on — the latency
    /// step of the twenty-fifth pass's hour, which was the generator's, not the server's.
    fn skip_lag(&mut self, now: Instant) {
        if self.audio.is_some() && skip_whole_intervals(&mut self.next_audio, AUDIO_INTERVAL, now) {
            self.lagged += 1;
        }
        if self.video.is_some() && skip_whole_intervals(&mut self.next_video, VIDEO_INTERVAL, now) {
            self.lagged += 1;
        }
    }

    /// The packets due by `now`, their probes stamped by `stamp`: an Opus packet every 20 ms,
    /// a frame on every layer every 1/30 s (a keyframe where one was asked for).
    pub(crate) fn due(
        &mut self,
        now: Instant,
        opus: Option<Pt>,
        vp8: Option<Pt>,
        stamp: impl Fn() -> u64,
    ) -> Vec<Write> {
        let mut writes: Vec<Write> = Vec::new();
        if let (Some(mid), Some(pt)) = (self.audio, opus) {
            while self.next_audio <= now {
                self.next_audio += AUDIO_INTERVAL;
                let n = self.audio_n;
                self.audio_n = self.audio_n.wrapping_add(1);
                let probe = Probe { tag: self.tag, stream: Stream::Audio, seq: self.probe_seq[0], sent_ns: stamp() };
                self.probe_seq[0] += 1;
                writes.push((mid, None, pt, n.wrapping_mul(960), true, synth::opus_payload(&probe)));
            }
        }
        if let (Some(mid), Some(pt)) = (self.video, vp8) {
            while self.next_video <= now {
                self.next_video += VIDEO_INTERVAL;
                self.frame = self.frame.wrapping_add(1);
                for layer in 0..RIDS.len() {
                    let keyframe = std::mem::take(&mut self.keyframe_wanted[layer]);
                    let bytes = self.profile.frame_bytes(layer) * if keyframe { synth::KEYFRAME_FACTOR } else { 1 };
                    let probe = Probe {
                        tag: self.tag,
                        stream: Stream::Video(layer as u8),
                        seq: self.probe_seq[layer + 1],
                        sent_ns: stamp(),
                    };
                    let packets = synth::vp8_frame(self.frame as u16, keyframe, layer, bytes, probe);
                    self.probe_seq[layer + 1] += packets.len() as u32;
                    let count = packets.len();
                    for (i, p) in packets.into_iter().enumerate() {
                        writes.push((mid, Some(layer), pt, self.frame.wrapping_mul(3_000), i + 1 == count, p));
                    }
                }
            }
        }
        writes
    }

    /// Counts one RTP packet of the microphone (`layer` None) or a camera layer, and gives its
    /// sequence number, header extensions (the audio level says speech or silence) and rid.
    pub(crate) fn rtp_of(&mut self, layer: Option<usize>) -> (SeqNo, ExtensionValues, Option<Rid>) {
        let slot = layer.map_or(0, |l| l + 1);
        self.rtp_seq[slot] += 1;
        self.packets += 1;
        let ext = match layer {
            None => {
                let level = if self.talking { -30 } else { -127 };
                ExtensionValues { audio_level: Some(level), voice_activity: Some(self.talking), ..Default::default() }
            }
            Some(_) => ExtensionValues::default(),
        };
        (self.rtp_seq[slot].into(), ext, layer.map(|l| Rid::from(RIDS[l])))
    }

    /// Asks for a keyframe on the layer of `rid`, or on every layer.
    pub(crate) fn want_keyframe(&mut self, rid: Option<Rid>) {
        self.keyframe_requests += 1;
        match rid.and_then(|rid| RIDS.iter().position(|x| **x == *rid)) {
            Some(layer) => self.keyframe_wanted[layer] = true,
            None => self.keyframe_wanted = [true; 3],
        }
    }

    /// Moves the media clock past `now` without sending (the connection is not up yet).
    pub(crate) fn skip_to(&mut self, now: Instant) {
        while self.next_audio <= now {
            self.next_audio += AUDIO_INTERVAL;
        }
        while self.next_video <= now {
            self.next_video += VIDEO_INTERVAL;
        }
    }

    pub(crate) fn next_due(&self) -> Instant {
        match (self.audio.is_some(), self.video.is_some()) {
            (true, true) => self.next_audio.min(self.next_video),
            (true, false) => self.next_audio,
            (false, true) => self.next_video,
            (false, false) => Instant::now() + Duration::from_secs(3600),
        }
    }
}

/// What a subscriber connection received, counted only while the run measures.
pub(crate) struct Sink {
    phase: Arc<AtomicU8>,
    /// Whether the meeting has video publishers: then the first remote frame is a video
    /// keyframe, else the first audio packet.
    expect_video: bool,
    pub(crate) first_frame: Option<Instant>,
    /// The first remote video packet of any kind (the keyframe may come later).
    pub(crate) first_video: Option<Instant>,
    /// Per sender and kind (video = true): the layer now received and the tracker.
    pub(crate) streams: HashMap<(u32, bool), (Stream, StreamTracker)>,
    /// SFU-added latency of each measured packet, µs (kernel send-side stamp to kernel
    /// receive stamp).
    pub(crate) latency_us: Vec<u32>,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    /// Video packets received per simulcast layer.
    pub(crate) layer_packets: [u64; 3],
    /// RTP that carried no probe (never expected: counted to notice).
    pub(crate) foreign: u64,
    /// Set when the subscriber reports its own downlink estimate (REMB), as a browser does
    /// when the SFU leaves the estimating to it.
    pub(crate) remb: Option<Remb>,
}

impl Sink {
    pub(crate) fn new(phase: Arc<AtomicU8>, expect_video: bool) -> Sink {
        Sink {
            phase,
            expect_video,
            first_frame: None,
            first_video: None,
            streams: HashMap::new(),
            latency_us: Vec::new(),
            packets: 0,
            bytes: 0,
            layer_packets: [0; 3],
            foreign: 0,
            remb: None,
        }
    }

    /// The same, reporting what `remb` says (if anything) from its first video packet on.
    pub(crate) fn reporting_remb(mut self, remb: Option<Remb>) -> Sink {
        self.remb = remb;
        self
    }

    fn record(&mut self, now: Instant, recv_ns: u64, payload: &[u8], video: bool) {
        let Some(probe) = Probe::find(payload) else {
            self.foreign += 1;
            return;
        };
        if video {
            self.first_video.get_or_insert(now);
        }
        if self.first_frame.is_none() {
            let frame = if self.expect_video { video && synth::vp8_keyframe_start(payload) } else { !video };
            if frame {
                self.first_frame = Some(now);
            }
        }
        if self.phase.load(Ordering::Relaxed) != PHASE_MEASURE {
            return;
        }
        self.packets += 1;
        self.bytes += payload.len() as u64;
        if let Stream::Video(l) = probe.stream {
            self.layer_packets[usize::from(l.min(2))] += 1;
        }
        let latency = recv_ns.saturating_sub(probe.sent_ns) / 1_000;
        self.latency_us.push(latency.min(u64::from(u32::MAX)) as u32);
        let (layer, tracker) =
            self.streams.entry((probe.tag, video)).or_insert_with(|| (probe.stream, Default::default()));
        if *layer != probe.stream {
            tracker.close_segment();
            *layer = probe.stream;
        }
        tracker.record(probe.seq, probe.sent_ns, recv_ns, payload.len());
    }
}

/// The plain-UDP mode of the ceiling measurement: no ICE, DTLS, SRTP or RTP, just the
/// forwarder's header and the same payloads (see [`crate::ceiling`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plain {
    pub(crate) forwarder: SocketAddr,
    pub(crate) meeting: u32,
    pub(crate) participant: u32,
}

/// One packet to write: mid, video layer (None for audio), payload type, RTP timestamp,
/// marker bit, payload.
pub(crate) type Write = (Mid, Option<usize>, Pt, u32, bool, Vec<u8>);

/// One peer connection (the test kit's client peer) and its socket.
pub(crate) struct Peer {
    pub(crate) conn: ClientPeer,
    pub(crate) socket: mio::net::UdpSocket,
    local: SocketAddr,
    pub(crate) connected: bool,
    /// When the connection first came up, and when its first subscribe offer was answered
    /// (the join's stages, `JoinStages`).
    pub(crate) connected_at: Option<Instant>,
    pub(crate) answered_at: Option<Instant>,
    pub(crate) source: Option<Source>,
    pub(crate) sink: Option<Sink>,
    /// The wake-up the engine has queued for this peer.
    pub(crate) scheduled: Option<Instant>,
    pub(crate) send_errors: u64,
    /// Set for the ceiling's plain-UDP peers.
    pub(crate) plain: Option<Plain>,
}

impl Peer {
    /// A peer on a fresh UDP socket on `ip`. Without `twcc` the SDP offers no
    /// transport-wide sequence numbers (so the SFU gets no bandwidth feedback).
    pub(crate) fn new(now: Instant, ip: IpAddr, twcc: bool) -> crate::Result<Peer> {
        let std_socket = std::net::UdpSocket::bind((ip, 0))?;
        std_socket.set_nonblocking(true)?;
        crate::net::tune(&std_socket)?;
        let local = std_socket.local_addr()?;
        let conn = ClientPeer::udp(now, PeerOptions { twcc }, local).map_err(crate::Error::Rtc)?;
        Ok(Peer {
            conn,
            socket: mio::net::UdpSocket::from_std(std_socket),
            local,
            connected: false,
            connected_at: None,
            answered_at: None,
            source: None,
            sink: None,
            scheduled: None,
            send_errors: 0,
            plain: None,
        })
    }

    /// When the engine should next call [`Peer::tick`].
    pub(crate) fn next_wake(&self) -> Instant {
        if !self.conn.is_alive() {
            return Instant::now() + Duration::from_secs(3600);
        }
        let remb = self.sink.as_ref().and_then(|s| s.remb.as_ref()).and_then(Remb::next_due);
        let wake = remb.map_or(self.conn.timeout, |r| r.min(self.conn.timeout));
        match &self.source {
            Some(s) if s.sending && self.connected => wake.min(s.next_due()),
            _ => wake,
        }
    }

    /// A plain-UDP peer for the ceiling: connected from the start, str0m never used.
    pub(crate) fn plain(now: Instant, ip: IpAddr, plain: Plain) -> crate::Result<Peer> {
        let mut p = Peer::new(now, ip, false)?;
        p.plain = Some(plain);
        p.connected = true;
        p.conn.timeout = now + Duration::from_secs(3600);
        Ok(p)
    }

    /// Sends a ceiling header (a join) from this peer's socket.
    pub(crate) fn send_plain(&mut self, datagram: &[u8]) {
        if let Some(p) = self.plain {
            if self.socket.send_to(datagram, p.forwarder).is_err() {
                self.send_errors += 1;
            }
        }
    }

    /// Reads every datagram waiting on the socket into str0m.
    pub(crate) fn read_all(&mut self, buf: &mut [u8]) {
        loop {
            let (n, source, stamp) = match crate::net::recv_stamped(&self.socket, buf) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            if !self.conn.is_alive() {
                continue;
            }
            let now = Instant::now();
            let recv_ns = stamp.unwrap_or_else(wall_ns);
            if self.plain.is_some() {
                if let (Some(sink), Some((crate::ceiling::KIND_MEDIA, _, _, stream))) =
                    (self.sink.as_mut(), crate::ceiling::parse(&buf[..n]))
                {
                    sink.record(now, recv_ns, &buf[crate::ceiling::HEADER..n], stream != 0);
                }
                continue;
            }
            // str0m's arrival time is the kernel's, as a browser's network thread stamps a
            // packet when it reads it: the time this one-core generator was busy elsewhere
            // must not look like network delay to the SFU's bandwidth estimator (TWCC).
            let waited = Duration::from_nanos(wall_ns().saturating_sub(recv_ns));
            let arrived = now.checked_sub(waited).unwrap_or(now);
            if self.conn.receive(arrived, Protocol::Udp, source, self.local, &buf[..n]) {
                self.drain(now, recv_ns);
            }
        }
    }

    /// Time passed: str0m's timers, then the media that is due.
    pub(crate) fn tick(&mut self, now: Instant) {
        if !self.conn.is_alive() {
            return;
        }
        // A REMB asked for goes out with the feedback str0m writes as it handles a timeout.
        let rtc = &mut self.conn.rtc;
        let remb = self.sink.as_mut().and_then(|s| s.remb.as_mut()).is_some_and(|r| r.send_due(now, rtc));
        if (self.conn.timeout <= now || remb) && self.plain.is_none() {
            self.conn.handle_timeout(now);
            self.drain(now, 0);
        }
        if self.connected && self.source.as_ref().is_some_and(|s| s.sending) {
            self.send_media(now);
            self.drain(now, 0);
        }
    }

    /// Polls str0m until it wants a timeout; it needs a full drain after every input.
    pub(crate) fn drain(&mut self, now: Instant, recv_ns: u64) {
        let Peer { conn, socket, send_errors, connected, source, sink, .. } = self;
        conn.drain(|rtc, polled| match polled {
            Polled::Transmit(t) => {
                if socket.send_to(&t.contents, t.destination).is_err() {
                    *send_errors += 1;
                }
            }
            Polled::Event(e) => event(rtc, connected, source, sink, now, recv_ns, e),
        });
        if self.connected {
            self.connected_at.get_or_insert(now);
        }
    }

    /// Writes the audio packets and video frames that are due.
    fn send_media(&mut self, now: Instant) {
        let Some(s) = self.source.as_mut() else { return };
        if s.pts.is_none() {
            s.pts = Some((self.conn.pt(Codec::Opus), self.conn.pt(Codec::Vp8)));
        }
        let (opus, vp8) =
            if self.plain.is_some() { (Some(Pt::from(111)), Some(Pt::from(96))) } else { s.pts.unwrap_or_default() };
        s.started.get_or_insert(now);
        s.skip_lag(now);
        let writes = s.due(now, opus, vp8, wall_ns);
        for (mid, layer, pt, ts, marker, payload) in writes {
            let Some(s) = self.source.as_mut() else { return };
            if let Some(plain) = self.plain {
                s.packets += 1;
                let stream = layer.map_or(0, |l| l as u8 + 1);
                let header =
                    crate::ceiling::header(crate::ceiling::KIND_MEDIA, plain.meeting, plain.participant, stream);
                // The RTP header and SRTP tag an SFU would carry: keep the byte count alike.
                let mut d = Vec::with_capacity(header.len() + payload.len() + 12 + 10);
                d.extend_from_slice(&header);
                d.extend_from_slice(&payload);
                d.resize(d.len() + 12 + 10 - header.len(), 0);
                if self.socket.send_to(&d, plain.forwarder).is_err() {
                    self.send_errors += 1;
                }
                continue;
            }
            let (seq, ext, rid) = s.rtp_of(layer);
            let mut api = self.conn.rtc.direct_api();
            let Some(stream) = api.stream_tx_by_mid(mid, rid) else { continue };
            let write = RtpWrite::new(pt, seq, ts, now, payload).marker(marker).ext_vals(ext).nackable(layer.is_some());
            stream.write_rtp(write);
            // Encrypt and send each packet right away, so its probe time is its send time.
            self.drain(now, 0);
        }
    }
}

/// What a peer's connection reported: connection state, a keyframe request for its source,
/// an RTP packet for its sink.
fn event(
    rtc: &mut Rtc,
    connected: &mut bool,
    source: &mut Option<Source>,
    sink: &mut Option<Sink>,
    now: Instant,
    recv_ns: u64,
    e: Event,
) {
    match e {
        Event::Connected => *connected = true,
        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => *connected = false,
        Event::KeyframeRequest(r) => {
            if let Some(s) = source.as_mut() {
                s.want_keyframe(r.rid);
            }
        }
        Event::RtpPacket(p) => {
            if let Some(sink) = sink.as_mut() {
                let video = rtc
                    .codec_config()
                    .find(|c| c.pt() == p.header.payload_type)
                    .is_some_and(|c| !c.spec().codec.is_audio());
                let recv_ns = if recv_ns == 0 { wall_ns() } else { recv_ns };
                if let (true, Some(remb)) = (video, sink.remb.as_mut()) {
                    remb.saw(p.header.ssrc);
                }
                sink.record(now, recv_ns, &p.payload, video);
            }
        }
        _ => {}
    }
}

/// Moves a clock more than `MAX_LAG` behind `now` forward by whole `interval`s, to its last
/// tick at or before `now`; whether it was that far behind.
fn skip_whole_intervals(next: &mut Instant, interval: Duration, now: Instant) -> bool {
    if now <= *next + MAX_LAG {
        return false;
    }
    let ticks = (now - *next).as_nanos() / interval.as_nanos().max(1);
    *next += interval * u32::try_from(ticks).unwrap_or(u32::MAX);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_skips_whole_intervals_and_keeps_each_sources_phase() {
        let start = Instant::now();
        let mut a = Source::new(1, Profile::default(), start);
        let mut b = Source::new(2, Profile::default(), start);
        for s in [&mut a, &mut b] {
            s.audio = Some(Mid::from("0"));
            s.video = Some(Mid::from("1"));
        }
        (a.next_audio, a.next_video) = (start + Duration::from_millis(3), start + Duration::from_millis(5));
        (b.next_audio, b.next_video) = (start + Duration::from_millis(13), start + Duration::from_millis(21));
        // Both stopped for 370 ms (the generator's thread did not run).
        let now = start + Duration::from_millis(370);
        a.skip_lag(now);
        b.skip_lag(now);
        assert_eq!((a.lagged, b.lagged), (2, 2), "both clocks of both sources were behind");
        let phase = |next: Instant, interval: Duration| (next - start).as_nanos() % interval.as_nanos();
        for (s, audio0, video0) in [(&a, 3u64, 5u64), (&b, 13, 21)] {
            assert!(s.next_audio <= now && now - s.next_audio < AUDIO_INTERVAL, "the last audio tick by now");
            assert!(s.next_video <= now && now - s.next_video < VIDEO_INTERVAL, "the last video tick by now");
            assert_eq!(phase(s.next_audio, AUDIO_INTERVAL), u128::from(audio0) * 1_000_000, "audio phase kept");
            assert_eq!(phase(s.next_video, VIDEO_INTERVAL), u128::from(video0) * 1_000_000, "video phase kept");
        }
        assert_ne!(a.next_video, b.next_video, "not lined up on one instant");
        // One tick is due now, not the 370 ms missed.
        let (audio_n, frame) = (a.audio_n, a.frame);
        a.due(now, Some(Pt::from(111)), Some(Pt::from(96)), || 0);
        assert_eq!(
            (a.audio_n.wrapping_sub(audio_n), a.frame.wrapping_sub(frame)),
            (1, 1),
            "one Opus packet, one frame"
        );
    }

    #[test]
    fn only_the_clocks_of_what_a_source_sends_can_lag() {
        let start = Instant::now();
        let mut s = Source::new(1, Profile::default(), start);
        s.audio = Some(Mid::from("0"));
        for step in 1..=50u32 {
            let now = start + AUDIO_INTERVAL * step;
            s.skip_lag(now);
            s.next_audio = now + AUDIO_INTERVAL;
        }
        assert_eq!(s.lagged, 0, "an audio-only source kept on time is never late");
        s.skip_lag(start + AUDIO_INTERVAL * 51 + MAX_LAG * 2);
        assert_eq!(s.lagged, 1, "its audio clock 200 ms behind is");
    }
}
