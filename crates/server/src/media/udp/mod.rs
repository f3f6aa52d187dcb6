//! Batched UDP I/O for the media workers: many datagrams per system call (`sendmmsg`,
//! `recvmmsg`) on Linux, one call per datagram elsewhere.
//!
//! An SFU sends each incoming packet to every subscriber, so one received datagram turns
//! into ten or a hundred sends; one system call per datagram was a quarter of the server's
//! CPU in the benchmark (bench/RESULTS.md). Where the kernel offers it, a run of datagrams to
//! one viewer (the packets of a video frame) goes as one segmented message ([`runs`]).
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
    /// Whether runs of datagrams to one destination go as one segmented send ([`runs`]).
    segmenting: bool,
    /// The messages of the batch being sent.
    runs: Vec<runs::Run>,
    /// The system call's headers, kept between flushes so that sending allocates nothing.
    scratch: sys::SendScratch,
    /// Messages handed to the kernel so far (a segmented run is one).
    messages: u64,
}

impl Outbox {
    /// An outbox for `socket` that sends runs of datagrams as one segmented send when
    /// `segmenting` is asked for and the kernel offers it.
    pub(super) fn for_socket(socket: &UdpSocket, segmenting: bool) -> Outbox {
        let segmenting = segmenting && sys::can_segment(socket);
        Outbox { segmenting, ..Outbox::default() }
    }

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

    /// Messages handed to the kernel so far (a segmented run counts once).
    pub(super) fn messages(&self) -> u64 {
        self.messages
    }

    /// Sends everything queued. A datagram the kernel refuses (an unreachable address, a
    /// full buffer) is dropped and counted, as a lost packet would be; the rest still go.
    /// Returns how many were refused.
    pub(super) fn flush(&mut self, socket: &UdpSocket) -> usize {
        if self.segmenting {
            // Each destination's datagrams together, in their order (a stable sort): the
            // order between destinations means nothing to anyone.
            self.queue.sort_by_key(|(to, _)| *to);
        }
        let Outbox { queue, segmenting, runs, scratch, messages, .. } = self;
        let refused = send_all(socket, queue, segmenting, runs, scratch, messages);
        self.since = None;
        // The buffers go back to the thread's free list, for the next packets to be
        // written into (convene_sfu::downlink::buffers).
        for (_, contents) in self.queue.drain(..) {
            convene_sfu::downlink::buffers::recycle(contents);
        }
        refused
    }
}

