//! A subscriber connection whose packets go through Convene's own [`Transport`], while the
//! str0m `Rtc` beside it only writes and reads the SDP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::format::PayloadParams;
use str0m::media::{KeyframeRequest, KeyframeRequestKind, Mid, Pt};
use str0m::rtp::Extension;
use str0m::{Event, Rtc};

use super::rtcp::Feedback;
use super::{Certificate, IceCreds, PayloadPatch, RtpHeader, StreamIndex, Transport, TransportEvent};
use crate::codec::{vp8_renumber, Vp8Ids};
use crate::io::{Datagram, Proto, Transmit};
use crate::maps::Map;
use crate::packet_cache::Carried;

/// One m-line's outgoing stream.
struct LinkStream {
    index: StreamIndex,
    ssrc: u32,
    /// The publisher's payload type last seen and the subscriber's for it.
    pt: Option<(Pt, Pt)>,
    audio: bool,
    rtx: Option<u32>,
    /// The mid as the header extension writes it, read from the `Mid` once: its `str` view
    /// trims the padding on every call, which was ~2 % of the room's instructions per packet.
    mid: MidValue,
}

/// A mid's bytes kept in place (a `Mid` is at most 16 bytes).
#[derive(Clone, Copy)]
struct MidValue {
    len: u8,
    bytes: [u8; 16],
}

