//! The names of the metrics authpair's token core records, through the
//! `metrics` facade only: which recorder (if any) receives them is the
//! binary's choice (authpair's services install a Prometheus exporter, see
//! `authpair-server`). The auth layer's per-method handles are in `layer`;
//! the auth service names its own metrics (logins, password hashing).
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `authpair_auth_decisions_total` | counter | service, method, code, reason |
//! | `authpair_interceptor_duration_seconds` | histogram | service (calls that carry a token) |
//! | `authpair_call_duration_seconds` | histogram | service, method |
//! | `authpair_throttled_total` | counter | kind, reason |
//! | `authpair_key_fetches_total` | counter | service |
//! | `authpair_revocation_feed_age_seconds` | gauge | service |
//! | `authpair_revocation_feed_lag` | gauge | service (log entries behind the auth service) |
//!
//! Method labels are only ever paths from the policy table (anything else is
//! "unknown"), so a client cannot grow the label set.

/// Every auth decision, allowed or refused (counter).
pub const DECISIONS: &str = "authpair_auth_decisions_total";
/// Time the auth layer takes to decide a call that carries a token (verify,
/// revocation, authorization), quota excluded; anonymous calls are not
/// timed (histogram).
pub const INTERCEPTOR_SECONDS: &str = "authpair_interceptor_duration_seconds";
/// Time of a whole call through the auth layer, auth and handler (histogram).
pub const CALL_SECONDS: &str = "authpair_call_duration_seconds";
/// Calls refused by a quota, throttle or load shedding (counter).
pub const THROTTLED: &str = "authpair_throttled_total";
/// Reads of the auth service's JWK set by a follower (counter).
pub const KEY_FETCHES: &str = "authpair_key_fetches_total";
/// Seconds since the revocation feed was last heard from (gauge).
pub const FEED_AGE: &str = "authpair_revocation_feed_age_seconds";
/// Revocation-log entries the follower is behind the auth service (gauge).
pub const FEED_LAG: &str = "authpair_revocation_feed_lag";
