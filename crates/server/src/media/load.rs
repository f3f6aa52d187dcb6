//! A media worker's own load, and what the node does about it.
//!
//! Each worker measures, per one-second window, its **busy fraction** (the CPU time its
//! thread used in the window: on a crowded machine a worker waiting for a core is not busy,
//! though its queue grows) and the worst **queue delay** of the media
//! packets it handled: how long an RTP packet could have waited since the worker was last
//! ready to read (its previous read, or waking up for it) plus the time its batch took before
//! it, or since another worker handed it over. A worker past the high-water mark
//! ([`HighWater`]) in either is *overloaded*: [`super::Media::admit`] refuses new joins with
//! `server_busy` and placement puts new meetings on other workers, and the worker sheds load
//! in the meetings it has, one step a window while it stays overloaded (video only: lower
//! simulcast layers, then only the cameras of the most recent speakers, then only the active
//! speaker's; audio is never shed), and takes the steps back one at a time once it has been
//! under the low-water mark for a while. A worker still shedding counts as busy for
//! admission, so newcomers do not take what the people already in gave up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use convene_sfu::Shedding;

use crate::config::HighWater;

/// How long one measuring window is.
pub(super) const WINDOW: Duration = Duration::from_secs(1);
/// Windows a worker must stay under the low-water mark before it takes a step back (slow
/// on the way back, so shedding does not flap).
const CALM_WINDOWS: u32 = 3;

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

    fn calm(&self, marks: HighWater) -> bool {
        self.busy_permille < marks.busy_pct * 7 && self.queue_delay <= marks.high_delay() / 2
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

/// Decides how much a worker sheds from its windows: one step more for each overloaded
/// window, one step less after [`CALM_WINDOWS`] calm ones.
#[derive(Debug)]
pub(super) struct Governor {
    marks: HighWater,
    level: Shedding,
    calm: u32,
}

impl Governor {
    pub(super) fn new(marks: HighWater) -> Governor {
        Governor { marks, level: Shedding::None, calm: 0 }
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
        if sample.overloaded(self.marks) {
            self.calm = 0;
            self.level = self.level.more();
        } else if sample.calm(self.marks) && self.level != Shedding::None {
            self.calm += 1;
            if self.calm >= CALM_WINDOWS {
                self.calm = 0;
                self.level = self.level.less();
            }
        } else {
            self.calm = 0;
        }
        (self.level != before).then_some(self.level)
    }
}

/// What every worker publishes of its load, for [`super::Media`] to read (the figures
/// themselves go to the metrics).
#[derive(Debug, Default)]
pub(super) struct Board {
    overloaded: Vec<AtomicBool>,
}

impl Board {
    pub(super) fn new(workers: usize) -> Board {
        Board { overloaded: (0..workers).map(|_| AtomicBool::new(false)).collect() }
    }

    pub(super) fn publish(&self, worker: usize, sample: Sample, overloaded: bool, level: Shedding) {
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
    fn overload_sheds_a_step_per_window_and_calm_takes_them_back_slowly() {
        let mut g = Governor::new(HighWater::default());
        assert_eq!(g.observe(sample(500, 1)), None);
        assert_eq!(g.observe(sample(900, 1)), Some(Shedding::LowerLayers));
        assert_eq!(g.observe(sample(700, 30)), Some(Shedding::LowestLayer), "a long queue is overload too");
        assert_eq!(g.observe(sample(950, 1)), Some(Shedding::FewerVideos));
        assert_eq!(g.observe(sample(950, 1)), Some(Shedding::SpeakerVideoOnly));
        assert_eq!(g.observe(sample(990, 1)), None, "audio is never shed");
        assert_eq!(g.observe(sample(500, 1)), None);
        assert_eq!(g.observe(sample(700, 1)), None, "between the marks: neither way, and calm starts over");
        assert_eq!(g.observe(sample(500, 1)), None);
        assert_eq!(g.observe(sample(500, 1)), None);
        assert_eq!(g.observe(sample(500, 1)), Some(Shedding::FewerVideos));
    }

    #[test]
    fn the_board_reports_what_each_worker_published() {
        let board = Board::new(2);
        let s = sample(900, 25);
        board.publish(1, s, s.overloaded(HighWater::default()), Shedding::LowerLayers);
        assert!(board.overloaded(1));
        assert!(!board.overloaded(0) && !board.all_overloaded(), "worker 0 has room");
        board.publish(0, s, true, Shedding::None);
        assert!(board.all_overloaded());
        assert!(!board.overloaded(2), "no such worker");
        assert!(!Board::new(0).all_overloaded());
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
