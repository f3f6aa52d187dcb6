//! The soak's minute-by-minute account. At each minute's mark the bench notes everything
//! cumulative it can read — what every subscriber has received, what the server and the
//! generator have spent, the server socket's drops, the hypervisor's steal, the generator's
//! lag — so that a bad minute stands beside its likely cause instead of vanishing into the
//! hour's totals. (The hour of the fifteenth pass lost 0.94 % with a p99 between 23 ms and
//! 2.2 s by minute; its totals could not say which of those causes each bad minute had.)

use crate::machine_speed::Speed;
use crate::plan::Ctx;
use crate::procstat::{self, ProcSample};
use crate::sojourn::Histogram;
use crate::stats::{loss_pct, percentile};
use crate::target::Target;

/// What the bench reads at one instant; every count is cumulative.
pub(crate) struct Mark {
    at_s: f64,
    /// How many latency samples each subscriber holds.
    latency_counts: Vec<usize>,
    expected: u64,
    received: u64,
    /// Packets the subscribers received (forwarded by the server).
    packets: u64,
    lag: u64,
    server: Option<ProcSample>,
    generator: Option<ProcSample>,
    server_drops: Option<u64>,
    steal_ms: Option<f64>,
    speed: Option<Speed>,
    /// The server's own sojourn histogram (Convene only).
    sojourn: Option<Histogram>,
}

/// One minute of the window: what a user felt beside what each side spent.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Minute {
    /// Seconds into the window at the minute's end.
    pub at_s: f64,
    /// SFU-added latency p99 of the samples of the minute; `None` without samples.
    pub latency_p99_ms: Option<f64>,
    /// The p99 of the minute's packets' stay in the server, by its own histogram.
    pub server_sojourn_p99_ms: Option<f64>,
    pub loss_pct: f64,
    /// Packets the server forwarded per second, as the subscribers received them.
    pub forwarded_pps: f64,
    /// The server's CPU (user + system) as % of one core, and of it the kernel's share.
    pub server_cpu_pct: Option<f64>,
    pub server_kernel_pct: Option<f64>,
    /// The bench process's own CPU, % of one core (it simulates every peer on its cores).
    pub generator_cpu_pct: Option<f64>,
    /// Datagrams the kernel dropped at the server's full sockets.
    pub server_udp_drops: Option<u64>,
    /// CPU time the hypervisor gave other guests (the whole machine), ms.
    pub steal_ms: Option<f64>,
    /// Times a simulated publisher found itself late by more than a frame.
    pub generator_lag: u64,
    /// How fast the machine was at the minute's end ([`crate::machine_speed`]).
    pub speed: Option<Speed>,
}

impl Mark {
    /// Reads everything now, `at_s` seconds into the window; the machine's speed is measured
    /// first, off the run's own threads (it blocks ~0.1 s).
    pub(crate) async fn take(ctx: &Ctx, at_s: f64, target: &Target) -> Mark {
        let server_pid = target.pid;
        let sojourn = crate::sojourn::scrape(target).await;
        let speed = tokio::task::spawn_blocking(crate::machine_speed::measure).await.ok();
        let (mut expected, mut received, mut packets, mut lag) = (0, 0, 0, 0);
        let mut latency_counts = Vec::new();
        for r in ctx.records.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            r.sub.read(|p| {
                let Some(sink) = p.sink.as_ref() else {
                    latency_counts.push(0);
                    return;
                };
                latency_counts.push(sink.latency_us.len());
                packets += sink.packets;
                for (_, tracker) in sink.streams.values() {
                    let (e, rcv) = tracker.expected_received();
                    expected += e;
                    received += rcv;
                }
            });
            if let Some(p) = &r.publ {
                lag += p.read(|p| p.source.as_ref().map_or(0, |s| s.lagged));
            }
        }
        Mark {
            at_s,
            latency_counts,
            expected,
            received,
            packets,
            lag,
            server: procstat::sample(server_pid),
            generator: procstat::sample(std::process::id()),
            server_drops: crate::net::udp_drops_of(server_pid),
            steal_ms: procstat::steal_ms(),
            speed,
            sojourn,
        }
    }

    /// Seconds into the window.
    pub(crate) fn at_s(&self) -> f64 {
        self.at_s
    }
}

/// The minutes between consecutive marks.
pub(crate) fn between(ctx: &Ctx, marks: &[Mark]) -> Vec<Minute> {
    marks
        .windows(2)
        .map(|pair| {
            let [from, to] = pair else { unreachable!("windows(2) yields pairs") };
            Minute { latency_p99_ms: latency_p99(ctx, &from.latency_counts, &to.latency_counts), ..spent(from, to) }
        })
        .collect()
}

