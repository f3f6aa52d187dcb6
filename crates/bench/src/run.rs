//! One run: starts the engine, lets the scenario's participants join at the ramp-up rate,
//! waits for media to settle, measures for the scenario's duration (server CPU and memory
//! from /proc, arrivals at every subscriber), and sums it all up in a [`Report`].

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::engine::Engine;
use crate::minutes::{self, Mark};
use crate::peer::PHASE_MEASURE;
use crate::plan::{Ctx, Record, Spec, Stage};
use crate::report::Report;
use crate::scenario::Scenario;
use crate::stats::{loss_pct, Spread};
use crate::target::{Kind, Target};
use crate::{procstat, Error, Result};

/// After the phase is measured: sinks stop counting.
const PHASE_DONE: u8 = 2;
/// The longest the bench waits for everyone's connections after the last join.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a run that samples memory (the soak) marks a minute ([`minutes`]).
const MINUTE: Duration = Duration::from_secs(60);

/// The meetings of a run on one kind of server.
#[derive(Clone)]
enum Meetings {
    Convene(Arc<crate::convene::Meetings>),
    Janus(Arc<crate::janus::Meetings>),
    /// The plain UDP forwarder at this address.
    Ceiling(std::net::SocketAddr),
}

impl Meetings {
    /// Runs one participant until `stop`.
    async fn participant(&self, ctx: Arc<Ctx>, spec: Spec, stop: watch::Receiver<bool>) -> Result<()> {
        match self {
            Meetings::Convene(m) => m.participant(ctx, spec, stop).await,
            Meetings::Janus(m) => m.participant(ctx, spec, stop).await,
            Meetings::Ceiling(addr) => ceiling_participant(*addr, ctx, spec, stop).await,
        }
    }
}

/// A participant of the ceiling measurement: plain-UDP peers, a join for the subscriber
/// socket, the same media as on the real SFUs.
async fn ceiling_participant(
    forwarder: std::net::SocketAddr,
    ctx: Arc<Ctx>,
    spec: Spec,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    use crate::peer::{Peer, Plain, Sink, Source};
    let join_started = Instant::now();
    let now = Instant::now();
    let participant = ctx.tag();
    let plain = Plain { forwarder, meeting: spec.meeting as u32, participant };
    let mut sub = Peer::plain(now, ctx.client_ip, plain)?;
    // Nobody asks the forwarder for keyframes: a join ends at the first packet of any kind.
    sub.sink = Some(Sink::new(ctx.phase.clone(), false));
    let join = crate::ceiling::header(crate::ceiling::KIND_JOIN, plain.meeting, participant, ctx.scenario.layer);
    sub.send_plain(&join);
    let sub = ctx.engine.add(sub)?;
    let publ = if spec.audio || spec.video {
        let mut p = Peer::plain(now, ctx.client_ip, plain)?;
        let mut source = Source::new(participant, ctx.scenario.profile, now);
        source.audio = spec.audio.then(|| str0m::media::Mid::from("a"));
        source.video = spec.video.then(|| str0m::media::Mid::from("v"));
        source.talking = spec.talks;
        source.sending = true;
        p.source = Some(source);
        Some(ctx.engine.add(p)?)
    } else {
        None
    };
    ctx.add_record(Record::new(&spec, join_started, sub, publ));
    let _ = stop.changed().await;
    Ok(())
}

/// How long after its last password hash a Convene server has given the hash's memory back.
const HASH_MEMORY_RETURNED: Duration = Duration::from_secs(11);

