//! The machine's own ceiling: a minimal UDP forwarder with no ICE, no DTLS, no SRTP and no
//! RTP logic — a receive (`recvmmsg`, up to 64 datagrams a call), a fan-out table lookup,
//! and a send (`sendmmsg`, up to 1,024 a call, straight from the receive buffers). Fed the
//! same packets at the same rates as an SFU scenario, it shows how much of an SFU's CPU is
//! the kernel's UDP path that no SFU can avoid.
//!
//! Datagrams start with a 10-byte header: kind (u8), meeting (u32), participant (u32), and
//! a byte that is the stream (0 audio, 1–3 video layer + 1) in media or the wanted layer in
//! a join. `JOIN` registers the sending socket as a subscriber of the meeting; `MEDIA` goes
//! to every other participant's subscriber socket if it is audio or their layer; `PING` is
//! echoed (a readiness check).

use std::collections::HashMap;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

pub const HEADER: usize = 10;
pub const KIND_PING: u8 = 0;
pub const KIND_JOIN: u8 = 1;
pub const KIND_MEDIA: u8 = 2;

const RECV_BATCH: usize = 64;
const SEND_BATCH: usize = 1_024;
const BUF: usize = 2_048;

/// Builds a header.
pub fn header(kind: u8, meeting: u32, participant: u32, stream_or_layer: u8) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0] = kind;
    h[1..5].copy_from_slice(&meeting.to_be_bytes());
    h[5..9].copy_from_slice(&participant.to_be_bytes());
    h[9] = stream_or_layer;
    h
}

/// Reads a header: kind, meeting, participant, stream or layer.
pub fn parse(d: &[u8]) -> Option<(u8, u32, u32, u8)> {
    let h = d.get(..HEADER)?;
    Some((h[0], u32::from_be_bytes(h[1..5].try_into().ok()?), u32::from_be_bytes(h[5..9].try_into().ok()?), h[9]))
}

struct Member {
    participant: u32,
    layer: u8,
    addr: libc::sockaddr_in,
}

/// Forwards on `socket` until the process ends (or the socket fails).
pub fn serve(socket: &UdpSocket) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let mut meetings: HashMap<u32, Vec<Member>> = HashMap::new();
    let mut bufs = vec![[0u8; BUF]; RECV_BATCH];
    // SAFETY (all zeroed below): plain C structs for which zero is a valid value.
    let mut names: Vec<libc::sockaddr_in> = vec![unsafe { zeroed() }; RECV_BATCH];
    let mut iovs: Vec<libc::iovec> =
        bufs.iter_mut().map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: BUF }).collect();
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { zeroed() }; RECV_BATCH];
    let mut out: Vec<libc::mmsghdr> = Vec::with_capacity(SEND_BATCH);
    let mut out_iovs: Vec<libc::iovec> = Vec::with_capacity(SEND_BATCH);
    loop {
        for i in 0..RECV_BATCH {
            msgs[i].msg_hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_in).cast();
            msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
            msgs[i].msg_hdr.msg_iov = &mut iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at live buffers of the stated sizes; blocking call.
        let n = unsafe {
            libc::recvmmsg(fd, msgs.as_mut_ptr(), RECV_BATCH as u32, libc::MSG_WAITFORONE, std::ptr::null_mut())
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for i in 0..n as usize {
            let len = msgs[i].msg_len as usize;
            let Some((kind, meeting, participant, byte)) = parse(&bufs[i][..len]) else { continue };
            match kind {
                KIND_PING => {
                    flush(fd, &mut out, &mut out_iovs)?;
                    // SAFETY: the name came from recvmmsg.
                    unsafe {
                        libc::sendto(
                            fd,
                            bufs[i].as_ptr().cast(),
                            len,
                            0,
                            (&names[i] as *const libc::sockaddr_in).cast(),
                            size_of::<libc::sockaddr_in>() as u32,
                        )
                    };
                }
                KIND_JOIN => {
                    // The table changes: queued sends point into it, so send them first.
                    flush(fd, &mut out, &mut out_iovs)?;
                    let members = meetings.entry(meeting).or_default();
                    members.retain(|m| m.participant != participant);
                    members.push(Member { participant, layer: byte, addr: names[i] });
                }
                KIND_MEDIA => {
                    let Some(members) = meetings.get(&meeting) else { continue };
                    for m in members {
                        if m.participant == participant || (byte != 0 && byte != m.layer + 1) {
                            continue;
                        }
                        if out.len() == SEND_BATCH {
                            flush(fd, &mut out, &mut out_iovs)?;
                        }
                        out_iovs.push(libc::iovec { iov_base: bufs[i].as_mut_ptr().cast(), iov_len: len });
                        // SAFETY: zero is a valid mmsghdr; pointers are filled in by flush.
                        let mut h: libc::mmsghdr = unsafe { zeroed() };
                        h.msg_hdr.msg_name = (&m.addr as *const libc::sockaddr_in as *mut libc::sockaddr_in).cast();
                        h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
                        out.push(h);
                    }
                }
                _ => {}
            }
        }
        // The receive buffers are reused next round: send everything that points into them.
        flush(fd, &mut out, &mut out_iovs)?;
    }
}

