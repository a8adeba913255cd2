//! The one wall clock the workspace reads: whole seconds since the Unix
//! epoch for token times (`iat`, `exp` and every stored expiry), and
//! milliseconds for what is paced finer (the feed's freshness, login
//! failures' delays).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch; 0 for a clock set before it.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Milliseconds since the Unix epoch; 0 for a clock set before it.
pub fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
