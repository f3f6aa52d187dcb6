//! ICE-TCP (RFC 6544) transport: RFC 4571 framing (a 16-bit length before each packet) on
//! TCP connections to the media port, for networks that block UDP. Each connection gets a
//! reader and a writer thread; packets go to the media thread as commands.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;

use super::Command;

/// Largest packet accepted on a TCP path (a UDP datagram's worth).
const MAX_FRAME: usize = 1500 * 2;

/// Accepts ICE-TCP connections on a background thread.
pub(super) fn accept(listener: TcpListener, engine: mpsc::Sender<Command>) -> std::io::Result<()> {
    std::thread::Builder::new().name("convene-ice-tcp".into()).spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Ok(remote) = stream.peer_addr() else { continue };
            let _ = stream.set_nodelay(true);
            if let Err(e) = connection(stream, remote, engine.clone()) {
                tracing::debug!(%remote, error = %e, "ice-tcp connection");
            }
        }
    })?;
    Ok(())
}

fn connection(stream: TcpStream, remote: SocketAddr, engine: mpsc::Sender<Command>) -> std::io::Result<()> {
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
    if engine.send(Command::TcpOpen { remote, writer: frames_tx }).is_err() {
        return Ok(());
    }
    let mut reader = stream;
    std::thread::Builder::new().name("convene-ice-tcp-r".into()).spawn(move || {
        let mut header = [0u8; 2];
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
            if engine.send(Command::TcpFrame { remote, bytes }).is_err() {
                return;
            }
        }
        let _ = engine.send(Command::TcpClosed { remote });
    })?;
    Ok(())
}
