//! The names of the metrics only the auth service records (logins and
//! password hashing), beside those of `authpair_claims::telemetry`.

/// Logins by outcome (counter).
pub const LOGINS: &str = "authpair_logins_total";
/// A password check's wait for a hashing worker (histogram).
pub const PASSWORD_QUEUE_WAIT: &str = "authpair_password_queue_wait_seconds";
/// One argon2id hash or verification (histogram).
pub const PASSWORD_CHECK: &str = "authpair_password_check_seconds";
/// Password checks skipped because their caller had gone (counter).
pub const PASSWORD_ABANDONED: &str = "authpair_password_abandoned_total";
