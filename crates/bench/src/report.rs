//! The result of a run, as JSON and as a table, and two runs side by side with ratios.

use std::fmt::Write;

use crate::minutes::Minute;
use crate::scenario::Scenario;
use crate::stats::Spread;
use crate::target::Kind;

/// Everything one run measured. Server figures cover the measured window only.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub target: Kind,
    pub scenario: Scenario,
    /// `/proc/loadavg` before the run (1, 5, 15 minutes).
    pub load_before: String,
    pub participants: usize,
    /// Participants whose join got as far as creating their connections.
    pub joined: usize,
    pub subscribers_connected: usize,
    pub dead_connections: usize,
    pub sample_failure: Option<String>,
    /// Join (HTTP join request, or Janus session create) → first remote video keyframe (or
    /// first audio packet when nobody sends video), for participants who joined while
    /// someone else was already sending. ms.
    pub join_ms: Spread,
    /// Where the eligible joins' time went, p50 and p95 of each stage's end since the join
    /// started, ms: welcome, first subscribe offer answered, subscriber connection up (ICE and
    /// DTLS), first remote video packet, first keyframe. Stages a target lacks are `None`.
    pub join_stages_p50: [Option<u64>; 5],
    pub join_stages_p95: [Option<u64>; 5],
    /// Eligible participants who never got a first frame.
    pub joins_without_media: usize,
    /// Sender's stamp just before encryption → kernel receive timestamp at the subscriber. µs.
    pub latency_us: Spread,
    /// The server's own histogram of a media packet's stay in it (Convene only,
    /// [`crate::sojourn`]): p50 and p99, µs, interpolated within its buckets.
    pub server_sojourn_us: [Option<u64>; 2],
    /// Media packets that histogram counted in the window.
    pub server_sojourn_packets: u64,
    /// Mean RFC 3550 interarrival jitter over the received streams, ms.
    pub jitter_ms: f64,
    pub loss_pct: f64,
    pub expected_packets: u64,
    /// Streams (sender × audio/video) subscribers should get, and got at least one packet of.
    pub streams_expected: usize,
    pub streams_received: usize,
    pub window_s: f64,
    /// RTP packets all publishers wrote, per second.
    pub sent_pps: f64,
    /// RTP packets all subscribers received (what the SFU forwarded), per second.
    pub forwarded_pps: f64,
    pub forwarded_bytes_ps: f64,
    pub server_cpu_s: f64,
    /// Server CPU as a share of one core.
    pub server_cpu_pct: f64,
    pub packets_per_cpu_s: f64,
    pub cpu_us_per_packet: f64,
    /// Of `cpu_us_per_packet`, the part spent in the server's own code (user time): what an
    /// SFU controls, as opposed to the kernel's socket work every server pays alike.
    pub user_us_per_packet: f64,
    pub server_peak_rss_mb: f64,
    /// Growth of the server's resident anonymous memory (`RssAnon`: heap and stacks, not the
    /// pages of its code) from before the first join to the end of the window, divided by
    /// the participants.
    pub rss_per_participant_kb: f64,
    pub server_threads: u64,
    /// Datagrams the kernel dropped machine-wide for full socket buffers during the window.
    pub udp_rcvbuf_drops: u64,
    /// Of those, the drops at the server's own sockets (the rest: the generator's, or any other
    /// process's on the machine).
    pub server_udp_drops: u64,
    /// CPU time the hypervisor took from this machine during the window (all CPUs), ms: a
    /// burst of it stalls the server and shows as a latency tail.
    pub steal_ms: f64,
    /// Times a publisher fell more than 100 ms behind (the load generator was overloaded).
    pub generator_lag: u64,
    pub keyframe_requests: u64,
    /// Video packets subscribers received per simulcast layer (low, mid, high).
    pub video_layer_packets: [u64; 3],
    /// RTP without a probe (never expected).
    pub foreign_packets: u64,
    /// REMB reports the subscribers sent during the whole run (Convene in the REMB mode only).
    pub remb_reports: u64,
    /// Joins refused with `server_busy` (overload admission on), not counted in `joined`.
    pub refused_joins: usize,
    /// Join request → the refusal (503, or the error frame), ms.
    pub refusal_ms: Spread,
    /// Refusals on the HTTP join, as the socket opened, on the first `publish_offer`.
    pub refusals_by_stage: [usize; 3],
    /// The server's resident memory during the window: (seconds into it, MB).
    pub rss_mb: Vec<(f64, f64)>,
    /// Its growth from the first sample five minutes into the window to the last, %.
    pub rss_growth_pct_after_5_min: Option<f64>,
    /// In a run that samples memory (the soak), each minute of the window.
    pub minutes: Vec<Minute>,
    pub errors: Vec<String>,
}

