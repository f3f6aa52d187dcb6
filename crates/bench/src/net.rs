//! UDP details the standard library does not offer: kernel receive timestamps
//! (`SO_TIMESTAMPNS`), so a packet's arrival time does not include the time it waited for a
//! busy load generator, and large socket buffers (`SO_RCVBUFFORCE` when root).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

/// Socket buffer size the bench asks for, both ways.
const BUFFER_BYTES: libc::c_int = 8 << 20;

/// Turns on kernel receive timestamps and enlarges the buffers.
pub(crate) fn tune(socket: &impl AsRawFd) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    for (force, plain) in [(libc::SO_RCVBUFFORCE, libc::SO_RCVBUF), (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)] {
        // Only root may pass net.core.rmem_max; otherwise take what the kernel allows.
        if setsockopt(fd, libc::SOL_SOCKET, force, BUFFER_BYTES).is_err() {
            let _ = setsockopt(fd, libc::SOL_SOCKET, plain, BUFFER_BYTES);
        }
    }
    Ok(())
}

pub(crate) fn setsockopt(fd: libc::c_int, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` outlives the call and the length is its size.
    let r = unsafe {
        libc::setsockopt(fd, level, name, (&value as *const libc::c_int).cast(), size_of::<libc::c_int>() as u32)
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One datagram: its length, its source, and when the kernel received it (ns since the epoch,
/// `CLOCK_REALTIME`), if the kernel said.
pub(crate) fn recv_stamped(socket: &impl AsRawFd, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<u64>)> {
    // SAFETY: plain C structs, zero is a valid value for each.
    let mut addr: libc::sockaddr_storage = unsafe { zeroed() };
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut control = [0u64; 8];
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 8]>();
    // SAFETY: every pointer in `msg` points at a live buffer of the stated size.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: the CMSG macros walk the control buffer the kernel filled within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                stamp = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    let source = sockaddr(&addr).ok_or_else(|| io::Error::other("datagram from an unknown address family"))?;
    Ok((n as usize, source, stamp))
}

fn sockaddr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(a.sin6_port), a.sin6_flowinfo, a.sin6_scope_id)))
        }
        _ => None,
    }
}

/// Datagrams the kernel dropped for full UDP receive buffers, machine-wide
/// (`RcvbufErrors` in /proc/net/snmp): drops no SFU is to blame for.
pub(crate) fn udp_rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut lines = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = lines.next()?.split_whitespace().collect();
    let values: Vec<&str> = lines.next()?.split_whitespace().collect();
    let i = names.iter().position(|n| *n == "RcvbufErrors")?;
    values.get(i)?.parse().ok()
}

/// Datagrams the kernel dropped at the sockets process `pid` holds open (the `drops` column
/// of /proc/net/udp and udp6, for the socket inodes among its file descriptors): which side of
/// a run lost what the machine-wide count says. Sockets closed since are no longer counted.
pub(crate) fn udp_drops_of(pid: u32) -> Option<u64> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| Some(l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned()))
        .collect();
    let mut drops = 0;
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for row in text.lines().skip(1) {
            let cols: Vec<&str> = row.split_whitespace().collect();
            // … uid timeout inode ref pointer drops
            if cols.len() >= 13 && inodes.contains(cols[9]) {
                drops += cols[12].parse::<u64>().unwrap_or(0);
            }
        }
    }
    Some(drops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_arrives_with_its_source_and_a_kernel_timestamp() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        tune(&b).unwrap();
        let before = crate::probe::wall_ns();
        a.send_to(b"hello", b.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 64];
        let (n, source, stamp) = recv_stamped(&b, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(source, a.local_addr().unwrap());
        let stamp = stamp.expect("a kernel timestamp");
        assert!(stamp >= before && stamp <= crate::probe::wall_ns());
        assert!(udp_rcvbuf_errors().is_some());
    }

    #[test]
    fn a_full_socket_counts_its_drops_against_its_process() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = udp_drops_of(std::process::id()).expect("this process's sockets");
        // Nobody reads `b`: past its receive buffer, the kernel drops what comes.
        for _ in 0..20_000 {
            let _ = a.send_to(&[0u8; 1200], b.local_addr().unwrap());
        }
        let after = udp_drops_of(std::process::id()).unwrap();
        assert!(after > before, "{before} → {after}");
    }
}
