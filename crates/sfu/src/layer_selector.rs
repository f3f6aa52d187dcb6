//! The layer selector: which simulcast layer a subscriber should receive.

/// Rough bitrate each layer needs (low, mid, high) in bits per second.
///
/// Browsers send about 150 kbit/s at 320×180, 500 kbit/s at 640×360 and 1.5 Mbit/s at
/// 1280×720 for camera video.
pub(crate) const LAYER_BITRATE_BPS: [u64; 3] = [150_000, 500_000, 1_500_000];

/// What the selector knows about one subscriber's view of one track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct LayerDemand {
    /// Number of layers the publisher sends (at least 1).
    pub(crate) layers: u8,
    /// The tile size the subscriber renders, if it said.
    pub(crate) preferred_size: Option<(u32, u32)>,
    /// The share of the subscriber's estimated bandwidth this track may use.
    pub(crate) budget_bps: Option<u64>,
}

/// Picks the layer index (0 = lowest) for one subscriber of one track.
///
/// The tile size caps the layer (≤ 320 px wide → low, ≤ 640 → mid, else high; a tall tile
/// counts as wide as 16:9 would make it), then the bandwidth budget lowers it until the
/// layer fits. The lowest layer is always allowed, so video never stops for bandwidth.
pub(crate) fn select_layer(demand: LayerDemand) -> u8 {
    let top = demand.layers.clamp(1, 3) - 1;
    let by_size = match demand.preferred_size {
        None => 2,
        Some((width, height)) => {
            let equivalent_width = width.max(height.saturating_mul(16) / 9);
            match equivalent_width {
                0..=320 => 0,
                321..=640 => 1,
                _ => 2,
            }
        }
    };
    let by_bandwidth = match demand.budget_bps {
        None => 2,
        Some(budget) => (0..3u8).rev().find(|&l| LAYER_BITRATE_BPS[usize::from(l)] <= budget).unwrap_or(0),
    };
    by_size.min(by_bandwidth).min(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(size: Option<(u32, u32)>, budget: Option<u64>) -> LayerDemand {
        LayerDemand { layers: 3, preferred_size: size, budget_bps: budget }
    }

    #[test]
    fn tile_size_picks_the_layer() {
        assert_eq!(select_layer(demand(Some((160, 90)), None)), 0);
        assert_eq!(select_layer(demand(Some((320, 180)), None)), 0);
        assert_eq!(select_layer(demand(Some((640, 360)), None)), 1);
        assert_eq!(select_layer(demand(Some((1280, 720)), None)), 2);
        assert_eq!(select_layer(demand(None, None)), 2);
    }

    #[test]
    fn a_tall_tile_counts_as_wide() {
        assert_eq!(select_layer(demand(Some((200, 600)), None)), 2);
    }

    #[test]
    fn bandwidth_lowers_but_never_raises_the_layer() {
        assert_eq!(select_layer(demand(Some((1280, 720)), Some(600_000))), 1);
        assert_eq!(select_layer(demand(Some((1280, 720)), Some(100_000))), 0);
        assert_eq!(select_layer(demand(Some((320, 180)), Some(10_000_000))), 0);
        assert_eq!(select_layer(demand(None, Some(2_000_000))), 2);
    }

    #[test]
    fn never_picks_a_layer_the_publisher_does_not_send() {
        let one = LayerDemand { layers: 1, preferred_size: None, budget_bps: None };
        assert_eq!(select_layer(one), 0);
        let two = LayerDemand { layers: 2, ..one };
        assert_eq!(select_layer(two), 1);
        let zero = LayerDemand { layers: 0, ..one };
        assert_eq!(select_layer(zero), 0);
    }
}