impl Default for Report {
    fn default() -> Report {
        Report {
            target: Kind::Convene,
            scenario: Scenario::preset("smoke").expect("the smoke preset"),
            load_before: String::new(),
            participants: 0,
            joined: 0,
            subscribers_connected: 0,
            dead_connections: 0,
            sample_failure: None,
            join_ms: Spread::default(),
            join_stages_p50: [None; 5],
            join_stages_p95: [None; 5],
            joins_without_media: 0,
            latency_us: Spread::default(),
            server_sojourn_us: [None; 2],
            server_sojourn_packets: 0,
            jitter_ms: 0.0,
            loss_pct: 0.0,
            expected_packets: 0,
            streams_expected: 0,
            streams_received: 0,
            window_s: 0.0,
            sent_pps: 0.0,
            forwarded_pps: 0.0,
            forwarded_bytes_ps: 0.0,
            server_cpu_s: 0.0,
            server_cpu_pct: 0.0,
            packets_per_cpu_s: 0.0,
            cpu_us_per_packet: 0.0,
            user_us_per_packet: 0.0,
            server_peak_rss_mb: 0.0,
            rss_per_participant_kb: 0.0,
            server_threads: 0,
            udp_rcvbuf_drops: 0,
            server_udp_drops: 0,
            steal_ms: 0.0,
            generator_lag: 0,
            keyframe_requests: 0,
            video_layer_packets: [0; 3],
            foreign_packets: 0,
            remb_reports: 0,
            refused_joins: 0,
            refusal_ms: Spread::default(),
            refusals_by_stage: [0; 3],
            rss_mb: Vec::new(),
            rss_growth_pct_after_5_min: None,
            minutes: Vec::new(),
            errors: Vec::new(),
        }
    }
}

