//! The TURN server's front door: every message a client sends passes [`judge`] before the TURN
//! protocol (the `turn` crate) sees it. It refuses what the crate would accept or answer
//! wrongly for Convene:
//!
//! - a request signed with a malformed, expired or forged TURN REST username gets 401
//!   Unauthorized (RFC 8489 §9.2.4; the crate answers 400);
//! - a CreatePermission or ChannelBind toward anything but the SFU's media address (or, while
//!   two participants talk peer-to-peer, the addresses of their candidates) gets 403
//!   Forbidden (RFC 8656 §9.1: the server's policy), so the server is not an open relay;
//! - a Send indication toward anything else is dropped.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use stun::attributes::{ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REALM, ATTR_USERNAME, ATTR_XOR_PEER_ADDRESS};
use stun::error_code::{ErrorCode, ErrorCodeAttribute, CODE_FORBIDDEN, CODE_UNAUTHORIZED};
use stun::integrity::MessageIntegrity;
use stun::message::{
    Message, MessageType, Setter, CLASS_ERROR_RESPONSE, CLASS_INDICATION, CLASS_REQUEST, METHOD_CHANNEL_BIND,
    METHOD_CREATE_PERMISSION, METHOD_SEND,
};
use stun::textattrs::TextAttribute;
use stun::xoraddr::XorMappedAddress;
use webrtc_util::Conn;

use super::credentials::{unix_now, Minter};
use super::relay::Peers;

/// What the gate knows: the credential secret, the realm and where relaying may go.
pub(super) struct Policy {
    pub(super) minter: Minter,
    pub(super) realm: String,
    pub(super) peers: Arc<Peers>,
}

/// What happens to one message from a client.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// On to the TURN server.
    Pass,
    /// Answer the client with these bytes instead.
    Answer(Vec<u8>),
    /// Drop it silently (an indication gets no answer).
    Drop,
}

/// Judges one datagram (or one framed message of a stream) from a client at `now` (unix
/// seconds).
pub(super) fn judge(policy: &Policy, packet: &[u8], now: i64) -> Verdict {
    if !stun::message::is_message(packet) {
        return Verdict::Pass; // ChannelData: only flows on a channel the gate let through
    }
    let mut m = Message { raw: packet.to_vec(), ..Default::default() };
    if m.decode().is_err() {
        return Verdict::Pass; // the crate answers malformed requests itself
    }
    if m.typ.class == CLASS_INDICATION {
        return match m.typ.method {
            METHOD_SEND if !peer_addresses(&m).iter().all(|a| policy.peers.allows(*a)) => Verdict::Drop,
            _ => Verdict::Pass,
        };
    }
    if m.typ.class != CLASS_REQUEST || !m.contains(ATTR_MESSAGE_INTEGRITY) {
        return Verdict::Pass; // unsigned requests get the crate's 401 with a nonce
    }
    let (Some(username), Some(realm), Some(nonce)) =
        (text(&m, ATTR_USERNAME), text(&m, ATTR_REALM), text(&m, ATTR_NONCE))
    else {
        return Verdict::Pass; // the crate answers 400
    };
    let key = match policy.minter.key(&username, &realm, now) {
        Ok(key) => key,
        Err(why) => {
            tracing::debug!(%username, ?why, "TURN credential refused");
            return Verdict::Answer(unauthorized(&m, &policy.realm, &nonce));
        }
    };
    if MessageIntegrity(key.clone()).check(&mut m.clone()).is_err() {
        tracing::debug!(%username, "TURN request with a wrong password refused");
        return Verdict::Answer(unauthorized(&m, &policy.realm, &nonce));
    }
    let allowed = match m.typ.method {
        // Permissions are per IP address (RFC 8656 §9); channels name the exact address.
        METHOD_CREATE_PERMISSION => peer_addresses(&m).iter().all(|a| policy.peers.allows_ip(a.ip())),
        METHOD_CHANNEL_BIND => peer_addresses(&m).iter().all(|a| policy.peers.allows(*a)),
        _ => true,
    };
    if allowed {
        Verdict::Pass
    } else {
        tracing::info!(%username, peers = ?peer_addresses(&m), "TURN relay refused: not the SFU's media address");
        Verdict::Answer(forbidden(&m, key))
    }
}

fn text(m: &Message, attr: stun::attributes::AttrType) -> Option<String> {
    TextAttribute::get_from_as(m, attr).ok().map(|t| t.text)
}

/// Every XOR-PEER-ADDRESS of `m` (CreatePermission may carry several).
fn peer_addresses(m: &Message) -> Vec<SocketAddr> {
    m.attributes
        .0
        .iter()
        .filter(|a| a.typ == ATTR_XOR_PEER_ADDRESS)
        .filter_map(|a| {
            // Decode each attribute on its own: the crate's getter reads only the first.
            let mut one = Message { transaction_id: m.transaction_id, ..Default::default() };
            one.add(a.typ, &a.value);
            let mut addr = XorMappedAddress::default();
            addr.get_from_as(&one, ATTR_XOR_PEER_ADDRESS).ok()?;
            Some(SocketAddr::new(addr.ip, addr.port))
        })
        .collect()
}

/// 401 with the realm and the client's nonce: the credentials, not the nonce, are wrong.
fn unauthorized(request: &Message, realm: &str, nonce: &str) -> Vec<u8> {
    error_response(
        request,
        CODE_UNAUTHORIZED,
        "Unauthorized",
        vec![
            Box::new(TextAttribute::new(ATTR_REALM, realm.to_owned())),
            Box::new(TextAttribute::new(ATTR_NONCE, nonce.to_owned())),
        ],
    )
}