impl MidValue {
    fn of(mid: Mid) -> MidValue {
        let mut value = MidValue { len: 0, bytes: [0; 16] };
        let from = mid.as_bytes();
        let len = from.len().min(value.bytes.len());
        value.bytes[..len].copy_from_slice(&from[..len]);
        value.len = len as u8;
        value
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The header extension ids the subscriber's answer agreed to.
#[derive(Debug, Default, Clone, Copy)]
struct ExtensionIds {
    mid: Option<u8>,
    abs_send_time: Option<u8>,
    audio_level: Option<u8>,
    video_orientation: Option<u8>,
}

/// An m-line the answer opened: its mid, whether it is audio, and the resend history to keep
/// (packets, age; video only).
pub(crate) type Opened = (Mid, bool, Option<(usize, Duration)>);

/// What a drained link reports to its peer.
#[derive(Debug, Default)]
pub(crate) struct LinkDrained {
    pub(crate) events: Vec<Event>,
    pub(crate) connected: bool,
    pub(crate) failed: bool,
}

/// A subscriber's downlink on Convene's own transport.
pub(crate) struct Link {
    transport: Transport,
    streams: Map<Mid, LinkStream>,
    by_ssrc: Map<u32, Mid>,
    extensions: ExtensionIds,
    /// The origin of abs-send-time (any instant will do: the browser only differences it).
    epoch: Instant,
}

impl Link {
    /// A transport with the ICE credentials and certificate the `Rtc`'s SDP will name.
    pub(crate) fn new(
        now: Instant,
        creds: IceCreds,
        cert: &Certificate,
        local: &[(Proto, SocketAddr)],
    ) -> Option<Link> {
        Some(Link {
            transport: Transport::new(now, creds, cert, local)?,
            streams: Map::default(),
            by_ssrc: Map::default(),
            extensions: ExtensionIds::default(),
            epoch: now,
        })
    }

    /// Takes what the subscriber's accepted answer settled: its ICE credentials and
    /// certificate (the first answer; later ones renegotiate media only), and the streams
    /// of newly opened m-lines (`history`: what to keep for resends, video only).
    pub(crate) fn answered(&mut self, now: Instant, rtc: &mut Rtc, answer: &str, opened: &[Opened]) {
        // An answer of `passive` (str0m's; browsers answer `active`) makes us the client.
        let passive = answer.lines().any(|l| l.trim() == "a=setup:passive");
        set_remote_once(&mut self.transport, now, answer, passive);
        for &(mid, audio, history) in opened {
            if self.streams.contains_key(&mid) {
                continue;
            }
            let Some((ssrc, rtx)) =
                rtc.direct_api().stream_tx_by_mid(mid, None).map(|tx| (*tx.ssrc(), tx.rtx().map(|r| *r)))
            else {
                continue;
            };
            let Some(media) = rtc.media(mid) else { continue };
            let map = media.remote_extmap();
            self.extensions = ExtensionIds {
                mid: map.id_of(Extension::RtpMid),
                abs_send_time: map.id_of(Extension::AbsoluteSendTime),
                audio_level: map.id_of(Extension::AudioLevel).or(self.extensions.audio_level),
                video_orientation: map.id_of(Extension::VideoOrientation).or(self.extensions.video_orientation),
            };
            let clock_rate = if audio { 48_000 } else { 90_000 };
            // The RTX stream's payload type is known once the first packet's codec is; until
            // then the stream is added without it (see `send`).
            let index = self.transport.add_stream(ssrc, clock_rate, None, history);
            self.by_ssrc.insert(ssrc, mid);
            self.streams.insert(mid, LinkStream { index, ssrc, pt: None, audio, rtx, mid: MidValue::of(mid) });
        }
    }

    /// Forgets the payload type matched for `mid`'s stream: it carries another publisher's
    /// track now (a slot switched), whose numbering of the same codec may differ.
    pub(crate) fn forget_payload_type(&mut self, mid: Mid) {
        if let Some(stream) = self.streams.get_mut(&mid) {
            stream.pt = None;
        }
    }

    /// Sends one forwarded packet on `mid`'s stream: the payload type mapped to the
    /// subscriber's, the carried extension values written, a VP8 descriptor renumbered to
    /// `vp8`. False if the stream is unknown, the codec was not negotiated or the transport
    /// is not up.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send(
        &mut self,
        rtc: &Rtc,
        now: Instant,
        mid: Mid,
        params: &PayloadParams,
        (sequence, timestamp, marker): (u16, u32, bool),
        carried: Carried,
        payload: &Arc<[u8]>,
        vp8: Option<Vp8Ids>,
    ) -> bool {
        let Some(stream) = self.streams.get_mut(&mid) else { return false };
        let pt = match stream.pt {
            Some((from, to)) if from == params.pt() => to,
            _ => {
                let Some(matched) = rtc.codec_config().match_params(*params) else { return false };
                let to = matched.pt();
                if let (Some(rtx_ssrc), Some(rtx_pt)) = (stream.rtx, matched.resend()) {
                    self.transport.set_rtx(stream.index, rtx_ssrc, *rtx_pt);
                }
                stream.pt = Some((params.pt(), to));
                to
            }
        };
        // The header extensions this subscriber agreed to, with this packet's values.
        let ids = self.extensions;
        let abs = abs_send_time(now.saturating_duration_since(self.epoch));
        let voice = if carried.voice_activity.unwrap_or(false) { 0x80 } else { 0 };
        let level = carried.audio_level.filter(|_| stream.audio).map(|l| [voice | (l.unsigned_abs() & 0x7f)]);
        let orientation = carried.video_orientation.filter(|_| !stream.audio).map(|o| [o as u8]);
        let values: [(Option<u8>, Option<&[u8]>); 4] = [
            (ids.mid, Some(stream.mid.as_slice())),
            (ids.abs_send_time, Some(&abs)),
            (ids.audio_level, level.as_ref().map(|b| &b[..])),
            (ids.video_orientation, orientation.as_ref().map(|b| &b[..])),
        ];
        let mut list: [(u8, &[u8]); 4] = [(0, &[]); 4];
        let mut n = 0;
        for (id, bytes) in values {
            if let (Some(id), Some(bytes)) = (id, bytes) {
                list[n] = (id, bytes);
                n += 1;
            }
        }
        let header =
            RtpHeader { payload_type: *pt, marker, sequence, timestamp, ssrc: stream.ssrc, extensions: &list[..n] };
        let index = stream.index;
        let patch = match vp8 {
            Some(ids) => match vp8_renumber(payload, ids) {
                Some(patch) => patch,
                None => return false,
            },
            None => PayloadPatch::default(),
        };
        self.transport.send_rtp(now, index, &header, payload, patch)
    }

    /// Hands the datagrams of the sends just made to `transmit`; whether the link still
    /// needs a full [`Link::drain`] (see [`Transport::sent_only`]).
    pub(crate) fn hand_over_sent(&mut self, mut transmit: impl FnMut(Transmit)) -> bool {
        if !self.transport.sent_only() {
            return true;
        }
        while let Some(t) = self.transport.poll_transmit() {
            transmit(t);
        }
        false
    }

    /// Feeds a datagram routed to this connection.
    pub(crate) fn handle_receive(&mut self, now: Instant, d: &Datagram<'_>) -> bool {
        self.transport.handle_receive(now, d)
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.transport.handle_timeout(now);
    }

    /// When the link next needs a timeout.
    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        self.transport.poll_timeout()
    }

    /// Moves the transport's datagrams to `out` and turns its events into the str0m events
    /// the room already handles for subscribers.
    pub(crate) fn drain(&mut self, transmit: impl FnMut(Transmit)) -> LinkDrained {
        let mut drained = LinkDrained::default();
        let mut feedback = Vec::new();
        (drained.connected, drained.failed) = drain_transport(&mut self.transport, transmit, |f| feedback.push(f));
        for item in feedback {
            match item {
                Feedback::Pli { ssrc } => {
                    if let Some(&mid) = self.by_ssrc.get(&ssrc) {
                        let kind = KeyframeRequestKind::Pli;
                        drained.events.push(Event::KeyframeRequest(KeyframeRequest { mid, rid: None, kind }));
                    }
                }
                Feedback::Fir { ssrc, .. } => {
                    if let Some(&mid) = self.by_ssrc.get(&ssrc) {
                        let kind = KeyframeRequestKind::Fir;
                        drained.events.push(Event::KeyframeRequest(KeyframeRequest { mid, rid: None, kind }));
                    }
                }
                Feedback::Remb { bitrate_bps, ssrcs } => {
                    let mid = ssrcs.iter().find_map(|s| self.by_ssrc.get(s)).copied();
                    if let Some(mid) = mid {
                        let estimate = Bitrate::bps(bitrate_bps);
                        drained.events.push(Event::EgressBitrateEstimate(BweKind::Remb { estimate, mid }));
                    }
                }
                _ => {}
            }
        }
        drained
    }
}

