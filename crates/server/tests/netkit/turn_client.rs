//! A small TURN client for tests (built from the `stun` / `turn` crates' message types): one
//! request at a time, over UDP or a stream (TCP, TLS), reporting error codes as the server
//! sent them so tests can assert 401 and 403.

use std::net::SocketAddr;
use std::time::Duration;

use stun::attributes::{ATTR_NONCE, ATTR_REALM, ATTR_USERNAME};
use stun::error_code::ErrorCodeAttribute;
use stun::integrity::MessageIntegrity;
use stun::message::{
    Getter, Message, MessageType, Setter, CLASS_ERROR_RESPONSE, CLASS_INDICATION, CLASS_REQUEST,
    CLASS_SUCCESS_RESPONSE, METHOD_ALLOCATE, METHOD_CHANNEL_BIND, METHOD_CREATE_PERMISSION, METHOD_DATA, METHOD_SEND,
};
use stun::textattrs::TextAttribute;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UdpSocket;
use turn::proto::chandata::ChannelData;
use turn::proto::channum::ChannelNumber;
use turn::proto::data::Data;
use turn::proto::peeraddr::PeerAddress;
use turn::proto::relayaddr::RelayedAddress;
use turn::proto::reqtrans::RequestedTransport;
use turn::proto::PROTO_UDP;

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

enum Link {
    Udp(UdpSocket, SocketAddr),
    Stream(Box<dyn Stream>),
}

/// What arrived from a peer through the relay.
#[derive(Debug, PartialEq, Eq)]
pub struct Relayed {
    pub from: Option<SocketAddr>,
    pub channel: Option<u16>,
    pub data: Vec<u8>,
}

pub struct TurnClient {
    link: Link,
    username: String,
    password: String,
    realm: String,
    nonce: String,
}

impl TurnClient {
    pub async fn udp(server: SocketAddr, username: &str, password: &str) -> TurnClient {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        TurnClient::with(Link::Udp(socket, server), username, password)
    }

    pub async fn tcp(server: SocketAddr, username: &str, password: &str) -> TurnClient {
        let stream = tokio::net::TcpStream::connect(server).await.unwrap();
        TurnClient::stream(Box::new(stream), username, password)
    }

    pub fn stream(stream: Box<dyn Stream>, username: &str, password: &str) -> TurnClient {
        TurnClient::with(Link::Stream(stream), username, password)
    }

