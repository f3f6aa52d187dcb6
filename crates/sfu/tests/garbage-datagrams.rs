//! Datagrams from strangers and malformed ones are dropped and counted; the room carries on.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{opus, Packet, Sim, SERVER};
use convene_sfu::{Datagram, ParticipantId, Proto};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind};

const A: ParticipantId = ParticipantId(1);
const B: ParticipantId = ParticipantId(2);

fn stun_binding_request(username: &str) -> Vec<u8> {
    let padded = username.len().div_ceil(4) * 4;
    let mut attr = vec![0x00, 0x06];
    attr.extend((username.len() as u16).to_be_bytes());
    attr.extend(username.as_bytes());
    attr.resize(4 + padded, 0);
    let mut msg = vec![0x00, 0x01];
    msg.extend((attr.len() as u16).to_be_bytes());
    msg.extend([0x21, 0x12, 0xA4, 0x42]);
    msg.extend([9; 12]);
    msg.extend(attr);
    msg
}

/// Deterministic junk of every shape: empty, one byte, STUN-, DTLS- and RTP-looking.
fn junk() -> Vec<Vec<u8>> {
    let mut seed = 0x2545_f491_u32;
    let mut random = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect()
    };
    let mut all = vec![vec![], vec![0x00], vec![0x16, 0xfe, 0xfd], vec![0x80, 0x60, 0x00]];
    for len in [1, 12, 20, 100, 1200] {
        for first in [0x00, 0x01, 0x16, 0x17, 0x80, 0x90, 0xff] {
            let mut p = random(len);
            p[0] = first;
            all.push(p);
        }
    }
    all.push(stun_binding_request("nobody:knows"));
    all
}

#[test]
fn strangers_and_garbage_are_dropped_without_disturbing_the_meeting() {
    let mut sim = Sim::new();
    sim.join(A);
    sim.join(B);
    let mid = sim.publish(A, |api| api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
    sim.connect_all();

    // A stranger's datagrams: never routed.
    let stranger: SocketAddr = "203.0.113.9:4444".parse().unwrap();
    let before = sim.room.dropped_datagrams();
    for contents in junk() {
        let d = Datagram { proto: Proto::Udp, source: stranger, destination: SERVER, contents: &contents };
        assert_eq!(sim.room.route(&d), None);
    }
    assert_eq!(sim.room.dropped_datagrams() - before, junk().len() as u64);
    for contents in junk() {
        sim.deliver(Packet { source: stranger, destination: SERVER, contents });
    }

    // Garbage on a known path reaches the peer, which rejects it without failing.
    let a_path = sim.client(A).pub_addr;
    for contents in junk() {
        sim.deliver(Packet { source: a_path, destination: SERVER, contents });
    }
    sim.pump();
    assert!(sim.room.dropped_datagrams() > before + junk().len() as u64);

    // Media still flows.
    let track = sim.track_of(A, mid);
    let pt = sim.client(A).pt(Codec::Opus);
    for n in 0..100 {
        let now = sim.now;
        sim.client(A).send(now, mid, None, opus(pt, n, None));
        sim.advance(Duration::from_millis(20));
    }
    let got = sim.client(B).received_for(track);
    assert!(got.len() > 90, "B got {} packets after the garbage", got.len());
}
