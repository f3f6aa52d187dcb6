//! A media worker's own load, and what the node does about it.
//!
//! Each worker measures, per one-second window, its **busy fraction** (the CPU time its
//! thread used in the window: on a crowded machine a worker waiting for a core is not busy,
//! though its queue grows) and the worst **queue delay** of the media
//! packets it handled: how long an RTP packet waited from the moment the kernel queued it on
//! the worker's socket (the kernel's arrival stamp, `SO_TIMESTAMPNS`) until the worker handled
//! it, or since another worker handed it over. (Without a stamp — not Linux — the wait since
//! the worker was last ready to read stands in; it overstates a busy socket's waits, which
//! once closed admission at half a core: bench/RESULTS.md, fourteenth pass.) A worker past the high-water mark
//! ([`HighWater`]) in either is *overloaded*: [`super::Media::admit`] refuses new joins with
//! `server_busy` and placement puts new meetings on other workers, and the worker sheds load
//! in the meetings it has, a step for every two overloaded windows in a row (one alone is a
//! burst — of joins, their DTLS handshakes and SDP, or a stall of the machine — which refusing
//! joins answers, not everyone's video) — video only: lower simulcast layers, then only the
//! cameras of the most recent speakers, then only the active speaker's; audio is never shed —
//! and takes
//! the steps back one at a time once it has been under the calm mark for a while — longer each
//! time a step back brought the overload straight back, so shedding does not flap. A worker
//! still shedding counts as busy for admission, so newcomers do not take what the people
//! already in gave up.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use convene_sfu::Shedding;

use crate::config::HighWater;

/// How long one measuring window is.
pub(super) const WINDOW: Duration = Duration::from_secs(1);
/// Windows a worker must stay under the calm mark before it takes a step back (slow on the
/// way back), at first.
const CALM_WINDOWS: u32 = 3;
/// The most calm windows a step back ever waits for, however often it flapped.
const MAX_CALM_WINDOWS: u32 = 48;
/// Overloaded windows in a row before a step is shed: one alone is a burst (of joins, or a
/// stall of the machine), which refusing joins answers.
const SUSTAINED_WINDOWS: u32 = 2;
/// A step back followed by overload within this many windows counts as a flap.
const FLAP_WINDOWS: u32 = 10;
/// Windows without a flap after which a step back waits [`CALM_WINDOWS`] again.
const SETTLED_WINDOWS: u32 = 60;

impl HighWater {
    fn high_delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms)
    }
}

/// One window's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Sample {
    /// Thousandths of the window the worker was busy.
    pub(super) busy_permille: u32,
    /// The longest a media packet waited before the worker handled it.
    pub(super) queue_delay: Duration,
}

impl Sample {
    pub(super) fn overloaded(&self, marks: HighWater) -> bool {
        self.busy_permille > marks.busy_pct * 10 || self.queue_delay > marks.high_delay()
    }

    /// Comfortably under the marks: 90 % of the busy mark and half the delay mark. Between
    /// that and the mark a worker holds its level. (At 70 %, an earlier calm mark, a worker
    /// that shed for a join burst while carrying 69 % of a core never stepped back, and so
    /// never admitted anyone again: bench/RESULTS.md, sixth pass.)
    fn calm(&self, marks: HighWater) -> bool {
        self.busy_permille < marks.busy_pct * 9 && self.queue_delay <= marks.high_delay() / 2
    }
}

/// Measures one worker's windows.
#[derive(Debug)]
pub(super) struct Meter {
    started: Instant,
    cpu_at_start: Duration,
    delay: Duration,
}

impl Meter {
    /// A window starting at `now`, when the thread had used `cpu`.
    pub(super) fn new(now: Instant, cpu: Duration) -> Meter {
        Meter { started: now, cpu_at_start: cpu, delay: Duration::ZERO }
    }

    /// A media packet waited `d` before the worker handled it.
    pub(super) fn waited(&mut self, d: Duration) {
        self.delay = self.delay.max(d);
    }

    /// The window's figures once it is over (and a new window starts), else `None`; `cpu`
    /// tells the thread's CPU time now (asked only then: it is a system call).
    pub(super) fn tick(&mut self, now: Instant, cpu: impl FnOnce() -> Duration) -> Option<Sample> {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed < WINDOW {
            return None;
        }
        let cpu = cpu();
        let busy = cpu.saturating_sub(self.cpu_at_start);
        let sample = Sample {
            busy_permille: (busy.as_micros() * 1000 / elapsed.as_micros().max(1)).min(1000) as u32,
            queue_delay: self.delay,
        };
        *self = Meter::new(now, cpu);
        Some(sample)
    }
}

/// The CPU time the calling thread has used.
pub(super) fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec it is given, which outlives the call.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0))
}