/// Sends the queued datagrams with as few `sendmmsg` calls as the kernel allows.
fn flush(fd: libc::c_int, out: &mut Vec<libc::mmsghdr>, iovs: &mut Vec<libc::iovec>) -> io::Result<()> {
    for (h, iov) in out.iter_mut().zip(iovs.iter_mut()) {
        h.msg_hdr.msg_iov = iov;
        h.msg_hdr.msg_iovlen = 1;
    }
    let mut sent = 0;
    while sent < out.len() {
        // SAFETY: headers point at live iovecs, buffers and addresses for the whole call.
        let n = unsafe { libc::sendmmsg(fd, out[sent..].as_mut_ptr(), (out.len() - sent) as u32, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                // A full socket buffer: the rest is dropped, as an overloaded SFU would.
                io::ErrorKind::WouldBlock => break,
                _ => {
                    // A subscriber that went away (ECONNREFUSED on loopback): skip it.
                    sent += 1;
                    continue;
                }
            }
        }
        sent += n.max(1) as usize;
    }
    out.clear();
    iovs.clear();
    Ok(())
}

/// Binds the forwarder's socket with large buffers.
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = UdpSocket::bind(addr)?;
    crate::net::tune(&s)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn headers_round_trip() {
        let h = header(KIND_MEDIA, 7, 0xabcdef, 2);
        assert_eq!(parse(&h), Some((KIND_MEDIA, 7, 0xabcdef, 2)));
        assert_eq!(parse(&h[..9]), None);
    }

    #[test]
    fn media_goes_to_the_other_members_that_want_its_layer() {
        let fwd = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = fwd.local_addr().unwrap();
        std::thread::spawn(move || serve(&fwd));
        let sock = || {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
            s
        };
        let (alice, bob, carol, publisher) = (sock(), sock(), sock(), sock());
        alice.send_to(&header(KIND_JOIN, 1, 1, 1), addr).unwrap(); // wants layer 1
        bob.send_to(&header(KIND_JOIN, 1, 2, 0), addr).unwrap(); // wants layer 0
        carol.send_to(&header(KIND_JOIN, 2, 3, 1), addr).unwrap(); // another meeting
                                                                   // A ping round trip proves the joins were handled (one socket, in order).
        publisher.send_to(&header(KIND_PING, 0, 0, 0), addr).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(publisher.recv(&mut buf).unwrap(), HEADER);
        // Participant 1 (alice) publishes layer 1 video, then audio.
        publisher.send_to(&[&header(KIND_MEDIA, 1, 1, 2)[..], b"video"].concat(), addr).unwrap();
        publisher.send_to(&[&header(KIND_MEDIA, 1, 1, 0)[..], b"audio"].concat(), addr).unwrap();
        let n = bob.recv(&mut buf).unwrap();
        assert_eq!(&buf[HEADER..n], b"audio", "bob wants layer 0, so only the audio");
        assert!(bob.recv(&mut buf).is_err());
        assert!(alice.recv(&mut buf).is_err(), "nothing comes back to the sender");
        assert!(carol.recv(&mut buf).is_err(), "nothing crosses meetings");
    }
}