    fn with(link: Link, username: &str, password: &str) -> TurnClient {
        TurnClient {
            link,
            username: username.into(),
            password: password.into(),
            realm: String::new(),
            nonce: String::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        match &mut self.link {
            Link::Udp(s, to) => {
                s.send_to(bytes, *to).await.unwrap();
            }
            Link::Stream(s) => {
                s.write_all(bytes).await.unwrap();
                // ChannelData is padded to four bytes on streams.
                let pad = bytes.len().next_multiple_of(4) - bytes.len();
                s.write_all(&[0u8; 3][..pad]).await.unwrap();
            }
        }
    }

    /// The next message from the server (STUN or ChannelData), or None after `wait`.
    async fn receive(&mut self, wait: Duration) -> Option<Vec<u8>> {
        tokio::time::timeout(wait, async {
            match &mut self.link {
                Link::Udp(s, _) => {
                    let mut buf = vec![0u8; 2048];
                    let (n, _) = s.recv_from(&mut buf).await.ok()?;
                    buf.truncate(n);
                    Some(buf)
                }
                Link::Stream(s) => {
                    let mut head = [0u8; 4];
                    s.read_exact(&mut head).await.ok()?;
                    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
                    let total = if head[0] >> 6 == 0 { 20 + len } else { 4 + len.next_multiple_of(4) };
                    let mut buf = vec![0u8; total];
                    buf[..4].copy_from_slice(&head);
                    s.read_exact(&mut buf[4..]).await.ok()?;
                    Some(buf)
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// Sends a request and returns the response to it (skipping anything else).
    async fn transact(&mut self, mut setters: Vec<Box<dyn Setter>>, signed: bool) -> Message {
        let id = stun::agent::TransactionId::new();
        setters.insert(0, Box::new(id));
        if signed {
            setters.push(Box::new(TextAttribute::new(ATTR_USERNAME, self.username.clone())));
            setters.push(Box::new(TextAttribute::new(ATTR_REALM, self.realm.clone())));
            setters.push(Box::new(TextAttribute::new(ATTR_NONCE, self.nonce.clone())));
            setters.push(Box::new(MessageIntegrity::new_long_term_integrity(
                self.username.clone(),
                self.realm.clone(),
                self.password.clone(),
            )));
        }
        let mut m = Message::new();
        m.build(&setters).unwrap();
        let raw = m.raw.clone();
        for _attempt in 0..3 {
            self.send(&raw).await;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while let Some(bytes) = self.receive(deadline - tokio::time::Instant::now()).await {
                let mut r = Message { raw: bytes, ..Default::default() };
                if r.decode().is_ok() && r.transaction_id == id {
                    return r;
                }
            }
        }
        panic!("no answer from the TURN server");
    }

    /// A request with the long-term credential dance: learns realm and nonce from the first 401
    /// (or a 438 stale nonce) and signs. Ok(response) or Err(error code).
    async fn request(
        &mut self,
        method: stun::message::Method,
        attrs: impl Fn() -> Vec<Box<dyn Setter>>,
    ) -> Result<Message, u16> {
        let typ = MessageType::new(method, CLASS_REQUEST);
        let mut signed = !self.nonce.is_empty();
        for _ in 0..3 {
            let mut setters: Vec<Box<dyn Setter>> = vec![Box::new(typ)];
            setters.extend(attrs());
            let r = self.transact(setters, signed).await;
            if r.typ.class == CLASS_SUCCESS_RESPONSE {
                return Ok(r);
            }
            assert_eq!(r.typ.class, CLASS_ERROR_RESPONSE);
            let code = error_code(&r);
            let retry = match code {
                401 if !signed => true,
                438 => true,
                _ => false,
            };
            if !retry {
                return Err(code);
            }
            self.realm = TextAttribute::get_from_as(&r, ATTR_REALM).map(|t| t.text).unwrap_or_default();
            self.nonce = TextAttribute::get_from_as(&r, ATTR_NONCE).map(|t| t.text).unwrap_or_default();
            signed = true;
        }
        Err(0)
    }

    /// Allocates a UDP relay; the relayed address, or the error code.
    pub async fn allocate(&mut self) -> Result<SocketAddr, u16> {
        let r = self.request(METHOD_ALLOCATE, || vec![Box::new(RequestedTransport { protocol: PROTO_UDP })]).await?;
        let mut relayed = RelayedAddress::default();
        relayed.get_from(&r).expect("XOR-RELAYED-ADDRESS");
        Ok(SocketAddr::new(relayed.ip, relayed.port))
    }

    pub async fn create_permission(&mut self, peer: SocketAddr) -> Result<(), u16> {
        self.request(METHOD_CREATE_PERMISSION, || vec![Box::new(peer_attr(peer))]).await.map(|_| ())
    }

    pub async fn channel_bind(&mut self, channel: u16, peer: SocketAddr) -> Result<(), u16> {
        self.request(METHOD_CHANNEL_BIND, || vec![Box::new(ChannelNumber(channel)), Box::new(peer_attr(peer))])
            .await
            .map(|_| ())
    }

    /// A Send indication (no answer comes back either way).
    pub async fn send_indication(&mut self, peer: SocketAddr, data: &[u8]) {
        let mut m = Message::new();
        m.build(&[
            Box::new(stun::agent::TransactionId::new()),
            Box::new(MessageType::new(METHOD_SEND, CLASS_INDICATION)),
            Box::new(peer_attr(peer)),
            Box::new(Data(data.to_vec())),
        ])
        .unwrap();
        let raw = m.raw.clone();
        self.send(&raw).await;
    }

    pub async fn send_channel_data(&mut self, channel: u16, data: &[u8]) {
        let mut c = ChannelData { data: data.to_vec(), number: ChannelNumber(channel), raw: vec![] };
        c.encode();
        let raw = c.raw.clone();
        self.send(&raw).await;
    }

    /// The next data a peer sent through the relay, if any arrives within `wait`.
    pub async fn relayed(&mut self, wait: Duration) -> Option<Relayed> {
        let deadline = tokio::time::Instant::now() + wait;
        while let Some(bytes) = self.receive(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
            if ChannelData::is_channel_data(&bytes) {
                let mut c = ChannelData { raw: bytes, ..Default::default() };
                c.decode().ok()?;
                return Some(Relayed { from: None, channel: Some(c.number.0), data: c.data });
            }
            let mut m = Message { raw: bytes, ..Default::default() };
            if m.decode().is_ok() && m.typ == MessageType::new(METHOD_DATA, CLASS_INDICATION) {
                let mut peer = PeerAddress::default();
                let mut data = Data::default();
                peer.get_from(&m).ok()?;
                data.get_from(&m).ok()?;
                return Some(Relayed { from: Some(SocketAddr::new(peer.ip, peer.port)), channel: None, data: data.0 });
            }
        }
        None
    }
}

fn peer_attr(peer: SocketAddr) -> PeerAddress {
    PeerAddress { ip: peer.ip(), port: peer.port() }
}

fn error_code(m: &Message) -> u16 {
    let mut e = ErrorCodeAttribute::default();
    e.get_from(m).map(|()| e.code.0).unwrap_or(0)
}
