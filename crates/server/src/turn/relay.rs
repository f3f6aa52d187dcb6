//! Relayed transport addresses that reach the SFU and nothing else.
//!
//! Each allocation gets a UDP socket of its own (the relayed address). It sends only to the
//! SFU's media port: toward the address the SFU advertises in its ICE candidates, the socket
//! writes to the SFU's local address instead (its loopback when the media port listens on every
//! interface), so relaying works behind a 1:1 NAT where the public address is not on this host.
//! What arrives from the SFU is reported to the TURN server as coming from the advertised
//! address, the one the client created its permission for. Anything else is dropped.
//!
//! The one exception: while two participants talk peer-to-peer (live/p2p.rs), the addresses
//! in their ICE candidates are allowed too, so a pair that needs a relay can use this one;
//! they are taken back when the pair ends. Only addresses a relay may sensibly reach count:
//! a public address (a peer's own or its NAT's), or exactly a relayed address of this server
//! (both peers behind firewalls, each on its own allocation). Private, loopback, link-local,
//! multicast and this host's other ports are refused whatever a candidate says, so a pair
//! cannot turn the relay into a way into the server's network.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::net::UdpSocket;
use webrtc_util::Conn;

/// The addresses clients may relay to: the SFU's advertised media address, with the local
/// address that reaches it.
#[derive(Debug)]
pub struct Peers {
    routes: Vec<(SocketAddr, SocketAddr)>,
    /// Addresses of participants in peer-to-peer mode, counted (two pairs may name one NAT).
    p2p: Mutex<HashMap<IpAddr, usize>>,
    /// This server's relayed addresses: the address a client sees, and where the allocation's
    /// socket is reached from this host (loopback).
    own: Mutex<HashMap<SocketAddr, SocketAddr>>,
    /// Relayed addresses of this server a pair named in its candidates, counted.
    p2p_relayed: Mutex<HashMap<SocketAddr, usize>>,
}

impl Peers {
    /// The SFU advertised as `public` and reached at `local`.
    pub fn sfu(public: SocketAddr, local: SocketAddr) -> Peers {
        let local = match local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), local.port()),
            IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), local.port()),
            _ => local,
        };
        Peers {
            routes: vec![(public, local)],
            p2p: Mutex::default(),
            own: Mutex::default(),
            p2p_relayed: Mutex::default(),
        }
    }

    fn p2p(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.p2p.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn own(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, SocketAddr>> {
        self.own.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn p2p_relayed(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, usize>> {
        self.p2p_relayed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets clients relay to a peer-to-peer pair's candidate addresses too, until as many
    /// [`Peers::forbid`] calls take them back. Returns what was allowed: a relayed address of
    /// this server exactly (port and all), a public address by its IP; anything else (private,
    /// loopback, this host's other ports…) is refused and left out.
    pub fn allow(&self, addrs: &[SocketAddr]) -> Vec<SocketAddr> {
        let mut allowed = Vec::new();
        for addr in addrs {
            if self.own().contains_key(addr) {
                *self.p2p_relayed().entry(*addr).or_default() += 1;
                allowed.push(*addr);
            } else if relayable(addr.ip()) && !self.is_own_ip(addr.ip()) {
                *self.p2p().entry(addr.ip()).or_default() += 1;
                allowed.push(*addr);
            }
        }
        allowed
    }

    /// Takes back what [`Peers::allow`] gave (pass what it returned).
    pub fn forbid(&self, addrs: &[SocketAddr]) {
        fn take<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K) {
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
        for addr in addrs {
            if self.p2p_relayed().contains_key(addr) {
                take(&mut self.p2p_relayed(), *addr);
            } else {
                take(&mut self.p2p(), addr.ip());
            }
        }
    }

    fn is_p2p(&self, ip: IpAddr) -> bool {
        self.p2p().contains_key(&ip)
    }

    /// An address of this host as clients see it (the SFU's, a relayed one's).
    fn is_own_ip(&self, ip: IpAddr) -> bool {
        self.routes.iter().any(|(public, _)| public.ip() == ip) || self.own().keys().any(|a| a.ip() == ip)
    }

    /// Whether a client may relay to exactly `addr`.
    pub fn allows(&self, addr: SocketAddr) -> bool {
        self.local_of(addr).is_some()
    }

    /// Whether a client may hold a permission for `ip` (permissions name no port).
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.routes.iter().any(|(public, _)| public.ip() == ip)
            || self.is_p2p(ip)
            || self.p2p_relayed().keys().any(|a| a.ip() == ip)
    }

    fn local_of(&self, public: SocketAddr) -> Option<SocketAddr> {
        if let Some((_, l)) = self.routes.iter().find(|(p, _)| *p == public) {
            return Some(*l);
        }
        if self.p2p_relayed().contains_key(&public) {
            return self.own().get(&public).copied();
        }
        (self.is_p2p(public.ip()) && !self.is_own_ip(public.ip())).then_some(public)
    }

    fn public_of(&self, local: SocketAddr) -> Option<SocketAddr> {
        if let Some((p, _)) = self.routes.iter().find(|(_, l)| *l == local) {
            return Some(*p);
        }
        let relayed = self.own().iter().find(|(_, l)| **l == local).map(|(p, _)| *p);
        if let Some(public) = relayed {
            return self.p2p_relayed().contains_key(&public).then_some(public);
        }
        (self.is_p2p(local.ip()) && !self.is_own_ip(local.ip())).then_some(local)
    }

    /// A new allocation: relayed as `public`, its socket reached from this host at `local`.
    fn add_own(&self, public: SocketAddr, local: SocketAddr) {
        self.own().insert(public, local);
    }

    fn remove_own(&self, public: SocketAddr) {
        self.own().remove(&public);
    }

    /// Where relay sockets bind: the loopback when the SFU is reached there (the relayed ports
    /// are then not even reachable from outside), else every interface.
    fn bind_ip(&self, v4: bool) -> IpAddr {
        let loopback = self.routes.iter().all(|(_, l)| l.ip().is_loopback());
        match (v4, loopback) {
            (true, true) => Ipv4Addr::LOCALHOST.into(),
            (true, false) => Ipv4Addr::UNSPECIFIED.into(),
            (false, true) => Ipv6Addr::LOCALHOST.into(),
            (false, false) => Ipv6Addr::UNSPECIFIED.into(),
        }
    }
}

/// Whether a peer-to-peer candidate's address may be relayed to: a public unicast address.
/// Private, loopback, link-local, shared (CGNAT), multicast and unspecified addresses are
/// inside somebody's network, never a peer that needs this relay to reach it.
fn relayable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some())
        }
    }
}

