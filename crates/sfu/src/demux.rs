//! Demultiplexing: which peer connection a datagram on a shared port belongs to, in O(1).

use std::net::SocketAddr;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use str0m::ice::StunMessage;

use crate::id::PeerId;
use crate::io::{Datagram, Proto};
use crate::maps::Map;

const STUN_MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const STUN_ATTR_USERNAME: u16 = 0x0006;

/// Maps datagrams to peers.
///
/// Every peer connection has its own local ICE ufrag. A client's first packet on a path is
/// a STUN binding request whose USERNAME is `"<our ufrag>:<their ufrag>"`, which names the
/// peer; the path (transport, remote and local address) is remembered so DTLS and SRTP on
/// it route by a hash lookup — but only once the request's MESSAGE-INTEGRITY proves the
/// sender knows the peer's ICE password, so a forged request cannot steal a path.
#[derive(Debug, Default)]
pub(crate) struct Demux {
    by_ufrag: Map<String, Credentials>,
    by_path: Map<Path, PeerId>,
    dropped: u64,
}

#[derive(Debug)]
struct Credentials {
    peer: PeerId,
    password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Path {
    proto: Proto,
    source: SocketAddr,
    destination: SocketAddr,
}

impl Demux {
    /// Routes STUN naming `ufrag` and signed with `password` to `peer`.
    pub(crate) fn register(&mut self, ufrag: String, password: String, peer: PeerId) {
        self.by_ufrag.insert(ufrag, Credentials { peer, password });
    }

    /// Forgets everything about `peer`.
    pub(crate) fn forget(&mut self, peer: PeerId) {
        self.by_ufrag.retain(|_, c| c.peer != peer);
        self.by_path.retain(|_, p| *p != peer);
    }

    /// The local ICE ufrags of `participant`'s peer connections.
    pub(crate) fn ufrags_of(&self, participant: crate::ParticipantId) -> Vec<String> {
        let mut ufrags: Vec<String> =
            self.by_ufrag.iter().filter(|(_, c)| c.peer.participant == participant).map(|(u, _)| u.clone()).collect();
        ufrags.sort();
        ufrags
    }

    /// The peer a datagram is for, learning the path from STUN; `None` (counted) when
    /// nobody claims it.
    pub(crate) fn route(&mut self, d: &Datagram<'_>) -> Option<PeerId> {
        let path = Path { proto: d.proto, source: d.source, destination: d.destination };
        if let Some(creds) = stun_local_ufrag(d.contents).and_then(|ufrag| self.by_ufrag.get(ufrag)) {
            let peer = creds.peer;
            if self.by_path.get(&path) != Some(&peer) {
                if !signed_with(d.contents, &creds.password) {
                    self.dropped += 1;
                    return None;
                }
                self.by_path.insert(path, peer);
            }
            return Some(peer);
        }
        let found = self.by_path.get(&path).copied();
        if found.is_none() {
            self.dropped += 1;
        }
        found
    }

