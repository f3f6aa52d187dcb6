//! Datagram buffers handed back after sending, for the next packets to be written into: a
//! forwarded packet is one encrypted datagram per subscriber, and allocating (then freeing)
//! each was ~4 % of a loaded server's CPU — glibc keeps no per-thread cache for blocks of an
//! MTU's size.
//!
//! One free list per thread: a room and the socket loop that sends its datagrams run on the
//! same media worker thread, so what the worker recycles after a send is what that room's
//! transports take next. A buffer that goes elsewhere (a TCP writer) is simply freed.

use std::cell::RefCell;

/// Each buffer's capacity: an MTU-sized SRTP packet (RTP + RTX's two bytes + the 16-byte tag)
/// fits.
pub const CAPACITY: usize = 1536;
/// Buffers kept per thread at most — as many as a worker has in flight at its busiest, up to
/// this (1.5 MB).
const KEEP: usize = 1024;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer of at least [`CAPACITY`] bytes, recycled if one is free.
pub(crate) fn take() -> Vec<u8> {
    FREE.with_borrow_mut(|free| free.pop()).unwrap_or_else(|| Vec::with_capacity(CAPACITY))
}

/// Gives a sent datagram's buffer back for reuse on this thread. Buffers of another size (not
/// from [`take`], or grown) are freed.
pub fn recycle(mut buffer: Vec<u8>) {
    if buffer.capacity() != CAPACITY {
        return;
    }
    buffer.clear();
    FREE.with_borrow_mut(|free| {
        if free.len() < KEEP {
            free.push(buffer);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_buffer_is_taken_again_empty_and_others_are_not_kept() {
        let mut a = take();
        assert!(a.is_empty() && a.capacity() == CAPACITY);
        a.extend_from_slice(&[1, 2, 3]);
        let at = a.as_ptr();
        recycle(a);
        let b = take();
        assert_eq!(b.as_ptr(), at, "the same allocation");
        assert!(b.is_empty());
        // Not from the pool: freed, not handed out later.
        recycle(Vec::with_capacity(100));
        let c = take();
        assert_eq!(c.capacity(), CAPACITY);
    }

    #[test]
    fn the_free_list_is_bounded() {
        let many: Vec<Vec<u8>> = (0..KEEP + 10).map(|_| take()).collect();
        for b in many {
            recycle(b);
        }
        assert_eq!(FREE.with_borrow(|f| f.len()), KEEP);
    }
}
