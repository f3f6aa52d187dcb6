//! TURN over TCP and TLS: the client's connection carries STUN messages and ChannelData back
//! to back (RFC 8656 §3.1, ChannelData padded to four bytes). [`Streams`] cuts every
//! connection into messages and presents all of them to the TURN server as one socket, each
//! message coming "from" its connection's remote address, as a UDP socket would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use webrtc_util::Conn;

/// Longest message accepted (a media packet with TURN headers fits in 1,500 bytes).
const MAX_MESSAGE: usize = 4096;
/// A connection with nothing on it for this long is closed (an allocation in use carries ICE
/// consent checks every few seconds and refreshes every few minutes).
const IDLE: Duration = Duration::from_secs(300);
/// Messages queued toward one client before further ones are dropped, as a datagram would be.
const QUEUE: usize = 512;

/// Every TURN client connection of one listener, as one socket.
pub struct Streams {
    local: SocketAddr,
    arrived: mpsc::Sender<(Vec<u8>, SocketAddr)>,
    inbox: tokio::sync::Mutex<mpsc::Receiver<(Vec<u8>, SocketAddr)>>,
    writers: Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>,
}

impl Streams {
    /// Connections accepted on `local` (the address reported as the server's).
    pub fn new(local: SocketAddr) -> Arc<Streams> {
        let (arrived, inbox) = mpsc::channel(QUEUE);
        Arc::new(Streams { local, arrived, inbox: tokio::sync::Mutex::new(inbox), writers: Mutex::default() })
    }

    /// Serves a client's connection (plain TCP, or TLS already handshaken) until it closes.
    pub fn attach<S>(self: &Arc<Self>, stream: S, remote: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
        self.writers().insert(remote, tx);
        tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                if writer.write_all(&message).await.is_err() {
                    break;
                }
            }
            let _ = writer.shutdown().await;
        });
        let streams = self.clone();
        tokio::spawn(async move {
            loop {
                match tokio::time::timeout(IDLE, read_message(&mut reader)).await {
                    Ok(Ok(message)) => {
                        if streams.arrived.send((message, remote)).await.is_err() {
                            break;
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%remote, error = %e, "TURN stream closed");
                        break;
                    }
                    Err(_) => break,
                }
            }
            // Dropping the writer's sender ends its task and closes the connection.
            streams.writers().remove(&remote);
        });
    }

    fn writers(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>> {
        self.writers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads one STUN message or ChannelData (without its padding).
async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 4];
    r.read_exact(&mut head).await?;
    let length = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let (total, keep) = match head[0] >> 6 {
        0 => (20 + length, 20 + length),                   // STUN: 20-byte header, then `length`
        1 => (4 + length.next_multiple_of(4), 4 + length), // ChannelData, padded on streams
        _ => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "neither STUN nor ChannelData")),
    };
    if total > MAX_MESSAGE {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "message too long"));
    }
    let mut message = vec![0u8; total];
    message[..4].copy_from_slice(&head);
    r.read_exact(&mut message[4..]).await?;
    message.truncate(keep);
    Ok(message)
}

#[async_trait]
impl Conn for Streams {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other("not a client socket".into()))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let mut inbox = self.inbox.lock().await;
        loop {
            let (message, from) =
                inbox.recv().await.ok_or_else(|| webrtc_util::Error::Other("TURN streams closed".into()))?;
            if let Some(dst) = buf.get_mut(..message.len()) {
                dst.copy_from_slice(&message);
                return Ok((message.len(), from));
            }
        }
    }

    async fn send(&self, _buf: &[u8]) -> webrtc_util::Result<usize> {
        Err(webrtc_util::Error::Other("send needs a client address".into()))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        let writer = self.writers().get(&target).cloned();
        match writer {
            // A full queue drops the message, as a congested UDP path would.
            Some(w) => {
                let _ = w.try_send(buf.to_vec());
                Ok(buf.len())
            }
            None => Err(webrtc_util::Error::Other(format!("no TURN connection from {target}"))),
        }
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        self.writers().clear();
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_are_cut_at_their_lengths_and_padding_is_dropped() {
        let stun = [0x00, 0x01, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 9, 9, 9, 9];
        let channel = [0x40, 0x00, 0x00, 0x03, 7, 7, 7, 0];
        let bytes: Vec<u8> = stun.iter().chain(&channel).copied().collect();
        let mut r = &bytes[..];
        assert_eq!(read_message(&mut r).await.unwrap(), stun);
        assert_eq!(read_message(&mut r).await.unwrap(), [0x40, 0x00, 0x00, 0x03, 7, 7, 7]);
        let mut junk = &b"GET / HTTP/1.1\r\n"[..];
        assert!(read_message(&mut junk).await.is_err(), "HTTP is neither");
    }
}
