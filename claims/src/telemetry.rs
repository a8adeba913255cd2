//! Prometheus metrics, served on their own port (`/metrics`), through the
//! `metrics` facade and its Prometheus exporter.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `authpair_auth_decisions_total` | counter | service, method, code, reason |
//! | `authpair_interceptor_duration_seconds` | histogram | service |
//! | `authpair_call_duration_seconds` | histogram | service, method |
//! | `authpair_logins_total` | counter | outcome |
//! | `authpair_throttled_total` | counter | service, kind |
//! | `authpair_key_fetches_total` | counter | service |
//! | `authpair_revocation_feed_age_seconds` | gauge | service |
//! | `authpair_revocation_feed_lag` | gauge | service (log entries behind the auth service) |
//! | `authpair_password_queue_wait_seconds` | histogram | (auth service: a check's wait for a hashing worker) |
//! | `authpair_password_check_seconds` | histogram | (auth service: one argon2id hash or verification) |
//! | `authpair_password_abandoned_total` | counter | (auth service: checks skipped, their caller gone) |
//!
//! Method labels are only ever paths from the policy table (anything else is
//! "unknown"), so a client cannot grow the label set.

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::Instant,
};

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

pub const DECISIONS: &str = "authpair_auth_decisions_total";
pub const INTERCEPTOR_SECONDS: &str = "authpair_interceptor_duration_seconds";
pub const CALL_SECONDS: &str = "authpair_call_duration_seconds";
pub const LOGINS: &str = "authpair_logins_total";
pub const THROTTLED: &str = "authpair_throttled_total";
pub const KEY_FETCHES: &str = "authpair_key_fetches_total";
pub const FEED_AGE: &str = "authpair_revocation_feed_age_seconds";
pub const FEED_LAG: &str = "authpair_revocation_feed_lag";
pub const PASSWORD_QUEUE_WAIT: &str = "authpair_password_queue_wait_seconds";
pub const PASSWORD_CHECK: &str = "authpair_password_check_seconds";
pub const PASSWORD_ABANDONED: &str = "authpair_password_abandoned_total";

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

/// Starts the endpoint if `listen` is set, and says where it is.
pub fn serve_metrics(listen: Option<SocketAddr>) -> Result<(), String> {
    if let Some(listen) = listen {
        let serving = install(listen).map_err(|e| format!("metrics on {listen}: {e}"))?;
        tracing::info!(%serving, "metrics at http://{serving}/metrics");
    }
    Ok(())
}

/// The metric handles every allowed call records, registered once per
/// service and method. The `counter!`/`histogram!` macros build a label set
/// and look it up in the registry each time: 4,200 instructions a call in
/// callgrind (6.8 % of a public call), more than the auth check on a cache
/// hit. Handles are registered with the recorder installed when this is
/// built, so build it after `serve_metrics`.
#[derive(Clone)]
pub struct CallMetrics {
    inner: Arc<CallMetricsInner>,
}

struct CallMetricsInner {
    service: &'static str,
    interceptor_seconds: Histogram,
    by_method: HashMap<&'static str, MethodMetrics>,
    unknown: MethodMetrics,
}

/// One method's handles.
#[derive(Debug)]
pub struct MethodMetrics {
    /// `authpair_auth_decisions_total{code="Ok", reason="ALLOWED"}`
    pub allowed: Counter,
    pub call_seconds: Histogram,
}

impl MethodMetrics {
    fn register(service: &'static str, method: &'static str) -> Self {
        Self {
            allowed: metrics::counter!(
                DECISIONS, "service" => service, "method" => method, "code" => "Ok", "reason" => "ALLOWED"
            ),
            call_seconds: metrics::histogram!(CALL_SECONDS, "service" => service, "method" => method),
        }
    }
}

impl CallMetrics {
    pub fn register(service: &'static str) -> Self {
        let by_method = crate::policy::Policy::all_methods()
            .map(|method| (method, MethodMetrics::register(service, method)))
            .collect();
        Self {
            inner: Arc::new(CallMetricsInner {
                service,
                interceptor_seconds: metrics::histogram!(INTERCEPTOR_SECONDS, "service" => service),
                by_method,
                unknown: MethodMetrics::register(service, "unknown"),
            }),
        }
    }

    pub fn service(&self) -> &'static str {
        self.inner.service
    }

    pub fn interceptor_seconds(&self) -> &Histogram {
        &self.inner.interceptor_seconds
    }

    /// The method label for `path`: itself if the policy names it, else
    /// "unknown", so a client cannot grow the label set.
    pub fn label(&self, path: Option<&str>) -> &'static str {
        path.and_then(|path| self.inner.by_method.get_key_value(path)).map_or("unknown", |(method, _)| method)
    }

    /// The handles for the method at `path` (see [`Self::label`]).
    pub fn method(&self, path: Option<&str>) -> &MethodMetrics {
        path.and_then(|path| self.inner.by_method.get(path)).unwrap_or(&self.inner.unknown)
    }
}

impl std::fmt::Debug for CallMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallMetrics").field("service", &self.inner.service).finish_non_exhaustive()
    }
}

/// A layer timing every call, auth included, by method.
#[derive(Debug, Clone)]
pub struct TimingLayer {
    pub metrics: CallMetrics,
}

impl<S> tower::Layer<S> for TimingLayer {
    type Service = Timed<S>;
    fn layer(&self, inner: S) -> Timed<S> {
        Timed { inner, metrics: self.metrics.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct Timed<S> {
    inner: S,
    metrics: CallMetrics,
}

impl<S, B> tower::Service<http::Request<B>> for Timed<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // A handle clone is a reference count; the lookup is by path.
        let histogram = self.metrics.method(Some(request.uri().path())).call_seconds.clone();
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let result = call.await;
            histogram.record(started.elapsed());
            result
        })
    }
}
