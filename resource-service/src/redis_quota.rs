//! Per-plan quotas shared by every resource-service instance, in Redis,
//! through the shared GCRA script (`authpair_claims::redis_gcra`): a free
//! user gets its allowance in total across all instances, not per instance.
//!
//! If Redis cannot be reached the call fails closed with UNAVAILABLE
//! (QUOTA_UNAVAILABLE) and a logged warning: never a silent bypass. The
//! connection manager reconnects by itself when Redis is back.

use std::time::Duration;

use authpair_claims::{
    AuthError, Plan, QuotaLimiter,
    quota::QuotaFuture,
    redis_gcra::{Rate, RedisGcra},
};

#[derive(Debug, Clone)]
pub struct RedisQuotas {
    gcra: RedisGcra,
    prefix: String,
    free: Rate,
    pro: Rate,
}

fn rate(per_window: u32, window: Duration) -> anyhow::Result<Rate> {
    Rate::new(per_window, window).ok_or_else(|| anyhow::anyhow!("a quota must allow at least one call"))
}

impl RedisQuotas {
    pub async fn connect(url: &str, prefix: &str, free: u32, pro: u32, window: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            gcra: RedisGcra::connect(url).await?,
            prefix: prefix.to_owned(),
            free: rate(free, window)?,
            pro: rate(pro, window)?,
        })
    }
}

impl QuotaLimiter for RedisQuotas {
    fn check<'a>(&'a self, quota: &'static str, subject: &'a str, plan: Plan) -> QuotaFuture<'a> {
        let rate = match plan {
            Plan::Free => self.free,
            Plan::Pro => self.pro,
        };
        let key = format!("{}quota:{quota}:{}:{subject}", self.prefix, plan.as_str());
        Box::pin(async move {
            match self.gcra.check(&key, rate).await {
                Ok(None) => Ok(()),
                Ok(Some(retry_after)) => Err(AuthError::QuotaExceeded { retry_after }),
                Err(e) => {
                    tracing::warn!(error = %e, "quota store unreachable; refusing quota-bound calls");
                    Err(AuthError::QuotaUnavailable)
                }
            }
        })
    }
}
