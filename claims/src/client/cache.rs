//! The current token of one [`TokenSource`]: fetched once it is in the
//! last fifth of its life, under a lock, so two callers never fetch at once
//! (the second waits and uses the first one's token).

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use secrecy::SecretString;
use tokio::time::Instant;
use tonic::Status;

use super::source::TokenSource;

struct Current {
    token: SecretString,
    renew_at: Instant,
    fetched_at: Instant,
    generation: u64,
}

/// A token refused as TOKEN_INVALID or UNKNOWN_ROLE is renewed only when it
/// was fetched at least this long ago.
pub const MIN_AGE_TO_RENEW_INVALID: Duration = Duration::from_secs(10);

/// The current token of one [`TokenSource`]; see the module docs.
pub struct TokenCache {
    source: Box<dyn TokenSource>,
    current: tokio::sync::Mutex<Option<Current>>,
    fetches: AtomicU64,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache").field("source", &self.source).field("fetches", &self.fetches).finish()
    }
}

impl TokenCache {
    /// A cache with no token yet: the first call fetches one.
    pub fn new(source: impl TokenSource) -> Arc<Self> {
        Arc::new(Self { source: Box::new(source), current: tokio::sync::Mutex::new(None), fetches: AtomicU64::new(0) })
    }

    /// How many tokens have been fetched.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A token with most of its life ahead, and its generation.
    pub async fn token(&self) -> Result<(SecretString, u64), Status> {
        self.get(None).await
    }

    /// As [`Self::token`], but never generation `stale` again: the server
    /// said it expired or was revoked. If another caller already renewed,
    /// that token is used.
    pub async fn renew(&self, stale: u64) -> Result<(SecretString, u64), Status> {
        self.get(Some(stale)).await
    }

    /// Whether generation `generation` is still the current token and was
    /// fetched less than `age` ago.
    pub async fn is_younger_than(&self, generation: u64, age: Duration) -> bool {
        let current = self.current.lock().await;
        current.as_ref().is_some_and(|c| c.generation == generation && c.fetched_at.elapsed() < age)
    }

    async fn get(&self, stale: Option<u64>) -> Result<(SecretString, u64), Status> {
        // Held across the fetch: concurrent callers wait here and then find
        // the fresh token instead of fetching their own.
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref()
            && Instant::now() < c.renew_at
            && stale != Some(c.generation)
        {
            return Ok((c.token.clone(), c.generation));
        }
        let fetched = self.source.fetch().await?;
        let generation = self.fetches.fetch_add(1, Ordering::Relaxed) + 1;
        // Renew in the last fifth of the token's life.
        let renew_at = Instant::now() + fetched.expires_in.mul_f64(0.8);
        *current = Some(Current { token: fetched.token.clone(), renew_at, fetched_at: Instant::now(), generation });
        Ok((fetched.token, generation))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::client::source::{BoxFuture, FetchedToken};

    /// Hands out "t1", "t2", ... for an hour each.
    #[derive(Debug, Default)]
    struct Numbered(AtomicU64);

    impl TokenSource for Numbered {
        fn fetch(&self) -> BoxFuture<'_, Result<FetchedToken, Status>> {
            let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
            Box::pin(async move {
                Ok(FetchedToken { token: SecretString::from(format!("t{n}")), expires_in: Duration::from_secs(3600) })
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_counts_as_too_young_to_renew_for_an_invalid_refusal_only_until_the_minimum_age()
    -> Result<(), Status> {
        let cache = TokenCache::new(Numbered::default());
        let (_, first) = cache.token().await?;
        assert!(cache.is_younger_than(first, MIN_AGE_TO_RENEW_INVALID).await, "just fetched");
        tokio::time::advance(MIN_AGE_TO_RENEW_INVALID).await;
        assert!(!cache.is_younger_than(first, MIN_AGE_TO_RENEW_INVALID).await, "old enough to renew");
        let (token, second) = cache.renew(first).await?;
        assert_eq!((token.expose_secret(), second), ("t2", 2));
        assert!(!cache.is_younger_than(first, MIN_AGE_TO_RENEW_INVALID).await, "no longer the current token");
        assert!(cache.is_younger_than(second, MIN_AGE_TO_RENEW_INVALID).await);
        Ok(())
    }
}
