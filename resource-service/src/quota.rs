//! Per-plan quotas held in this process: each instance counts on its own.
//! GCRA from the `governor` crate: a plan's allowance per window, which
//! refills evenly over the window; keyed by the verified subject.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use authpair_claims::{AuthError, Plan, QuotaLimiter, quota::QuotaFuture};
use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    state::keyed::DefaultKeyedStateStore,
};

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

#[derive(Debug)]
pub struct LocalQuotas {
    free: Keyed,
    pro: Keyed,
    clock: DefaultClock,
}

fn quota(per_window: u32, window: Duration) -> anyhow::Result<Quota> {
    let burst = NonZeroU32::new(per_window).ok_or_else(|| anyhow::anyhow!("a quota must allow at least one call"))?;
    let period = window / per_window;
    let quota = Quota::with_period(period).ok_or_else(|| anyhow::anyhow!("the quota window must be positive"))?;
    Ok(quota.allow_burst(burst))
}

impl LocalQuotas {
    pub fn new(free: u32, pro: u32, window: Duration) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            free: RateLimiter::keyed(quota(free, window)?),
            pro: RateLimiter::keyed(quota(pro, window)?),
            clock: DefaultClock::default(),
        }))
    }

    /// Forgets subjects whose allowance is full again, so memory tracks
    /// active callers only. Run periodically.
    pub async fn housekeep(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            for limiter in [&self.free, &self.pro] {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
    }
}

impl QuotaLimiter for LocalQuotas {
    fn check<'a>(&'a self, _quota: &'static str, subject: &'a str, plan: Plan) -> QuotaFuture<'a> {
        // Only one quota ("search") exists; per-quota limiters come with a second.
        let limiter = match plan {
            Plan::Free => &self.free,
            Plan::Pro => &self.pro,
        };
        let outcome = limiter
            .check_key(&subject.to_owned())
            .map_err(|not_until| AuthError::QuotaExceeded { retry_after: not_until.wait_time_from(self.clock.now()) });
        Box::pin(std::future::ready(outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_plan_gets_its_allowance_then_a_retry_time_and_subjects_are_separate() -> anyhow::Result<()> {
        let quotas = LocalQuotas::new(3, 5, Duration::from_secs(60))?;
        for _ in 0..3 {
            assert_eq!(quotas.check("search", "alice", Plan::Free).await, Ok(()));
        }
        match quotas.check("search", "alice", Plan::Free).await {
            Err(AuthError::QuotaExceeded { retry_after }) => {
                assert!(retry_after > Duration::from_secs(10) && retry_after <= Duration::from_secs(20));
            }
            other => panic!("expected QuotaExceeded, got {other:?}"),
        }
        assert_eq!(quotas.check("search", "bob", Plan::Free).await, Ok(()));
        for _ in 0..5 {
            assert_eq!(quotas.check("search", "carol", Plan::Pro).await, Ok(()));
        }
        assert!(quotas.check("search", "carol", Plan::Pro).await.is_err());
        Ok(())
    }
}
