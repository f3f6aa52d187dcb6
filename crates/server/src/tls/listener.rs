//! The HTTPS listener: accepts TCP connections, completes TLS handshakes off the accept loop,
//! answers ACME TLS-ALPN-01 validation handshakes, and hands each connection either to the web
//! server or, when its first bytes are a STUN message, to the embedded TURN server.
//!
//! Why demultiplex: on a network that only lets out TCP 443, TURN over TLS must share the
//! port with the web app. After the handshake a browser speaks HTTP (it negotiated `h2` or
//! `http/1.1` by ALPN, or its first byte is an ASCII letter); a TURN client's first message is
//! a STUN request, whose first byte is 0x00 or 0x01.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

use crate::turn::Streams;

/// How long a client may take for its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// How long a connection that negotiated no ALPN may wait before its first bytes (a browser's
/// speculative preconnect can idle a while).
const FIRST_BYTES: Duration = Duration::from_secs(60);

/// What the listener needs to accept a connection.
pub(super) struct Handshakes {
    pub(super) config: Arc<rustls::ServerConfig>,
    /// Answers ACME TLS-ALPN-01 validation handshakes (ACME mode only).
    pub(super) challenge: Option<Arc<rustls::ServerConfig>>,
    /// Where TURN-over-TLS connections go (embedded TURN on).
    pub(super) turn: Option<Arc<Streams>>,
}

/// An HTTPS connection ready for the web server.
pub type Connection = Rewound<TlsStream<TcpStream>>;

/// The listener `axum::serve` takes.
pub struct HttpsListener {
    ready: mpsc::Receiver<(Connection, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl HttpsListener {
    pub(super) fn new(tcp: TcpListener, handshakes: Handshakes) -> io::Result<HttpsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let handshakes = Arc::new(handshakes);
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, remote) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "HTTPS accept");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(handshake(stream, remote, handshakes.clone(), tx.clone()));
            }
        });
        Ok(HttpsListener { ready, local, accepting })
    }
}

impl Drop for HttpsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for HttpsListener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        match self.ready.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn handshake(
    stream: TcpStream,
    remote: SocketAddr,
    h: Arc<Handshakes>,
    ready: mpsc::Sender<(Connection, SocketAddr)>,
) {
    let acceptor = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let Ok(Ok(start)) = tokio::time::timeout(HANDSHAKE, acceptor).await else { return };
    if rustls_acme::is_tls_alpn_challenge(&start.client_hello()) {
        if let Some(challenge) = &h.challenge {
            if let Ok(Ok(mut tls)) = tokio::time::timeout(HANDSHAKE, start.into_stream(challenge.clone())).await {
                tracing::info!(%remote, "answered an ACME TLS-ALPN-01 validation");
                let _ = tls.shutdown().await;
            }
        }
        return;
    }
    let mut tls = match tokio::time::timeout(HANDSHAKE, start.into_stream(h.config.clone())).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => return,
    };
    let negotiated = tls.get_ref().1.alpn_protocol().is_some();
    let first = match (&h.turn, negotiated) {
        (Some(_), false) => {
            let mut buf = vec![0u8; 2048];
            match tokio::time::timeout(FIRST_BYTES, tls.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    buf.truncate(n);
                    buf
                }
                _ => return,
            }
        }
        _ => Vec::new(),
    };
    let conn = Rewound { first, at: 0, inner: tls };
    match &h.turn {
        Some(turn) if conn.first.first().is_some_and(|b| *b < 0x40) => turn.attach(conn, remote),
        _ => {
            let _ = ready.send((conn, remote)).await;
        }
    }
}

/// A stream whose first bytes, already read to look at them, are read again.
pub struct Rewound<S> {
    first: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewound<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.at < self.first.len() {
            let n = (self.first.len() - self.at).min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.first[at..at + n]);
            self.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewound<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
