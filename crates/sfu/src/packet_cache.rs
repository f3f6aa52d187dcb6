//! The last packets of each simulcast layer of an up track, replayed when a forwarder
//! switches onto a layer whose later packets arrived before its keyframe did.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use str0m::rtp::ExtensionValues;

/// How many packets per layer are kept (a keyframe of a high layer is ~50 packets).
const CAPACITY: usize = 128;

/// One packet as received from the publisher, enough to forward it again.
#[derive(Debug, Clone)]
pub(crate) struct CachedPacket {
    /// Extended sequence number.
    pub(crate) seq: u64,
    pub(crate) ts: u32,
    pub(crate) marker: bool,
    pub(crate) payload: Arc<[u8]>,
    /// Arrival time.
    pub(crate) at: Instant,
    /// The header extension values forwarded with it.
    pub(crate) ext: ExtensionValues,
}

/// Recent packets per layer.
///
/// When a keyframe's first packet is lost and repaired by retransmission, the rest of the
/// keyframe arrives first. A forwarder waiting for that keyframe drops them; after it
/// switches on the repaired first packet, it takes them from here.
#[derive(Debug, Default)]
pub(crate) struct PacketCache {
    layers: [VecDeque<CachedPacket>; 3],
}

impl PacketCache {
    /// Remembers a packet of a layer, forgetting the oldest beyond the capacity.
    pub(crate) fn insert(&mut self, layer: u8, packet: CachedPacket) {
        let Some(queue) = self.layers.get_mut(usize::from(layer)) else { return };
        if queue.len() == CAPACITY {
            queue.pop_front();
        }
        queue.push_back(packet);
    }

    /// The cached packets of `layer` with a sequence number above `seq`, in sequence order,
    /// each once.
    pub(crate) fn after(&self, layer: u8, seq: u64) -> Vec<CachedPacket> {
        let Some(queue) = self.layers.get(usize::from(layer)) else { return Vec::new() };
        let mut later: Vec<CachedPacket> = queue.iter().filter(|p| p.seq > seq).cloned().collect();
        later.sort_by_key(|p| p.seq);
        later.dedup_by_key(|p| p.seq);
        later
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u64, at: Instant) -> CachedPacket {
        CachedPacket { seq, ts: 0, marker: false, payload: Arc::from(&[1u8][..]), at, ext: Default::default() }
    }

    #[test]
    fn later_packets_come_back_in_order_and_once() {
        let t0 = Instant::now();
        let mut cache = PacketCache::default();
        for seq in [10, 13, 11, 12, 12, 9] {
            cache.insert(1, packet(seq, t0));
        }
        cache.insert(2, packet(100, t0));
        let seqs: Vec<u64> = cache.after(1, 10).iter().map(|p| p.seq).collect();
        assert_eq!(seqs, [11, 12, 13]);
        assert!(cache.after(0, 0).is_empty());
        assert!(cache.after(7, 0).is_empty(), "no such layer");
    }

    #[test]
    fn only_the_most_recent_packets_are_kept() {
        let t0 = Instant::now();
        let mut cache = PacketCache::default();
        for seq in 0..(CAPACITY as u64 + 10) {
            cache.insert(0, packet(seq, t0));
        }
        let kept = cache.after(0, 0);
        assert_eq!(kept.len(), CAPACITY);
        assert_eq!(kept[0].seq, 10);
    }
}
