//! Per-plan quotas shared by every resource-service instance, in Redis.
//!
//! The same GCRA as the in-process limiter, done atomically by one Lua
//! script on Redis's own clock, so instances with skewed clocks agree: a free
//! user gets its allowance in total across all instances, not per instance.
//!
//! If Redis cannot be reached the call fails closed with UNAVAILABLE
//! (QUOTA_UNAVAILABLE) and a logged warning: never a silent bypass. The
//! connection manager reconnects by itself when Redis is back.

use std::time::Duration;

use authpair_claims::{AuthError, Plan, QuotaLimiter, quota::QuotaFuture};
use redis::{Script, aio::ConnectionManager};

/// KEYS[1]: the subject's key. ARGV[1]: emission interval (ms), ARGV[2]:
/// burst tolerance (ms). Returns {allowed, retry_after_ms}.
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

#[derive(Clone)]
pub struct RedisQuotas {
    connection: ConnectionManager,
    script: Script,
    prefix: String,
    /// (interval, tolerance) in ms per plan.
    free: (u64, u64),
    pro: (u64, u64),
}

impl std::fmt::Debug for RedisQuotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQuotas").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// `per_window` calls per `window`, as GCRA parameters in milliseconds.
fn gcra(per_window: u32, window: Duration) -> anyhow::Result<(u64, u64)> {
    anyhow::ensure!(per_window > 0, "a quota must allow at least one call");
    let interval = (window.as_millis() as u64 / u64::from(per_window)).max(1);
    Ok((interval, interval * u64::from(per_window - 1)))
}

impl RedisQuotas {
    pub async fn connect(url: &str, prefix: &str, free: u32, pro: u32, window: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(2);
        let connection = client.get_connection_manager_with_config(config).await?;
        Ok(Self {
            connection,
            script: Script::new(GCRA),
            prefix: prefix.to_owned(),
            free: gcra(free, window)?,
            pro: gcra(pro, window)?,
        })
    }
}

impl QuotaLimiter for RedisQuotas {
    fn check<'a>(&'a self, quota: &'static str, subject: &'a str, plan: Plan) -> QuotaFuture<'a> {
        let (interval, tolerance) = match plan {
            Plan::Free => self.free,
            Plan::Pro => self.pro,
        };
        let key = format!("{}quota:{quota}:{}:{subject}", self.prefix, plan.as_str());
        let mut connection = self.connection.clone();
        Box::pin(async move {
            let mut invocation = self.script.key(key);
            invocation.arg(interval).arg(tolerance);
            let answer: Result<(i64, i64), redis::RedisError> = invocation.invoke_async(&mut connection).await;
            match answer {
                Ok((1, _)) => Ok(()),
                Ok((_, wait_ms)) => {
                    Err(AuthError::QuotaExceeded { retry_after: Duration::from_millis(wait_ms.max(1) as u64) })
                }
                Err(e) => {
                    tracing::warn!(error = %e, "quota store unreachable; refusing quota-bound calls");
                    Err(AuthError::QuotaUnavailable)
                }
            }
        })
    }
}
