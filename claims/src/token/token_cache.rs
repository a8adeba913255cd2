//! The verified-token cache: keyed by the exact token string (as Envoy's
//! `jwt_cache_config` is), bounded in bytes, and admitting a token only the
//! second time it verifies.
//!
//! Why admission on second sight: a token used once never pays back its
//! entry. When every call brings a new token (the fresh-token benchmark in
//! BENCHMARKS.md), caching each one would cost a copy of the token, an insert
//! and, once the cache is full, an eviction and its frees on every call,
//! which makes cache misses slower than no cache at all.
//! A small table of recently seen token hashes (the "doorkeeper" of TinyLFU)
//! decides instead: the first verification of a token only marks its slot;
//! the second admits it. A client reusing its token pays one extra signature
//! check per token, then hits for the rest of its lifetime.
//!
//! The doorkeeper only decides what is *stored* after a full verification;
//! a lookup is still an exact match on the whole token string. So a hash
//! collision can at worst delay or speed up an admission, never let a token
//! through.

use std::{
    hash::BuildHasher,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use super::claims::Claims;

/// What one cached entry costs besides its token text (the claims, the map).
const ENTRY_OVERHEAD: u64 = 512;
/// A typical access token's length, for sizing.
const TYPICAL_TOKEN_BYTES: u64 = 700;

#[derive(Debug, Clone, Copy)]
struct EntryWeight;

impl quick_cache::Weighter<String, Arc<Claims>> for EntryWeight {
    fn weight(&self, token: &String, _claims: &Arc<Claims>) -> u64 {
        token.len() as u64 + ENTRY_OVERHEAD
    }
}

#[derive(Debug)]
pub(crate) struct TokenCache {
    entries: quick_cache::sync::Cache<String, Arc<Claims>, EntryWeight>,
    /// A hash per slot (0: empty) of a token verified once and not cached;
    /// twice as many slots as the cache holds typical tokens, a power of two.
    seen: Box<[AtomicU64]>,
    hasher: quick_cache::DefaultHashBuilder,
}

impl TokenCache {
    /// A cache of at most `bytes`; `None` for 0 (no cache).
    pub(crate) fn new(bytes: u64) -> Option<Self> {
        if bytes == 0 {
            return None;
        }
        let items = (bytes / (ENTRY_OVERHEAD + TYPICAL_TOKEN_BYTES)).max(1) as usize;
        let slots = (items * 2).next_power_of_two();
        Some(Self {
            entries: quick_cache::sync::Cache::with_weighter(items, bytes, EntryWeight),
            seen: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            hasher: quick_cache::DefaultHashBuilder::default(),
        })
    }

    pub(crate) fn get(&self, token: &str) -> Option<Arc<Claims>> {
        self.entries.get(token)
    }

    /// Offers a token that has just passed full verification: it is stored
    /// if it was offered recently before, and otherwise remembered as seen.
    pub(crate) fn offer(&self, token: &str, claims: &Arc<Claims>) {
        // Never 0, which marks an empty slot.
        let hash = self.hasher.hash_one(token) | 1;
        // The top bits pick the slot (the low bit was just forced).
        let slot = &self.seen[(hash >> 32) as usize & (self.seen.len() - 1)];
        // Relaxed: racing threads can only make a token wait one more
        // verification or be admitted one earlier, both harmless.
        if slot.load(Ordering::Relaxed) == hash {
            slot.store(0, Ordering::Relaxed);
            self.entries.insert(token.to_owned(), claims.clone());
        } else {
            slot.store(hash, Ordering::Relaxed);
        }
    }

    /// Forgets every cached token (the trusted keys changed).
    pub(crate) fn clear(&self) {
        self.entries.clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Stores `claims` for `token` directly, as a test's shortcut.
    #[cfg(test)]
    pub(crate) fn insert(&self, token: &str, claims: Claims) {
        self.entries.insert(token.to_owned(), Arc::new(claims));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(subject: &str) -> Arc<Claims> {
        Arc::new(Claims::for_test(subject, 2_000))
    }

    #[test]
    fn a_token_is_cached_the_second_time_it_verifies_not_the_first() -> Result<(), &'static str> {
        let cache = TokenCache::new(1 << 20).ok_or("a cache")?;
        let token = "header.payload.signature";
        cache.offer(token, &claims("s"));
        assert!(cache.get(token).is_none(), "seen once: not stored");
        cache.offer(token, &claims("s"));
        assert_eq!(cache.get(token).map(|c| c.subject().to_owned()).as_deref(), Some("s"), "seen twice: stored");
        Ok(())
    }

    #[test]
    fn tokens_used_once_never_fill_the_cache() -> Result<(), &'static str> {
        let cache = TokenCache::new(1 << 20).ok_or("a cache")?;
        for i in 0..10_000 {
            cache.offer(&format!("token-{i}"), &claims("s"));
        }
        assert_eq!(cache.len(), 0);
        Ok(())
    }

    #[test]
    fn a_reused_token_is_admitted_while_single_use_tokens_stream_past() -> Result<(), &'static str> {
        // 1 MiB: about 860 typical tokens, 2,048 doorkeeper slots.
        let cache = TokenCache::new(1 << 20).ok_or("a cache")?;
        let reused = "the.reused.token";
        for i in 0..10_000 {
            cache.offer(&format!("single-use-{i}"), &claims("other"));
            // The reused token comes back every tenth call, as a busy client's would.
            if i % 10 == 0 && cache.get(reused).is_none() {
                cache.offer(reused, &claims("s"));
            }
        }
        assert!(cache.get(reused).is_some(), "admitted despite the stream of single-use tokens");
        assert_eq!(cache.len(), 1, "and nothing else");
        Ok(())
    }

    #[test]
    fn no_bytes_means_no_cache() {
        assert!(TokenCache::new(0).is_none());
    }
}
