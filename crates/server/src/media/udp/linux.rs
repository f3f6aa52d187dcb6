//! The Linux system calls behind the media sockets: `sendmmsg` (with UDP segmentation
//! offload where the kernel takes it), `recvmmsg` with arrival stamps.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime};

use socket2::{SockAddr, SockAddrStorage};

use super::runs::Run;
use super::{BATCH, DATAGRAM};

/// Room for one message's control messages: a received arrival stamp (a `timespec` in a
/// `cmsghdr`, 32 bytes) or a sent segment size (24 bytes), with space to spare; `u64`s for
/// the header's alignment.
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

/// The headers of one `sendmmsg`, kept so that each flush reuses their memory.
#[derive(Default)]
pub(in crate::media) struct SendScratch {
    addrs: Vec<SockAddr>,
    iovecs: Vec<libc::iovec>,
    controls: Vec<Control>,
    headers: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in `iovecs` and `headers` are written and used only within
// one `send_batch` call, which empties both before it returns.
unsafe impl Send for SendScratch {}

/// Whether the kernel offers UDP segmentation on `socket` (Linux 4.18 and later): reading
/// the option succeeds where it exists, and changes nothing.
pub(super) fn can_segment(socket: &UdpSocket) -> bool {
    let mut size: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: UDP_SEGMENT reads back as an int; the pointers describe `size` and `len`.
    let r = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            &mut size as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    r == 0
}

/// Whether a segmented send failed because the device cannot segment (no checksum
/// offload, IPsec): the kernel says EIO.
pub(super) fn device_cannot_segment(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EIO)
}

/// One `sendmmsg` of `runs` (the start of `queue`, one message each, a run of more than one
/// datagram cut by the kernel at its segment size); how many messages the kernel took.
pub(super) fn send_batch(
    socket: &UdpSocket,
    queue: &[(SocketAddr, Vec<u8>)],
    runs: &[Run],
    scratch: &mut SendScratch,
) -> io::Result<usize> {
    debug_assert!(runs.len() <= BATCH);
    let SendScratch { addrs, iovecs, controls, headers } = scratch;
    let datagrams: usize = runs.iter().map(|r| r.count).sum();
    // Filled completely before any pointer into them is taken, so none moves.
    iovecs.clear();
    iovecs.extend(
        queue[..datagrams]
            .iter()
            .map(|(_, bytes)| libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() }),
    );
    addrs.clear();
    controls.clear();
    let mut at = 0;
    for run in runs {
        addrs.push(SockAddr::from(queue[at].0));
        controls.push([0; 8]);
        at += run.count;
    }
    headers.clear();
    let mut at = 0;
    for ((run, addr), control) in runs.iter().zip(addrs.iter()).zip(controls.iter_mut()) {
        // SAFETY: an all-zero msghdr is valid (no control data, no flags).
        let mut h: libc::mmsghdr = unsafe { zeroed() };
        h.msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
        h.msg_hdr.msg_namelen = addr.len();
        // SAFETY: `at + run.count <= iovecs.len()`: the runs cover the first `datagrams`.
        h.msg_hdr.msg_iov = unsafe { iovecs.as_mut_ptr().add(at) };
        h.msg_hdr.msg_iovlen = run.count as _;
        if run.count > 1 {
            segment_at(&mut h.msg_hdr, control, run.segment);
        }
        headers.push(h);
        at += run.count;
    }
    // SAFETY: every header points into `addrs`, `iovecs` and `controls` (whose iovecs
    // borrow `queue`), all alive and unmoved until the call returns; the count matches.
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

/// Puts a `UDP_SEGMENT` control message (the segment size, a u16) in `control` and points
/// `h` at it.
fn segment_at(h: &mut libc::msghdr, control: &mut Control, segment: usize) {
    h.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    // SAFETY: CMSG_SPACE only computes a length.
    let space = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) };
    debug_assert!(space as usize <= size_of::<Control>());
    h.msg_controllen = space as _;
    // SAFETY: `msg_control` has `msg_controllen` bytes (checked above), so CMSG_FIRSTHDR is
    // non-null and its data has room for the u16 (written unaligned, as CMSG_DATA promises
    // no alignment).
    unsafe {
        let c = libc::CMSG_FIRSTHDR(h);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = libc::UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, segment as u16);
    }
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
