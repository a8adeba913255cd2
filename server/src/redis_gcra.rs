//! GCRA rate limiting done atomically in Redis, shared by every instance:
//! one Lua script on Redis's own clock, so instances with skewed clocks
//! agree. Used for the resource service's plan quotas and the auth service's
//! per-source login limit.

use std::time::Duration;

use redis::{Script, aio::ConnectionManager};

/// KEYS[1]: the key. ARGV[1]: emission interval (ms), ARGV[2]: burst
/// tolerance (ms). Returns {allowed, retry_after_ms}.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then
  return {0, allow_at - now}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now + 1)
return {1, 0}
"#;

/// A rate: `per_window` events per `window`, as GCRA parameters (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    interval_ms: u64,
    tolerance_ms: u64,
}

impl Rate {
    /// `per_second` events a second, with up to `burst` at once.
    pub fn per_second(per_second: u32, burst: u32) -> Option<Self> {
        let interval_ms = 1000u64.checked_div(u64::from(per_second))?.max(1);
        Some(Self { interval_ms, tolerance_ms: interval_ms * u64::from(burst.max(1) - 1) })
    }

    /// `per_window` events per `window`, all of which may come at once.
    pub fn new(per_window: u32, window: Duration) -> Option<Self> {
        let per_window = u64::from(per_window);
        let interval_ms = (window.as_millis() as u64).checked_div(per_window)?.max(1);
        Some(Self { interval_ms, tolerance_ms: interval_ms * (per_window - 1) })
    }
}

#[derive(Clone)]
pub struct RedisGcra {
    connection: ConnectionManager,
    script: Script,
}

impl std::fmt::Debug for RedisGcra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisGcra").finish_non_exhaustive()
    }
}

impl RedisGcra {
    /// Connects with short timeouts; the connection manager reconnects by
    /// itself after an outage.
    pub async fn connect(url: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(2);
        let connection = client.get_connection_manager_with_config(config).await?;
        Ok(Self { connection, script: Script::new(GCRA) })
    }

    /// The connection, for other commands on the same Redis.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// One event under `key`: `Ok(None)` if allowed, `Ok(Some(wait))` if not.
    pub async fn check(&self, key: &str, rate: Rate) -> redis::RedisResult<Option<Duration>> {
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(key);
        invocation.arg(rate.interval_ms).arg(rate.tolerance_ms);
        let (allowed, wait_ms): (i64, i64) = invocation.invoke_async(&mut connection).await?;
        Ok((allowed != 1).then(|| Duration::from_millis(wait_ms.max(1) as u64)))
    }
}