/// Runs `scenario` against `target` with `client_threads` engine threads.
pub async fn run(target: &Target, scenario: &Scenario, client_threads: usize) -> Result<Report> {
    scenario.check().map_err(Error::setup)?;
    let load_before = procstat::loadavg();
    let ctx = Arc::new(Ctx::new(
        Engine::start(client_threads)?,
        reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
        scenario.clone(),
        target.client_ip,
    ));
    let meetings = match target.kind {
        Kind::Convene => Meetings::Convene(Arc::new(crate::convene::Meetings::create(&ctx, &target.url).await?)),
        Kind::Janus => Meetings::Janus(Arc::new(crate::janus::Meetings::create(&ctx, &target.url).await?)),
        Kind::Ceiling => Meetings::Ceiling(
            target.url.parse().map_err(|_| Error::setup(format!("forwarder address {:?}", target.url)))?,
        ),
    };
    // The memory baseline is taken once the meetings exist and what creating them used is
    // given back: an account and a login are two argon2 hashes of 19 MiB each, which
    // Convene's allocator holds until the blocking thread that hashed exits (tokio keeps
    // it 10 s). Measured sooner, the participants reuse those pages and look cheaper.
    if target.kind == Kind::Convene {
        tokio::time::sleep(HASH_MEMORY_RETURNED).await;
    }
    let proc_before = procstat::sample(target.pid).ok_or_else(|| Error::setup(format!("no process {}", target.pid)))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / scenario.ramp_per_s);
    // Meetings fill side by side (participant 0 of each, then participant 1 of each, …) or,
    // `in_turn`, one after another.
    let order: Vec<(usize, usize)> = if scenario.in_turn {
        (0..scenario.meetings).flat_map(|m| (0..scenario.participants).map(move |i| (i, m))).collect()
    } else {
        (0..scenario.participants).flat_map(|i| (0..scenario.meetings).map(move |m| (i, m))).collect()
    };
    for (k, (index, meeting)) in (0u32..).zip(order) {
        tokio::time::sleep_until((started + gap * k).into()).await;
        let (audio, video) = scenario.publishes(index);
        let talks = scenario.talks(index);
        let spec = Spec { meeting, audio, video, talks, name: format!("bench-{meeting}-{index}") };
        let (ctx, meetings, stop) = (ctx.clone(), meetings.clone(), stop_rx.clone());
        tasks.spawn(async move { meetings.participant(ctx, spec, stop).await });
    }
    let mut errors: Vec<String> = Vec::new();
    settle(&ctx, &mut tasks, &mut errors).await;
    tokio::time::sleep(Duration::from_secs_f64(scenario.warmup_s)).await;

    // The measured window.
    let sent_before = sent_packets(&ctx);
    let drops_before = crate::net::udp_rcvbuf_errors();
    let server_drops_before = crate::net::udp_drops_of(target.pid);
    let steal_before = procstat::steal_ms();
    let cpu_before = procstat::sample(target.pid);
    let sojourn_before = crate::sojourn::scrape(target).await;
    ctx.phase.store(PHASE_MEASURE, Ordering::Relaxed);
    let window_start = Instant::now();
    let deadline = window_start + Duration::from_secs_f64(scenario.duration_s);
    let mut rss_mb = Vec::new();
    let every = (scenario.rss_every_s > 0.0).then(|| Duration::from_secs_f64(scenario.rss_every_s));
    let mut next_rss = every.map(|e| window_start + e);
    // A run that samples memory (the soak) also marks each minute, so the report says whether
    // loss and the p99 stayed steady and, for a minute that did not, what each side spent.
    let mut marks = Vec::new();
    let mut next_mark = every.map(|_| window_start + MINUTE);
    if every.is_some() {
        marks.push(Mark::take(&ctx, 0.0, target).await);
    }
    while Instant::now() < deadline {
        let wake = [next_rss, next_mark].into_iter().flatten().fold(deadline, Instant::min);
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            Some(done) = tasks.join_next() => collect(done, &mut errors),
        }
        if let Some(at) = next_mark.filter(|at| Instant::now() >= *at) {
            marks.push(Mark::take(&ctx, window_start.elapsed().as_secs_f64().round(), target).await);
            next_mark = Some(at + MINUTE);
        }
        if let (Some(at), Some(e)) = (next_rss, every) {
            if Instant::now() >= at {
                if let Some(p) = procstat::sample(target.pid) {
                    rss_mb.push((window_start.elapsed().as_secs_f64().round(), p.rss_kb as f64 / 1024.0));
                }
                next_rss = Some(at + e);
            }
        }
    }
    ctx.phase.store(PHASE_DONE, Ordering::Relaxed);
    let window = window_start.elapsed().as_secs_f64();
    if marks.last().is_some_and(|m| m.at_s() < window.round()) {
        marks.push(Mark::take(&ctx, window.round(), target).await);
    }
    let cpu_after = procstat::sample(target.pid);
    let sojourn_after = crate::sojourn::scrape(target).await;
    let drops_after = crate::net::udp_rcvbuf_errors();
    let server_drops_after = crate::net::udp_drops_of(target.pid);
    let steal_after = procstat::steal_ms();
    let sent_after = sent_packets(&ctx);

    let mut report = summarize(&ctx, window, target.kind);
    report.target = target.kind;
    report.scenario = scenario.clone();
    report.load_before = load_before;
    if let (Some(after), Some(before)) = (sojourn_after, sojourn_before) {
        let window = after.since(&before);
        let us = |q| window.quantile(q).map(|s| (s * 1e6) as u64);
        report.server_sojourn_us = [us(0.5), us(0.99)];
        report.server_sojourn_packets = window.count();
    }
    report.udp_rcvbuf_drops = drops_after.zip(drops_before).map_or(0, |(a, b)| a.saturating_sub(b));
    report.server_udp_drops = server_drops_after.zip(server_drops_before).map_or(0, |(a, b)| a.saturating_sub(b));
    report.steal_ms = steal_after.zip(steal_before).map_or(0.0, |(a, b)| (a - b).max(0.0));
    report.sent_pps = sent_after.saturating_sub(sent_before) as f64 / window;
    {
        let refusals = ctx.refusals();
        report.refused_joins = refusals.len();
        report.refusal_ms = Spread::of(refusals.iter().map(|r| r.after.as_millis() as u64).collect());
        report.refusals_by_stage = [Stage::Http, Stage::Socket, Stage::Publish]
            .map(|stage| refusals.iter().filter(|r| r.stage == stage).count());
    }
    // The end of the window, unless the last sample fell on it.
    if let Some(p) = cpu_after.filter(|_| rss_mb.last().is_none_or(|(t, _)| *t < window.round())) {
        rss_mb.push((window.round(), p.rss_kb as f64 / 1024.0));
    }
    report.rss_growth_pct_after_5_min = rss_growth_after(&rss_mb, 300.0);
    report.minutes = minutes::between(&ctx, &marks);
    report.rss_mb = rss_mb;
    if let (Some(a), Some(b)) = (cpu_after, cpu_before) {
        report.server_cpu_s = a.cpu_s - b.cpu_s;
        report.server_cpu_pct = report.server_cpu_s * 100.0 / window;
        report.server_peak_rss_mb = a.peak_rss_kb as f64 / 1024.0;
        report.server_threads = a.threads;
        let grown = a.anon_kb.saturating_sub(proc_before.anon_kb) as f64;
        report.rss_per_participant_kb = grown / scenario.total_participants() as f64;
        let forwarded = report.forwarded_pps * window;
        if report.server_cpu_s > 0.0 {
            report.packets_per_cpu_s = forwarded / report.server_cpu_s;
        }
        if forwarded > 0.0 {
            report.cpu_us_per_packet = report.server_cpu_s * 1e6 / forwarded;
            let user_s = report.server_cpu_s - (a.kernel_s - b.kernel_s);
            report.user_us_per_packet = user_s.max(0.0) * 1e6 / forwarded;
        }
    } else {
        errors.push(format!("the server (pid {}) was gone at the end of the window", target.pid));
    }

    let _ = stop_tx.send(true);
    let leave_deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(Some(done)) = tokio::time::timeout_at(leave_deadline.into(), tasks.join_next()).await {
        collect(done, &mut errors);
    }
    tasks.abort_all();
    errors.sort();
    errors.dedup();
    report.errors = errors;
    if let Ok(ctx) = Arc::try_unwrap(ctx) {
        let mut engine = ctx.engine;
        engine.stop();
    }
    Ok(report)
}