/// Decides how much a worker sheds from its windows: one step more for each
/// [`SUSTAINED_WINDOWS`] overloaded ones in a row (at once when a step back just brought the
/// overload back), one step less after enough calm ones — [`CALM_WINDOWS`], doubled each time
/// a step back was followed by overload within [`FLAP_WINDOWS`].
#[derive(Debug)]
pub(super) struct Governor {
    marks: HighWater,
    level: Shedding,
    /// Overloaded windows in a row.
    overloaded: u32,
    /// Calm windows in a row.
    calm: u32,
    /// Calm windows the next step back waits for.
    patience: u32,
    /// Windows since the last step back, and whether overload has come back since.
    since_step_back: Option<u32>,
    /// Windows since the last flap.
    settled: u32,
}

impl Governor {
    pub(super) fn new(marks: HighWater) -> Governor {
        Governor {
            marks,
            level: Shedding::None,
            overloaded: 0,
            calm: 0,
            patience: CALM_WINDOWS,
            since_step_back: None,
            settled: 0,
        }
    }

    /// The marks it judges windows by.
    pub(super) fn marks(&self) -> HighWater {
        self.marks
    }

    /// How much the worker sheds now.
    pub(super) fn level(&self) -> Shedding {
        self.level
    }

    /// The shedding level after this window; `Some` when it changed.
    pub(super) fn observe(&mut self, sample: Sample) -> Option<Shedding> {
        let before = self.level;
        self.settled = self.settled.saturating_add(1);
        if self.settled >= SETTLED_WINDOWS {
            self.patience = CALM_WINDOWS;
        }
        if let Some(n) = self.since_step_back.as_mut() {
            *n += 1;
        }
        if sample.overloaded(self.marks) {
            self.calm = 0;
            self.overloaded = self.overloaded.saturating_add(1);
            let flapped = self.since_step_back.take().is_some_and(|n| n <= FLAP_WINDOWS);
            if flapped {
                // The step back cost more than the worker had: take it again at once (this is
                // no burst), and wait longer before the next one.
                self.patience = (self.patience * 2).min(MAX_CALM_WINDOWS);
                self.settled = 0;
            }
            if flapped || self.overloaded >= SUSTAINED_WINDOWS {
                self.overloaded = 0;
                self.level = self.level.more();
            }
        } else {
            self.overloaded = 0;
            if sample.calm(self.marks) && self.level != Shedding::None {
                self.calm += 1;
                if self.calm >= self.patience {
                    self.calm = 0;
                    self.level = self.level.less();
                    self.since_step_back = Some(0);
                }
            } else {
                self.calm = 0;
            }
        }
        (self.level != before).then_some(self.level)
    }
}

/// How long a join counts as still ramping up: its load is not in the worker's figures yet.
pub(super) const RAMP: Duration = Duration::from_secs(5);
/// Settled people a worker needs before their load says what one more would cost.
const MIN_SETTLED: usize = 4;

/// The joins of one worker in the last [`RAMP`].
#[derive(Debug, Default, Clone)]
pub(super) struct Ramp {
    joins: VecDeque<Instant>,
}

impl Ramp {
    pub(super) fn joined(&mut self, now: Instant) {
        self.forget(now);
        self.joins.push_back(now);
    }

    /// How many joined less than [`RAMP`] ago.
    pub(super) fn ramping(&mut self, now: Instant) -> usize {
        self.forget(now);
        self.joins.len()
    }

    fn forget(&mut self, now: Instant) {
        while self.joins.front().is_some_and(|t| now.saturating_duration_since(*t) >= RAMP) {
            self.joins.pop_front();
        }
    }
}

/// What every worker publishes of its load, for [`super::Media`] to read (the figures
/// themselves go to the metrics).
#[derive(Debug, Default)]
pub(super) struct Board {
    overloaded: Vec<AtomicBool>,
    /// Each worker's busy share in its last window, thousandths.
    busy: Vec<AtomicU32>,
    marks: HighWater,
}

impl Board {
    pub(super) fn new(workers: usize, marks: HighWater) -> Board {
        Board {
            overloaded: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            busy: (0..workers).map(|_| AtomicU32::new(0)).collect(),
            marks,
        }
    }

    /// Whether one more person on `worker` would likely take it past its busy mark once the
    /// people who joined in the last [`RAMP`] (`ramping`) send what they will: the load
    /// people joined before them (`settled`) make, per person, times everyone. A join costs
    /// its load seconds later (ICE, DTLS, then the estimate climbing to the layers it
    /// wants), so a burst of joins would otherwise all get in before the first of them shows.
    pub(super) fn ramp_would_overload(&self, worker: usize, settled: usize, ramping: usize) -> bool {
        let Some(busy) = self.busy.get(worker).map(|b| u64::from(b.load(Ordering::Relaxed))) else { return false };
        // A busy mark of 100 % never refuses by busy share, predicted or not.
        if settled < MIN_SETTLED || self.marks.busy_pct >= 100 {
            return false;
        }
        let expected = busy * (settled + ramping + 1) as u64 / settled as u64;
        expected > u64::from(self.marks.busy_pct) * 10
    }

