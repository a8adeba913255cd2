//! Brute-force defence for the credential endpoints (Login and
//! IssueServiceToken), following OWASP and NIST SP 800-63B §5.2.2:
//!
//! - Per account (the username's canonical form, or as typed when it has
//!   none, or the client id as typed; whether or not the account exists, so
//!   throttling is no existence oracle, and `ADMIN` counts against `admin`):
//!   a few free failures, then a delay that doubles from `base_delay` up to
//!   `max_delay`, then, at `lock_after` consecutive failures, a temporary
//!   lock. Locks end by themselves, so an attacker cannot lock a real user
//!   out for good, and failures older than `failure_window` are forgotten.
//!   While throttled, the password is not even checked: right and wrong get
//!   the same answer.
//! - Per source address: a GCRA rate limit on attempts. The address is the
//!   TCP peer; `x-forwarded-for` is read only when the peer is a configured
//!   trusted proxy.
//!
//! - Per source address, failed refreshes (RF-05): refresh tokens are 256-bit
//!   random, so a source that keeps presenting ones that match nothing is
//!   flooding or guessing. Only failures are counted, so a gateway that
//!   refreshes for many users is never limited by its successes. Once a
//!   source's failures outrun the same per-source rate, its refreshes are
//!   refused until the allowance returns.
//!
//! Throttled attempts get RESOURCE_EXHAUSTED with RetryInfo. Only credential
//! failures count: an outage (database unreachable) never does. State is
//! kept in this instance (bounded in size) and, with `--redis-url`, in Redis
//! as well, so all instances share the counts. If Redis cannot be reached,
//! the instance falls back to its own counts with a logged warning: a
//! degraded limit, never a bypass.
//!
//! Each account's failures are also written through to the database
//! (`login_failures`), which is read when memory has no count for the
//! account, so a crash or a restart does not wipe a delay or a lock
//! (docs/security.md, R-01), and neither does eviction from memory. On a
//! database shared by several instances, a failure's count is the
//! database's, so it includes the failures other instances recorded. Per
//! source limits are rates over seconds and stay in memory (and Redis).
//! Times are wall-clock milliseconds, the same in memory, Redis and the
//! database, so a stored failure keeps its age across a reboot.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use authpair_claims::clock::now_millis as now_ms;
use authpair_server::{
    config::parse_secs,
    redis_gcra::{Rate, RedisGcra},
};
use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    state::keyed::DefaultKeyedStateStore,
};

use crate::{error::CredentialError, store::Store};

/// Accounts tracked at once; the least recently used are forgotten first.
const MAX_TRACKED_ACCOUNTS: usize = 100_000;

/// Brute-force defence settings; every number is a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct ThrottleConfig {
    /// Wrong passwords (or client secrets) for one account before delays start.
    #[arg(long = "login-free-failures", default_value = "5")]
    pub free_failures: u32,
    /// The first delay; it doubles with each further failure.
    #[arg(long = "login-base-delay-secs", default_value = "1", value_parser = parse_secs)]
    pub base_delay: Duration,
    /// The longest delay between attempts, in seconds: the doubling stops here.
    #[arg(long = "login-max-delay-secs", default_value = "900", value_parser = parse_secs)]
    pub max_delay: Duration,
    /// Consecutive failures that lock the account for `--login-lock-secs`.
    #[arg(long = "login-lock-after", default_value = "30")]
    pub lock_after: u32,
    /// How long a locked account stays locked, in seconds; while it is, the
    /// right password is refused too.
    #[arg(long = "login-lock-secs", default_value = "900", value_parser = parse_secs)]
    pub lock_for: Duration,
    /// Failures older than this are forgotten.
    #[arg(long = "login-failure-window-secs", default_value = "43200", value_parser = parse_secs)]
    pub failure_window: Duration,
    /// Credential attempts (logins, client secrets) per second from one
    /// source address; also the rate of failed refreshes it may make.
    #[arg(long = "login-source-per-sec", default_value = "10")]
    pub source_per_sec: u32,
    /// Attempts one source may make at once before `--login-source-per-sec`
    /// applies (the GCRA burst).
    #[arg(long = "login-source-burst", default_value = "20")]
    pub source_burst: u32,
}

