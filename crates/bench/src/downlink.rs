//! `convene-bench downlink`: what one forwarded packet costs on a subscriber's connection —
//! str0m's `Rtc` (as Convene's subscribers use it today) against Convene's own downlink
//! transport — in process, on simulated time, each connected to a str0m peer as the browser.
//!
//! Only the server side's calls are timed: writing the packet, draining what is to be sent,
//! and the timeouts the connection asks for. RTP is not delivered to the peers (they would
//! only add bench time); STUN, DTLS and RTCP are, so consent checks and reports run as live.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::sync::Arc;

use convene_sfu::downlink::{Certificate, IceCreds, PayloadPatch, RtpHeader, StreamIndex, Transport};
use convene_sfu::{Datagram, Proto};
use str0m::config::Fingerprint;
use str0m::media::{MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, Ssrc};
use str0m::{Candidate, Input, Output, Rtc};

use crate::{Error, Result};

/// Stream `k`'s SSRC and its RTX SSRC.
fn ssrc(k: usize) -> u32 {
    0x5151_0000 + 2 * k as u32
}
fn rtx_ssrc(k: usize) -> u32 {
    ssrc(k) + 1
}
const PT: u8 = 96;
const RTX_PT: u8 = 97;

/// What was measured for one kind of downlink.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    /// Packets handed to the connections (one per subscriber per source packet).
    pub packets: u64,
    /// Time spent in the server side's calls.
    pub spent: Duration,
    /// Datagrams the server side put out (media, RTCP, STUN answers).
    pub datagrams: u64,
}

impl Measure {
    /// Microseconds per forwarded packet.
    pub fn micros_per_packet(&self) -> f64 {
        self.spent.as_secs_f64() * 1e6 / self.packets.max(1) as f64
    }
}

/// The two sides of one subscriber connection.
trait Downlink {
    fn send(&mut self, now: Instant, stream: usize, seq: u16, ts: u32, marker: bool, payload: &Arc<[u8]>);
    /// Hands every datagram to `out`; returns when the server side next wants a timeout.
    fn drain(&mut self, now: Instant, out: &mut Vec<(SocketAddr, SocketAddr, Vec<u8>)>) -> Option<Instant>;
    fn timeout(&mut self, now: Instant);
    fn receive(&mut self, now: Instant, source: SocketAddr, destination: SocketAddr, data: &[u8]);
}

struct Own {
    transport: Transport,
    streams: Vec<StreamIndex>,
}

impl Downlink for Own {
    fn send(&mut self, now: Instant, stream: usize, seq: u16, ts: u32, marker: bool, payload: &Arc<[u8]>) {
        let header = RtpHeader { payload_type: PT, marker, sequence: seq, timestamp: ts, ssrc: 0, extensions: &[] };
        self.transport.send_rtp(now, self.streams[stream], &header, payload, PayloadPatch::default());
    }
    fn drain(&mut self, _now: Instant, out: &mut Vec<(SocketAddr, SocketAddr, Vec<u8>)>) -> Option<Instant> {
        while let Some(t) = self.transport.poll_transmit() {
            out.push((t.source, t.destination, t.contents));
        }
        while self.transport.poll_event().is_some() {}
        self.transport.poll_timeout()
    }
    fn timeout(&mut self, now: Instant) {
        self.transport.handle_timeout(now);
    }
    fn receive(&mut self, now: Instant, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        let d = Datagram { proto: Proto::Udp, source, destination, contents: data };
        self.transport.handle_receive(now, &d);
    }
}

struct Str0m {
    rtc: Rtc,
    mids: Vec<Mid>,
}

impl Downlink for Str0m {
    fn send(&mut self, now: Instant, stream: usize, seq: u16, ts: u32, marker: bool, payload: &Arc<[u8]>) {
        // As the room writes a forwarded packet: the shared payload.
        let write =
            RtpWrite::new(PT.into(), u64::from(seq).into(), ts, now, payload.clone()).marker(marker).nackable(true);
        if let Some(tx) = self.rtc.direct_api().stream_tx_by_mid(self.mids[stream], None) {
            tx.write_rtp(write);
        }
    }
    fn drain(&mut self, _now: Instant, out: &mut Vec<(SocketAddr, SocketAddr, Vec<u8>)>) -> Option<Instant> {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Transmit(t)) => out.push((t.source, t.destination, t.contents.into())),
                Ok(Output::Event(_)) => {}
                Ok(Output::Timeout(at)) => return Some(at),
                Err(_) => return None,
            }
        }
    }
    fn timeout(&mut self, now: Instant) {
        let _ = self.rtc.handle_input(Input::Timeout(now));
    }
    fn receive(&mut self, now: Instant, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        if let Ok(contents) = data.try_into() {
            let r = Receive { proto: Protocol::Udp, source, destination, contents };
            let _ = self.rtc.handle_input(Input::Receive(now, r));
        }
    }
}

