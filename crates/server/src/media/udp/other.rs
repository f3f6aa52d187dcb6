//! Elsewhere than Linux: one system call per datagram, no arrival stamps, no segmentation.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::SystemTime;

use super::runs::Run;
use super::DATAGRAM;

pub(super) fn stamp_arrivals(_socket: &UdpSocket) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "arrival stamps are read on Linux only"))
}

/// Nothing to keep where each datagram is its own call.
#[derive(Default)]
pub(in crate::media) struct SendScratch;

pub(in crate::media) struct ReceiveScratch;

impl ReceiveScratch {
    pub(in crate::media) fn new(_buffers: &mut [[u8; DATAGRAM]]) -> ReceiveScratch {
        ReceiveScratch
    }
}

/// No segmentation offload here.
pub(super) fn can_segment(_socket: &UdpSocket) -> bool {
    false
}

pub(super) fn device_cannot_segment(_e: &io::Error) -> bool {
    false
}

/// Sends `runs` (each a single datagram here: nothing segments) one call each; how many went.
pub(super) fn send_batch(
    socket: &UdpSocket,
    queue: &[(SocketAddr, Vec<u8>)],
    runs: &[Run],
    _scratch: &mut SendScratch,
) -> io::Result<usize> {
    debug_assert!(runs.iter().all(|r| r.count == 1));
    for (i, (to, bytes)) in queue[..runs.len()].iter().enumerate() {
        if let Err(e) = socket.send_to(bytes, to) {
            return if i == 0 { Err(e) } else { Ok(i) };
        }
    }
    Ok(runs.len())
}

pub(super) fn receive_batch(
    socket: &UdpSocket,
    buffers: &mut [[u8; DATAGRAM]],
    received: &mut Vec<(SocketAddr, usize, Option<SystemTime>)>,
) -> io::Result<()> {
    for b in buffers.iter_mut() {
        match socket.recv_from(&mut b[..]) {
            Ok((n, source)) => received.push((source, n, None)),
            Err(e) if received.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    Ok(())
}
