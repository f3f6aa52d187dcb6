//! `convene-bench`: the command line. `run` one scenario against one server, `compare` the
//! same scenario on Convene and Janus with ratios, `capacity` grows meetings until loss
//! passes 1 % or latency 50 ms, `core` runs a meeting against the SFU core in-process on
//! simulated time, `ceiling` measures a plain UDP forwarder on this machine.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use convene_bench::report::{self, Report};
use convene_bench::scenario::{Estimate, Scenario};
use convene_bench::synth::Profile;
use convene_bench::target::{Kind, Target};

#[derive(Debug, Parser)]
#[command(name = "convene-bench", about = "Simulated meeting participants against Convene and Janus")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// One scenario against one server.
    Run {
        #[command(flatten)]
        scenario: ScenarioArgs,
        #[command(flatten)]
        servers: ServerArgs,
        /// Which server the bench starts.
        #[arg(long, value_enum, default_value = "convene")]
        target: Kind,
        /// Use a Convene already running at this URL instead of starting one (needs --pid).
        #[arg(long, requires = "pid")]
        url: Option<String>,
        /// The pid of the server at --url (its CPU and memory are measured).
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Scenario 4: adds meetings of the scenario's shape, a fresh server per step, until
    /// loss reaches 1 %, latency p99 passes --max-latency-ms or joins fail; reports the
    /// largest step below that, per server.
    Capacity {
        #[command(flatten)]
        scenario: ScenarioArgs,
        #[command(flatten)]
        servers: ServerArgs,
        /// Which servers to ramp, in order.
        #[arg(long, value_enum, num_args = 1.., default_values = ["convene", "janus"])]
        targets: Vec<Kind>,
        /// Meetings added per step.
        #[arg(long, default_value_t = 1)]
        step: usize,
        /// The most meetings tried.
        #[arg(long, default_value_t = 40)]
        max_meetings: usize,
        /// A step also fails when the SFU-added latency p99 passes this many ms: a server past
        /// its core's capacity queues packets in its socket buffer (seconds of delay) long
        /// before it drops 1 % of them.
        #[arg(long, default_value_t = 50.0)]
        max_latency_ms: f64,
    },
    /// One meeting of the scenario against Convene's media core in this process, on simulated
    /// time (no sockets, kernel or server process): the core's own CPU per forwarded packet,
    /// and how much of it is str0m's.
    Core {
        #[command(flatten)]
        scenario: ScenarioArgs,
    },
    /// The cost per forwarded packet of a subscriber's connection, in process on simulated
    /// time: str0m's `Rtc` as Convene uses it today against Convene's own downlink transport.
    Downlink {
        /// Subscriber connections, each sent every packet.
        #[arg(long, default_value_t = 9)]
        subscribers: usize,
        /// Streams per connection (a meeting of ten: nine cameras and nine microphones).
        #[arg(long, default_value_t = 18)]
        streams: usize,
        /// Source packets per second.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        /// Payload bytes per packet.
        #[arg(long, default_value_t = 1100)]
        payload: usize,
        /// Simulated seconds measured (after two to connect).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Runs the plain UDP forwarder of the ceiling measurement (started by `--target ceiling`).
    Forwarder {
        #[arg(long, default_value = "127.0.0.1:40000")]
        listen: std::net::SocketAddr,
    },
    /// The same scenario against Convene, then Janus (and the plain UDP forwarder with
    /// --ceiling), side by side with Convene ÷ Janus ratios.
    Compare {
        /// Also run the scenario through the plain UDP forwarder (the machine's ceiling).
        #[arg(long)]
        ceiling: bool,
        /// Rounds of the whole comparison, one after another, each side by side; with more
        /// than one, a summary of each round's ratios and their median (this hypervisor's
        /// speed drifts by a quarter between back-to-back runs, so one round proves little).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
        rounds: u32,
        #[command(flatten)]
        scenario: ScenarioArgs,
        #[command(flatten)]
        servers: ServerArgs,
    },
}

#[derive(Debug, Args)]
struct ScenarioArgs {
    /// A preset: meeting10, meeting100, webinar300, overload, soak, smoke. Flags below override it.
    #[arg(long, default_value = "meeting10")]
    scenario: String,
    #[arg(long)]
    meetings: Option<usize>,
    /// Participants per meeting.
    #[arg(long)]
    participants: Option<usize>,
    /// Participants per meeting that send camera video (the rest only subscribe to video).
    #[arg(long)]
    publishers: Option<usize>,
    /// Participants per meeting that send microphone audio [default: as the preset says].
    #[arg(long)]
    audio_publishers: Option<usize>,
    /// Audio publishers per meeting that talk; the others' microphones are open in silence
    /// [default: as the preset says; all but in meeting100, where 3 talk].
    #[arg(long)]
    talkers: Option<usize>,
    /// Convene's `--audible-speakers` (loudest microphones forwarded in a meeting of more than
    /// ten; 0: all, as Janus forwards) [default: 3, Convene's own].
    #[arg(long)]
    audible: Option<usize>,
    /// Seconds measured.
    #[arg(long)]
    duration: Option<f64>,
    #[arg(long)]
    warmup: Option<f64>,
    /// Joins per second.
    #[arg(long)]
    ramp: Option<f64>,
    /// Video bitrates: low, standard, hd, or three kbit/s values like 150,500,1500.
    #[arg(long, value_parser = Profile::parse)]
    profile: Option<Profile>,
    /// Simulcast layer subscribers ask for: 0, 1 or 2.
    #[arg(long)]
    layer: Option<u8>,
    /// Offer no transport-wide congestion control.
    #[arg(long)]
    no_twcc: bool,
    /// Where Convene takes a subscriber's downlink estimate from: `twcc` (its own, from
    /// transport-wide feedback, paced, on str0m's transport), `remb` (the subscriber's, which
    /// the simulated subscribers then report once a second: a fixed 50 Mbit/s, the loopback
    /// network being uncongested) or `remb-own` (`remb` on Convene's own transport, the
    /// server's default). Several (`twcc,remb-own`) run Convene once in each mode. Janus and
    /// the plain forwarder ignore it. With --url, the server's own setting must match.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "remb-own")]
    downlink_estimate: Vec<Estimate>,
    /// Whose session reads what Convene's publishers send: `own` (the server's default) or
    /// `str0m`. Janus and the plain forwarder ignore it.
    #[arg(long, default_value = "own", value_parser = ["own", "str0m"])]
    uplink_transport: String,
    /// The estimate the subscribers report with `--downlink-estimate remb`, kbit/s: a smaller
    /// one follows a first report of the default, as a browser's estimate falls when its link
    /// congests [default: 50000].
    #[arg(long)]
    remb_kbps: Option<u64>,
    /// How often they report it, ms [default: 1000].
    #[arg(long)]
    remb_every_ms: Option<u64>,
    /// Run Convene with its overload admission and shedding on (default high-water marks):
    /// `server_busy` refusals are counted, not errors [default: on in `overload` only].
    #[arg(long)]
    admission: bool,
    /// Fill meetings one after another instead of side by side [default: in `overload`].
    #[arg(long)]
    in_turn: bool,
    /// Sample the server's memory every this many seconds of the window, and then also take
    /// the latency p99 of each minute [default: 10 in `soak`].
    #[arg(long)]
    rss_every: Option<f64>,
    /// Subscribers take this many video slots (and three audio slots), negotiated once,
    /// instead of an m-line per track [default: per track].
    #[arg(long)]
    video_slots: Option<u8>,
    /// Threads for the simulated peers.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Write the report(s) as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ServerArgs {
    /// The convene binary to start (build it with `cargo build --release -p convene`).
    #[arg(long, default_value = "target/release/convene")]
    convene_bin: PathBuf,
    #[arg(long, default_value = "/usr/bin/janus")]
    janus_bin: PathBuf,
    /// CPUs for the server (`taskset -c` list), e.g. 0. The bench itself can be pinned with
    /// `taskset -c 1 convene-bench …`.
    #[arg(long)]
    server_cpus: Option<String>,
}

impl ScenarioArgs {
    fn scenario(&self) -> Result<Scenario, String> {
        let mut s = Scenario::preset(&self.scenario).ok_or_else(|| {
            format!("unknown scenario {:?}; presets: {}", self.scenario, Scenario::PRESETS.join(", "))
        })?;
        if let Some(v) = self.meetings {
            s.meetings = v;
        }
        if let Some(v) = self.participants {
            s.participants = v;
            s.video_publishers = s.video_publishers.min(v);
            s.audio_publishers = s.audio_publishers.min(v);
        }
        if let Some(v) = self.publishers {
            s.video_publishers = v;
            s.audio_publishers = s.audio_publishers.max(v);
        }
        if let Some(v) = self.audio_publishers {
            s.audio_publishers = v;
        }
        if let Some(v) = self.talkers {
            s.talkers = Some(v);
        }
        if let Some(v) = self.audible {
            s.audible = v;
        }
        if let Some(v) = self.duration {
            s.duration_s = v;
        }
        if let Some(v) = self.warmup {
            s.warmup_s = v;
        }
        if let Some(v) = self.ramp {
            s.ramp_per_s = v;
        }
        if let Some(v) = self.profile {
            s.profile = v;
        }
        if let Some(v) = self.layer {
            s.layer = v;
        }
        if self.no_twcc {
            s.twcc = false;
        }
        s.downlink_estimate = self.estimates()[0];
        s.own_uplink = self.uplink_transport == "own";
        if let Some(v) = self.remb_kbps {
            s.remb_bps = v * 1_000;
        }
        if let Some(v) = self.remb_every_ms {
            s.remb_every_ms = v;
        }
        s.admission |= self.admission;
        s.in_turn |= self.in_turn;
        if let Some(v) = self.rss_every {
            s.rss_every_s = v;
        }
        s.video_slots = self.video_slots.or(s.video_slots);
        s.check()?;
        Ok(s)
    }

    /// The downlink estimates asked for, each once, in order (never none).
    fn estimates(&self) -> Vec<Estimate> {
        let mut all: Vec<Estimate> = Vec::new();
        for &e in &self.downlink_estimate {
            if !all.contains(&e) {
                all.push(e);
            }
        }
        if all.is_empty() {
            all.push(Estimate::default());
        }
        all
    }

    /// The runs of `kinds`: Convene once per downlink estimate asked for, the others once
    /// (their scenario says the default, which changes nothing for them).
    fn runs(&self, base: &Scenario, kinds: &[Kind]) -> Vec<(Kind, Scenario)> {
        let mut runs = Vec::new();
        for &kind in kinds {
            let estimates = if kind == Kind::Convene { self.estimates() } else { vec![Estimate::default()] };
            for downlink_estimate in estimates {
                runs.push((kind, Scenario { downlink_estimate, ..base.clone() }));
            }
        }
        runs
    }
}

fn start(kind: Kind, servers: &ServerArgs, s: &Scenario) -> convene_bench::Result<Target> {
    match kind {
        Kind::Convene => {
            let cpus = servers.server_cpus.as_deref();
            Target::start_convene(&servers.convene_bin, cpus, s, s.downlink_estimate)
        }
        Kind::Janus => Target::start_janus(&servers.janus_bin, servers.server_cpus.as_deref()),
        Kind::Ceiling => Target::start_ceiling(servers.server_cpus.as_deref()),
    }
}

fn write_json(path: &Option<PathBuf>, reports: &[Report]) -> anyhow::Result<()> {
    if let Some(path) = path {
        std::fs::write(path, serde_json::to_string_pretty(reports)?)?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Run { scenario, servers, target, url, pid } => {
            let base = scenario.scenario().map_err(anyhow::Error::msg)?;
            let mut reports = Vec::new();
            for (kind, s) in scenario.runs(&base, &[target]) {
                if !reports.is_empty() {
                    // Let the machine settle between runs.
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                let mut t = match (&url, pid) {
                    (Some(url), Some(pid)) => Target::external(url, pid),
                    _ => start(kind, &servers, &s)?,
                };
                let r = convene_bench::run::run(&t, &s, scenario.client_threads).await?;
                t.stop();
                print!("{}", report::table(&r));
                reports.push(r);
            }
            if reports.len() > 1 {
                println!();
                print!("{}", report::side_by_side(&reports, false));
            }
            write_json(&scenario.json, &reports)?;
        }
        Cmd::Capacity { scenario, servers, targets, step, max_meetings, max_latency_ms } => {
            let base = scenario.scenario().map_err(anyhow::Error::msg)?;
            let mut all = Vec::new();
            let mut summary = Vec::new();
            for (kind, shape) in scenario.runs(&base, &targets) {
                let mut best: Option<Report> = None;
                let mut meetings = step.max(1);
                let name = report::label(kind, &shape);
                while meetings <= max_meetings {
                    let s = Scenario { meetings, ..shape.clone() };
                    let mut t = start(kind, &servers, &s)?;
                    let r = convene_bench::run::run(&t, &s, scenario.client_threads).await?;
                    t.stop();
                    let p99_ms = r.latency_us.p99.map_or(f64::INFINITY, |us| us as f64 / 1_000.0);
                    println!(
                        "{name} {meetings} meeting(s), {} participants: loss {:.3} %, latency p99 {p99_ms:.1} ms, streams {}/{}, server CPU {:.0} %, generator lag {}",
                        s.total_participants(), r.loss_pct, r.streams_received, r.streams_expected, r.server_cpu_pct, r.generator_lag
                    );
                    let ok = r.loss_pct < 1.0
                        && p99_ms <= max_latency_ms
                        && r.streams_received == r.streams_expected
                        && r.errors.is_empty();
                    all.push(r.clone());
                    if !ok {
                        print!("{}", report::table(&r));
                        break;
                    }
                    best = Some(r);
                    meetings += step.max(1);
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                summary.push((name, best));
            }
            for (name, best) in &summary {
                match best {
                    Some(r) => println!(
                        "{name}: {} participants ({} meeting(s)) at < 1 % loss and latency p99 ≤ {max_latency_ms} ms, server CPU {:.0} % of a core",
                        r.scenario.total_participants(),
                        r.scenario.meetings,
                        r.server_cpu_pct
                    ),
                    None => println!("{name}: not even the first step stayed under 1 % loss and {max_latency_ms} ms latency p99"),
                }
            }
            write_json(&scenario.json, &all)?;
        }
        Cmd::Core { scenario } => {
            let base = scenario.scenario().map_err(anyhow::Error::msg)?;
            let mut reports = Vec::new();
            for (_, s) in scenario.runs(&base, &[Kind::Convene]) {
                let r = convene_bench::inproc::run(&s)?;
                print!("{}", report::core_table(&r));
                reports.push(r);
            }
            if let Some(path) = &scenario.json {
                // One report as before; several as a list.
                let json = match reports.as_slice() {
                    [one] => serde_json::to_string_pretty(one)?,
                    all => serde_json::to_string_pretty(all)?,
                };
                std::fs::write(path, json)?;
            }
        }
        Cmd::Downlink { subscribers, streams, rate, payload, seconds } => {
            let mut rows = Vec::new();
            for (name, own) in [("str0m Rtc (remb mode)", false), ("own transport", true)] {
                let m = convene_bench::downlink::measure(own, subscribers, streams, rate, payload, seconds)?;
                println!(
                    "{name:<22} {:>9} packets  {:>8.3} µs per packet  {:>9} datagrams",
                    m.packets,
                    m.micros_per_packet(),
                    m.datagrams
                );
                rows.push(m.micros_per_packet());
            }
            println!("str0m ÷ own: {:.2}×", rows[0] / rows[1].max(f64::MIN_POSITIVE));
        }
        Cmd::Forwarder { listen } => {
            let socket = convene_bench::ceiling::bind(listen)?;
            convene_bench::ceiling::serve(&socket)?;
        }
        Cmd::Compare { scenario, servers, ceiling, rounds } => {
            let base = scenario.scenario().map_err(anyhow::Error::msg)?;
            let kinds: &[Kind] =
                if ceiling { &[Kind::Convene, Kind::Janus, Kind::Ceiling] } else { &[Kind::Convene, Kind::Janus] };
            let mut all = Vec::new();
            for round in 1..=rounds {
                let mut reports = Vec::new();
                for (kind, s) in scenario.runs(&base, kinds) {
                    let mut t = start(kind, &servers, &s)?;
                    let r = convene_bench::run::run(&t, &s, scenario.client_threads).await?;
                    t.stop();
                    print!("{}", report::table(&r));
                    reports.push(r);
                    // Let the machine settle between the two.
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                println!();
                if rounds > 1 {
                    println!("round {round} of {rounds}");
                }
                print!("{}", report::side_by_side(&reports, true));
                all.push(reports);
            }
            if rounds > 1 {
                println!();
                print!("{}", report::rounds(&all));
            }
            write_json(&scenario.json, &all.concat())?;
        }
    }
    Ok(())
}