/// One subscriber: the server side under test and a str0m peer as its browser.
struct Subscriber {
    server: Box<dyn Downlink>,
    peer: Rtc,
    server_timeout: Option<Instant>,
    peer_timeout: Instant,
}

fn addr(i: usize, server: bool) -> SocketAddr {
    let host = if server { 1 } else { 2 };
    SocketAddr::from(([10, 0, (i / 250) as u8, host], 10_000 + (i % 250) as u16))
}

/// A str0m peer that receives one video stream (with RTX) on mid "0", controlling ICE and
/// the DTLS client, as a browser answering Convene's offer is.
fn peer(now: Instant, i: usize, streams: usize, server_creds: IceCreds, server_fingerprint: Vec<u8>) -> Result<Rtc> {
    let mut rtc = Rtc::builder().set_rtp_mode(true).set_crypto_provider(convene_dtls::crypto_provider()).build(now);
    let fail = |e: String| Error::Setup(format!("downlink peer: {e}"));
    rtc.add_local_candidate(Candidate::host(addr(i, false), "udp").map_err(|e| fail(e.to_string()))?);
    rtc.add_remote_candidate(Candidate::host(addr(i, true), "udp").map_err(|e| fail(e.to_string()))?);
    let mut api = rtc.direct_api();
    api.set_remote_ice_credentials(str0m::IceCreds { ufrag: server_creds.ufrag, pass: server_creds.pass });
    api.set_ice_controlling(true);
    api.set_remote_fingerprint(Fingerprint { hash_func: "sha-256".into(), bytes: server_fingerprint });
    api.start_dtls(true).map_err(|e| fail(e.to_string()))?;
    for k in 0..streams {
        let mid: Mid = k.to_string().as_str().into();
        api.declare_media(mid, MediaKind::Video);
        api.expect_stream_rx(ssrc(k).into(), Some(rtx_ssrc(k).into()), mid, None);
    }
    Ok(rtc)
}

fn own(now: Instant, i: usize, streams: usize, cert: &Certificate) -> Result<Subscriber> {
    let creds = IceCreds { ufrag: format!("own{i:05}"), pass: format!("ownpassword{i:013}") };
    let mut transport = Transport::new(now, creds.clone(), cert, &[(Proto::Udp, addr(i, true))])
        .ok_or_else(|| Error::Setup("downlink transport".into()))?;
    let mut peer = peer(now, i, streams, creds, cert.fingerprint().to_vec())?;
    let peer_creds = peer.direct_api().local_ice_credentials();
    let peer_fingerprint = peer.direct_api().local_dtls_fingerprint().bytes.clone();
    transport.set_remote(now, IceCreds { ufrag: peer_creds.ufrag, pass: peer_creds.pass }, peer_fingerprint, false);
    let history = Some((256, Duration::from_millis(500)));
    let streams =
        (0..streams).map(|k| transport.add_stream(ssrc(k), 90_000, Some((rtx_ssrc(k), RTX_PT)), history)).collect();
    Ok(Subscriber { server: Box::new(Own { transport, streams }), peer, server_timeout: Some(now), peer_timeout: now })
}

/// A str0m `Rtc` set up as Convene's subscriber connection is with `--downlink-estimate remb`
/// (ICE-lite, RTP mode, no estimator or pacer, 256 packets of history for 500 ms).
fn str0m(now: Instant, i: usize, streams: usize) -> Result<Subscriber> {
    let fail = |e: String| Error::Setup(format!("str0m downlink: {e}"));
    let mut rtc = Rtc::builder()
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .set_send_buffer_video(256)
        .set_crypto_provider(convene_dtls::crypto_provider())
        .build(now);
    rtc.add_local_candidate(Candidate::host(addr(i, true), "udp").map_err(|e| fail(e.to_string()))?);
    let creds = rtc.direct_api().local_ice_credentials();
    let fingerprint = rtc.direct_api().local_dtls_fingerprint().bytes.clone();
    let mut peer = peer(now, i, streams, IceCreds { ufrag: creds.ufrag, pass: creds.pass }, fingerprint)?;
    let peer_creds = peer.direct_api().local_ice_credentials();
    let peer_fingerprint = peer.direct_api().local_dtls_fingerprint().clone();
    let mut api = rtc.direct_api();
    api.set_remote_ice_credentials(peer_creds);
    api.set_ice_controlling(false);
    api.set_remote_fingerprint(peer_fingerprint);
    api.start_dtls(false).map_err(|e| fail(e.to_string()))?;
    let mut mids = Vec::new();
    for k in 0..streams {
        let mid: Mid = k.to_string().as_str().into();
        api.declare_media(mid, MediaKind::Video);
        let tx = api.declare_stream_tx(Ssrc::from(ssrc(k)), Some(Ssrc::from(rtx_ssrc(k))), mid, None);
        tx.set_rtx_cache(256, Duration::from_millis(500), Some(0.3));
        mids.push(mid);
    }
    Ok(Subscriber { server: Box::new(Str0m { rtc, mids }), peer, server_timeout: Some(now), peer_timeout: now })
}