impl Default for ThrottleConfig {
    /// The flags' defaults, the recommended settings: Keycloak's brute-force
    /// defaults.
    fn default() -> Self {
        match authpair_server::config::defaults_of() {
            Ok(config) => config,
            // Every flag here has a default; a test parses them.
            Err(e) => panic!("the login throttle's flags do not parse with their defaults: {e}"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    /// Wall-clock milliseconds of the last failure.
    last_ms: u64,
}

type Sources = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>;

/// The Redis side: the same counts, shared by every instance.
#[derive(Debug)]
pub struct Shared {
    gcra: RedisGcra,
    prefix: String,
    source_rate: Rate,
}

#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    accounts: quick_cache::sync::Cache<String, Failures>,
    sources: Sources,
    refresh_failures: Sources,
    /// Sources whose failed refreshes ran over the rate, and until when.
    refresh_blocked: quick_cache::sync::Cache<IpAddr, Instant>,
    trusted_proxies: Vec<IpAddr>,
    shared: Option<Shared>,
    /// Where account failures are kept across restarts.
    durable: Option<Store>,
}

fn degraded(e: &redis::RedisError) {
    tracing::warn!(error = %e, "shared throttle store unreachable; using this instance's counts");
}

impl Throttle {
    /// Counts in this instance, written through to `durable` if given.
    pub fn new(
        config: ThrottleConfig,
        trusted_proxies: Vec<IpAddr>,
        durable: Option<Store>,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self::build(config, trusted_proxies, None, durable)?))
    }

    /// Shares the counts through Redis at `url`, under `prefix`.
    pub async fn shared(
        config: ThrottleConfig,
        trusted_proxies: Vec<IpAddr>,
        url: &str,
        prefix: &str,
        durable: Option<Store>,
    ) -> anyhow::Result<Arc<Self>> {
        let source_rate = Rate::per_second(config.source_per_sec, config.source_burst)
            .ok_or_else(|| anyhow::anyhow!("source rate must be > 0"))?;
        let shared = Shared { gcra: RedisGcra::connect(url).await?, prefix: prefix.to_owned(), source_rate };
        Ok(Arc::new(Self::build(config, trusted_proxies, Some(shared), durable)?))
    }

    fn build(
        config: ThrottleConfig,
        trusted_proxies: Vec<IpAddr>,
        shared: Option<Shared>,
        durable: Option<Store>,
    ) -> anyhow::Result<Self> {
        let burst = NonZeroU32::new(config.source_burst).ok_or_else(|| anyhow::anyhow!("source burst must be > 0"))?;
        let rate = NonZeroU32::new(config.source_per_sec).ok_or_else(|| anyhow::anyhow!("source rate must be > 0"))?;
        Ok(Self {
            config,
            accounts: quick_cache::sync::Cache::new(MAX_TRACKED_ACCOUNTS),
            sources: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            refresh_failures: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            refresh_blocked: quick_cache::sync::Cache::new(MAX_TRACKED_ACCOUNTS),
            trusted_proxies,
            shared,
            durable,
        })
    }

    /// The start of the failure window, in wall-clock milliseconds.
    fn window_start_ms(&self) -> u64 {
        now_ms().saturating_sub(self.config.failure_window.as_millis() as u64)
    }

    /// This instance's count for `account`, or, when it has none (after a
    /// restart, or evicted), the database's, kept here from then on so that
    /// a success clears the stored row too.
    async fn local_failures(&self, account: &str) -> Option<Failures> {
        if let Some(found) = self.accounts.get(account) {
            return Some(found);
        }
        let store = self.durable.as_ref()?;
        match store.login_failures(account, self.window_start_ms()).await {
            Ok(found) => {
                let found = found.map(|f| Failures { count: f.failures, last_ms: f.last_failed_ms })?;
                self.accounts.insert(account.to_owned(), found);
                Some(found)
            }
            Err(e) => {
                // The credential check that follows needs the database too.
                tracing::warn!(error = %e, "reading login failures failed; using this instance's counts");
                None
            }
        }
    }

    /// The address to rate-limit: the peer, or, behind a trusted proxy, the
    /// last address the proxy appended to `x-forwarded-for`.
    pub fn source<T>(&self, request: &tonic::Request<T>) -> Option<IpAddr> {
        let peer = request.remote_addr()?.ip();
        let forwarded = request.metadata().get("x-forwarded-for").and_then(|v| v.to_str().ok());
        Some(self.source_of(peer, forwarded))
    }