fn collect(done: std::result::Result<Result<()>, tokio::task::JoinError>, errors: &mut Vec<String>) {
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => errors.push(e.to_string()),
        Err(e) if e.is_cancelled() => {}
        Err(e) => errors.push(format!("participant task: {e}")),
    }
}

/// Waits until every participant that is still running has its connections up (or failed).
async fn settle(ctx: &Ctx, tasks: &mut tokio::task::JoinSet<Result<()>>, errors: &mut Vec<String>) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let want = ctx.scenario.total_participants();
    loop {
        while let Some(done) = tasks.try_join_next() {
            collect(done, errors);
        }
        let up = {
            let records = ctx.records.lock().unwrap_or_else(|e| e.into_inner());
            // A subscriber connection only comes up when there is something to receive: the
            // sole presenter of a webinar has no one else to watch.
            let has_others = |i: usize, meeting| {
                records
                    .iter()
                    .enumerate()
                    .any(|(j, o)| j != i && o.meeting == meeting && (o.sends_audio || o.sends_video))
            };
            records.len() >= want.saturating_sub(errors.len() + ctx.refusal_count())
                && records.iter().enumerate().all(|(i, r)| {
                    (!has_others(i, r.meeting) || r.sub.read(|p| p.connected || p.conn.dead.is_some()))
                        && r.publ.as_ref().is_none_or(|p| p.read(|p| p.connected || p.conn.dead.is_some()))
                })
        };
        if up || Instant::now() > deadline {
            if !up {
                errors.push(format!("not every connection was up {} s after the last join", SETTLE_TIMEOUT.as_secs()));
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How much the server's resident memory grew from the first sample at or after `after_s`
/// seconds of the window to the last sample, in %; `None` without two such samples.
fn rss_growth_after(samples: &[(f64, f64)], after_s: f64) -> Option<f64> {
    let from = samples.iter().find(|(t, _)| *t >= after_s)?;
    let to = samples.last()?;
    (to.0 > from.0 && from.1 > 0.0).then(|| (to.1 - from.1) * 100.0 / from.1)
}

fn sent_packets(ctx: &Ctx) -> u64 {
    let records = ctx.records.lock().unwrap_or_else(|e| e.into_inner());
    records.iter().filter_map(|r| r.publ.as_ref()).map(|p| p.read(|p| p.source.as_ref().map_or(0, |s| s.packets))).sum()
}

/// Everything the sinks and sources saw, as one report (server figures are filled in by the caller).
fn summarize(ctx: &Ctx, window: f64, kind: Kind) -> Report {
    let records = ctx.records.lock().unwrap_or_else(|e| e.into_inner());
    let mut report = Report { participants: ctx.scenario.total_participants(), ..Report::default() };
    report.joined = records.len();
    report.window_s = window;
    let mut latency = Vec::new();
    let mut joins = Vec::new();
    let mut stages: [Vec<u64>; 5] = Default::default();
    let (mut expected, mut received) = (0u64, 0u64);
    let mut jitters = Vec::new();
    let (mut packets, mut bytes) = (0u64, 0u64);
    // When each publisher started sending, per meeting.
    let starts: Vec<(usize, Instant, u32)> = records
        .iter()
        .filter_map(|r| {
            let (start, tag) = r.publ.as_ref()?.read(|p| p.source.as_ref().and_then(|s| Some((s.started?, s.tag))))?;
            Some((r.meeting, start, tag))
        })
        .collect();
    for r in records.iter() {
        let own_tag = r.publ.as_ref().and_then(|p| p.read(|p| p.source.as_ref().map(|s| s.tag)));
        r.sub.read(|p| {
            if p.connected {
                report.subscribers_connected += 1;
            }
            if let Some(dead) = &p.conn.dead {
                report.dead_connections += 1;
                report.sample_failure.get_or_insert_with(|| dead.clone());
            }
            let Some(sink) = p.sink.as_ref() else { return };
            // The join counts if someone else in the meeting was already sending.
            let eligible =
                starts.iter().any(|&(m, start, tag)| m == r.meeting && start < r.join_started && Some(tag) != own_tag);
            if eligible {
                match sink.first_frame {
                    Some(t) => {
                        joins.push(t.duration_since(r.join_started).as_millis() as u64);
                        let ends = [r.welcomed, p.answered_at, p.connected_at, sink.first_video, Some(t)];
                        for (stage, end) in stages.iter_mut().zip(ends) {
                            if let Some(end) = end {
                                stage.push(end.saturating_duration_since(r.join_started).as_millis() as u64);
                            }
                        }
                    }
                    None => report.joins_without_media += 1,
                }
            }
            latency.extend(sink.latency_us.iter().map(|&l| u64::from(l)));
            packets += sink.packets;
            bytes += sink.bytes;
            report.foreign_packets += sink.foreign;
            report.remb_reports += sink.remb.as_ref().map_or(0, |r| r.sent);
            for (total, n) in report.video_layer_packets.iter_mut().zip(sink.layer_packets) {
                *total += n;
            }
            for (_, tracker) in sink.streams.values() {
                let (e, rcv) = tracker.expected_received();
                expected += e;
                received += rcv;
                jitters.push(tracker.jitter_ns());
            }
            report.streams_received += sink.streams.len();
        });
        // Streams this subscriber should get: every other publisher's audio and video.
        let others = |f: fn(&Record) -> bool| {
            records.iter().filter(|o| o.meeting == r.meeting && !std::ptr::eq(*o, r) && f(o)).count()
        };
        let mics = others(|o| o.sends_audio);
        let talkers = others(|o| o.sends_audio && o.talks);
        let (audio, video) = match (kind, ctx.scenario.video_slots) {
            // Slots: three of the loudest microphones but its own, as many cameras as slots.
            (Kind::Convene, Some(slots)) => {
                (talkers.min(convene_sfu::AUDIO_SLOTS), others(|o| o.sends_video).min(usize::from(slots)))
            }
            // Convene forwards only the loudest microphones of a crowded meeting.
            (Kind::Convene, None) => (ctx.scenario.convene_audio_streams(mics, talkers), others(|o| o.sends_video)),
            (Kind::Janus | Kind::Ceiling, _) => (mics, others(|o| o.sends_video)),
        };
        report.streams_expected += audio + video;
        if let Some(p) = &r.publ {
            p.read(|p| {
                if let Some(s) = &p.source {
                    report.keyframe_requests += s.keyframe_requests;
                    report.generator_lag += s.lagged;
                }
                if p.conn.dead.is_some() {
                    report.dead_connections += 1;
                }
            });
        }
    }
    report.join_ms = Spread::of(joins);
    for (i, stage) in stages.into_iter().enumerate() {
        let spread = Spread::of(stage);
        (report.join_stages_p50[i], report.join_stages_p95[i]) = (spread.p50, spread.p95);
    }
    report.latency_us = Spread::of(latency);
    report.loss_pct = loss_pct(expected, received);
    report.expected_packets = expected;
    report.jitter_ms = if jitters.is_empty() { 0.0 } else { jitters.iter().sum::<f64>() / jitters.len() as f64 / 1e6 };
    report.forwarded_pps = packets as f64 / window;
    report.forwarded_bytes_ps = bytes as f64 / window;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_growth_counts_from_the_first_sample_after_the_mark() {
        let samples = [(10.0, 50.0), (300.0, 100.0), (310.0, 101.0), (600.0, 104.0)];
        assert_eq!(rss_growth_after(&samples, 300.0).map(|g| g.round()), Some(4.0));
        assert_eq!(rss_growth_after(&samples[..2], 300.0), None, "one sample is no growth");
        assert_eq!(rss_growth_after(&samples, 900.0), None, "a window shorter than the mark");
    }
}