/// Makes the relay socket of each new allocation.
pub(super) struct SfuRelays {
    pub(super) peers: Arc<Peers>,
    /// The address reported to clients as their relayed address (this host's public IP).
    pub(super) relay_ip: IpAddr,
}

#[async_trait]
impl turn::relay::RelayAddressGenerator for SfuRelays {
    fn validate(&self) -> Result<(), turn::Error> {
        Ok(())
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        _requested_port: u16,
    ) -> Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        if use_ipv4 != self.relay_ip.is_ipv4() {
            return Err(turn::Error::Other("address family not served".into()));
        }
        let socket = UdpSocket::bind(SocketAddr::new(self.peers.bind_ip(use_ipv4), 0)).await?;
        let port = socket.local_addr()?.port();
        let relayed = SocketAddr::new(self.relay_ip, port);
        let loopback: IpAddr = if use_ipv4 { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() };
        self.peers.add_own(relayed, SocketAddr::new(loopback, port));
        metrics::counter!("turn_allocations_total").increment(1);
        Ok((Arc::new(RelayConn { socket, peers: self.peers.clone(), relayed }), relayed))
    }
}

/// One allocation's relay socket: to and from the SFU only (and peer-to-peer pairs).
struct RelayConn {
    socket: UdpSocket,
    peers: Arc<Peers>,
    relayed: SocketAddr,
}

impl Drop for RelayConn {
    fn drop(&mut self) {
        self.peers.remove_own(self.relayed);
    }
}

fn refused(target: SocketAddr) -> webrtc_util::Error {
    webrtc_util::Error::Other(format!("relaying to {target} is not allowed"))
}

