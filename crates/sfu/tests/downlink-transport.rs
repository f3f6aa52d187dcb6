//! The downlink transport of Convene's own against a real WebRTC peer (str0m as the browser):
//! ICE-lite, DTLS-SRTP, media and feedback on simulated time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use convene_sfu::downlink::rtcp::Feedback;
use std::sync::Arc;

use convene_sfu::downlink::{Certificate, PayloadPatch, RtpHeader, StreamIndex, Transport, TransportEvent};
use convene_sfu::{Datagram, Proto};
use str0m::config::Fingerprint;
use str0m::ice::IceCreds;
use str0m::media::{KeyframeRequestKind, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

const SERVER: &str = "10.0.0.1:4000";
const CLIENT: &str = "10.0.0.2:5000";
const SSRC: u32 = 0x1234_5678;
const RTX_SSRC: u32 = 0x1234_5679;
const RTX_PT: u8 = 97;

struct Pair {
    now: Instant,
    server: Transport,
    stream: StreamIndex,
    client: Rtc,
    server_events: Vec<TransportEvent>,
    client_events: Vec<Event>,
}

fn payload_of(bytes: impl AsRef<[u8]>) -> Arc<[u8]> {
    Arc::from(bytes.as_ref())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A browser-like str0m peer (ICE controlling, DTLS client) and our transport, introduced as
/// their SDPs would: each knows the other's ICE credentials and certificate fingerprint.
fn pair(tamper_fingerprint: bool) -> Pair {
    pair_with(tamper_fingerprint, false)
}

/// `dtls_client`: the transport opens the handshake (the peer answered `a=setup:passive`).
fn pair_with(tamper_fingerprint: bool, dtls_client: bool) -> Pair {
    let (mut pair, remote) = unanswered(tamper_fingerprint, dtls_client);
    pair.answer(remote);
    pair
}

/// What the peer's answer tells the transport: its ICE credentials, its certificate's
/// fingerprint, and whether the transport is the DTLS client.
type Answer = (convene_sfu::downlink::IceCreds, Vec<u8>, bool);

/// A pair whose transport has not had the peer's answer yet.
fn unanswered(tamper_fingerprint: bool, dtls_client: bool) -> (Pair, Answer) {
    let now = Instant::now();
    let cert = Certificate::generate().expect("certificate");
    let server_creds = IceCreds { ufrag: "srvufrag".into(), pass: "serverpasswordserverpass".into() };
    let mut server = Transport::new(
        now,
        convene_sfu::downlink::IceCreds { ufrag: server_creds.ufrag.clone(), pass: server_creds.pass.clone() },
        &cert,
        &[(Proto::Udp, addr(SERVER))],
    )
    .expect("transport");

    let mut client = Rtc::builder().set_rtp_mode(true).build(now);
    client.add_local_candidate(Candidate::host(addr(CLIENT), "udp").unwrap()).unwrap();
    client.add_remote_candidate(Candidate::host(addr(SERVER), "udp").unwrap());
    let client_creds = client.direct_api().local_ice_credentials();
    let client_fingerprint = client.direct_api().local_dtls_fingerprint().bytes.clone();
    let mut api = client.direct_api();
    api.set_remote_ice_credentials(server_creds);
    api.set_ice_controlling(true);
    api.set_remote_fingerprint(Fingerprint { hash_func: "sha-256".into(), bytes: cert.fingerprint().to_vec() });
    api.start_dtls(!dtls_client).unwrap();
    api.declare_media("0".into(), MediaKind::Video);
    api.expect_stream_rx(SSRC.into(), Some(RTX_SSRC.into()), "0".into(), None);

    let mut remote = client_fingerprint;
    if tamper_fingerprint {
        // The server must refuse a certificate its SDP did not name.
        remote[0] ^= 1;
    }
    let answer =
        (convene_sfu::downlink::IceCreds { ufrag: client_creds.ufrag, pass: client_creds.pass }, remote, dtls_client);
    let stream = server.add_stream(SSRC, 90_000, Some((RTX_SSRC, RTX_PT)), Some((256, Duration::from_millis(500))));
    (Pair { now, server, stream, client, server_events: Vec::new(), client_events: Vec::new() }, answer)
}

impl Pair {
    fn answer(&mut self, (creds, fingerprint, dtls_client): Answer) {
        self.server.set_remote(self.now, creds, fingerprint, dtls_client);
    }

    /// Moves packets both ways and advances time by `step` until nothing is left to do now.
    fn step(&mut self, step: Duration) {
        for _ in 0..50 {
            let mut moved = false;
            while let Some(t) = self.server.poll_transmit() {
                moved = true;
                assert_eq!(t.destination, addr(CLIENT));
                let receive = Receive {
                    proto: Protocol::Udp,
                    source: t.source,
                    destination: t.destination,
                    contents: t.contents.as_slice().try_into().expect("a packet str0m recognises"),
                };
                self.client.handle_input(Input::Receive(self.now, receive)).expect("client takes it");
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            let client_deadline = loop {
                match self.client.poll_output().expect("client output") {
                    Output::Transmit(t) => {
                        moved = true;
                        let d = Datagram {
                            proto: Proto::Udp,
                            source: t.source,
                            destination: t.destination,
                            contents: &t.contents,
                        };
                        self.server.handle_receive(self.now, &d);
                    }
                    Output::Event(e) => self.client_events.push(e),
                    Output::Timeout(at) => break at,
                }
            };
            if !moved {
                self.now += step;
                if client_deadline <= self.now {
                    self.client.handle_input(Input::Timeout(self.now)).unwrap();
                }
                if self.server.poll_timeout().is_some_and(|at| at <= self.now) {
                    self.server.handle_timeout(self.now);
                }
                return;
            }
        }
    }

    fn connect(&mut self) {
        for _ in 0..400 {
            self.step(Duration::from_millis(5));
            if self.server.is_connected() && self.client.is_connected() {
                return;
            }
        }
        panic!("no connection: server events {:?}", self.server_events);
    }
}

#[test]
fn a_webrtc_peer_connects_and_receives_media_it_can_decrypt() {
    let mut p = pair(false);
    p.connect();
    assert!(p.server_events.contains(&TransportEvent::Connected));

    for i in 0..20u16 {
        let payload = [i as u8; 200];
        let header = RtpHeader {
            payload_type: 96,
            marker: i % 5 == 4,
            sequence: 1000 + i,
            timestamp: 90_000 + u32::from(i / 5) * 3000,
            ssrc: SSRC,
            extensions: &[],
        };
        assert!(p.server.send_rtp(p.now, p.stream, &header, &payload_of(payload), PayloadPatch::default()));
        p.step(Duration::from_millis(1));
    }
    p.step(Duration::from_millis(1));
    let got: Vec<_> = p
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::RtpPacket(packet) => Some(packet),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 20, "every packet decrypted by the peer");
    for (i, packet) in got.iter().enumerate() {
        assert_eq!(packet.header.sequence_number, 1000 + i as u16);
        assert_eq!(packet.header.ssrc, SSRC.into());
        assert_eq!(&packet.payload[..], &[i as u8; 200][..]);
    }
    assert_eq!(p.server.stats().rtp_sent, 20);
}

#[test]
fn the_peers_keyframe_requests_reach_the_server_through_srtcp() {
    let mut p = pair(false);
    p.connect();
    let header =
        RtpHeader { payload_type: 96, marker: true, sequence: 1, timestamp: 3000, ssrc: SSRC, extensions: &[] };
    assert!(p.server.send_rtp(p.now, p.stream, &header, &payload_of([1; 100]), PayloadPatch::default()));
    for _ in 0..5 {
        p.step(Duration::from_millis(1));
    }
    p.client
        .direct_api()
        .stream_rx(&SSRC.into())
        .expect("the peer's receive stream")
        .request_keyframe(KeyframeRequestKind::Pli);
    for _ in 0..200 {
        p.step(Duration::from_millis(5));
        if p.server_events
            .iter()
            .any(|e| matches!(e, TransportEvent::Feedback(Feedback::Pli { ssrc }) if *ssrc == SSRC))
        {
            return;
        }
    }
    panic!("no PLI reached the server: {:?}", p.server_events);
}

#[test]
fn a_certificate_the_sdp_did_not_name_fails_the_transport() {
    let mut p = pair(true);
    for _ in 0..200 {
        p.step(Duration::from_millis(5));
        if p.server_events.iter().any(|e| matches!(e, TransportEvent::Failed(_))) {
            assert!(!p.server.is_connected());
            let header =
                RtpHeader { payload_type: 96, marker: true, sequence: 1, timestamp: 1, ssrc: SSRC, extensions: &[] };
            assert!(
                !p.server.send_rtp(p.now, p.stream, &header, &payload_of([0; 10]), PayloadPatch::default()),
                "nothing is sent on a failed transport"
            );
            return;
        }
    }
    panic!("the wrong certificate was accepted: {:?}", p.server_events);
}

#[test]
fn garbage_is_counted_and_never_fatal() {
    let mut p = pair(false);
    p.connect();
    let junk: [&[u8]; 5] = [&[], &[0xff; 3], &[0x80, 200, 0, 1], &[22, 254, 253, 0, 0], &[0x90; 40]];
    for j in junk {
        let d = Datagram { proto: Proto::Udp, source: addr(CLIENT), destination: addr(SERVER), contents: j };
        p.server.handle_receive(p.now, &d);
    }
    assert!(p.server.stats().unknown_dropped + p.server.stats().srtp_rejected >= 3);
    let header = RtpHeader { payload_type: 96, marker: true, sequence: 7, timestamp: 7, ssrc: SSRC, extensions: &[] };
    assert!(
        p.server.send_rtp(p.now, p.stream, &header, &payload_of([7; 10]), PayloadPatch::default()),
        "still connected"
    );
}

#[test]
fn a_lost_packet_is_resent_on_rtx_when_the_peer_nacks_it() {
    let mut p = pair(false);
    p.connect();
    // Sequence 102 is "lost": sent (so it is kept for resends) but never delivered.
    for seq in 100..110u16 {
        let header = RtpHeader {
            payload_type: 96,
            marker: true,
            sequence: seq,
            timestamp: u32::from(seq) * 3000,
            ssrc: SSRC,
            extensions: &[],
        };
        // This subscriber's copy of 102 has its first byte changed (as a VP8 renumbering
        // does): the resend must carry the change too.
        let mut patch = PayloadPatch::default();
        if seq == 102 {
            patch.set(0, 0xee);
        }
        assert!(p.server.send_rtp(p.now, p.stream, &header, &payload_of([seq as u8; 300]), patch));
        if seq == 102 {
            let lost = p.server.poll_transmit().expect("the packet to lose");
            assert!(lost.contents.len() > 300);
        }
        p.step(Duration::from_millis(10));
    }
    for _ in 0..100 {
        p.step(Duration::from_millis(5));
        let recovered = p.client_events.iter().any(|e| {
            matches!(e, Event::RtpPacket(packet) if packet.header.sequence_number == 102 && packet.payload[0] == 0xee && packet.payload[1..] == [102u8; 299][..])
        });
        if recovered {
            assert!(p.server.stats().rtx_sent >= 1);
            return;
        }
    }
    panic!("102 was not recovered; rtx sent {}", p.server.stats().rtx_sent);
}

#[test]
fn the_transport_opens_the_dtls_handshake_when_the_peer_answered_passive() {
    let mut p = pair_with(false, true);
    p.connect();
    let header = RtpHeader { payload_type: 96, marker: true, sequence: 9, timestamp: 9, ssrc: SSRC, extensions: &[] };
    assert!(p.server.send_rtp(p.now, p.stream, &header, &payload_of([9; 50]), PayloadPatch::default()));
    p.step(Duration::from_millis(1));
    let got =
        p.client_events.iter().any(|e| matches!(e, Event::RtpPacket(packet) if packet.payload[..] == [9u8; 50][..]));
    assert!(got, "media decrypts with the keys of the other DTLS role");
}

#[test]
fn checks_that_came_before_the_answer_are_answered_when_it_comes() {
    // The browser has the server's credentials from the offer and starts its checks at once;
    // its answer reaches the room later, over the signaling socket.
    let (mut p, answer) = unanswered(false, false);
    for _ in 0..20 {
        p.step(Duration::from_millis(1));
    }
    assert!(!p.client.is_connected(), "no check answered without the peer's credentials");
    p.answer(answer);
    let answered = p.now;
    while !(p.server.is_connected() && p.client.is_connected()) {
        assert!(p.now - answered < Duration::from_millis(10), "connected {:?} after the answer", p.now - answered);
        p.step(Duration::from_millis(1));
    }
}
