//! The metrics authpair records, through the `metrics` facade only: which
//! recorder (if any) receives them is the binary's choice (authpair's
//! services install a Prometheus exporter, see `authpair-server`).
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `authpair_auth_decisions_total` | counter | service, method, code, reason |
//! | `authpair_interceptor_duration_seconds` | histogram | service (calls that carry a token) |
//! | `authpair_call_duration_seconds` | histogram | service, method |
//! | `authpair_logins_total` | counter | outcome |
//! | `authpair_throttled_total` | counter | kind, reason |
//! | `authpair_key_fetches_total` | counter | service |
//! | `authpair_revocation_feed_age_seconds` | gauge | service |
//! | `authpair_revocation_feed_lag` | gauge | service (log entries behind the auth service) |
//! | `authpair_password_queue_wait_seconds` | histogram | (auth service: a check's wait for a hashing worker) |
//! | `authpair_password_check_seconds` | histogram | (auth service: one argon2id hash or verification) |
//! | `authpair_password_abandoned_total` | counter | (auth service: checks skipped, their caller gone) |
//!
//! Method labels are only ever paths from the policy table (anything else is
//! "unknown"), so a client cannot grow the label set.

use std::sync::Arc;

use metrics::{Counter, Histogram};

use crate::policy::MethodTable;

/// Every auth decision, allowed or refused (counter).
pub const DECISIONS: &str = "authpair_auth_decisions_total";
/// Time the auth layer takes to decide a call that carries a token (verify,
/// revocation, authorization), quota excluded; anonymous calls are not
/// timed (histogram).
pub const INTERCEPTOR_SECONDS: &str = "authpair_interceptor_duration_seconds";
/// Time of a whole call through the auth layer, auth and handler (histogram).
pub const CALL_SECONDS: &str = "authpair_call_duration_seconds";
/// Logins by outcome (counter).
pub const LOGINS: &str = "authpair_logins_total";
/// Calls refused by a quota, throttle or load shedding (counter).
pub const THROTTLED: &str = "authpair_throttled_total";
/// Reads of the auth service's JWK set by a follower (counter).
pub const KEY_FETCHES: &str = "authpair_key_fetches_total";
/// Seconds since the revocation feed was last heard from (gauge).
pub const FEED_AGE: &str = "authpair_revocation_feed_age_seconds";
/// Revocation-log entries the follower is behind the auth service (gauge).
pub const FEED_LAG: &str = "authpair_revocation_feed_lag";
/// A password check's wait for a hashing worker (histogram).
pub const PASSWORD_QUEUE_WAIT: &str = "authpair_password_queue_wait_seconds";
/// One argon2id hash or verification (histogram).
pub const PASSWORD_CHECK: &str = "authpair_password_check_seconds";
/// Password checks skipped because their caller had gone (counter).
pub const PASSWORD_ABANDONED: &str = "authpair_password_abandoned_total";

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