fn ms(us: Option<u64>) -> String {
    us.map_or("-".into(), |v| format!("{:.2}", v as f64 / 1000.0))
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// The rows of the table: label, then one value per report.
fn rows(r: &Report) -> Vec<(&'static str, String)> {
    vec![
        ("participants joined / total", format!("{} / {}", r.joined, r.participants)),
        (
            "refused server_busy (http/ws/publish)",
            format!(
                "{} ({} / {} / {})",
                r.refused_joins, r.refusals_by_stage[0], r.refusals_by_stage[1], r.refusals_by_stage[2]
            ),
        ),
        (
            "refusal ms p50 / p99 / max",
            format!("{} / {} / {}", opt(r.refusal_ms.p50), opt(r.refusal_ms.p99), opt(r.refusal_ms.max)),
        ),
        ("subscriber connections up", r.subscribers_connected.to_string()),
        ("streams received / expected", format!("{} / {}", r.streams_received, r.streams_expected)),
        (
            "join ms p50 / p95 / p99 (n)",
            format!("{} / {} / {} ({})", opt(r.join_ms.p50), opt(r.join_ms.p95), opt(r.join_ms.p99), r.join_ms.n),
        ),
        ("join stages ms p50: welcome / answer / connected / video / keyframe", stages(&r.join_stages_p50)),
        ("join stages ms p95: welcome / answer / connected / video / keyframe", stages(&r.join_stages_p95)),
        (
            "SFU latency ms p50 / p99 / max",
            format!("{} / {} / {}", ms(r.latency_us.p50), ms(r.latency_us.p99), ms(r.latency_us.max)),
        ),
        (
            "in-server sojourn ms p50 / p99 (packets)",
            format!("{} / {} ({})", ms(r.server_sojourn_us[0]), ms(r.server_sojourn_us[1]), r.server_sojourn_packets),
        ),
        ("jitter ms (mean)", format!("{:.3}", r.jitter_ms)),
        ("packet loss %", format!("{:.3}", r.loss_pct)),
        ("sent packets/s", format!("{:.0}", r.sent_pps)),
        ("forwarded packets/s", format!("{:.0}", r.forwarded_pps)),
        ("forwarded Mbit/s", format!("{:.1}", r.forwarded_bytes_ps * 8.0 / 1e6)),
        ("server CPU s (% of a core)", format!("{:.2} ({:.0} %)", r.server_cpu_s, r.server_cpu_pct)),
        ("forwarded packets per CPU-s", format!("{:.0}", r.packets_per_cpu_s)),
        ("CPU µs per forwarded packet", format!("{:.2}", r.cpu_us_per_packet)),
        ("user-space CPU µs per packet", format!("{:.2}", r.user_us_per_packet)),
        ("server peak RSS MB", format!("{:.1}", r.server_peak_rss_mb)),
        ("anon. memory growth per participant KB", format!("{:.0}", r.rss_per_participant_kb)),
        ("RSS growth after 5 min %", r.rss_growth_pct_after_5_min.map_or("-".into(), |g| format!("{g:.1}"))),
        (
            "video packets by layer q / h / f",
            format!("{} / {} / {}", r.video_layer_packets[0], r.video_layer_packets[1], r.video_layer_packets[2]),
        ),
        ("kernel UDP buffer drops (at the server)", format!("{} ({})", r.udp_rcvbuf_drops, r.server_udp_drops)),
        ("hypervisor steal ms (machine)", format!("{:.0}", r.steal_ms)),
        ("load average before (1/5/15 min)", r.load_before.clone()),
        ("generator lag events", r.generator_lag.to_string()),
        ("keyframe requests", r.keyframe_requests.to_string()),
        ("REMB reports sent (whole run)", r.remb_reports.to_string()),
        ("errors", r.errors.len().to_string()),
    ]
}

/// One run as a table (with the overload and soak targets checked when the run was one).
pub fn table(r: &Report) -> String {
    let mut out = side_by_side(std::slice::from_ref(r), false);
    if let Some(video) = r.scenario.video_slots {
        let _ = writeln!(
            out,
            "Convene's subscribers took slots: 3 audio, {video} video (Janus and the forwarder: per track)"
        );
    }
    if r.scenario.admission {
        out += &overload_verdict(r);
    }
    if !r.rss_mb.is_empty() && r.scenario.rss_every_s > 0.0 {
        let curve: Vec<String> = r.rss_mb.iter().map(|(t, mb)| format!("{t:.0}s {mb:.0}")).collect();
        let _ = writeln!(out, "server RSS MB during the window: {}", curve.join(", "));
    }
    out += &minutes_table(&r.minutes);
    out
}

/// The soak's minutes, one row each, and the lowest and highest latency p99 among them.
fn minutes_table(minutes: &[Minute]) -> String {
    let mut out = String::new();
    if minutes.is_empty() {
        return out;
    }
    let opt = |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    out += "minute | latency p99 ms | in-server p99 ms | loss % | forwarded packets/s | server CPU % (kernel) | server UDP drops | steal ms | generator CPU % | generator lag | machine probe ms (arithmetic / memory)\n";
    for m in minutes {
        let _ = writeln!(
            out,
            "{:>4.0}s | {} | {} | {:.3} | {:.0} | {} ({}) | {} | {} | {} | {} | {}",
            m.at_s,
            opt(m.latency_p99_ms, 2),
            opt(m.server_sojourn_p99_ms, 2),
            m.loss_pct,
            m.forwarded_pps,
            opt(m.server_cpu_pct, 0),
            opt(m.server_kernel_pct, 0),
            m.server_udp_drops.map_or("-".to_string(), |d| d.to_string()),
            opt(m.steal_ms, 0),
            opt(m.generator_cpu_pct, 0),
            m.generator_lag,
            m.speed.map_or("-".to_string(), |s| format!("{:.1} / {:.1}", s.arithmetic_ms, s.memory_ms)),
        );
    }
    let p99s = minutes.iter().filter_map(|m| m.latency_p99_ms);
    let (low, high) = p99s.fold((f64::INFINITY, 0.0f64), |(l, h), ms| (l.min(ms), h.max(ms)));
    if high > 0.0 {
        let _ = writeln!(out, "latency p99 by minute: lowest {low:.2} ms, highest {high:.2} ms");
    }
    let inside = minutes.iter().filter_map(|m| m.server_sojourn_p99_ms);
    let (low, high) = inside.fold((f64::INFINITY, 0.0f64), |(l, h), ms| (l.min(ms), h.max(ms)));
    if high > 0.0 {
        let _ = writeln!(out, "in-server p99 by minute: lowest {low:.2} ms, highest {high:.2} ms");
    }
    out
}

/// The targets of an overload run (issue 19): the people admitted keep < 1 % loss and a
/// latency p99 < 50 ms; every refused join hears so within a second.
pub fn overload_verdict(r: &Report) -> String {
    let p99_ms = r.latency_us.p99.map_or(f64::INFINITY, |us| us as f64 / 1_000.0);
    let slowest = r.refusal_ms.max.unwrap_or(0);
    let mark = |ok: bool| if ok { "met" } else { "NOT met" };
    format!(
        "overload: {} admitted, {} refused; admitted loss {:.3} % (< 1 %: {}), latency p99 {p99_ms:.1} ms (< 50 ms: {}), slowest refusal {slowest} ms (< 1000 ms: {})\n",
        r.joined,
        r.refused_joins,
        r.loss_pct,
        mark(r.loss_pct < 1.0),
        mark(p99_ms < 50.0),
        mark(slowest < 1_000),
    )
}

/// How a label says that publishers were read by str0m's session (nothing for the default).
fn uplink_label(s: &Scenario) -> &'static str {
    if s.own_uplink {
        ""
    } else {
        " up-str0m"
    }
}