/// Everything of a minute but its latency. Counts are cumulative over the subscribers alive
/// at each mark, so a subscriber replaced within the minute can make one go backwards: that
/// counts as nothing, not as a negative.
fn spent(from: &Mark, to: &Mark) -> Minute {
    let span = (to.at_s - from.at_s).max(f64::EPSILON);
    let pct = |f: fn(&ProcSample) -> f64, a: Option<ProcSample>, b: Option<ProcSample>| {
        Some((f(&b?) - f(&a?)).max(0.0) * 100.0 / span)
    };
    Minute {
        at_s: to.at_s,
        latency_p99_ms: None,
        server_sojourn_p99_ms: to
            .sojourn
            .as_ref()
            .zip(from.sojourn.as_ref())
            .and_then(|(b, a)| b.since(a).quantile(0.99))
            .map(|s| s * 1_000.0),
        loss_pct: loss_pct(to.expected.saturating_sub(from.expected), to.received.saturating_sub(from.received)),
        forwarded_pps: to.packets.saturating_sub(from.packets) as f64 / span,
        server_cpu_pct: pct(|s| s.cpu_s, from.server, to.server),
        server_kernel_pct: pct(|s| s.kernel_s, from.server, to.server),
        generator_cpu_pct: pct(|s| s.cpu_s, from.generator, to.generator),
        server_udp_drops: to.server_drops.zip(from.server_drops).map(|(b, a)| b.saturating_sub(a)),
        steal_ms: to.steal_ms.zip(from.steal_ms).map(|(b, a)| (b - a).max(0.0)),
        generator_lag: to.lag.saturating_sub(from.lag),
        speed: to.speed,
    }
}

/// The latency p99 (ms) of every subscriber's samples between two marks of its sample count.
fn latency_p99(ctx: &Ctx, from: &[usize], to: &[usize]) -> Option<f64> {
    let records = ctx.records.lock().unwrap_or_else(|e| e.into_inner());
    let mut samples = Vec::new();
    for (i, r) in records.iter().enumerate() {
        r.sub.read(|p| {
            let Some(sink) = p.sink.as_ref() else { return };
            let (from, to) = (from.get(i).copied().unwrap_or(0), to.get(i).copied().unwrap_or(0));
            samples.extend(between_marks(&sink.latency_us, from, to).iter().map(|&l| u64::from(l)));
        });
    }
    samples.sort_unstable();
    percentile(&samples, 0.99).map(|us| us as f64 / 1_000.0)
}

/// The samples a subscriber took between two marks of its sample count: `from..to`, or from
/// its start if it holds fewer than `from` (it was replaced and began afresh).
fn between_marks(samples: &[u32], from: usize, to: usize) -> &[u32] {
    let to = to.min(samples.len());
    &samples[if from > to { 0 } else { from }..to]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(at_s: f64, expected: u64, received: u64, cpu_s: f64, drops: u64, steal_ms: f64) -> Mark {
        let packets = received * 10;
        let server = ProcSample { cpu_s, kernel_s: cpu_s / 2.0, ..ProcSample::default() };
        Mark {
            at_s,
            latency_counts: Vec::new(),
            expected,
            received,
            packets,
            lag: 0,
            server: Some(server),
            generator: None,
            server_drops: Some(drops),
            steal_ms: Some(steal_ms),
            speed: None,
            sojourn: None,
        }
    }

    #[test]
    fn a_minute_of_latency_is_what_came_between_its_marks() {
        let samples = [5, 6, 7, 8, 9];
        assert_eq!(between_marks(&samples, 1, 3), &[6, 7]);
        assert_eq!(between_marks(&samples, 3, 3), &[] as &[u32], "nothing came");
        assert_eq!(between_marks(&samples[..2], 4, 5), &[5, 6], "replaced: all of the new one's");
    }

    #[test]
    fn a_minute_is_the_difference_of_its_marks() {
        let m = spent(&mark(60.0, 1_000, 1_000, 10.0, 5, 100.0), &mark(120.0, 3_000, 2_980, 40.0, 905, 400.0));
        assert_eq!(m.at_s, 120.0);
        assert!((m.loss_pct - 1.0).abs() < 1e-9, "20 of the minute's 2,000 lost: {}", m.loss_pct);
        assert!((m.server_cpu_pct.unwrap() - 50.0).abs() < 1e-9, "30 s of CPU in 60 s");
        assert!((m.server_kernel_pct.unwrap() - 25.0).abs() < 1e-9);
        assert_eq!(m.server_udp_drops, Some(900));
        assert!((m.forwarded_pps - 19_800.0 / 60.0).abs() < 1e-9, "{}", m.forwarded_pps);
        assert_eq!(m.steal_ms, Some(300.0));
        assert_eq!(m.generator_cpu_pct, None, "unread is unknown, not zero");
    }

    #[test]
    fn a_count_that_went_back_is_nothing_not_negative() {
        let m = spent(&mark(60.0, 5_000, 4_900, 10.0, 5, 0.0), &mark(120.0, 4_000, 3_990, 20.0, 5, 0.0));
        assert_eq!(m.loss_pct, 0.0);
        assert_eq!(m.server_udp_drops, Some(0));
    }
}
