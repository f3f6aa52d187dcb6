//! The media runtime's overload marks, as configured.

/// When a worker counts as overloaded (`--media-high-water-busy-pct`,
/// `--media-high-water-delay-ms`). The low-water marks, under which shedding is taken back,
/// are 70 % of the busy mark and half the delay mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HighWater {
    /// Busy share, in percent, above which a worker is overloaded (100: never by busy share).
    /// A worker needs slack for bursts (keyframes, a join's renegotiations): past ~85 % its
    /// queues start to grow.
    pub busy_pct: u32,
    /// Queue delay, in ms, above which a worker is overloaded whatever its busy share (it
    /// fell behind: what it forwards is stale).
    pub delay_ms: u64,
}

impl Default for HighWater {
    fn default() -> HighWater {
        HighWater { busy_pct: 85, delay_ms: 20 }
    }
}
