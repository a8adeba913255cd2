//! Per-plan quotas for every server whose methods or routes name one: the
//! flags ([`QuotaFlags`]: `--plan-quotas`, `--quota-window-secs`), the
//! counts held in this process ([`LocalQuotas`], each instance on its own),
//! `redis` (feature `redis`): the same shared by every instance through
//! Redis, and [`limiter`], which picks between them.
//!
//! GCRA: a plan's allowance per window, which refills evenly over the
//! window; keyed by the quota and the verified subject. A plan with no
//! allowance fails closed (UNAVAILABLE).

use std::{collections::HashMap, num::NonZeroU32, sync::Arc, time::Duration};

use anyhow::Context as _;
use authpair_claims::{AuthError, QuotaLimiter, policy::quota::QuotaFuture};
use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    state::keyed::DefaultKeyedStateStore,
};
use secrecy::ExposeSecret as _;

use crate::config::RedisFlags;

#[cfg(feature = "redis")]
mod redis;

/// The default of `--plan-quotas`.
pub const DEFAULT_PLAN_QUOTAS: &str = "free=10,pro=100";

/// Calls per window each plan gets, for every quota a method names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanQuotas(Vec<(String, u32)>);

impl Default for PlanQuotas {
    fn default() -> Self {
        Self::parse(DEFAULT_PLAN_QUOTAS).unwrap_or(Self(Vec::new()))
    }
}

impl PlanQuotas {
    /// `plan=calls,plan=calls`: each plan once, each allowing at least one call.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut table: Vec<(String, u32)> = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (plan, calls) = entry.split_once('=').ok_or_else(|| format!("expected plan=calls in {entry:?}"))?;
            let plan = plan.trim();
            if plan.is_empty() || table.iter().any(|(p, _)| p == plan) {
                return Err(format!("plan {plan:?} is empty or listed twice"));
            }
            let calls: u32 = calls.trim().parse().map_err(|e| format!("calls for plan {plan:?}: {e}"))?;
            if calls == 0 {
                return Err(format!("plan {plan:?} must allow at least one call"));
            }
            table.push((plan.to_owned(), calls));
        }
        if table.is_empty() {
            return Err("at least one plan is required".into());
        }
        Ok(Self(table))
    }

    /// Each plan with its calls per window.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.0.iter().map(|(p, c)| (p.as_str(), *c))
    }
}

/// The quota flags, defined once for every server that enforces quotas.
#[derive(Debug, Clone, clap::Args)]
pub struct QuotaFlags {
    /// Calls per window each plan gets, for each quota a method names, as
    /// `plan=calls,plan=calls`. A caller whose plan is not listed is refused
    /// (UNAVAILABLE) on quota-bound methods.
    #[arg(long, default_value = DEFAULT_PLAN_QUOTAS, value_parser = PlanQuotas::parse)]
    pub plan_quotas: PlanQuotas,

    /// The quota window, in seconds.
    #[arg(long = "quota-window-secs", default_value = "60", value_parser = crate::config::parse_secs)]
    pub quota_window: Duration,
}

/// The limiter a server's auth decision asks: Redis, shared by every
/// instance, when `--redis-url` is set (keys under its prefix); else this
/// instance's own counts. The local counts are returned either way, for
/// their housekeeping ([`LocalQuotas::housekeep`]).
pub async fn limiter(
    flags: &QuotaFlags,
    redis: &RedisFlags,
) -> anyhow::Result<(Arc<dyn QuotaLimiter>, Arc<LocalQuotas>)> {
    let local = LocalQuotas::new(&flags.plan_quotas, flags.quota_window)?;
    let Some(url) = &redis.url else { return Ok((local.clone(), local)) };
    let prefix = &redis.prefix;
    #[cfg(feature = "redis")]
    {
        let redis = redis::RedisQuotas::connect(url.expose_secret(), prefix, &flags.plan_quotas, flags.quota_window)
            .await
            .context("connecting to Redis for quotas")?;
        Ok((Arc::new(redis), local))
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = (url.expose_secret(), prefix);
        anyhow::bail!("this server is built without Redis support (feature `redis` of authpair-server)")
    }
}

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