    /// How many datagrams no peer claimed.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// Whether a STUN message carries a MESSAGE-INTEGRITY made with `password`.
fn signed_with(buf: &[u8], password: &str) -> bool {
    let Ok(message) = StunMessage::parse(buf) else { return false };
    message.verify(password.as_bytes(), |key, parts| {
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    })
}

/// The local ICE ufrag a STUN binding request names (the part of its USERNAME before the
/// colon), if `buf` is a STUN message that has one.
///
/// A runtime that shards rooms over threads can route a new path's first packet with it
/// before handing the datagram to a [`Room`](crate::Room) (see [`Room::ice_ufrags`](crate::Room::ice_ufrags)).
pub fn stun_local_ufrag(buf: &[u8]) -> Option<&str> {
    stun_username(buf).and_then(|username| username.split(':').next())
}

/// The USERNAME attribute of a STUN message, if `buf` is one and has it.
fn stun_username(buf: &[u8]) -> Option<&str> {
    if buf.len() < 20 || buf[0] & 0xC0 != 0 || buf[4..8] != STUN_MAGIC_COOKIE {
        return None;
    }
    let declared = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let attrs = buf.get(20..20 + declared)?;
    let mut i = 0;
    while i + 4 <= attrs.len() {
        let kind = u16::from_be_bytes([attrs[i], attrs[i + 1]]);
        let len = usize::from(u16::from_be_bytes([attrs[i + 2], attrs[i + 3]]));
        let value = attrs.get(i + 4..i + 4 + len)?;
        if kind == STUN_ATTR_USERNAME {
            return std::str::from_utf8(value).ok();
        }
        i += 4 + len.div_ceil(4) * 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::PeerRole;
    use crate::ParticipantId;

    /// A binding request with USERNAME, signed with `password` (MESSAGE-INTEGRITY, RFC 5389
    /// §15.4: HMAC-SHA1 over the message up to the attribute, with the length counting it).
    fn signed_request(username: &str, password: &str) -> Vec<u8> {
        let mut msg = binding_request(username);
        let declared = u16::from_be_bytes([msg[2], msg[3]]) + 24;
        msg[2..4].copy_from_slice(&declared.to_be_bytes());
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(password.as_bytes()).unwrap();
        mac.update(&msg);
        msg.extend([0x00, 0x08, 0x00, 0x14]);
        msg.extend(mac.finalize().into_bytes());
        msg
    }

    fn binding_request(username: &str) -> Vec<u8> {
        let padded = username.len().div_ceil(4) * 4;
        let mut attr = vec![0x00, 0x06];
        attr.extend((username.len() as u16).to_be_bytes());
        attr.extend(username.as_bytes());
        attr.resize(4 + padded, 0);
        attr.extend([0x00, 0x24, 0x00, 0x04, 0x6e, 0x7f, 0x1e, 0xff]); // PRIORITY
        let mut msg = vec![0x00, 0x01];
        msg.extend((attr.len() as u16).to_be_bytes());
        msg.extend(STUN_MAGIC_COOKIE);
        msg.extend([7; 12]);
        msg.extend(attr);
        msg
    }

    fn datagram<'a>(source: &str, contents: &'a [u8]) -> Datagram<'a> {
        Datagram {
            proto: Proto::Udp,
            source: source.parse().unwrap(),
            destination: "10.0.0.1:3478".parse().unwrap(),
            contents,
        }
    }

    #[test]
    fn stun_names_the_peer_and_the_path_routes_what_follows() {
        let peer = PeerId { participant: ParticipantId(1), role: PeerRole::Subscriber };
        let mut demux = Demux::default();
        demux.register("srvfrag".into(), "secret".into(), peer);

        let stun = signed_request("srvfrag:clientfrag", "secret");
        assert_eq!(demux.route(&datagram("192.0.2.1:5000", &stun)), Some(peer));
        assert_eq!(demux.route(&datagram("192.0.2.1:5000", &[0x16, 0xfe, 0xfd])), Some(peer));
        assert_eq!(demux.route(&datagram("192.0.2.1:5001", &[0x16, 0xfe, 0xfd])), None);
        assert_eq!(demux.dropped(), 1);
    }

    #[test]
    fn unknown_ufrag_and_garbage_are_dropped() {
        let mut demux = Demux::default();
        let stun = binding_request("nobody:x");
        assert_eq!(demux.route(&datagram("192.0.2.1:5000", &stun)), None);
        let mut truncated = stun.clone();
        truncated.truncate(26);
        assert_eq!(demux.route(&datagram("192.0.2.1:5000", &truncated)), None);
        assert_eq!(demux.route(&datagram("192.0.2.1:5000", &[])), None);
        assert_eq!(demux.dropped(), 3);
    }

    #[test]
    fn forgetting_a_peer_stops_routing_to_it() {
        let peer = PeerId { participant: ParticipantId(1), role: PeerRole::Publisher };
        let mut demux = Demux::default();
        demux.register("u".into(), "p".into(), peer);
        assert_eq!(demux.route(&datagram("192.0.2.1:5000", &signed_request("u:c", "p"))), Some(peer));
        demux.forget(peer);
        assert_eq!(demux.route(&datagram("192.0.2.1:5000", &[0x80])), None);
    }

    #[test]
    fn a_forged_request_does_not_learn_the_path() {
        let peer = PeerId { participant: ParticipantId(1), role: PeerRole::Publisher };
        let mut demux = Demux::default();
        demux.register("srvfrag".into(), "secret".into(), peer);

        let unsigned = binding_request("srvfrag:evil");
        let wrong_key = signed_request("srvfrag:evil", "guess");
        assert_eq!(demux.route(&datagram("192.0.2.9:6000", &unsigned)), None);
        assert_eq!(demux.route(&datagram("192.0.2.9:6000", &wrong_key)), None);
        assert_eq!(demux.route(&datagram("192.0.2.9:6000", &[0x17, 0xfe, 0xfd])), None);
        assert_eq!(demux.dropped(), 3);
        assert_eq!(stun_local_ufrag(&unsigned), Some("srvfrag"));
    }
}
