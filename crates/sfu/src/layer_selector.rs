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
    /// Layers the publisher stopped sending (browsers drop the top layer under load).
    pub(crate) paused: [bool; 3],
    /// The layer the subscriber receives now, if any.
    pub(crate) current: Option<u8>,
}

/// A layer already received is kept until the budget falls below this share of its need,
/// so a noisy estimate does not flap between layers.
const KEEP_SHARE: f64 = 0.75;

/// Picks the layer index (0 = lowest) for one subscriber of one track; `None` pauses it.
///
/// The tile size caps the layer (≤ 320 px wide → low, ≤ 640 → mid, else high; a tall tile
/// counts as wide as 16:9 would make it; an empty tile is hidden and gets nothing), then
/// the bandwidth budget lowers it until the layer fits (a layer already received needs only
/// three quarters of its bitrate to stay). The lowest layer is always allowed,
/// so video never stops for bandwidth. A layer the publisher paused is replaced by the
/// nearest one below it that still flows, else the nearest above.
pub(crate) fn select_layer(demand: LayerDemand) -> Option<u8> {
    let top = demand.layers.clamp(1, 3) - 1;
    let by_size = match demand.preferred_size {
        None => 2,
        Some((0, _) | (_, 0)) => return None,
        Some((width, height)) => {
            let equivalent_width = width.max(height.saturating_mul(16) / 9);
            match equivalent_width {
                0..=320 => 0,
                321..=640 => 1,
                _ => 2,
            }
        }
    };
    let fits = |budget: u64, l: u8| {
        let need = LAYER_BITRATE_BPS[usize::from(l)] as f64;
        let share = if demand.current.is_some_and(|c| l <= c) { KEEP_SHARE } else { 1.0 };
        budget as f64 >= need * share
    };
    let by_bandwidth = match demand.budget_bps {
        None => 2,
        Some(budget) => (0..3u8).rev().find(|&l| fits(budget, l)).unwrap_or(0),
    };
    let wanted = by_size.min(by_bandwidth).min(top);
    let flowing = |l: &u8| !demand.paused[usize::from(*l)];
    let below = (0..=wanted).rev().find(flowing);
    let above = (wanted..=top).find(flowing);
    Some(below.or(above).unwrap_or(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(size: Option<(u32, u32)>, budget: Option<u64>) -> LayerDemand {
        LayerDemand { layers: 3, preferred_size: size, budget_bps: budget, paused: [false; 3], current: None }
    }

    fn select(demand: LayerDemand) -> u8 {
        select_layer(demand).expect("a layer")
    }

    #[test]
    fn tile_size_picks_the_layer() {
        assert_eq!(select(demand(Some((160, 90)), None)), 0);
        assert_eq!(select(demand(Some((320, 180)), None)), 0);
        assert_eq!(select(demand(Some((640, 360)), None)), 1);
        assert_eq!(select(demand(Some((1280, 720)), None)), 2);
        assert_eq!(select(demand(None, None)), 2);
    }

    #[test]
    fn a_tall_tile_counts_as_wide() {
        assert_eq!(select(demand(Some((200, 600)), None)), 2);
    }

    #[test]
    fn bandwidth_lowers_but_never_raises_the_layer() {
        assert_eq!(select(demand(Some((1280, 720)), Some(600_000))), 1);
        assert_eq!(select(demand(Some((1280, 720)), Some(100_000))), 0);
        assert_eq!(select(demand(Some((320, 180)), Some(10_000_000))), 0);
        assert_eq!(select(demand(None, Some(2_000_000))), 2);
    }

    #[test]
    fn never_picks_a_layer_the_publisher_does_not_send() {
        let one = LayerDemand { layers: 1, preferred_size: None, budget_bps: None, paused: [false; 3], current: None };
        assert_eq!(select(one), 0);
        let two = LayerDemand { layers: 2, ..one };
        assert_eq!(select(two), 1);
        let zero = LayerDemand { layers: 0, ..one };
        assert_eq!(select(zero), 0);
    }

    #[test]
    fn a_hidden_tile_gets_nothing() {
        assert_eq!(select_layer(demand(Some((0, 0)), None)), None);
        assert_eq!(select_layer(demand(Some((640, 0)), None)), None);
    }

    #[test]
    fn a_paused_layer_is_replaced_by_the_nearest_flowing_one() {
        let top_paused = LayerDemand { paused: [false, false, true], ..demand(None, None) };
        assert_eq!(select(top_paused), 1);
        let low_paused = LayerDemand { paused: [true, false, false], ..demand(Some((160, 90)), None) };
        assert_eq!(select(low_paused), 1);
        let all_paused = LayerDemand { paused: [true; 3], ..demand(Some((640, 360)), None) };
        assert_eq!(select(all_paused), 1, "keep the choice until something flows");
    }

    #[test]
    fn a_received_layer_survives_a_small_dip_in_the_estimate() {
        let on_high = LayerDemand { current: Some(2), ..demand(None, Some(1_200_000)) };
        assert_eq!(select(on_high), 2, "1.2 Mbit/s keeps the 1.5 Mbit/s layer");
        let fresh = demand(None, Some(1_200_000));
        assert_eq!(select(fresh), 1, "but is not enough to switch up to it");
        let collapsed = LayerDemand { current: Some(2), ..demand(None, Some(1_000_000)) };
        assert_eq!(select(collapsed), 1);
    }
}
