//! ICE-TCP (RFC 6544) transport: RFC 4571 framing (a 16-bit length before each packet) on
//! TCP connections to the media port, for networks that block UDP. Each connection gets a
//! reader and a writer thread; the reader routes packets to the room's worker, workers
//! write through the connection's writer.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, RwLock};

use super::router::Router;

/// Largest packet accepted on a TCP path (a UDP datagram's worth).
const MAX_FRAME: usize = 1500 * 2;

/// The writers of open ICE-TCP connections by remote address, shared by every worker.
#[derive(Clone, Default)]
pub(super) struct Writers(Arc<RwLock<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>>);

impl Writers {
    /// Queues a packet on the connection to `remote`, if it is still open.
    pub(super) fn send(&self, remote: SocketAddr, packet: Vec<u8>) {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = map.get(&remote) {
            let _ = w.send(packet);
        }
    }

    fn open(&self, remote: SocketAddr, writer: mpsc::Sender<Vec<u8>>) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).insert(remote, writer);
    }

    fn close(&self, remote: SocketAddr) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).remove(&remote);
    }
}

/// Accepts ICE-TCP connections on a background thread.
pub(super) fn accept(listener: TcpListener, router: Arc<Router>, writers: Writers) -> std::io::Result<()> {
    std::thread::Builder::new().name("convene-ice-tcp".into()).spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Ok(remote) = stream.peer_addr() else { continue };
            let _ = stream.set_nodelay(true);
            if let Err(e) = connection(stream, remote, router.clone(), writers.clone()) {
                tracing::debug!(%remote, error = %e, "ice-tcp connection");
            }
        }
    })?;
    Ok(())
}

fn connection(stream: TcpStream, remote: SocketAddr, router: Arc<Router>, writers: Writers) -> std::io::Result<()> {
    let (frames_tx, frames_rx) = mpsc::channel::<Vec<u8>>();
    let mut writer = stream.try_clone()?;
    std::thread::Builder::new().name("convene-ice-tcp-w".into()).spawn(move || {
        for packet in frames_rx {
            let Ok(len) = u16::try_from(packet.len()) else { continue };
            if writer.write_all(&len.to_be_bytes()).and_then(|()| writer.write_all(&packet)).is_err() {
                break;
            }
        }
    })?;
    writers.open(remote, frames_tx);
    let mut reader = stream;
    std::thread::Builder::new().name("convene-ice-tcp-r".into()).spawn(move || {
        let mut header = [0u8; 2];
        let mut worker = None;
        loop {
            if reader.read_exact(&mut header).is_err() {
                break;
            }
            let len = usize::from(u16::from_be_bytes(header));
            if len == 0 || len > MAX_FRAME {
                break; // not RFC 4571: drop the connection
            }
            let mut bytes = vec![0u8; len];
            if reader.read_exact(&mut bytes).is_err() {
                break;
            }
            router.tcp_frame(remote, &mut worker, bytes);
        }
        writers.close(remote);
        router.tcp_closed(remote);
    })?;
    Ok(())
}