/// RTP (not RTCP): what the bench does not deliver to the peers.
fn is_rtp(data: &[u8]) -> bool {
    matches!(data, [128..=191, second, ..] if !(192..=223).contains(second))
}

/// Runs `subscribers` connections of one kind, each sending `streams` streams: `rate` source
/// packets a second of `payload` bytes each (taking turns among the streams), fanned out to
/// every subscriber, for `seconds` after they connected.
pub fn measure(
    own_transport: bool,
    subscribers: usize,
    streams: usize,
    rate: u32,
    payload: usize,
    seconds: u64,
) -> Result<Measure> {
    let streams = streams.max(1);
    let start = Instant::now();
    let cert = Certificate::generate().ok_or_else(|| Error::Setup("certificate".into()))?;
    let mut subs = (0..subscribers)
        .map(|i| if own_transport { own(start, i, streams, &cert) } else { str0m(start, i, streams) })
        .collect::<Result<Vec<_>>>()?;
    let mut now = start;
    let mut out = Vec::new();
    let mut measure = Measure { packets: 0, spent: Duration::ZERO, datagrams: 0 };
    let step = Duration::from_secs(1) / rate;
    let connect_for = Duration::from_secs(2);
    let end = start + connect_for + Duration::from_secs(seconds);
    let body: Arc<[u8]> = Arc::from(vec![0x5a; payload]);
    let mut n: u64 = 0;
    while now < end {
        let timing = now >= start + connect_for;
        n += 1;
        let stream = (n % streams as u64) as usize;
        let seq = (n / streams as u64) as u16;
        let ts = u32::from(seq) * 90;
        for sub in &mut subs {
            let began = Instant::now();
            if timing {
                sub.server.send(now, stream, seq, ts, seq.is_multiple_of(4), &body);
            }
            if sub.server_timeout.is_some_and(|at| at <= now) {
                sub.server.timeout(now);
            }
            out.clear();
            sub.server_timeout = sub.server.drain(now, &mut out);
            if timing {
                measure.spent += began.elapsed();
                measure.packets += 1;
                measure.datagrams += out.len() as u64;
            }
            for (source, destination, data) in out.drain(..) {
                if !is_rtp(&data) {
                    let r = Receive {
                        proto: Protocol::Udp,
                        source,
                        destination,
                        contents: data.as_slice().try_into().map_err(|_| Error::Setup("datagram".into()))?,
                    };
                    let _ = sub.peer.handle_input(Input::Receive(now, r));
                }
            }
            if sub.peer_timeout <= now {
                let _ = sub.peer.handle_input(Input::Timeout(now));
            }
            let mut answers = Vec::new();
            loop {
                match sub.peer.poll_output() {
                    Ok(Output::Transmit(t)) => answers.push((t.source, t.destination, Vec::from(t.contents))),
                    Ok(Output::Event(_)) => {}
                    Ok(Output::Timeout(at)) => {
                        sub.peer_timeout = at;
                        break;
                    }
                    Err(_) => break,
                }
            }
            // The peer's packets reach the server side, timed: taking them is its work.
            let began = Instant::now();
            for (source, destination, data) in &answers {
                sub.server.receive(now, *source, *destination, data);
            }
            if timing {
                measure.spent += began.elapsed();
            }
        }
        now += step;
    }
    Ok(measure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_downlinks_connect_and_put_every_packet_on_the_wire() {
        for own_transport in [false, true] {
            let m = measure(own_transport, 2, 4, 500, 300, 1).expect("measured");
            assert_eq!(m.packets, 1000, "two subscribers, 500 packets each");
            // Every packet went out (sent only once connected), besides STUN answers and reports.
            assert!(m.datagrams >= m.packets, "own={own_transport}: {} datagrams", m.datagrams);
            assert!(m.spent > Duration::ZERO);
        }
    }
}
