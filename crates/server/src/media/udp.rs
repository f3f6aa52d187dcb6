//! Batched UDP I/O for the media workers: many datagrams per system call (`sendmmsg`,
//! `recvmmsg`) on Linux, one call per datagram elsewhere.
//!
//! An SFU sends each incoming packet to every subscriber, so one received datagram turns
//! into ten or a hundred sends; one system call per datagram was a quarter of the server's
//! CPU in the benchmark (bench/RESULTS.md).

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Datagrams per system call, either way.
pub(super) const BATCH: usize = 64;
/// Room for one datagram (a media packet is at most an MTU; bigger ones are truncated and
/// then refused by the room as malformed).
const DATAGRAM: usize = 2048;

/// Datagrams waiting to be sent, flushed in batches.
#[derive(Default)]
pub(super) struct Outbox {
    queue: Vec<(SocketAddr, Vec<u8>)>,
}

impl Outbox {
    pub(super) fn push(&mut self, destination: SocketAddr, contents: Vec<u8>) {
        self.queue.push((destination, contents));
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Sends everything queued. A datagram the kernel refuses (an unreachable address, a
    /// full buffer) is dropped and counted, as a lost packet would be; the rest still go.
    /// Returns how many were refused.
    pub(super) fn flush(&mut self, socket: &UdpSocket) -> usize {
        let mut refused = 0;
        let mut start = 0;
        while start < self.queue.len() {
            let end = (start + BATCH).min(self.queue.len());
            match sys::send_batch(socket, &self.queue[start..end]) {
                Ok(n) => start += n.max(1),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The first datagram of the batch failed: skip it alone.
                    tracing::debug!(error = %e, destination = %self.queue[start].0, "media send");
                    refused += 1;
                    start += 1;
                }
            }
        }
        // The buffers go back to the thread's free list, for the next packets to be
        // written into (convene_sfu::downlink::buffers).
        for (_, contents) in self.queue.drain(..) {
            convene_sfu::downlink::buffers::recycle(contents);
        }
        refused
    }
}

/// Buffers for receiving a batch of datagrams.
pub(super) struct Inbox {
    buffers: Vec<[u8; DATAGRAM]>,
    received: Vec<(SocketAddr, usize)>,
}

impl Inbox {
    pub(super) fn new() -> Inbox {
        Inbox { buffers: vec![[0u8; DATAGRAM]; BATCH], received: Vec::with_capacity(BATCH) }
    }

    /// Reads what is waiting on a non-blocking socket, up to [`BATCH`] datagrams;
    /// `WouldBlock` when nothing is.
    pub(super) fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.received.clear();
        sys::receive_batch(socket, &mut self.buffers, &mut self.received)?;
        Ok(self.received.len())
    }

    /// The `i`-th datagram of the last batch.
    pub(super) fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        let (source, len) = *self.received.get(i)?;
        Some((source, &self.buffers[i][..len]))
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;

    use socket2::{SockAddr, SockAddrStorage};

    use super::{BATCH, DATAGRAM};

