//! The metric handles every allowed call records, registered once per
//! service and method (the names are in `crate::telemetry`).

use std::sync::Arc;

use metrics::{Counter, Histogram};

use crate::{
    policy::MethodTable,
    telemetry::{CALL_SECONDS, DECISIONS, INTERCEPTOR_SECONDS},
};

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
    by_method: MethodTable<MethodMetrics>,
    unknown: MethodMetrics,
}

/// One method's handles.
#[derive(Debug)]
pub struct MethodMetrics {
    /// `authpair_auth_decisions_total{code="Ok", reason="ALLOWED"}`
    pub allowed: Counter,
    /// `authpair_call_duration_seconds` for this method.
    pub call_seconds: Histogram,
}

impl MethodMetrics {
    fn register(service: &'static str, method: &str) -> Self {
        Self {
            allowed: metrics::counter!(
                DECISIONS, "service" => service, "method" => method.to_owned(), "code" => "Ok", "reason" => "ALLOWED"
            ),
            call_seconds: metrics::histogram!(CALL_SECONDS, "service" => service, "method" => method.to_owned()),
        }
    }
}

impl CallMetrics {
    /// Handles for `service` and each of its `methods` (the policy's).
    pub fn register<'a>(service: &'static str, methods: impl Iterator<Item = &'a str>) -> Self {
        let by_method = methods.map(|method| (method.to_owned(), MethodMetrics::register(service, method))).collect();
        Self {
            inner: Arc::new(CallMetricsInner {
                service,
                interceptor_seconds: metrics::histogram!(INTERCEPTOR_SECONDS, "service" => service),
                by_method,
                unknown: MethodMetrics::register(service, "unknown"),
            }),
        }
    }

    /// The `service` label.
    pub fn service(&self) -> &'static str {
        self.inner.service
    }

    /// The service's `authpair_interceptor_duration_seconds` handle.
    pub fn interceptor_seconds(&self) -> &Histogram {
        &self.inner.interceptor_seconds
    }

    /// The method label for `path`: itself if the policy names it, else
    /// "unknown", so a client cannot grow the label set.
    pub fn label(&self, path: Option<&str>) -> String {
        path.and_then(|path| self.inner.by_method.get_key_value(path))
            .map_or_else(|| "unknown".to_owned(), |(method, _)| method.clone())
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
