//! The last packets of each simulcast layer of an up track, replayed when a forwarder
//! switches onto a layer whose later packets arrived before its keyframe did.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::rtp::{ExtensionValues, VideoOrientation};

/// How many packets per layer are kept (a keyframe of a high layer is ~50 packets).
const CAPACITY: usize = 128;

/// How long a packet is kept: as long as a camera's packets are kept for NACKs (the repair of
/// a keyframe's first packet comes a round trip after its loss, and the retransmission
/// history is what bounds the round trips repaired at all). Without it a low layer's 128
/// packets were eight seconds of video held for nothing (bench/RESULTS.md, ninth pass).
const MAX_AGE: Duration = Duration::from_millis(500);

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
    pub(crate) ext: Carried,
}

/// The header extension values a packet carries on to its subscribers. The others (transport
/// sequence, send time, mid, rid) are each connection's own. Three fields rather than str0m's
/// whole `ExtensionValues` (~250 bytes more per cached packet, and a map to clone per
/// forwarded one).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Carried {
    pub(crate) audio_level: Option<i8>,
    pub(crate) voice_activity: Option<bool>,
    pub(crate) video_orientation: Option<VideoOrientation>,
}

impl Carried {
    /// The values a publisher's packet arrived with that are carried on.
    pub(crate) fn of(received: &ExtensionValues) -> Carried {
        Carried {
            audio_level: received.audio_level,
            voice_activity: received.voice_activity,
            video_orientation: received.video_orientation,
        }
    }

    /// The values to write with a forwarded packet.
    pub(crate) fn values(self) -> ExtensionValues {
        ExtensionValues {
            audio_level: self.audio_level,
            voice_activity: self.voice_activity,
            video_orientation: self.video_orientation,
            ..Default::default()
        }
    }
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
    /// Remembers a packet of a layer, forgetting the oldest beyond the capacity and those
    /// that arrived more than [`MAX_AGE`] before it.
    pub(crate) fn insert(&mut self, layer: u8, packet: CachedPacket) {
        let Some(queue) = self.layers.get_mut(usize::from(layer)) else { return };
        if queue.len() == CAPACITY {
            queue.pop_front();
        }
        while queue.front().is_some_and(|old| packet.at.saturating_duration_since(old.at) > MAX_AGE) {
            queue.pop_front();
        }
        queue.push_back(packet);
    }

    /// The sequence number of `layer`'s newest packet, if it arrived no more than [`MAX_AGE`]
    /// before `now`: packets stop coming in when a layer pauses or a host holds the track, and
    /// the cache then keeps what is no longer a picture to start from.
    pub(crate) fn newest(&self, layer: u8, now: Instant) -> Option<u64> {
        let newest = self.layers.get(usize::from(layer))?.iter().max_by_key(|p| p.seq)?;
        (now.saturating_duration_since(newest.at) <= MAX_AGE).then_some(newest.seq)
    }

    /// The cached packets of `layer` with a sequence number above `seq`, in sequence order,
    /// each once.
    pub(crate) fn after(&self, layer: u8, seq: u64) -> Vec<CachedPacket> {
        self.in_order(layer, |s| s > seq).into_iter().cloned().collect()
    }

    /// The cached packets of `layer` whose sequence number `keep` accepts, in sequence order,
    /// each once (arrival order differs after a loss is repaired; a resend may come twice).
    fn in_order(&self, layer: u8, keep: impl Fn(u64) -> bool) -> Vec<&CachedPacket> {
        let Some(queue) = self.layers.get(usize::from(layer)) else { return Vec::new() };
        let mut run: Vec<&CachedPacket> = queue.iter().filter(|p| keep(p.seq)).collect();
        run.sort_by_key(|p| p.seq);
        run.dedup_by_key(|p| p.seq);
        run
    }

    /// The packets of `layer` from its last keyframe through `seq`, in sequence order, if the
    /// cache holds that keyframe's first packet and every packet since (a gap — a loss not yet
    /// repaired, a stream held back — would leave the viewer a picture it cannot complete).
    pub(crate) fn since_keyframe(
        &self,
        layer: u8,
        seq: u64,
        keyframe_start: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<&CachedPacket>> {
        let mut run = self.in_order(layer, |s| s <= seq);
        if run.last()?.seq != seq {
            return None;
        }
        let mut start = run.len() - 1;
        loop {
            if keyframe_start(&run[start].payload) {
                run.drain(..start);
                return Some(run);
            }
            if start == 0 || run[start - 1].seq + 1 != run[start].seq {
                return None;
            }
            start -= 1;
        }
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

    /// Cached packets of layer 1, `keyframe` marking a keyframe's first packet by payload.
    fn layer_of(seqs: &[(u64, bool)]) -> PacketCache {
        let t0 = Instant::now();
        let mut cache = PacketCache::default();
        for &(seq, keyframe) in seqs {
            let mut p = packet(seq, t0);
            p.payload = Arc::from(&[u8::from(keyframe)][..]);
            cache.insert(1, p);
        }
        cache
    }

    fn replay(cache: &PacketCache, seq: u64) -> Option<Vec<u64>> {
        let run = cache.since_keyframe(1, seq, |payload| payload == [1])?;
        Some(run.iter().map(|p| p.seq).collect())
    }

    #[test]
    fn the_last_keyframe_and_everything_since_is_replayed() {
        // Arrival order differs from sequence order; a duplicate; an older keyframe.
        let cache = layer_of(&[(1, true), (2, false), (3, true), (5, false), (4, false), (4, false), (6, false)]);
        assert_eq!(replay(&cache, 6), Some(vec![3, 4, 5, 6]));
        assert_eq!(replay(&cache, 4), Some(vec![3, 4]), "only through the packet at hand");
        assert_eq!(replay(&cache, 3), Some(vec![3]));
        assert_eq!(replay(&cache, 7), None, "the packet at hand is not cached");
    }

    #[test]
    fn no_replay_across_a_gap_or_without_a_keyframe() {
        let gap = layer_of(&[(3, true), (4, false), (6, false)]);
        assert_eq!(replay(&gap, 6), None, "5 is missing");
        let no_keyframe = layer_of(&[(3, false), (4, false)]);
        assert_eq!(replay(&no_keyframe, 4), None);
        assert_eq!(no_keyframe.since_keyframe(2, 4, |_| true).map(|r| r.len()), None, "another layer");
    }

    #[test]
    fn packets_older_than_half_a_second_are_forgotten() {
        let t0 = Instant::now();
        let mut cache = PacketCache::default();
        // A low layer: ten packets a second for three seconds.
        for seq in 0..30u64 {
            cache.insert(0, packet(seq, t0 + Duration::from_millis(100 * seq)));
        }
        let kept: Vec<u64> = cache.after(0, 0).iter().map(|p| p.seq).collect();
        assert_eq!(kept, (24..30).collect::<Vec<u64>>(), "the last half second (and the packet at its edge) only");
        // Another layer is not touched by this one's clock.
        cache.insert(1, packet(0, t0));
        assert_eq!(cache.after(1, 0).len(), 0, "after(seq) is strictly later");
        assert_eq!(cache.layers[1].len(), 1);
    }
}