#[derive(Debug)]
pub struct LocalQuotas {
    by_plan: HashMap<String, Keyed>,
    clock: DefaultClock,
}

fn quota(per_window: u32, window: Duration) -> anyhow::Result<Quota> {
    let burst = NonZeroU32::new(per_window).ok_or_else(|| anyhow::anyhow!("a quota must allow at least one call"))?;
    let period = window / per_window;
    let quota = Quota::with_period(period).ok_or_else(|| anyhow::anyhow!("the quota window must be positive"))?;
    Ok(quota.allow_burst(burst))
}

impl LocalQuotas {
    pub fn new(plans: &PlanQuotas, window: Duration) -> anyhow::Result<Arc<Self>> {
        let mut by_plan = HashMap::new();
        for (plan, calls) in plans.iter() {
            by_plan.insert(plan.to_owned(), RateLimiter::keyed(quota(calls, window)?));
        }
        Ok(Arc::new(Self { by_plan, clock: DefaultClock::default() }))
    }

    /// Forgets subjects whose allowance is full again, so memory tracks
    /// active callers only. Run periodically.
    pub async fn housekeep(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            for limiter in self.by_plan.values() {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
    }
}

impl QuotaLimiter for LocalQuotas {
    fn check<'a>(&'a self, quota: &'a str, subject: &'a str, plan: &'a str) -> QuotaFuture<'a> {
        let outcome = match self.by_plan.get(plan) {
            Some(limiter) => limiter.check_key(&format!("{quota} {subject}")).map_err(|not_until| {
                AuthError::QuotaExceeded { retry_after: not_until.wait_time_from(self.clock.now()) }
            }),
            None => {
                tracing::warn!(plan, "no quota is configured for this plan (--plan-quotas); refusing");
                Err(AuthError::QuotaUnavailable)
            }
        };
        Box::pin(std::future::ready(outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_plan_gets_its_allowance_then_a_retry_time_and_subjects_are_separate() -> anyhow::Result<()> {
        let plans = PlanQuotas::parse("free=3,pro=5").map_err(anyhow::Error::msg)?;
        let quotas = LocalQuotas::new(&plans, Duration::from_secs(60))?;
        for _ in 0..3 {
            assert_eq!(quotas.check("search", "alice", "free").await, Ok(()));
        }
        match quotas.check("search", "alice", "free").await {
            Err(AuthError::QuotaExceeded { retry_after }) => {
                assert!(retry_after > Duration::from_secs(10) && retry_after <= Duration::from_secs(20));
            }
            other => panic!("expected QuotaExceeded, got {other:?}"),
        }
        assert_eq!(quotas.check("search", "bob", "free").await, Ok(()));
        assert_eq!(quotas.check("export", "alice", "free").await, Ok(()), "each quota counts on its own");
        for _ in 0..5 {
            assert_eq!(quotas.check("search", "carol", "pro").await, Ok(()));
        }
        assert!(quotas.check("search", "carol", "pro").await.is_err());
        assert_eq!(quotas.check("search", "dave", "gold").await, Err(AuthError::QuotaUnavailable));
        Ok(())
    }

    #[test]
    fn plan_quotas_are_parsed_strictly() {
        assert_eq!(PlanQuotas::default().iter().collect::<Vec<_>>(), [("free", 10), ("pro", 100)]);
        let team = PlanQuotas::parse("free=10, team = 50").map(|q| q.iter().map(|(p, c)| (p.to_owned(), c)).collect());
        assert_eq!(team, Ok(vec![("free".to_owned(), 10), ("team".to_owned(), 50)]));
        for refused in ["", "free", "free=0", "free=-1", "free=1,free=2", "=3"] {
            assert!(PlanQuotas::parse(refused).is_err(), "{refused:?} accepted");
        }
    }
}
