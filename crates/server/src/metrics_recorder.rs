//! The process-wide Prometheus recorder: installed before the media workers take their
//! counters (a counter taken before a recorder exists counts into nothing) and rendered by
//! `/metrics` (http/ops.rs).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

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
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if something else installed a recorder first; then we still render ours.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}