/// 403, signed like any answer to an authenticated request.
fn forbidden(request: &Message, key: Vec<u8>) -> Vec<u8> {
    error_response(
        request,
        CODE_FORBIDDEN,
        "Forbidden: only the SFU may be reached",
        vec![Box::new(MessageIntegrity(key))],
    )
}

fn error_response(request: &Message, code: ErrorCode, reason: &str, mut more: Vec<Box<dyn Setter>>) -> Vec<u8> {
    let mut setters: Vec<Box<dyn Setter>> = vec![
        Box::new(request.transaction_id),
        Box::new(MessageType::new(request.typ.method, CLASS_ERROR_RESPONSE)),
        Box::new(ErrorCodeAttribute { code, reason: reason.as_bytes().to_vec() }),
    ];
    setters.append(&mut more);
    let mut m = Message::new();
    match m.build(&setters) {
        Ok(()) => m.raw,
        Err(_) => Vec::new(),
    }
}

/// A client-facing socket (UDP, or the TCP / TLS streams) with the gate in front of it.
pub(super) struct Gate {
    pub(super) inner: Arc<dyn Conn + Send + Sync>,
    pub(super) policy: Arc<Policy>,
}

#[async_trait]
impl Conn for Gate {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        self.inner.connect(addr).await
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.inner.recv_from(buf).await?;
            match judge(&self.policy, &buf[..n], unix_now()) {
                Verdict::Pass => return Ok((n, from)),
                Verdict::Answer(bytes) => {
                    metrics::counter!("turn_requests_refused_total").increment(1);
                    let _ = self.inner.send_to(&bytes, from).await;
                }
                Verdict::Drop => metrics::counter!("turn_requests_refused_total").increment(1),
            }
        }
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.inner.send(buf).await
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        self.inner.send_to(buf, target).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr()
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        self.inner.close().await
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stun::attributes::ATTR_ERROR_CODE;

    const SFU: &str = "198.51.100.7:50000";

    fn policy() -> Policy {
        Policy {
            minter: Minter::new("s3cret"),
            realm: "convene".into(),
            peers: Arc::new(Peers::sfu(SFU.parse().unwrap(), "127.0.0.1:50000".parse().unwrap())),
        }
    }

    fn request(method: stun::message::Method, username: &str, password: &str, peers: &[&str]) -> Vec<u8> {
        let mut setters: Vec<Box<dyn Setter>> =
            vec![Box::new(stun::agent::TransactionId::new()), Box::new(MessageType::new(method, CLASS_REQUEST))];
        for p in peers {
            let a: SocketAddr = p.parse().unwrap();
            setters.push(Box::new(PeerAddr(a)));
        }
        setters.push(Box::new(TextAttribute::new(ATTR_USERNAME, username.into())));
        setters.push(Box::new(TextAttribute::new(ATTR_REALM, "convene".into())));
        setters.push(Box::new(TextAttribute::new(ATTR_NONCE, "n0nce".into())));
        setters.push(Box::new(MessageIntegrity::new_long_term_integrity(
            username.into(),
            "convene".into(),
            password.into(),
        )));
        let mut m = Message::new();
        m.build(&setters).unwrap();
        m.raw
    }

    struct PeerAddr(SocketAddr);
    impl Setter for PeerAddr {
        fn add_to(&self, m: &mut Message) -> Result<(), stun::Error> {
            XorMappedAddress { ip: self.0.ip(), port: self.0.port() }.add_to_as(m, ATTR_XOR_PEER_ADDRESS)
        }
    }

    fn error_code(bytes: &[u8]) -> u16 {
        let mut m = Message { raw: bytes.to_vec(), ..Default::default() };
        m.decode().unwrap();
        let mut e = ErrorCodeAttribute::default();
        stun::message::Getter::get_from(&mut e, &m).unwrap();
        assert!(m.contains(ATTR_ERROR_CODE));
        e.code.0
    }

    fn answer(v: Verdict) -> Vec<u8> {
        match v {
            Verdict::Answer(b) => b,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn the_sfu_is_the_only_peer() {
        let p = policy();
        let c = p.minter.mint("u1", 1000, 60);
        let ok = request(METHOD_CREATE_PERMISSION, &c.username, &c.password, &[SFU]);
        assert_eq!(judge(&p, &ok, 1000), Verdict::Pass);
        let elsewhere = request(METHOD_CREATE_PERMISSION, &c.username, &c.password, &[SFU, "203.0.113.9:53"]);
        assert_eq!(error_code(&answer(judge(&p, &elsewhere, 1000))), 403);
        let channel = request(METHOD_CHANNEL_BIND, &c.username, &c.password, &["198.51.100.7:5432"]);
        assert_eq!(error_code(&answer(judge(&p, &channel, 1000))), 403, "the SFU's host, another port");
    }

    #[test]
    fn expired_and_forged_credentials_get_401() {
        let p = policy();
        let c = p.minter.mint("u1", 1000, 60);
        let expired = request(METHOD_CREATE_PERMISSION, &c.username, &c.password, &[SFU]);
        assert_eq!(error_code(&answer(judge(&p, &expired, 1061))), 401);
        let forged = request(METHOD_CREATE_PERMISSION, &c.username, "not-the-password", &[SFU]);
        assert_eq!(error_code(&answer(judge(&p, &forged, 1000))), 401);
        let other_secret = Minter::new("guess").mint("u1", 1000, 60);
        let forged = request(METHOD_CREATE_PERMISSION, &other_secret.username, &other_secret.password, &[SFU]);
        assert_eq!(error_code(&answer(judge(&p, &forged, 1000))), 401);
    }

    #[test]
    fn channel_data_passes() {
        assert_eq!(judge(&policy(), &[0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4], 0), Verdict::Pass);
    }
}
