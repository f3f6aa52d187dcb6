//! Which queued datagrams can leave as one segmented send (Linux's UDP segmentation
//! offload, GSO): a run of datagrams to one destination, all of one size but the last, which
//! may be shorter. The kernel builds one packet for the run and cuts it into datagrams after
//! routing, so a run of five costs about what one datagram did.
//!
//! An SFU's sends fall into such runs: a video frame is several packets from one publisher,
//! forwarded to each viewer in turn, and a browser cuts a frame into packets of (nearly) one
//! size. libwebrtc makes the *last* packets of a frame a byte longer than the first, so a frame
//! often makes two runs rather than one.

use std::net::SocketAddr;

/// Most datagrams the kernel takes in one segmented send (`UDP_MAX_SEGMENTS`).
pub(super) const MAX_SEGMENTS: usize = 64;
/// Most bytes one segmented send may carry: an IP packet's 64 KiB less its headers, rounded
/// down.
const MAX_BYTES: usize = 65_000;

/// Consecutive queued datagrams that go as one message: `count` of them, cut every `segment`
/// bytes (a `count` of one is an ordinary datagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) count: usize,
    pub(super) segment: usize,
}

/// Plans the messages for the start of `queue`, at most `limit` of them, into `runs`. With
/// `segmenting` off every datagram is its own message. `queue` should have each
/// destination's datagrams together (runs never reach past a change of destination).
pub(super) fn plan(queue: &[(SocketAddr, Vec<u8>)], segmenting: bool, limit: usize, runs: &mut Vec<Run>) {
    runs.clear();
    let mut at = 0;
    while at < queue.len() && runs.len() < limit {
        let (to, first) = &queue[at];
        let segment = first.len();
        let (mut count, mut bytes) = (1, segment);
        if segmenting && segment > 0 {
            for (next_to, next) in &queue[at + 1..] {
                let len = next.len();
                if next_to != to || len == 0 || len > segment || count == MAX_SEGMENTS || bytes + len > MAX_BYTES {
                    break;
                }
                count += 1;
                bytes += len;
                if len < segment {
                    break; // only the last may be shorter
                }
            }
        }
        runs.push(Run { count, segment });
        at += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(items: &[(u16, usize)]) -> Vec<(SocketAddr, Vec<u8>)> {
        items.iter().map(|&(port, len)| (SocketAddr::from(([127, 0, 0, 1], port)), vec![0; len])).collect()
    }

    fn counts(q: &[(SocketAddr, Vec<u8>)], segmenting: bool, limit: usize) -> Vec<(usize, usize)> {
        let mut runs = Vec::new();
        plan(q, segmenting, limit, &mut runs);
        runs.iter().map(|r| (r.count, r.segment)).collect()
    }

    #[test]
    fn a_frame_to_one_viewer_is_one_run_with_a_shorter_last_packet() {
        let q = queue(&[(1, 1200), (1, 1200), (1, 1200), (1, 250), (2, 1200), (2, 80)]);
        assert_eq!(counts(&q, true, 64), vec![(4, 1200), (2, 1200)]);
    }

    #[test]
    fn a_longer_packet_starts_a_new_run() {
        // libwebrtc's split: the last packets of a frame a byte longer than the first.
        let q = queue(&[(1, 1041), (1, 1041), (1, 1042), (1, 1042), (1, 1042)]);
        assert_eq!(counts(&q, true, 64), vec![(2, 1041), (3, 1042)]);
    }

    #[test]
    fn nothing_follows_a_shorter_packet_in_its_run() {
        let q = queue(&[(1, 1200), (1, 100), (1, 100), (1, 100)]);
        assert_eq!(counts(&q, true, 64), vec![(2, 1200), (2, 100)]);
    }

    #[test]
    fn runs_stop_at_the_kernels_limits() {
        let q = queue(&vec![(1, 100); MAX_SEGMENTS + 3]);
        assert_eq!(counts(&q, true, 64), vec![(MAX_SEGMENTS, 100), (3, 100)]);
        let q = queue(&vec![(1, 1200); 60]);
        let runs = counts(&q, true, 64);
        assert_eq!(runs, vec![(54, 1200), (6, 1200)], "no more than 65,000 bytes a send");
    }

    #[test]
    fn without_segmenting_or_with_empty_datagrams_each_goes_alone() {
        let q = queue(&[(1, 1200), (1, 1200), (1, 0), (1, 0)]);
        assert_eq!(counts(&q, false, 64), vec![(1, 1200), (1, 1200), (1, 0), (1, 0)]);
        assert_eq!(counts(&q, true, 64), vec![(2, 1200), (1, 0), (1, 0)]);
    }

    #[test]
    fn a_plan_holds_at_most_the_limit_of_messages() {
        let q = queue(&[(1, 10), (2, 10), (3, 10), (4, 10)]);
        assert_eq!(counts(&q, true, 3), vec![(1, 10), (1, 10), (1, 10)]);
        assert_eq!(counts(&[], true, 3), vec![]);
    }
}
