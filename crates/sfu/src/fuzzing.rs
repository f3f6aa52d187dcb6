//! Entry points for the fuzz targets in `fuzz/` (and the corpus replay in the test suite):
//! the parsers that read bytes straight from the network — the media port's datagram
//! demultiplexing and the codec payload parsers. Not an API: hidden from the docs, and may
//! change with the parsers.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::format::Codec;

use crate::codec::{is_keyframe_start, vp8_ids};
use crate::munger::Munger;
use crate::{stun_local_ufrag, Datagram, Input, ParticipantId, Proto, Room, RoomConfig};

/// One received packet, as the payload parsers, the munger and the recorder see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// RTP sequence number (16 bits, as on the wire).
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Milliseconds since the previous packet arrived.
    pub gap_ms: u16,
    /// The forwarder switched layers before this packet (the munger rebases).
    pub switch: bool,
    /// RTP marker bit (last packet of a frame).
    pub marker: bool,
    /// Simulcast layer, 0–2.
    pub layer: u8,
    /// The RTP payload.
    pub payload: &'a [u8],
}

/// Splits fuzz input into packets: each is an 8-byte header — sequence number (2),
/// timestamp (4), flags (1: switch, marker, 2 bits layer, 4 bits gap in 10 ms), payload
/// length (1) — and that many payload bytes (fewer at the end of the input).
pub fn packets(mut data: &[u8]) -> Vec<Packet<'_>> {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let (head, rest) = data.split_at(8);
        let len = usize::from(head[7]).min(rest.len());
        let (payload, rest) = rest.split_at(len);
        let flags = head[6];
        out.push(Packet {
            seq: u16::from_be_bytes([head[0], head[1]]),
            timestamp: u32::from_be_bytes([head[2], head[3], head[4], head[5]]),
            gap_ms: u16::from(flags >> 4) * 10,
            switch: flags & 1 != 0,
            marker: flags & 2 != 0,
            layer: ((flags >> 2) & 3).min(2),
            payload,
        });
        data = rest;
    }
    out
}

/// Runs every video codec's keyframe detection and the VP8 picture-id parser on each
/// payload of [`packets`], and munges them as one down track would, VP8 numbering included.
pub fn rtp_payloads(data: &[u8]) {
    let mut at = Instant::now();
    let mut munger = Munger::default();
    let mut extended = None;
    for p in packets(data) {
        for codec in [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1, Codec::Opus] {
            is_keyframe_start(codec, p.payload);
        }
        let ids = vp8_ids(p.payload);
        if p.switch {
            munger.switch_source();
        }
        at += Duration::from_millis(u64::from(p.gap_ms));
        let seq = extend_seq(extended, p.seq);
        extended = Some(seq);
        munger.munge_vp8(seq, p.timestamp, at, 90_000, ids);
    }
}

/// RFC 3550 sequence extension, as str0m does it: the 64-bit number nearest the previous.
pub fn extend_seq(previous: Option<u64>, seq: u16) -> u64 {
    let Some(prev) = previous else { return u64::from(seq) };
    let cycle = prev >> 16;
    [cycle.checked_sub(1), Some(cycle), cycle.checked_add(1)]
        .into_iter()
        .flatten()
        .map(|c| (c << 16) | u64::from(seq))
        .min_by_key(|c| c.abs_diff(prev))
        .unwrap_or(u64::from(seq))
}

const MEDIA_PORT: &str = "192.0.2.10:3478";

thread_local! {
    /// One room with one participant, made once: building peers (DTLS certificates) is far
    /// slower than a datagram.
    static ROOM: RefCell<(Room, String)> = RefCell::new({
        let now = Instant::now();
        let addr: SocketAddr = MEDIA_PORT.parse().expect("an address");
        let mut room = Room::new(now, RoomConfig::new(vec![(Proto::Udp, addr), (Proto::Tcp, addr)]));
        room.add_participant(now, ParticipantId(1)).expect("a new participant");
        let ufrag = room.ice_ufrags(ParticipantId(1)).into_iter().next().expect("a ufrag");
        (room, ufrag)
    });
}

/// A datagram arriving on the media port. The first byte picks the source port, UDP or TCP,
/// and whether the rest is sent as is or as the attributes of a STUN binding request that
/// names a real peer's ufrag (so the request reaches the STUN parser and integrity check).
pub fn media_datagram(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    stun_local_ufrag(rest);
    ROOM.with_borrow_mut(|(room, ufrag)| {
        let contents = if mode & 1 == 0 { rest.to_vec() } else { stun_request(ufrag, rest) };
        stun_local_ufrag(&contents);
        let source = SocketAddr::from(([198, 51, 100, 7], 5000 + u16::from(mode >> 2)));
        let proto = if mode & 2 == 0 { Proto::Udp } else { Proto::Tcp };
        let destination = MEDIA_PORT.parse().expect("an address");
        let now = Instant::now();
        room.handle_input(now, Input::Receive(Datagram { proto, source, destination, contents: &contents }));
        while !matches!(room.poll_output(), crate::Output::Timeout(_)) {}
    });
}

/// A STUN binding request with USERNAME `<ufrag>:fuzz` followed by `attributes`.
fn stun_request(ufrag: &str, attributes: &[u8]) -> Vec<u8> {
    let username = format!("{ufrag}:fuzz");
    let padded = username.len().div_ceil(4) * 4;
    let mut body = vec![0x00, 0x06];
    body.extend((username.len() as u16).to_be_bytes());
    body.extend(username.as_bytes());
    body.resize(4 + padded, 0);
    body.extend(attributes);
    let mut msg = vec![0x00, 0x01];
    msg.extend(u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
    msg.extend([0x21, 0x12, 0xA4, 0x42]);
    msg.extend([7; 12]);
    msg.extend(body);
    msg
}

/// The fuzz targets' corpora (seeds and crash regressions, `fuzz/corpus/<target>/`) and
/// seeded mutations of them, replayed through the same entry points, so every test run
/// covers them without libFuzzer (see `convene_testkit::fuzz`).
#[cfg(test)]
mod corpus {
    use convene_testkit::fuzz::replay;

    #[test]
    fn media_datagram_corpus() {
        let run = replay("media_datagram", 3_000, super::media_datagram);
        assert!(run.corpus >= 5, "{run:?}");
    }

    #[test]
    fn rtp_payload_corpus() {
        let run = replay("rtp_payload", 5_000, super::rtp_payloads);
        assert!(run.corpus >= 5, "{run:?}");
    }

    #[test]
    fn packets_split_as_documented() {
        let data = [0, 7, 0, 0, 1, 0, 0b0011_0111, 2, 0xaa, 0xbb, 0, 8, 0, 0, 0, 0, 0, 9, 0xcc];
        let p = super::packets(&data);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].seq, p[0].timestamp, p[0].gap_ms), (7, 256, 30));
        assert!(p[0].switch && p[0].marker);
        assert_eq!((p[0].layer, p[0].payload), (1, &[0xaa, 0xbb][..]));
        assert_eq!(p[1].payload, &[0xcc], "the last payload is cut at the end of the input");
        assert_eq!(super::extend_seq(Some(65_535), 0), 65_536);
        assert_eq!(super::extend_seq(Some(65_536), 65_535), 65_535);
        assert_eq!(super::extend_seq(None, 3), 3);
    }
}
