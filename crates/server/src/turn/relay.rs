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
//! they are taken back when the pair ends.

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
}

impl Peers {
    /// The SFU advertised as `public` and reached at `local`.
    pub fn sfu(public: SocketAddr, local: SocketAddr) -> Peers {
        let local = match local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), local.port()),
            IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), local.port()),
            _ => local,
        };
        Peers { routes: vec![(public, local)], p2p: Mutex::default() }
    }

    fn p2p(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.p2p.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets clients relay to `ips` too (a peer-to-peer pair's candidates), until as many
    /// [`Peers::forbid`] calls take them back.
    pub fn allow(&self, ips: &[IpAddr]) {
        let mut p2p = self.p2p();
        for ip in ips {
            *p2p.entry(*ip).or_default() += 1;
        }
    }

    /// Takes back what [`Peers::allow`] gave.
    pub fn forbid(&self, ips: &[IpAddr]) {
        let mut p2p = self.p2p();
        for ip in ips {
            if let Some(n) = p2p.get_mut(ip) {
                *n -= 1;
                if *n == 0 {
                    p2p.remove(ip);
                }
            }
        }
    }

    fn is_p2p(&self, ip: IpAddr) -> bool {
        self.p2p().contains_key(&ip)
    }

    /// Whether a client may relay to exactly `addr`.
    pub fn allows(&self, addr: SocketAddr) -> bool {
        self.routes.iter().any(|(public, _)| *public == addr) || self.is_p2p(addr.ip())
    }

    /// Whether a client may hold a permission for `ip` (permissions name no port).
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.routes.iter().any(|(public, _)| public.ip() == ip) || self.is_p2p(ip)
    }

    fn local_of(&self, public: SocketAddr) -> Option<SocketAddr> {
        let sfu = self.routes.iter().find(|(p, _)| *p == public).map(|(_, l)| *l);
        sfu.or_else(|| self.is_p2p(public.ip()).then_some(public))
    }

    fn public_of(&self, local: SocketAddr) -> Option<SocketAddr> {
        let sfu = self.routes.iter().find(|(_, l)| *l == local).map(|(p, _)| *p);
        sfu.or_else(|| self.is_p2p(local.ip()).then_some(local))
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
        let relayed = SocketAddr::new(self.relay_ip, socket.local_addr()?.port());
        metrics::counter!("turn_allocations_total").increment(1);
        Ok((Arc::new(RelayConn { socket, peers: self.peers.clone() }), relayed))
    }
}

/// One allocation's relay socket: to and from the SFU only (and peer-to-peer pairs).
struct RelayConn {
    socket: UdpSocket,
    peers: Arc<Peers>,
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
        peers.allow(&[peer.ip()]);
        peers.allow(&[peer.ip()]);
        assert!(peers.allows_ip(peer.ip()) && peers.allows(peer));
        assert_eq!(peers.local_of(peer), Some(peer), "sent straight to the peer");
        assert_eq!(peers.public_of(peer), Some(peer));
        peers.forbid(&[peer.ip()]);
        assert!(peers.allows(peer), "another pair still names it");
        peers.forbid(&[peer.ip()]);
        assert!(!peers.allows_ip(peer.ip()) && peers.local_of(peer).is_none());
        assert!(peers.allows("198.51.100.7:50000".parse().unwrap()), "the SFU stays allowed");
    }
}
