//! The Prometheus exporter: every metric recorded through the `metrics`
//! facade (see `authpair_claims::telemetry` for the list), served on its own
//! port at `/metrics`.

use std::{net::SocketAddr, sync::OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// From 50 µs (a call's auth on a cache hit) to 30 s (the request timeout,
/// which a full hashing queue's wait approaches).
const BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0,
];

static INSTALLED: OnceLock<Result<SocketAddr, String>> = OnceLock::new();

/// Serves `/metrics` on `listen`. One exporter per process: a second
/// service in the same process shares the first one's (and its port).
pub fn install(listen: SocketAddr) -> Result<SocketAddr, String> {
    INSTALLED
        .get_or_init(|| {
            PrometheusBuilder::new()
                .with_http_listener(listen)
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .and_then(|b| b.install())
                .map(|()| listen)
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// Starts the endpoint if `listen` is set, and says where it is once per
/// process. `setting` names what set the address (a flag or an environment
/// variable), for the error.
pub fn serve_metrics(listen: Option<SocketAddr>, setting: &str) -> Result<(), String> {
    if let Some(listen) = listen {
        let first = INSTALLED.get().is_none();
        let serving = install(listen).map_err(|e| format!("serving metrics on {listen} ({setting}): {e}"))?;
        if first {
            tracing::info!(%serving, "metrics at http://{serving}/metrics");
        }
    }
    Ok(())
}
