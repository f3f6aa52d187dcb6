//! Batched UDP I/O for the media workers: many datagrams per system call (`sendmmsg`,
//! `recvmmsg`) on Linux, one call per datagram elsewhere.
//!
//! An SFU sends each incoming packet to every subscriber, so one received datagram turns
//! into ten or a hundred sends; one system call per datagram was a quarter of the server's
//! CPU in the benchmark (bench/RESULTS.md).
//!
//! On Linux each received datagram also carries the time the kernel queued it
//! (`SO_TIMESTAMPNS`), so a worker knows how long its media really waited: the overload
//! mark judges that, and an estimate from the worker's own reads overstated it tenfold while
//! the socket stayed busy (bench/RESULTS.md, fourteenth pass).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

/// Datagrams per system call, either way.
pub(super) const BATCH: usize = 64;
/// Room for one datagram (a media packet is at most an MTU; bigger ones are truncated and
/// then refused by the room as malformed).
const DATAGRAM: usize = 2048;

/// Datagrams waiting to be sent, flushed in batches.
#[derive(Default)]
pub(super) struct Outbox {
    queue: Vec<(SocketAddr, Vec<u8>)>,
    /// When the oldest queued datagram was queued.
    since: Option<Instant>,
    /// The system call's headers, kept between flushes so that sending allocates nothing.
    scratch: sys::SendScratch,
}

impl Outbox {
    pub(super) fn push(&mut self, destination: SocketAddr, contents: Vec<u8>) {
        if self.queue.is_empty() {
            self.since = Some(Instant::now());
        }
        self.queue.push((destination, contents));
    }

    /// How long the oldest queued datagram has waited by `now` (zero when none is queued).
    pub(super) fn waited(&self, now: Instant) -> Duration {
        self.since.map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
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
            match sys::send_batch(socket, &self.queue[start..end], &mut self.scratch) {
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
        self.since = None;
        // The buffers go back to the thread's free list, for the next packets to be
        // written into (convene_sfu::downlink::buffers).
        for (_, contents) in self.queue.drain(..) {
            convene_sfu::downlink::buffers::recycle(contents);
        }
        refused
    }
}

/// Asks the kernel to stamp each datagram it queues on `socket` with the time it arrived
/// (read back by [`Inbox::waited`]). Where it cannot, waits are not known per datagram.
pub(super) fn stamp_arrivals(socket: &UdpSocket) -> io::Result<()> {
    sys::stamp_arrivals(socket)
}

/// Buffers for receiving a batch of datagrams.
pub(super) struct Inbox {
    buffers: Vec<[u8; DATAGRAM]>,
    /// The system call's headers, built once over `buffers` (see [`sys::ReceiveScratch`]).
    scratch: sys::ReceiveScratch,
    /// Source, length and the kernel's arrival stamp (wall clock) of each datagram read.
    received: Vec<(SocketAddr, usize, Option<SystemTime>)>,
    /// When the last batch was read, on both clocks (to put the kernel's wall-clock stamps
    /// on the worker's monotonic one).
    read_at: (Instant, SystemTime),
}

impl Inbox {
    pub(super) fn new() -> Inbox {
        let mut buffers = vec![[0u8; DATAGRAM]; BATCH];
        let scratch = sys::ReceiveScratch::new(&mut buffers);
        Inbox { buffers, scratch, received: Vec::with_capacity(BATCH), read_at: (Instant::now(), SystemTime::now()) }
    }

    /// Reads what is waiting on a non-blocking socket, up to [`BATCH`] datagrams;
    /// `WouldBlock` when nothing is.
    pub(super) fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.received.clear();
        #[cfg(target_os = "linux")]
        sys::receive_batch(socket, &mut self.scratch, &mut self.received)?;
        #[cfg(not(target_os = "linux"))]
        sys::receive_batch(socket, &mut self.buffers, &mut self.received)?;
        self.read_at = (Instant::now(), SystemTime::now());
        Ok(self.received.len())
    }