    /// [`Self::source`] for a request that arrived another way (the HTTP
    /// listener): its TCP peer and its first `x-forwarded-for` header.
    pub fn source_of(&self, peer: IpAddr, forwarded: Option<&str>) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let client = forwarded.and_then(|list| list.rsplit(',').next()).and_then(|ip| ip.trim().parse().ok());
        client.unwrap_or(peer)
    }

    /// Before checking credentials: may `account` try now, from `source`?
    pub async fn admit(&self, account: &str, source: Option<IpAddr>) -> Result<(), CredentialError> {
        if let Some(source) = source {
            let wait = match self.shared_source_wait("login-source", source).await {
                Some(wait) => wait,
                None => self.sources.check_key(&source).err().map(|n| n.wait_time_from(DefaultClock::default().now())),
            };
            if let Some(retry_after) = wait {
                return Err(CredentialError::TooManyAttempts { retry_after });
            }
        }
        let (count, since) = match self.shared_failures(account).await {
            Some(Some((count, last_ms))) => (count, Duration::from_millis(now_ms().saturating_sub(last_ms))),
            Some(None) => return Ok(()),
            None => match self.local_failures(account).await {
                Some(f) => (f.count, Duration::from_millis(now_ms().saturating_sub(f.last_ms))),
                None => return Ok(()),
            },
        };
        if since >= self.config.failure_window {
            return Ok(());
        }
        let wait = self.wait_after(count).saturating_sub(since);
        if wait.is_zero() { Ok(()) } else { Err(CredentialError::TooManyAttempts { retry_after: wait }) }
    }

    /// The shared per-source verdict of limit `kind`; None when there is no
    /// shared store or it cannot be reached.
    async fn shared_source_wait(&self, kind: &str, source: IpAddr) -> Option<Option<Duration>> {
        let shared = self.shared.as_ref()?;
        let key = format!("{}{kind}:{source}", shared.prefix);
        shared.gcra.check(&key, shared.source_rate).await.map_err(|e| degraded(&e)).ok()
    }

    /// Before a refresh: has `source` failed too many lately, on this
    /// instance or (with Redis) on any other?
    pub async fn admit_refresh(&self, source: Option<IpAddr>) -> Result<(), CredentialError> {
        let Some(source) = source else { return Ok(()) };
        let here = self.refresh_blocked.get(&source).map(|until| until.saturating_duration_since(Instant::now()));
        let retry_after = match here.filter(|wait| !wait.is_zero()) {
            Some(wait) => wait,
            None => self.shared_refresh_block(source).await.unwrap_or_default(),
        };
        if retry_after.is_zero() { Ok(()) } else { Err(CredentialError::TooManyAttempts { retry_after }) }
    }

    /// After a refresh token that matched no live session, from `source`.
    pub async fn refresh_failed(&self, source: Option<IpAddr>) {
        let Some(source) = source else { return };
        let wait = match self.shared_source_wait("refresh-failures", source).await {
            Some(wait) => wait,
            None => {
                self.refresh_failures.check_key(&source).err().map(|n| n.wait_time_from(DefaultClock::default().now()))
            }
        };
        let Some(wait) = wait else { return };
        self.refresh_blocked.insert(source, Instant::now() + wait);
        // Every instance refuses the source from now, not from the next
        // failure each one happens to see.
        if let Some(shared) = &self.shared {
            let key = format!("{}refresh-blocked:{source}", shared.prefix);
            let ms = (wait.as_millis() as u64).max(1);
            let mut connection = shared.gcra.connection();
            if let Err(e) =
                redis::cmd("SET").arg(&key).arg(1).arg("PX").arg(ms).query_async::<()>(&mut connection).await
            {
                degraded(&e);
            }
        }
    }

    /// How long another instance has blocked `source`'s refreshes for;
    /// None without a shared store or when it cannot be reached.
    async fn shared_refresh_block(&self, source: IpAddr) -> Option<Duration> {
        let shared = self.shared.as_ref()?;
        let key = format!("{}refresh-blocked:{source}", shared.prefix);
        let mut connection = shared.gcra.connection();
        // PTTL: milliseconds left, or negative when the key is gone.
        match redis::cmd("PTTL").arg(&key).query_async::<i64>(&mut connection).await {
            Ok(ms) => Some(Duration::from_millis(ms.max(0) as u64)),
            Err(e) => {
                degraded(&e);
                None
            }
        }
    }

    /// The shared (count, last failure ms) of `account`: `Some(None)` for no
    /// failures, `None` when there is no shared store or it cannot be reached.
    async fn shared_failures(&self, account: &str) -> Option<Option<(u32, u64)>> {
        let shared = self.shared.as_ref()?;
        let key = format!("{}login-failures:{account}", shared.prefix);
        let mut connection = shared.gcra.connection();
        let fields: Result<(Option<u32>, Option<u64>), _> =
            redis::cmd("HMGET").arg(&key).arg("count").arg("last").query_async(&mut connection).await;
        match fields {
            Ok((Some(count), Some(last))) => Some(Some((count, last))),
            Ok(_) => Some(None),
            Err(e) => {
                degraded(&e);
                None
            }
        }
    }

    /// How long after the last of `count` consecutive failures the next try
    /// must wait.
    fn wait_after(&self, count: u32) -> Duration {
        let c = &self.config;
        if count >= c.lock_after {
            return c.lock_for;
        }
        // The first `free_failures` cost nothing; from then on each failure
        // doubles the wait.
        let Some(over) = count.checked_sub(c.free_failures) else { return Duration::ZERO };
        let factor = 2u32.saturating_pow(over);
        c.base_delay.saturating_mul(factor).min(c.max_delay)
    }

    /// After a wrong password (or secret) for `account`. `subject` is the
    /// stable id of the account if it exists (a user id, `svc:<name>`): the
    /// lock's audit line names it, never the typed name, which may hold a
    /// mistyped password.
    pub async fn failed(&self, account: &str, subject: Option<&str>) {
        if let Some(shared) = &self.shared {
            let key = format!("{}login-failures:{account}", shared.prefix);
            let mut connection = shared.gcra.connection();
            let window_ms = self.config.failure_window.as_millis() as u64;
            let recorded: Result<(), _> = redis::pipe()
                .atomic()
                .hincr(&key, "count", 1)
                .ignore()
                .hset(&key, "last", now_ms())
                .ignore()
                .pexpire(&key, window_ms as i64)
                .ignore()
                .query_async(&mut connection)
                .await;
            if let Err(e) = recorded {
                degraded(&e);
            }
        }
        let now = now_ms();
        let window_start = self.window_start_ms();
        let here = match self.accounts.get(account) {
            Some(f) if f.last_ms >= window_start => f.count.saturating_add(1),
            _ => 1,
        };
        // The database's count when it answers (it includes other
        // instances' failures on a shared database); this instance's own
        // if not, with a warning: a degraded limit, never a bypass.
        let count = match &self.durable {
            Some(store) => match store.record_login_failure(account, now, window_start).await {
                Ok(count) => count,
                Err(e) => {
                    tracing::warn!(error = %e, "recording a login failure failed; using this instance's count");
                    here
                }
            },
            None => here,
        };
        self.accounts.insert(account.to_owned(), Failures { count, last_ms: now });
        if count == self.config.lock_after {
            tracing::warn!(
                target: "authpair::audit",
                event = "account_locked",
                subject = subject.unwrap_or("-"),
                reason = "too_many_failures",
                failures = count,
            );
        }
    }

    /// After a successful login: the slate is clean.
    pub async fn succeeded(&self, account: &str) {
        let had_failures = self.accounts.remove(account).is_some();
        // A SQLite database is this instance's alone, and without Redis the
        // admission just before read its row into memory if there was one:
        // with no failures here there is no row to delete, and a success (a
        // service token, say) writes nothing. A PostgreSQL database may hold
        // other instances' rows, and with Redis admissions do not read rows.
        let may_have_row = had_failures
            || self.shared.is_some()
            || self.durable.as_ref().is_some_and(|store| store.backend() == authpair_server::db::Backend::Postgres);
        if may_have_row
            && let Some(store) = &self.durable
            && let Err(e) = store.clear_login_failures(account).await
        {
            tracing::warn!(error = %e, "clearing login failures failed");
        }
        if let Some(shared) = &self.shared {
            let key = format!("{}login-failures:{account}", shared.prefix);
            let mut connection = shared.gcra.connection();
            if let Err(e) = redis::cmd("DEL").arg(&key).query_async::<()>(&mut connection).await {
                degraded(&e);
            }
        }
    }

    /// Forgets sources whose allowance is full again, and deletes stored
    /// failures older than the window. Run periodically.
    pub async fn housekeep(&self) {
        self.sources.retain_recent();
        self.refresh_failures.retain_recent();
        if let Some(store) = &self.durable
            && let Err(e) = store.prune_login_failures(self.window_start_ms()).await
        {
            tracing::warn!(error = %e, "pruning login failures failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(config: ThrottleConfig) -> Arc<Throttle> {
        match Throttle::new(config, vec![], None) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn delays_double_after_the_free_failures_up_to_the_cap_then_lock() {
        let t = throttle(ThrottleConfig { lock_after: 8, ..ThrottleConfig::default() });
        let waits: Vec<u64> = (0..=9).map(|n| t.wait_after(n).as_secs()).collect();
        assert_eq!(waits, [0, 0, 0, 0, 0, 1, 2, 4, 900, 900]);
        let capped = throttle(ThrottleConfig { max_delay: Duration::from_secs(3), ..ThrottleConfig::default() });
        assert_eq!(capped.wait_after(20), Duration::from_secs(3));
    }

    #[tokio::test]
    async fn bf_01_after_the_free_failures_the_next_try_must_wait_and_success_clears() {
        let t = throttle(ThrottleConfig { free_failures: 3, ..ThrottleConfig::default() });
        for _ in 0..3 {
            assert_eq!(t.admit("alice", None).await, Ok(()));
            t.failed("alice", None).await;
        }
        assert!(matches!(t.admit("alice", None).await, Err(CredentialError::TooManyAttempts { .. })));
        assert_eq!(t.admit("bob", None).await, Ok(()), "accounts are separate");
        t.succeeded("alice").await;
        assert_eq!(t.admit("alice", None).await, Ok(()));
    }

    #[tokio::test]
    async fn r_01_a_throttle_started_on_the_same_database_goes_on_from_its_counts() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let config = ThrottleConfig { free_failures: 3, ..ThrottleConfig::default() };
        let durable = || async { Store::open(dir.path(), None).await };
        let before = Throttle::new(config, vec![], Some(durable().await?))?;
        for _ in 0..3 {
            before.failed("alice", None).await;
        }
        for _ in 0..2 {
            before.failed("bob", None).await;
        }
        assert_eq!(before.admit("bob", None).await, Ok(()));
        before.succeeded("bob").await;

        // A restart: a new throttle, nothing in memory.
        let after = Throttle::new(config, vec![], Some(durable().await?))?;
        assert!(matches!(after.admit("alice", None).await, Err(CredentialError::TooManyAttempts { .. })));
        for _ in 0..2 {
            after.failed("bob", None).await;
        }
        assert_eq!(after.admit("bob", None).await, Ok(()), "bob's success cleared his count");
        after.succeeded("alice").await;

        let again = Throttle::new(config, vec![], Some(durable().await?))?;
        assert_eq!(again.admit("alice", None).await, Ok(()), "alice's success cleared the stored count");
        Ok(())
    }

    #[tokio::test]
    async fn bf_02_a_source_is_rate_limited_whatever_account_it_tries() {
        let t = throttle(ThrottleConfig { source_per_sec: 1, source_burst: 3, ..ThrottleConfig::default() });
        let ip: IpAddr = [10, 0, 0, 1].into();
        for i in 0..3 {
            assert_eq!(t.admit(&format!("user{i}"), Some(ip)).await, Ok(()));
        }
        assert!(matches!(t.admit("user9", Some(ip)).await, Err(CredentialError::TooManyAttempts { .. })));
        assert_eq!(t.admit("user9", Some([10, 0, 0, 2].into())).await, Ok(()));
    }

    #[tokio::test]
    async fn rf_05_a_source_whose_refreshes_keep_failing_is_refused_until_its_allowance_returns() {
        let t = throttle(ThrottleConfig { source_per_sec: 1, source_burst: 3, ..ThrottleConfig::default() });
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..3 {
            assert_eq!(t.admit_refresh(Some(ip)).await, Ok(()));
            t.refresh_failed(Some(ip)).await;
        }
        assert_eq!(t.admit_refresh(Some(ip)).await, Ok(()), "the burst is failures, not attempts");
        t.refresh_failed(Some(ip)).await;
        match t.admit_refresh(Some(ip)).await {
            Err(CredentialError::TooManyAttempts { retry_after }) => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1), "{retry_after:?}")
            }
            other => panic!("expected TooManyAttempts, got {other:?}"),
        }
        assert_eq!(t.admit_refresh(Some([10, 0, 0, 2].into())).await, Ok(()), "sources are separate");
        assert_eq!(t.admit("user", Some(ip)).await, Ok(()), "logins have their own allowance");
        assert_eq!(t.admit_refresh(None).await, Ok(()), "no source, nothing to key on");
    }
}