/// Sends `queue` in as few system calls and messages as the kernel allows; returns how many
/// datagrams it refused. A run the kernel will not segment goes again as separate datagrams:
/// EIO means the device cannot (segmenting stops for good), EINVAL a segment longer than
/// the path's MTU.
fn send_all(
    socket: &UdpSocket,
    queue: &[(SocketAddr, Vec<u8>)],
    segmenting: &mut bool,
    runs: &mut Vec<runs::Run>,
    scratch: &mut sys::SendScratch,
    messages: &mut u64,
) -> usize {
    let mut refused = 0;
    let mut start = 0;
    while start < queue.len() {
        let rest = &queue[start..];
        runs::plan(rest, *segmenting, BATCH, runs);
        match sys::send_batch(socket, rest, runs, scratch) {
            Ok(n) => {
                let n = n.clamp(1, runs.len());
                *messages += n as u64;
                start += runs[..n].iter().map(|r| r.count).sum::<usize>();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // The batch's first message failed: the rest of the batch was not tried.
                let first = runs[0].count;
                if first > 1 {
                    if sys::device_cannot_segment(&e) {
                        tracing::info!(error = %e, "media socket: the kernel cannot segment sends; sending datagrams one by one");
                        *segmenting = false;
                    }
                    refused += send_all(socket, &rest[..first], &mut false, runs, scratch, messages);
                } else {
                    tracing::debug!(error = %e, destination = %rest[0].0, "media send");
                    refused += 1;
                }
                start += first;
            }
        }
    }
    refused
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

mod runs;

#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod sys;
#[cfg(not(target_os = "linux"))]
#[path = "other.rs"]
mod sys;

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

    /// Receives `count` datagrams on `b` (or fewer by a deadline), and then whatever else
    /// arrives within 20 ms.
    fn receive(b: &UdpSocket, count: usize) -> Vec<Vec<u8>> {
        let mut inbox = Inbox::new();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < count && std::time::Instant::now() < deadline {
            match inbox.receive(b) {
                Ok(n) => got.extend((0..n).map(|i| inbox.get(i).unwrap().1.to_vec())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(e) => panic!("{e}"),
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        while let Ok(n) = inbox.receive(b) {
            got.extend((0..n).map(|i| inbox.get(i).unwrap().1.to_vec()));
        }
        got
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_frame_to_each_viewer_leaves_as_one_message_and_arrives_as_its_packets() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let viewers: Vec<UdpSocket> = (0..2).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
        for v in &viewers {
            v.set_nonblocking(true).unwrap();
        }
        let mut out = Outbox::for_socket(&a, true);
        assert!(out.segmenting, "Linux since 4.18 segments UDP");
        // A frame of four packets, the last shorter, then an audio packet, fanned out to both
        // viewers in turn as the room does.
        let packets: Vec<Vec<u8>> =
            [1200, 1200, 1200, 250, 80].iter().enumerate().map(|(i, &len)| vec![i as u8 + 1; len]).collect();
        for p in &packets {
            for v in &viewers {
                out.push(v.local_addr().unwrap(), p.clone());
            }
        }
        assert_eq!(out.flush(&a), 0);
        assert_eq!(out.messages(), 4, "per viewer: the frame's run, then the audio packet");
        for v in &viewers {
            assert_eq!(receive(v, packets.len()), packets, "each packet whole, in order");
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_run_the_kernel_will_not_segment_goes_datagram_by_datagram() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let mut out = Outbox::for_socket(&a, true);
        // Without UDP checksums the kernel refuses to segment (EINVAL), as it does a segment
        // over the path's MTU; single datagrams still go.
        let on: libc::c_int = 1;
        // SAFETY: SO_NO_CHECK takes an int flag; the pointer and length describe `on`.
        let r = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&a),
                libc::SOL_SOCKET,
                libc::SO_NO_CHECK,
                &on as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
        let packets: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 1000]).collect();
        for p in &packets {
            out.push(b.local_addr().unwrap(), p.clone());
        }
        assert_eq!(out.flush(&a), 0, "nothing refused");
        assert_eq!(receive(&b, 3), packets);
        assert_eq!(out.messages(), 3, "the run went again as three datagrams");
        assert!(out.segmenting, "EINVAL is about this run, not the device");
    }

    #[test]
    fn without_segmenting_each_datagram_is_its_own_message() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let mut out = Outbox::for_socket(&a, false);
        for i in 0..3u8 {
            out.push(b.local_addr().unwrap(), vec![i; 1000]);
        }
        assert_eq!(out.flush(&a), 0);
        assert_eq!(out.messages(), 3);
        assert_eq!(receive(&b, 3), vec![vec![0; 1000], vec![1; 1000], vec![2; 1000]]);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod cost {
    //! Not a test: `cargo test --release -p convene --lib gso_cost -- --ignored --nocapture`
    //! prints the thread CPU per datagram of flushes with and without segmentation,
    //! alternated so that the machine's drift falls on both alike.
    use super::*;

    fn thread_cpu() -> Duration {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes one timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    #[test]
    #[ignore]
    fn gso_cost() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let viewers: Vec<UdpSocket> = (0..9).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
        for v in &viewers {
            v.set_nonblocking(true).unwrap();
        }
        let mut inbox = Inbox::new();
        for (name, frame) in [
            ("2 packets [1041,1042]", vec![1041, 1042]),
            ("6 packets [1041x2,1042x4]", vec![1041, 1041, 1042, 1042, 1042, 1042]),
            ("6 packets [1100x5,300]", vec![1100, 1100, 1100, 1100, 1100, 300]),
        ] {
            let mut spent = [Duration::ZERO; 2];
            let mut datagrams = [0u64; 2];
            for round in 0..40 {
                let on = round % 2 == 0;
                let mut out = Outbox::for_socket(&a, on);
                for _ in 0..200 {
                    // A round: three publishers' frames and audio, fanned out to every viewer.
                    for _publisher in 0..3 {
                        for &len in frame.iter().chain([80].iter()) {
                            for v in &viewers {
                                out.push(v.local_addr().unwrap(), vec![7; len]);
                            }
                        }
                    }
                    datagrams[usize::from(on)] += out.len() as u64;
                    let t = thread_cpu();
                    assert_eq!(out.flush(&a), 0);
                    spent[usize::from(on)] += thread_cpu() - t;
                    for v in &viewers {
                        while matches!(inbox.receive(v), Ok(n) if n > 0) {}
                    }
                }
            }
            let per = |i: usize| spent[i].as_nanos() as f64 / datagrams[i] as f64;
            println!("{name}: off {:.0} ns, on {:.0} ns a datagram ({:.2}x)", per(0), per(1), per(1) / per(0));
        }
    }
}