/// What a run is called in tables: the server, and for Convene where it took subscribers'
/// downlink estimates from.
pub fn label(target: Kind, s: &Scenario) -> String {
    match target {
        Kind::Convene => format!("convene {}{}", s.downlink_estimate.label(), uplink_label(s)),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Runs of the same scenario as columns; with `ratios`, a column of each Convene run ÷ the
/// Janus run for the figures where a ratio means something.
pub fn side_by_side(reports: &[Report], ratios: bool) -> String {
    let Some(first) = reports.first() else { return String::new() };
    let mut out = String::new();
    let s = &first.scenario;
    let talkers = s.talkers.map_or(String::new(), |t| format!(" ({} talking)", t.min(s.audio_publishers)));
    let audible = if s.convene_crowded() {
        format!(", Convene forwards the {} loudest microphones", s.audible)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "scenario {}: {} meeting(s) × {} participants, {} video + {} audio publishers{talkers} each{audible}, layer {}, {:?} kbit/s, {:.0} s measured; load before {}",
        s.name, s.meetings, s.participants, s.video_publishers, s.audio_publishers, s.layer, s.profile.kbps, s.duration_s, first.load_before
    );
    let columns: Vec<Vec<(&str, String)>> = reports.iter().map(rows).collect();
    let janus = reports.iter().find(|r| r.target == Kind::Janus).filter(|_| ratios);
    let convene: Vec<&Report> =
        if janus.is_some() { reports.iter().filter(|r| r.target == Kind::Convene).collect() } else { Vec::new() };
    let mut header = format!("| {:<32} |", "");
    for r in reports {
        header += &format!(" {:<26} |", label(r.target, &r.scenario));
    }
    for r in &convene {
        header += &format!(" {:<22} |", format!("{} ÷ janus", label(r.target, &r.scenario)));
    }
    let _ = writeln!(out, "{header}");
    let _ = writeln!(
        out,
        "|{}|",
        header[1..header.len() - 1].split('|').map(|c| "-".repeat(c.chars().count())).collect::<Vec<_>>().join("|")
    );
    for (i, (row, _)) in columns[0].iter().enumerate() {
        let mut line = format!("| {row:<32} |");
        for c in &columns {
            line += &format!(" {:<26} |", c[i].1);
        }
        if let Some(janus) = janus {
            for r in &convene {
                line += &format!(" {:<22} |", ratio(row, r, janus));
            }
        }
        let _ = writeln!(out, "{line}");
    }
    if let Some(ceiling) = reports.iter().find(|r| r.target == Kind::Ceiling && r.cpu_us_per_packet > 0.0) {
        for r in reports.iter().filter(|r| r.target != Kind::Ceiling && r.cpu_us_per_packet > 0.0) {
            let _ = writeln!(
                out,
                "{} spends {:.1}× the CPU per forwarded packet of the plain UDP forwarder (no crypto, batched syscalls).",
                label(r.target, &r.scenario),
                r.cpu_us_per_packet / ceiling.cpu_us_per_packet
            );
        }
    }
    for r in reports {
        for e in r.errors.iter().take(5) {
            let _ = writeln!(out, "  {} error: {e}", label(r.target, &r.scenario));
        }
        if let Some(f) = &r.sample_failure {
            let _ = writeln!(out, "  {} a failed connection: {f}", label(r.target, &r.scenario));
        }
    }
    out
}

/// first ÷ second for the rows where it is meaningful.
fn ratio(label: &str, a: &Report, b: &Report) -> String {
    let div = |x: f64, y: f64| if y > 0.0 { format!("{:.2}", x / y) } else { "-".into() };
    match label {
        "forwarded packets per CPU-s" => div(a.packets_per_cpu_s, b.packets_per_cpu_s),
        "CPU µs per forwarded packet" => div(a.cpu_us_per_packet, b.cpu_us_per_packet),
        "user-space CPU µs per packet" => div(a.user_us_per_packet, b.user_us_per_packet),
        "forwarded packets/s" => div(a.forwarded_pps, b.forwarded_pps),
        "server peak RSS MB" => div(a.server_peak_rss_mb, b.server_peak_rss_mb),
        "SFU latency ms p50 / p99 / max" => {
            div(a.latency_us.p99.unwrap_or(0) as f64, b.latency_us.p99.unwrap_or(0) as f64) + " (p99)"
        }
        "join ms p50 / p95 / p99 (n)" => {
            div(a.join_ms.p99.unwrap_or(0) as f64, b.join_ms.p99.unwrap_or(0) as f64) + " (p99)"
        }
        _ => String::new(),
    }
}

/// Rounds of one comparison (each a Convene run per mode, Janus, maybe the forwarder): per
/// Convene mode, each round's ratios in order and their median.
pub fn rounds(rounds: &[Vec<Report>]) -> String {
    let mut out = String::new();
    let Some(first) = rounds.first() else { return out };
    let _ = writeln!(out, "{} rounds, each side by side; per round, then the median:", rounds.len());
    let modes: Vec<String> =
        first.iter().filter(|r| r.target == Kind::Convene).map(|r| label(r.target, &r.scenario)).collect();
    let of = |round: &[Report], kind: Kind| round.iter().find(|r| r.target == kind).cloned();
    for mode in &modes {
        let convene = |round: &[Report]| {
            round.iter().find(|r| r.target == Kind::Convene && label(r.target, &r.scenario) == *mode).cloned()
        };
        let series = |f: &dyn Fn(&Report, &[Report]) -> Option<f64>| -> Vec<f64> {
            rounds.iter().filter_map(|round| convene(round).and_then(|c| f(&c, round))).collect()
        };
        let per_janus = series(&|c, round| {
            of(round, Kind::Janus)
                .filter(|j| j.packets_per_cpu_s > 0.0)
                .map(|j| c.packets_per_cpu_s / j.packets_per_cpu_s)
        });
        let per_ceiling = series(&|c, round| {
            of(round, Kind::Ceiling)
                .filter(|k| k.cpu_us_per_packet > 0.0)
                .map(|k| c.cpu_us_per_packet / k.cpu_us_per_packet)
        });
        let cpu = series(&|c, _| Some(c.cpu_us_per_packet));
        let latency = series(&|c, _| c.latency_us.p99.map(|us| us as f64 / 1000.0));
        let sojourn = series(&|c, _| c.server_sojourn_us[1].map(|us| us as f64 / 1000.0));
        let join = series(&|c, _| c.join_ms.p99.map(|ms| ms as f64));
        let loss = series(&|c, _| Some(c.loss_pct));
        let rows: [(&str, &[f64], usize, &str); 7] = [
            ("packets per CPU-s ÷ janus", &per_janus, 2, "×"),
            ("CPU per packet ÷ plain forwarder", &per_ceiling, 2, "×"),
            ("CPU µs per forwarded packet", &cpu, 2, ""),
            ("SFU latency p99 ms", &latency, 2, ""),
            ("in-server sojourn p99 ms", &sojourn, 2, ""),
            ("join p99 ms", &join, 0, ""),
            ("packet loss %", &loss, 3, ""),
        ];
        let _ = writeln!(out, "{mode}:");
        for (name, values, digits, unit) in rows {
            if values.is_empty() {
                continue;
            }
            let each: Vec<String> = values.iter().map(|v| format!("{v:.digits$}{unit}")).collect();
            let _ = writeln!(out, "  {name:<34} {}  → median {:.digits$}{unit}", each.join(" / "), median(values));
        }
    }
    out
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The media core's own cost ([`crate::inproc`]) as a two-column table.
pub fn core_table(r: &crate::inproc::CoreReport) -> String {
    let s = &r.scenario;
    let rows = [
        (
            "participants / video / audio publishers",
            format!("{} / {} / {}", s.participants, s.video_publishers, s.audio_publishers),
        ),
        ("simulated seconds measured", format!("{:.1}", r.simulated_s)),
        ("packets sent / forwarded", format!("{} / {}", r.sent_packets, r.forwarded_packets)),
        (
            "video packets by layer q / h / f",
            format!("{} / {} / {}", r.layer_packets[0], r.layer_packets[1], r.layer_packets[2]),
        ),
        ("time in the room's calls, s", format!("{:.3}", r.room_s)),
        ("of it inside str0m, s", format!("{:.3} ({:.0} %)", r.str0m_s, r.str0m_share * 100.0)),
        ("µs per forwarded packet: room", format!("{:.2}", r.room_us_per_packet)),
        ("µs per forwarded packet: str0m", format!("{:.2}", r.str0m_us_per_packet)),
        ("µs per forwarded packet: Convene's own", format!("{:.2}", r.own_us_per_packet)),
        ("forwarded packets per room-second", format!("{:.0}", r.packets_per_room_s)),
        ("REMB reports sent by subscribers", r.remb_reports.to_string()),
        (
            "subscriptions",
            match s.video_slots {
                Some(v) => format!("slots: 3 audio, {v} video"),
                None => "an m-line per track".to_string(),
            },
        ),
        ("subscribe offers while filling the meeting", r.subscribe_offers.to_string()),
        ("slot maps sent while measuring", r.slot_maps.to_string()),
        ("room time signaling, ms (per join)", format!("{:.1} ({:.2})", r.signaling_ms, r.signaling_ms_per_join)),
    ];
    let mut out = format!(
        "media core alone, scenario {}: one meeting in this process on simulated time, layer {}, {:?} kbit/s\n",
        s.name, s.layer, s.profile.kbps
    );
    let _ = writeln!(
        out,
        "| {:<40} | {:<20} |",
        "",
        format!("convene core {}{}", s.downlink_estimate.label(), uplink_label(s))
    );
    let _ = writeln!(out, "|{}|{}|", "-".repeat(42), "-".repeat(22));
    for (k, v) in rows {
        let _ = writeln!(out, "| {k:<40} | {v:<20} |");
    }
    out
}

/// A join's stages, "-" where the target has none.
fn stages(s: &[Option<u64>; 5]) -> String {
    s.iter().map(|v| opt(*v)).collect::<Vec<_>>().join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(target: Kind, packets_per_cpu_s: f64, cpu_us_per_packet: f64) -> Report {
        Report { target, packets_per_cpu_s, cpu_us_per_packet, ..Report::default() }
    }

    #[test]
    fn rounds_show_each_rounds_ratio_and_the_median() {
        let three = vec![
            vec![run(Kind::Convene, 90.0, 10.0), run(Kind::Janus, 50.0, 20.0), run(Kind::Ceiling, 200.0, 5.0)],
            vec![run(Kind::Convene, 60.0, 12.0), run(Kind::Janus, 40.0, 25.0), run(Kind::Ceiling, 200.0, 4.0)],
            vec![run(Kind::Convene, 120.0, 8.0), run(Kind::Janus, 40.0, 24.0), run(Kind::Ceiling, 200.0, 5.0)],
        ];
        let text = rounds(&three);
        assert!(text.contains("1.80× / 1.50× / 3.00×  → median 1.80×"), "{text}");
        assert!(text.contains("2.00× / 3.00× / 1.60×  → median 2.00×"), "{text}");
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