/// Moves a transport's datagrams to `transmit` and its feedback to `feedback`; whether it came
/// up, and whether it ended (disconnected or failed). Both links drain their transport so.
pub(crate) fn drain_transport(
    transport: &mut Transport,
    mut transmit: impl FnMut(Transmit),
    mut feedback: impl FnMut(Feedback),
) -> (bool, bool) {
    let (mut connected, mut ended) = (false, false);
    while let Some(t) = transport.poll_transmit() {
        transmit(t);
    }
    while let Some(event) = transport.poll_event() {
        match event {
            TransportEvent::Connected => connected = true,
            TransportEvent::Disconnected | TransportEvent::Failed(_) => ended = true,
            TransportEvent::Feedback(f) => feedback(f),
        }
    }
    (connected, ended)
}

/// Gives `transport` the peer's ICE credentials and certificate fingerprint from its `sdp`,
/// once (later offers and answers renegotiate media only), as the DTLS client if `client`.
pub(crate) fn set_remote_once(transport: &mut Transport, now: Instant, sdp: &str, client: bool) {
    if transport.has_remote() {
        return;
    }
    if let (Some(creds), Some(fingerprint)) = (remote_ice_credentials(sdp), remote_fingerprint(sdp)) {
        transport.set_remote(now, creds, fingerprint, client);
    }
}

/// abs-send-time: 6.18 fixed-point seconds, 24 bits.
fn abs_send_time(since: Duration) -> [u8; 3] {
    let v = ((since.as_nanos() << 18) / 1_000_000_000) as u32 & 0x00ff_ffff;
    let b = v.to_be_bytes();
    [b[1], b[2], b[3]]
}

/// The session's `a=ice-ufrag` and `a=ice-pwd` (BUNDLE: every m-line carries the same).
fn remote_ice_credentials(sdp: &str) -> Option<IceCreds> {
    let value = |key: &str| {
        sdp.lines().find_map(|l| l.trim().strip_prefix(key)).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    };
    Some(IceCreds { ufrag: value("a=ice-ufrag:")?, pass: value("a=ice-pwd:")? })
}

/// The SHA-256 `a=fingerprint` of the answer's certificate (str0m keeps it to itself).
fn remote_fingerprint(sdp: &str) -> Option<Vec<u8>> {
    let hex = sdp.lines().find_map(|l| {
        let (func, value) = l.trim().strip_prefix("a=fingerprint:")?.split_once(' ')?;
        func.eq_ignore_ascii_case("sha-256").then_some(value.trim())
    })?;
    let bytes = hex.split(':').map(|b| u8::from_str_radix(b, 16).ok()).collect::<Option<Vec<u8>>>()?;
    (bytes.len() == 32).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abs_send_time_is_six_point_eighteen_seconds() {
        assert_eq!(abs_send_time(Duration::from_secs(1)), [0x04, 0x00, 0x00]);
        assert_eq!(abs_send_time(Duration::from_millis(500)), [0x02, 0x00, 0x00]);
        assert_eq!(abs_send_time(Duration::from_secs(64)), [0x00, 0x00, 0x00], "wraps every 64 s");
    }

    #[test]
    fn ice_credentials_come_from_the_answer() {
        let sdp =
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:abcd\r\na=ice-pwd:secretsecretsecretsecret\r\n";
        let creds = remote_ice_credentials(sdp).unwrap();
        assert_eq!((creds.ufrag.as_str(), creds.pass.as_str()), ("abcd", "secretsecretsecretsecret"));
        assert!(remote_ice_credentials("v=0\r\na=ice-ufrag:x\r\n").is_none());
    }

    #[test]
    fn the_fingerprint_comes_from_the_answer() {
        let hex: Vec<String> = (0..32).map(|b| format!("{b:02X}")).collect();
        let sdp = format!("v=0\r\na=fingerprint:sha-256 {}\r\n", hex.join(":"));
        assert_eq!(remote_fingerprint(&sdp), Some((0..32).collect()));
        assert_eq!(remote_fingerprint("a=fingerprint:sha-1 00:11\r\n"), None);
        assert_eq!(remote_fingerprint("a=fingerprint:sha-256 00:zz\r\n"), None);
    }
}