    /// One `sendmmsg` for up to [`BATCH`] datagrams; how many the kernel took.
    pub(super) fn send_batch(socket: &UdpSocket, batch: &[(SocketAddr, Vec<u8>)]) -> io::Result<usize> {
        debug_assert!(batch.len() <= BATCH);
        let addrs: Vec<SockAddr> = batch.iter().map(|(to, _)| SockAddr::from(*to)).collect();
        let mut iovecs: Vec<libc::iovec> = batch
            .iter()
            .map(|(_, bytes)| libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() })
            .collect();
        let mut headers: Vec<libc::mmsghdr> = addrs
            .iter()
            .zip(iovecs.iter_mut())
            .map(|(addr, iov)| {
                // SAFETY: an all-zero msghdr is valid (no control data, no flags).
                let mut h: libc::mmsghdr = unsafe { zeroed() };
                h.msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
                h.msg_hdr.msg_namelen = addr.len();
                h.msg_hdr.msg_iov = iov as *mut libc::iovec;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        // SAFETY: every header points into `addrs` and `iovecs` (whose buffers borrow
        // `batch`), all alive and unmoved until the call returns; the count matches.
        let n = unsafe {
            libc::sendmmsg(socket.as_raw_fd(), headers.as_mut_ptr(), headers.len() as libc::c_uint, libc::MSG_DONTWAIT)
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// One `recvmmsg` (non-blocking) into `buffers`; fills `received` with source and length.
    pub(super) fn receive_batch(
        socket: &UdpSocket,
        buffers: &mut [[u8; DATAGRAM]],
        received: &mut Vec<(SocketAddr, usize)>,
    ) -> io::Result<()> {
        let mut names: Vec<SockAddrStorage> = (0..buffers.len()).map(|_| SockAddrStorage::zeroed()).collect();
        let mut iovecs: Vec<libc::iovec> = buffers
            .iter_mut()
            .map(|b| libc::iovec { iov_base: b.as_mut_ptr() as *mut libc::c_void, iov_len: DATAGRAM })
            .collect();
        let mut headers: Vec<libc::mmsghdr> = names
            .iter_mut()
            .zip(iovecs.iter_mut())
            .map(|(name, iov)| {
                // SAFETY: an all-zero msghdr is valid.
                let mut h: libc::mmsghdr = unsafe { zeroed() };
                h.msg_hdr.msg_name = name as *mut SockAddrStorage as *mut libc::c_void;
                h.msg_hdr.msg_namelen = size_of::<SockAddrStorage>() as libc::socklen_t;
                h.msg_hdr.msg_iov = iov as *mut libc::iovec;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        // SAFETY: the headers point into `names`, `iovecs` and `buffers`, alive and unmoved
        // for the call; each iovec is exactly its buffer's size.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                headers.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        for (h, name) in headers.iter().zip(names).take(n as usize) {
            // SAFETY: the kernel wrote `msg_namelen` bytes of address into `name`.
            let addr = unsafe { SockAddr::new(name, h.msg_hdr.msg_namelen) };
            if let Some(source) = addr.as_socket() {
                received.push((source, (h.msg_len as usize).min(DATAGRAM)));
            } else {
                // Keep the indexes aligned with the buffers; an empty datagram is ignored.
                received.push((SocketAddr::from(([0, 0, 0, 0], 0)), 0));
            }
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;
    use std::net::{SocketAddr, UdpSocket};

    use super::DATAGRAM;

    pub(super) fn send_batch(socket: &UdpSocket, batch: &[(SocketAddr, Vec<u8>)]) -> io::Result<usize> {
        for (i, (to, bytes)) in batch.iter().enumerate() {
            if let Err(e) = socket.send_to(bytes, to) {
                return if i == 0 { Err(e) } else { Ok(i) };
            }
        }
        Ok(batch.len())
    }

    pub(super) fn receive_batch(
        socket: &UdpSocket,
        buffers: &mut [[u8; DATAGRAM]],
        received: &mut Vec<(SocketAddr, usize)>,
    ) -> io::Result<()> {
        for b in buffers.iter_mut() {
            match socket.recv_from(&mut b[..]) {
                Ok((n, source)) => received.push((source, n)),
                Err(e) if received.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_goes_out_and_comes_back_in_order() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let to = b.local_addr().unwrap();
        let mut out = Outbox::default();
        let count = BATCH + 7; // more than one system call's worth
        for i in 0..count {
            out.push(to, vec![i as u8; 10 + i]);
        }
        assert_eq!(out.flush(&a), 0);
        assert_eq!(out.len(), 0);

        let mut inbox = Inbox::new();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < count && std::time::Instant::now() < deadline {
            match inbox.receive(&b) {
                Ok(n) => {
                    assert!(n <= BATCH);
                    for i in 0..n {
                        let (from, bytes) = inbox.get(i).unwrap();
                        assert_eq!(from, a.local_addr().unwrap());
                        got.push(bytes.to_vec());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got.len(), count);
        for (i, bytes) in got.iter().enumerate() {
            assert_eq!(bytes, &vec![i as u8; 10 + i]);
        }
        assert!(matches!(inbox.receive(&b), Err(e) if e.kind() == io::ErrorKind::WouldBlock));
    }

    #[test]
    fn a_refused_datagram_is_dropped_and_the_rest_still_go() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut out = Outbox::default();
        // An IPv6 destination on an IPv4 socket is refused by the kernel (EAFNOSUPPORT-like).
        out.push("[2001:db8::1]:9".parse().unwrap(), vec![1]);
        out.push(b.local_addr().unwrap(), vec![2, 2]);
        assert_eq!(out.flush(&a), 1);
        let mut buf = [0u8; 16];
        let (n, _) = b.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[2, 2]);
    }
}