#[async_trait]
impl Conn for RelayConn {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(refused(addr))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            // An error here would end the allocation: drop strangers' datagrams instead.
            if let Some(public) = self.peers.public_of(from) {
                return Ok((n, public));
            }
        }
    }

    async fn send(&self, _buf: &[u8]) -> webrtc_util::Result<usize> {
        Err(webrtc_util::Error::Other("a relay socket has no default peer".into()))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        let local = self.peers.local_of(target).ok_or_else(|| refused(target))?;
        Ok(self.socket.send_to(buf, local).await?)
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advertised_address_maps_to_the_local_one() {
        let peers = Peers::sfu("198.51.100.7:50000".parse().unwrap(), "0.0.0.0:50000".parse().unwrap());
        assert_eq!(peers.local_of("198.51.100.7:50000".parse().unwrap()), Some("127.0.0.1:50000".parse().unwrap()));
        assert_eq!(peers.public_of("127.0.0.1:50000".parse().unwrap()), Some("198.51.100.7:50000".parse().unwrap()));
        assert!(peers.allows_ip("198.51.100.7".parse().unwrap()));
        assert!(!peers.allows("198.51.100.7:50001".parse().unwrap()));
        assert_eq!(peers.local_of("203.0.113.1:50000".parse().unwrap()), None);
        assert_eq!(peers.bind_ip(true), IpAddr::from(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn a_pairs_addresses_are_allowed_while_it_lasts() {
        let peers = Peers::sfu("198.51.100.7:50000".parse().unwrap(), "0.0.0.0:50000".parse().unwrap());
        let peer: SocketAddr = "203.0.113.9:40000".parse().unwrap();
        assert!(!peers.allows_ip(peer.ip()) && !peers.allows(peer));
        assert_eq!(peers.allow(&[peer]), vec![peer]);
        peers.allow(&[peer]);
        assert!(peers.allows_ip(peer.ip()) && peers.allows(peer));
        assert_eq!(peers.local_of(peer), Some(peer), "sent straight to the peer");
        assert_eq!(peers.public_of(peer), Some(peer));
        peers.forbid(&[peer]);
        assert!(peers.allows(peer), "another pair still names it");
        peers.forbid(&[peer]);
        assert!(!peers.allows_ip(peer.ip()) && peers.local_of(peer).is_none());
        assert!(peers.allows("198.51.100.7:50000".parse().unwrap()), "the SFU stays allowed");
    }

    #[test]
    fn a_pair_cannot_open_the_relay_to_inside_addresses() {
        let peers = Peers::sfu("198.51.100.7:50000".parse().unwrap(), "0.0.0.0:50000".parse().unwrap());
        let inside: Vec<SocketAddr> = [
            "10.0.0.5:53",
            "192.168.1.1:161",
            "172.16.0.9:4222",
            "127.0.0.1:5432",
            "169.254.169.254:80",
            "100.64.0.1:53",
            "224.0.0.251:5353",
            "0.0.0.0:9",
            "[::1]:53",
            "[fd00::1]:53",
            "[fe80::1]:53",
            "[::ffff:10.0.0.5]:53",
            // This host's other ports: the SFU's public address names the host.
            "198.51.100.7:22",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        assert!(peers.allow(&inside).is_empty(), "nothing inside is allowed");
        for a in &inside {
            assert!(!peers.allows(*a) && peers.local_of(*a).is_none(), "{a} stays refused");
            assert_eq!(peers.public_of(*a), None, "{a}'s datagrams are dropped");
        }
        assert!(!peers.allows_ip("10.0.0.5".parse().unwrap()));
        assert!(!peers.allows("198.51.100.7:22".parse().unwrap()), "the SFU's host only on its media port");
    }

    #[test]
    fn two_allocations_of_a_pair_relay_to_each_other_and_nothing_else_of_this_host() {
        let peers = Peers::sfu("198.51.100.7:50000".parse().unwrap(), "127.0.0.1:50000".parse().unwrap());
        let (a, b): (SocketAddr, SocketAddr) =
            ("198.51.100.7:41000".parse().unwrap(), "198.51.100.7:42000".parse().unwrap());
        peers.add_own(a, "127.0.0.1:41000".parse().unwrap());
        peers.add_own(b, "127.0.0.1:42000".parse().unwrap());
        // Not before a pair names them.
        assert!(!peers.allows(b) && peers.public_of("127.0.0.1:41000".parse().unwrap()).is_none());
        assert_eq!(peers.allow(&[a, b]), vec![a, b]);
        assert_eq!(peers.local_of(b), Some("127.0.0.1:42000".parse().unwrap()), "reached on this host");
        assert_eq!(peers.public_of("127.0.0.1:41000".parse().unwrap()), Some(a), "reported as relayed");
        assert!(peers.allows_ip(a.ip()));
        // Another port of this host (a third allocation, a local service) is not.
        assert!(!peers.allows("198.51.100.7:43000".parse().unwrap()));
        assert!(!peers.allows("198.51.100.7:5432".parse().unwrap()));
        assert_eq!(peers.public_of("127.0.0.1:5432".parse().unwrap()), None);
        peers.forbid(&[a, b]);
        assert!(!peers.allows(b));
        peers.remove_own(a);
        assert_eq!(peers.allow(&[a]), Vec::<SocketAddr>::new(), "a closed allocation is not relayed to");
    }
}