    pub(super) fn publish(&self, worker: usize, sample: Sample, overloaded: bool, level: Shedding) {
        if let Some(b) = self.busy.get(worker) {
            b.store(sample.busy_permille, Ordering::Relaxed);
        }
        let Some(slot) = self.overloaded.get(worker) else { return };
        // A worker still shedding is busy too, though its last window was under the mark:
        // what it sheds is what a newcomer would take from the people already in.
        slot.store(overloaded || level != Shedding::None, Ordering::Relaxed);
        let label = worker.to_string();
        metrics::gauge!("media_worker_busy_ratio", "worker" => label.clone())
            .set(f64::from(sample.busy_permille) / 1000.0);
        metrics::gauge!("media_worker_queue_delay_seconds", "worker" => label.clone())
            .set(sample.queue_delay.as_secs_f64());
        metrics::gauge!("media_worker_shedding_level", "worker" => label).set(f64::from(level as u8));
        metrics::gauge!("media_node_busy").set(if self.all_overloaded() { 1.0 } else { 0.0 });
    }

    /// Whether `worker` is busy: overloaded in its last window, or still shedding.
    pub(super) fn overloaded(&self, worker: usize) -> bool {
        self.overloaded.get(worker).is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Whether every worker was (a node with no workers is never busy).
    pub(super) fn all_overloaded(&self) -> bool {
        !self.overloaded.is_empty() && self.overloaded.iter().all(|s| s.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(busy_permille: u32, delay_ms: u64) -> Sample {
        Sample { busy_permille, queue_delay: Duration::from_millis(delay_ms) }
    }

    #[test]
    fn a_window_measures_the_cpu_used_and_the_worst_delay() {
        let t0 = Instant::now();
        let cpu = Duration::from_secs(7);
        let mut m = Meter::new(t0, cpu);
        m.waited(Duration::from_millis(3));
        m.waited(Duration::from_millis(1));
        assert_eq!(m.tick(t0 + Duration::from_millis(900), || cpu), None, "the window is not over");
        let cpu = cpu + Duration::from_millis(750);
        assert_eq!(m.tick(t0 + WINDOW, || cpu), Some(sample(750, 3)));
        assert_eq!(m.tick(t0 + WINDOW * 2, || cpu + WINDOW), Some(sample(1000, 0)), "a new window starts afresh");
    }

    #[test]
    fn the_thread_cpu_time_grows_with_work() {
        let before = thread_cpu_time();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(thread_cpu_time() > before, "{x}");
    }

    #[test]
    fn sustained_overload_sheds_a_step_per_two_windows_and_calm_takes_them_back_slowly() {
        let mut g = Governor::new(HighWater::default());
        assert_eq!(g.observe(sample(500, 1)), None);
        assert_eq!(g.observe(sample(900, 1)), None, "one overloaded window is a burst: refuse joins, shed nothing");
        assert_eq!(g.observe(sample(900, 1)), Some(Shedding::LowerLayers), "the second in a row sheds");
        assert_eq!(g.observe(sample(700, 30)), None, "a long queue is overload too…");
        assert_eq!(g.observe(sample(950, 1)), Some(Shedding::LowestLayer), "…and two more shed the next step");
        assert_eq!(g.observe(sample(950, 1)), None);
        assert_eq!(g.observe(sample(800, 1)), None, "a window under the mark: overload counts from zero again");
        assert_eq!(g.observe(sample(950, 1)), None);
        assert_eq!(g.observe(sample(950, 1)), Some(Shedding::FewerVideos));
        assert_eq!(g.observe(sample(950, 1)), None);
        assert_eq!(g.observe(sample(950, 1)), Some(Shedding::SpeakerVideoOnly));
        assert_eq!(g.observe(sample(990, 1)), None);
        assert_eq!(g.observe(sample(990, 1)), None, "audio is never shed");
        assert_eq!(g.observe(sample(500, 1)), None);
        assert_eq!(g.observe(sample(800, 1)), None, "between the marks: neither way, and calm starts over");
        assert_eq!(g.observe(sample(700, 1)), None);
        assert_eq!(g.observe(sample(700, 1)), None);
        assert_eq!(g.observe(sample(700, 1)), Some(Shedding::FewerVideos), "70 % of a core is calm: a step back");
    }

    #[test]
    fn a_burst_of_joins_is_admitted_only_as_far_as_the_load_of_those_before_allows() {
        let board = Board::new(1, HighWater::default());
        board.publish(0, sample(400, 1), false, Shedding::None);
        // 40 % of a core for 20 people: 2 % each; the mark (85 %) leaves room for 22 more.
        assert!(!board.ramp_would_overload(0, 20, 0));
        assert!(!board.ramp_would_overload(0, 20, 21), "the 22nd of a burst still fits");
        assert!(board.ramp_would_overload(0, 20, 22), "the 23rd would not, though the worker is at 40 % now");
        assert!(!board.ramp_would_overload(0, 3, 50), "too few settled to judge: the marks decide");
        assert!(!board.ramp_would_overload(1, 20, 99), "no such worker");
        let never = Board::new(1, HighWater { busy_pct: 100, delay_ms: 20 });
        never.publish(0, sample(990, 1), false, Shedding::None);
        assert!(!never.ramp_would_overload(0, 20, 20), "a 100 % mark never refuses by busy share");
        let mut ramp = Ramp::default();
        let t0 = Instant::now();
        ramp.joined(t0);
        ramp.joined(t0 + Duration::from_secs(2));
        assert_eq!(ramp.ramping(t0 + Duration::from_secs(3)), 2);
        assert_eq!(ramp.ramping(t0 + RAMP), 1, "the first has settled");
        assert_eq!(ramp.ramping(t0 + RAMP * 2), 0);
    }

    #[test]
    fn a_burst_is_not_shed_and_overload_between_bursts_starts_over() {
        let mut g = Governor::new(HighWater::default());
        for _ in 0..5 {
            assert_eq!(g.observe(sample(950, 40)), None);
            assert_eq!(g.observe(sample(600, 1)), None);
        }
        assert_eq!(g.level(), Shedding::None);
    }

    #[test]
    fn a_step_back_that_brings_overload_back_waits_twice_as_long_next_time() {
        let mut g = Governor::new(HighWater::default());
        g.observe(sample(950, 1));
        assert_eq!(g.observe(sample(950, 1)), Some(Shedding::LowerLayers));
        let calm_until_step_back = |g: &mut Governor| (1..=100).find(|_| g.observe(sample(600, 1)).is_some());
        assert_eq!(calm_until_step_back(&mut g), Some(CALM_WINDOWS));
        // The full layers cost more than the worker has: overloaded again at once.
        assert_eq!(
            g.observe(sample(950, 1)),
            Some(Shedding::LowerLayers),
            "the step back's own overload: no grace window"
        );
        assert_eq!(calm_until_step_back(&mut g), Some(2 * CALM_WINDOWS));
        assert_eq!(g.observe(sample(950, 1)), Some(Shedding::LowerLayers));
        assert_eq!(calm_until_step_back(&mut g), Some(4 * CALM_WINDOWS));
        // Long enough without a flap and the worker is trusted again.
        for _ in 0..SETTLED_WINDOWS {
            g.observe(sample(600, 1));
        }
        assert_eq!(g.observe(sample(950, 1)), None);
        assert_eq!(g.observe(sample(950, 1)), Some(Shedding::LowerLayers));
        assert_eq!(calm_until_step_back(&mut g), Some(CALM_WINDOWS));
    }

    #[test]
    fn the_board_reports_what_each_worker_published() {
        let board = Board::new(2, HighWater::default());
        let s = sample(900, 25);
        board.publish(1, s, s.overloaded(HighWater::default()), Shedding::LowerLayers);
        assert!(board.overloaded(1));
        assert!(!board.overloaded(0) && !board.all_overloaded(), "worker 0 has room");
        board.publish(0, s, true, Shedding::None);
        assert!(board.all_overloaded());
        assert!(!board.overloaded(2), "no such worker");
        assert!(!Board::new(0, HighWater::default()).all_overloaded());
        let calm = sample(300, 1);
        board.publish(1, calm, false, Shedding::LowerLayers);
        assert!(board.overloaded(1), "still shedding: still busy");
        board.publish(1, calm, false, Shedding::None);
        assert!(!board.overloaded(1), "every step taken back: joins are welcome again");
    }

    #[test]
    fn the_marks_are_configurable_and_a_zero_delay_mark_trips_on_any_media() {
        let strict = HighWater { busy_pct: 100, delay_ms: 0 };
        assert!(!sample(1000, 0).overloaded(strict), "100 %: never by busy share");
        assert!(Sample { busy_permille: 0, queue_delay: Duration::from_nanos(1) }.overloaded(strict));
        assert!(!sample(850, 20).overloaded(HighWater::default()), "at the marks is not past them");
    }
}
