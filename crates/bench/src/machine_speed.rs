//! How fast this machine is right now: the CPU time two fixed pieces of work take, one
//! arithmetic, one chasing pointers through memory larger than the caches.
//!
//! A cloud VM's core is not a constant. Hypervisor steal counts the time another guest held
//! the core, but not the time a neighbour on the same physical core (SMT) or the same caches
//! made this guest's every instruction slower — and this machine has no hardware counters to
//! show instructions per cycle. The soak saw the same load take 44 % of the server's core in
//! one run and 87 % in another with little steal in either. Timed in the thread's own CPU
//! time (`CLOCK_THREAD_CPUTIME_ID`, so waiting for the core does not count), fixed work that
//! takes longer means a slower machine, not a busier one.

use std::sync::OnceLock;

/// Rounds of each of the four independent multiply chains (~10 ms on a 2.3 GHz Xeon).
const ARITHMETIC_ROUNDS: u64 = 4_000_000;
/// The chase's ring: 4 Mi slots of 4 bytes, 16 MB, beyond a VM's share of the last-level cache.
const RING_SLOTS: usize = 1 << 22;
/// Steps of the chase (~20 ms at DRAM latency).
const CHASE_STEPS: usize = 200_000;
/// Each probe runs this many times and keeps the fastest: a preemption in the middle still
/// costs cache refills the thread's own CPU time counts.
const TRIES: usize = 3;

/// One reading, ms of the thread's CPU time.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Speed {
    pub arithmetic_ms: f64,
    pub memory_ms: f64,
}

/// Measures now (~100 ms of CPU; blocks the calling thread).
pub fn measure() -> Speed {
    let ring = ring();
    let fastest = |f: &dyn Fn() -> f64| (0..TRIES).map(|_| f()).fold(f64::INFINITY, f64::min);
    Speed { arithmetic_ms: fastest(&|| timed(arithmetic)), memory_ms: fastest(&|| timed(|| chase(ring))) }
}

/// The thread CPU time `work` took, ms.
fn timed(work: impl FnOnce() -> u64) -> f64 {
    let start = thread_cpu_ns();
    std::hint::black_box(work());
    thread_cpu_ns().saturating_sub(start) as f64 / 1e6
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Four multiply-xor chains side by side, as a core's integer units run them.
fn arithmetic() -> u64 {
    let mut x = [0x9E37_79B9_7F4A_7C15u64, 1, 2, 3];
    // Opaque to the compiler, so two calls are two runs of the work.
    for i in 0..std::hint::black_box(ARITHMETIC_ROUNDS) {
        for v in &mut x {
            *v = (*v ^ (*v >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9).wrapping_add(i);
        }
    }
    x.iter().fold(0, |a, v| a ^ v)
}

/// Follows the ring: each load's address is the previous load's value, so each step waits
/// for memory.
fn chase(ring: &[u32]) -> u64 {
    let mut at = 0usize;
    for _ in 0..CHASE_STEPS {
        at = ring[at] as usize;
    }
    at as u64
}

/// One cycle through every slot in a scattered order (Sattolo's shuffle), made once.
fn ring() -> &'static [u32] {
    static RING: OnceLock<Vec<u32>> = OnceLock::new();
    RING.get_or_init(|| {
        let mut ring: Vec<u32> = (0..RING_SLOTS as u32).collect();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for i in (1..RING_SLOTS).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ring.swap(i, (seed % i as u64) as usize);
        }
        ring
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_visits_every_slot_before_it_returns() {
        let ring = ring();
        let (mut at, mut steps) = (0usize, 0usize);
        loop {
            at = ring[at] as usize;
            steps += 1;
            if at == 0 {
                break;
            }
            assert!(steps <= RING_SLOTS, "a cycle that misses the start");
        }
        assert_eq!(steps, RING_SLOTS, "one cycle through all slots");
    }

    #[test]
    fn fixed_work_takes_measurable_cpu_time() {
        let speed = measure();
        assert!(speed.arithmetic_ms > 0.0 && speed.memory_ms > 0.0, "{speed:?}");
        // Twice the work takes more of the thread's time than once (the clock moves with it).
        let once = timed(arithmetic);
        let twice = timed(|| arithmetic() ^ arithmetic().rotate_left(1));
        assert!(twice > once, "once {once} ms, twice {twice} ms");
    }
}
