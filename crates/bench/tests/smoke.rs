//! A few seconds of the real thing: two simulated participants join a Convene server (run in
//! this process on port 0 with a fresh SQLite database), publish audio and simulcast video
//! and receive each other's, and the report shows media flowed through the SFU; the same
//! through the plain UDP forwarder of the ceiling measurement.

use std::time::Duration;

use convene::{AppState, Config};
use convene_bench::scenario::Scenario;
use convene_bench::target::Target;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_participants_exchange_media_through_convene() {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(data.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    config.listen = addr;
    config.public_url = format!("http://{addr}");
    // A debug build on a shared machine would count as overloaded: the marks off, as the
    // smoke scenario runs (Convene's overload admission is the subject of the test below).
    config.media_high_water = convene::media::HighWater { busy_pct: 100, delay_ms: 60_000 };
    let token = "smoke-metrics-token-0123456789";
    config.metrics_token = Some(token.to_owned());
    let state = AppState::new(config).await.expect("server state");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(convene::server::serve(state, listener, async {
        let _ = stopped.await;
    }));

    let scenario = Scenario::preset("smoke").unwrap();
    let mut target = Target::external(&format!("http://{addr}"), std::process::id());
    target.metrics_token = Some(token.to_owned());
    let report = tokio::time::timeout(Duration::from_secs(60), convene_bench::run::run(&target, &scenario, 1))
        .await
        .expect("the smoke run ends within a minute")
        .expect("the smoke run");
    let table = convene_bench::report::table(&report);
    eprintln!("{table}");

    assert!(report.errors.is_empty(), "{table}");
    assert_eq!(report.joined, 2, "{table}");
    assert_eq!(report.subscribers_connected, 2, "{table}");
    // Each hears and sees the other: two streams each.
    assert_eq!((report.streams_received, report.streams_expected), (4, 4), "{table}");
    assert!(report.forwarded_pps > 50.0, "media was forwarded: {table}");
    assert!(report.loss_pct < 5.0, "{table}");
    assert_eq!(report.join_ms.n, 1, "the second joiner's time to the first frame is measured: {table}");
    assert!(report.latency_us.n > 0 && report.server_cpu_s > 0.0, "{table}");
    assert_eq!(report.foreign_packets, 0, "{table}");
    // The server's own histogram counted the packets it forwarded, and how long each stayed.
    assert!(report.server_sojourn_packets > 100, "{table}");
    assert!(report.server_sojourn_us[1].is_some_and(|p99| p99 > 0), "{table}");

    let json = serde_json::to_value(&report).unwrap();
    assert!(json["join_ms"]["p99"].is_u64() && json["packets_per_cpu_s"].is_f64(), "{json}");
    let _ = stop.send(());
    let _ = server.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plain_forwarder_carries_the_same_scenario() {
    let target = Target::ceiling_in_process().expect("the forwarder");
    let scenario = Scenario::preset("smoke").unwrap();
    let report = convene_bench::run::run(&target, &scenario, 1).await.expect("the ceiling run");
    let table = convene_bench::report::table(&report);
    assert!(report.errors.is_empty(), "{table}");
    assert_eq!((report.streams_received, report.streams_expected), (4, 4), "{table}");
    // Only the asked-for layer (1 in the smoke preset) is forwarded.
    assert!(
        report.video_layer_packets[1] > 0 && report.video_layer_packets[0] == 0 && report.video_layer_packets[2] == 0,
        "{table}"
    );
    assert!(report.forwarded_pps > 50.0 && report.loss_pct < 5.0, "{table}");
}

/// The overload scenario's bookkeeping: against a server whose one media worker counts as
/// overloaded as soon as any media arrives (delay mark 0 ms), the first participant gets in and
/// every later join is refused with `server_busy` — counted as refusals with their times, not as
/// errors, and the streams expected are those of the people admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_joins_are_counted_as_refusals_not_errors() {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(data.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    config.listen = addr;
    config.public_url = format!("http://{addr}");
    config.media_workers = 1;
    config.media_high_water = convene::media::HighWater { busy_pct: 100, delay_ms: 0 };
    let state = AppState::new(config).await.expect("server state");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(convene::server::serve(state, listener, async {
        let _ = stopped.await;
    }));

    let scenario = Scenario { meetings: 3, admission: true, in_turn: true, ..Scenario::preset("smoke").unwrap() };
    let target = Target::external(&format!("http://{addr}"), std::process::id());
    let report = tokio::time::timeout(Duration::from_secs(90), convene_bench::run::run(&target, &scenario, 1))
        .await
        .expect("the run ends")
        .expect("the run");
    let table = convene_bench::report::table(&report);
    eprintln!("{table}");

    assert!(report.errors.is_empty(), "{table}");
    assert!(report.joined >= 1 && report.refused_joins >= 4, "{table}");
    assert_eq!(report.joined + report.refused_joins, 6, "{table}");
    assert_eq!(report.refusal_ms.n, report.refused_joins, "{table}");
    assert_eq!(report.refusals_by_stage.iter().sum::<usize>(), report.refused_joins, "{table}");
    assert!(table.contains("overload: "), "the verdict is printed: {table}");
    let _ = stop.send(());
    let _ = server.await;
}
