//! Per-plan quotas shared by every instance of a server, in Redis,
//! through the shared GCRA script (`crate::redis_gcra`): a free
//! user gets its allowance in total across all instances, not per instance.
//!
//! If Redis cannot be reached the call fails closed with UNAVAILABLE
//! (QUOTA_UNAVAILABLE) and a logged warning: never a silent bypass. The
//! connection manager reconnects by itself when Redis is back.

use std::time::Duration;

use std::collections::HashMap;

use super::PlanQuotas;
use crate::redis_gcra::{Rate, RedisGcra};
use authpair_claims::{AuthError, QuotaLimiter, policy::quota::QuotaFuture};

#[derive(Debug, Clone)]
pub(super) struct RedisQuotas {
    gcra: RedisGcra,
    prefix: String,
    by_plan: HashMap<String, Rate>,
}

fn rate(per_window: u32, window: Duration) -> anyhow::Result<Rate> {
    Rate::new(per_window, window).ok_or_else(|| anyhow::anyhow!("a quota must allow at least one call"))
}

impl RedisQuotas {
    pub(super) async fn connect(url: &str, prefix: &str, plans: &PlanQuotas, window: Duration) -> anyhow::Result<Self> {
        let mut by_plan = HashMap::new();
        for (plan, calls) in plans.iter() {
            by_plan.insert(plan.to_owned(), rate(calls, window)?);
        }
        Ok(Self { gcra: RedisGcra::connect(url).await?, prefix: prefix.to_owned(), by_plan })
    }
}

impl QuotaLimiter for RedisQuotas {
    fn check<'a>(&'a self, quota: &'a str, subject: &'a str, plan: &'a str) -> QuotaFuture<'a> {
        let Some(rate) = self.by_plan.get(plan).copied() else {
            tracing::warn!(plan, "no quota is configured for this plan (--plan-quotas); refusing");
            return Box::pin(std::future::ready(Err(AuthError::QuotaUnavailable)));
        };
        let key = format!("{}quota:{quota}:{plan}:{subject}", self.prefix);
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