    /// The `i`-th datagram of the last batch.
    pub(super) fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        let (source, len, _) = *self.received.get(i)?;
        Some((source, &self.buffers[i][..len]))
    }

    /// How long the `i`-th datagram of the last batch has waited by `now`, from the kernel's
    /// stamp; `None` without one. (A wall clock stepped back makes it zero, not negative.)
    pub(super) fn waited(&self, i: usize, now: Instant) -> Option<Duration> {
        let arrived = self.received.get(i)?.2?;
        let (read_instant, read_wall) = self.read_at;
        let before_read = read_wall.duration_since(arrived).unwrap_or(Duration::ZERO);
        Some(before_read + now.saturating_duration_since(read_instant))
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;
    use std::time::{Duration, SystemTime};

    use socket2::{SockAddr, SockAddrStorage};

    use super::{BATCH, DATAGRAM};

    /// Room for one datagram's control messages: the arrival stamp (a `timespec` in a
    /// `cmsghdr`, 32 bytes) with space to spare; `u64`s for the header's alignment.
    type Control = [u64; 8];

    pub(super) fn stamp_arrivals(socket: &UdpSocket) -> io::Result<()> {
        let on: libc::c_int = 1;
        // SAFETY: SO_TIMESTAMPNS takes an int flag; the pointer and length describe `on`.
        let r = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                &on as *const libc::c_int as *const libc::c_void,
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The `SCM_TIMESTAMPNS` stamp among a received message's control messages.
    fn arrival(h: &libc::msghdr) -> Option<SystemTime> {
        // SAFETY: the kernel filled `msg_control` up to `msg_controllen`; the CMSG macros walk
        // only within it, and the data of an SCM_TIMESTAMPNS message is one timespec (read
        // unaligned, as CMSG_DATA promises no alignment).
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                    let secs = u64::try_from(ts.tv_sec).ok()?;
                    let nanos = u32::try_from(ts.tv_nsec).ok()?;
                    return SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos));
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
        }
        None
    }

    /// One `sendmmsg` for up to [`BATCH`] datagrams; how many the kernel took.
    /// The headers of one `sendmmsg`, kept so that each flush reuses their memory.
    #[derive(Default)]
    pub(in crate::media) struct SendScratch {
        addrs: Vec<SockAddr>,
        iovecs: Vec<libc::iovec>,
        headers: Vec<libc::mmsghdr>,
    }

    // SAFETY: the raw pointers in `iovecs` and `headers` are written and used only within
    // one `send_batch` call, which empties both before it returns.
    unsafe impl Send for SendScratch {}

    pub(super) fn send_batch(
        socket: &UdpSocket,
        batch: &[(SocketAddr, Vec<u8>)],
        scratch: &mut SendScratch,
    ) -> io::Result<usize> {
        debug_assert!(batch.len() <= BATCH);
        let SendScratch { addrs, iovecs, headers } = scratch;
        addrs.clear();
        addrs.extend(batch.iter().map(|(to, _)| SockAddr::from(*to)));
        iovecs.clear();
        iovecs.extend(
            batch
                .iter()
                .map(|(_, bytes)| libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() }),
        );
        headers.clear();
        headers.extend(addrs.iter().zip(iovecs.iter_mut()).map(|(addr, iov)| {
            // SAFETY: an all-zero msghdr is valid (no control data, no flags).
            let mut h: libc::mmsghdr = unsafe { zeroed() };
            h.msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
            h.msg_hdr.msg_namelen = addr.len();
            h.msg_hdr.msg_iov = iov as *mut libc::iovec;
            h.msg_hdr.msg_iovlen = 1;
            h
        }));
        // SAFETY: every header points into `addrs` and `iovecs` (whose buffers borrow
        // `batch`), all alive and unmoved until the call returns; the count matches.
        let n = unsafe {
            libc::sendmmsg(socket.as_raw_fd(), headers.as_mut_ptr(), headers.len() as libc::c_uint, libc::MSG_DONTWAIT)
        };
        // No pointer outlives the call (see the `Send` above).
        headers.clear();
        iovecs.clear();
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// The headers of `recvmmsg` over an inbox's buffers, built once: they point only into
    /// heap memory that never moves while the inbox lives (its buffers, and the boxed
    /// addresses, control space and iovecs here), so each read just resets the lengths the
    /// kernel overwrote. Rebuilding them per read allocated and zeroed ~17 KB each time.
    pub(in crate::media) struct ReceiveScratch {
        names: Box<[libc::sockaddr_storage]>,
        controls: Box<[Control]>,
        iovecs: Box<[libc::iovec]>,
        headers: Box<[libc::mmsghdr]>,
    }

    impl ReceiveScratch {
        /// Headers over `buffers`, which must outlive the scratch and never be reallocated
        /// (an inbox owns both and never resizes its buffers).
        pub(in crate::media) fn new(buffers: &mut [[u8; DATAGRAM]]) -> ReceiveScratch {
            // SAFETY: an all-zero sockaddr_storage is valid (family unspecified).
            let mut names: Box<[libc::sockaddr_storage]> = (0..buffers.len()).map(|_| unsafe { zeroed() }).collect();
            let mut controls: Box<[Control]> = vec![[0; 8]; buffers.len()].into_boxed_slice();
            let mut iovecs: Box<[libc::iovec]> = buffers
                .iter_mut()
                .map(|b| libc::iovec { iov_base: b.as_mut_ptr() as *mut libc::c_void, iov_len: DATAGRAM })
                .collect();
            let headers = names
                .iter_mut()
                .zip(iovecs.iter_mut())
                .zip(controls.iter_mut())
                .map(|((name, iov), control)| {
                    // SAFETY: an all-zero msghdr is valid.
                    let mut h: libc::mmsghdr = unsafe { zeroed() };
                    h.msg_hdr.msg_name = name as *mut libc::sockaddr_storage as *mut libc::c_void;
                    h.msg_hdr.msg_iov = iov as *mut libc::iovec;
                    h.msg_hdr.msg_iovlen = 1;
                    h.msg_hdr.msg_control = control.as_mut_ptr() as *mut libc::c_void;
                    h
                })
                .collect();
            ReceiveScratch { names, controls, iovecs, headers }
        }
    }

    /// One `recvmmsg` (non-blocking) into the inbox's buffers; fills `received` with
    /// source, length and arrival stamp.
    pub(super) fn receive_batch(
        socket: &UdpSocket,
        scratch: &mut ReceiveScratch,
        received: &mut Vec<(SocketAddr, usize, Option<SystemTime>)>,
    ) -> io::Result<()> {
        let ReceiveScratch { names, controls, iovecs, headers } = scratch;
        debug_assert_eq!(controls.len(), iovecs.len());
        for h in headers.iter_mut() {
            // The kernel shrank these to what it wrote last time.
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_controllen = size_of::<Control>() as _;
        }
        // SAFETY: the headers point into `names`, `iovecs`, `controls` and the inbox's
        // buffers, alive and unmoved (see `ReceiveScratch`); each iovec and control length is
        // exactly its buffer's.
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
        for (h, name) in headers.iter().zip(names.iter()).take(n as usize) {
            let mut storage = SockAddrStorage::zeroed();
            // SAFETY: SockAddrStorage is a transparent sockaddr_storage, and the kernel wrote
            // `msg_namelen` bytes of address into `name`.
            let addr = unsafe {
                *storage.view_as::<libc::sockaddr_storage>() = *name;
                SockAddr::new(storage, h.msg_hdr.msg_namelen)
            };
            let arrived = arrival(&h.msg_hdr);
            if let Some(source) = addr.as_socket() {
                received.push((source, (h.msg_len as usize).min(DATAGRAM), arrived));
            } else {
                // Keep the indexes aligned with the buffers; an empty datagram is ignored.
                received.push((SocketAddr::from(([0, 0, 0, 0], 0)), 0, None));
            }
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;
    use std::net::{SocketAddr, UdpSocket};
    use std::time::SystemTime;

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

    pub(super) fn send_batch(
        socket: &UdpSocket,
        batch: &[(SocketAddr, Vec<u8>)],
        _scratch: &mut SendScratch,
    ) -> io::Result<usize> {
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
    #[cfg(target_os = "linux")]
    fn a_datagram_says_how_long_it_sat_in_the_socket() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let mut inbox = Inbox::new();

        // Unstamped, a wait is not known.
        a.send_to(&[1], b.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(inbox.receive(&b).unwrap(), 1);
        assert_eq!(inbox.waited(0, std::time::Instant::now()), None);

        stamp_arrivals(&b).unwrap();
        // The kernel turns stamping on for the stack a moment later (deferred work): until
        // then a datagram is stamped as it is read. Let that pass.
        std::thread::sleep(std::time::Duration::from_millis(100));
        a.send_to(&[2], b.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(80));
        assert_eq!(inbox.receive(&b).unwrap(), 1);
        let now = std::time::Instant::now();
        let waited = inbox.waited(0, now).expect("a stamp");
        assert!(waited >= std::time::Duration::from_millis(80), "{waited:?}");
        assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
        // Later, it has waited longer (it is still not handled).
        let later = inbox.waited(0, now + std::time::Duration::from_millis(30)).unwrap();
        assert_eq!(later - waited, std::time::Duration::from_millis(30));

        // Read at once, it waited next to nothing.
        a.send_to(&[3], b.local_addr().unwrap()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while inbox.receive(&b).is_err() && std::time::Instant::now() < deadline {}
        assert!(inbox.waited(0, std::time::Instant::now()).unwrap() < std::time::Duration::from_millis(80));
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
