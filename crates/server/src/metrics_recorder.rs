//! The process-wide Prometheus recorder: installed before the media workers take their
//! counters (a counter taken before a recorder exists counts into nothing) and rendered by
//! `/metrics` (http/ops.rs).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The process-wide Prometheus recorder (installed once, however many apps a test builds).
pub(crate) fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".into()),
                &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
            )
            .expect("static buckets are valid")
            .set_buckets_for_metric(Matcher::Full(crate::media::sojourn::METRIC.into()), crate::media::sojourn::BUCKETS)
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if something else installed a recorder first; then we still render ours.
        let _ = metrics::set_global_recorder(recorder);
        // A histogram keeps every sample until upkeep folds it in (a render does too, but
        // nothing says anyone scrapes): the media workers record one per forwarded packet.
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            upkeep.run_upkeep();
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the metrics upkeep thread");
        }
        handle
    })
}
