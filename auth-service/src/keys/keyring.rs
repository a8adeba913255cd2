//! The signing keys in memory, loaded from the database.
//!
//! Rotation publishes a new key at once and lets it sign only after the
//! publish delay, so every resource service has it before any token needs
//! it; the old key stays published until the last token it signed has
//! expired (token lifetime + leeway). A maintenance task prunes keys past
//! that point, runs scheduled rotation, and announces every change of the
//! published set on the revocation feed. Instances sharing a database see
//! each other's keys within a second: the task re-reads the key table.
//!
//! Private keys are stored as [`KeysAtRest`] says: sealed with the master
//! key. Opening the ring first seals keys stored in plaintext and re-seals
//! those sealed with the previous master key.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use anyhow::Context as _;
use authpair_claims::{PublicJwk, SigningKey, Verifier};
use secrecy::ExposeSecret;
use tokio::sync::watch;

use crate::{
    keys::at_rest::KeysAtRest,
    store::{KeyRow, Rotation, Store, StoreError},
};
use authpair_claims::clock::now;

#[derive(Debug)]
struct Loaded {
    key: Arc<SigningKey>,
    created_at: i64,
    signs_from: i64,
    unpublish_at: Option<i64>,
}

/// Timing of rotations.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    /// From published to signing.
    pub publish_delay: Duration,
    /// How long a retired key stays published: token lifetime + leeway.
    pub retire_grace: Duration,
    /// Rotate automatically when the signing key is this old; None: never.
    pub rotate_every: Option<Duration>,
}

#[derive(Debug)]
pub struct KeyRing {
    store: Store,
    policy: KeyPolicy,
    at_rest: KeysAtRest,
    keys: RwLock<Vec<Loaded>>,
    /// Bumped whenever the published set changes.
    published: watch::Sender<u64>,
}

fn load(rows: Vec<KeyRow>, at_rest: &KeysAtRest) -> anyhow::Result<Vec<Loaded>> {
    rows.into_iter()
        .map(|row| {
            let pem = at_rest.open(&row.kid, row.private_key.expose_secret())?;
            // Under the kid it was stored with: a key stored with its whole
            // thumbprint as its kid keeps it, so the tokens it signed keep
            // verifying.
            let key = SigningKey::from_pkcs8_pem_as(pem.expose_secret(), &row.kid)
                .map_err(|e| StoreError::Corrupt(format!("signing key {}: {e}", row.kid)))?;
            Ok(Loaded {
                key: Arc::new(key),
                created_at: row.created_at,
                signs_from: row.signs_from,
                unpublish_at: row.unpublish_at,
            })
        })
        .collect()
}

impl KeyRing {
    /// Seals what is stored in plaintext or with the previous master key,
    /// then loads the published keys, creating the first one on a new
    /// database. A key that does not open stops the start: the service never
    /// signs with a new key in its place.
    pub async fn open(store: Store, policy: KeyPolicy, at_rest: KeysAtRest) -> anyhow::Result<Self> {
        let resealed = store.reseal_signing_keys(|kid, stored| at_rest.reseal(kid, stored)).await?;
        if resealed > 0 {
            tracing::info!(keys = resealed, "sealed signing keys with the current master key");
        }
        let now = now();
        let mut rows = store.signing_keys(now).await?;
        if rows.is_empty() {
            let key = SigningKey::generate()?;
            let stored = at_rest.store(key.kid(), &key.to_pkcs8_pem()?)?;
            // Instances starting together on a new database race here; the
            // first key wins and the others load it.
            if store.add_signing_key(key.kid(), &stored, now, now, now, Some(i64::MIN)).await?.is_some() {
                tracing::info!(kid = key.kid(), "generated the first signing key");
            }
            rows = store.signing_keys(now).await?;
        }
        let (published, _) = watch::channel(0);
        let keys = RwLock::new(load(rows, &at_rest)?);
        Ok(Self { store, policy, at_rest, keys, published })
    }

    /// The key to sign with now: the newest whose signing time has come.
    /// None only if the clock went back before the first key's creation.
    pub fn signing_key(&self) -> Option<Arc<SigningKey>> {
        let now = now();
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.iter().filter(|k| k.signs_from <= now).max_by_key(|k| (k.signs_from, k.created_at)).map(|k| k.key.clone())
    }

    /// Every key a token may be verified with now.
    pub fn published(&self) -> Vec<PublicJwk> {
        let now = now();
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.iter().filter(|k| k.unpublish_at.is_none_or(|t| t > now)).map(|k| k.key.public_jwk().clone()).collect()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// Publishes a new key now; it signs after the publish delay.
    pub async fn rotate(&self) -> anyhow::Result<(Arc<SigningKey>, i64, Rotation)> {
        self.rotate_unless_created_after(None).await?.context("an unconditional rotation did not happen")
    }

    /// Rotates unless some instance published a key after `after`.
    async fn rotate_unless_created_after(
        &self,
        after: Option<i64>,
    ) -> anyhow::Result<Option<(Arc<SigningKey>, i64, Rotation)>> {
        let now = now();
        let key = SigningKey::generate()?;
        let signs_from = now + self.policy.publish_delay.as_secs() as i64;
        let old_unpublish_at = signs_from + self.policy.retire_grace.as_secs() as i64;
        let stored = self.at_rest.store(key.kid(), &key.to_pkcs8_pem()?)?;
        let rotation = self.store.add_signing_key(key.kid(), &stored, now, signs_from, old_unpublish_at, after).await?;
        self.reload().await?;
        let Some(rotation) = rotation else { return Ok(None) };
        tracing::info!(kid = key.kid(), signs_from, "published a new signing key");
        Ok(Some((Arc::new(key), signs_from, rotation)))
    }

    async fn reload(&self) -> anyhow::Result<()> {
        let loaded = load(self.store.signing_keys(now()).await?, &self.at_rest)?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        self.published.send_modify(|v| *v += 1);
        Ok(())
    }

    /// Picks up keys another instance sharing the database published,
    /// retired or pruned; announces only a real change.
    async fn reload_if_changed(&self) -> anyhow::Result<()> {
        fn schedule(keys: &[Loaded]) -> Vec<(&str, i64, Option<i64>)> {
            keys.iter().map(|k| (k.key.kid(), k.signs_from, k.unpublish_at)).collect()
        }
        let loaded = load(self.store.signing_keys(now()).await?, &self.at_rest)?;
        let changed = schedule(&loaded) != schedule(&self.keys.read().unwrap_or_else(|p| p.into_inner()));
        if changed {
            *self.keys.write().unwrap_or_else(|p| p.into_inner()) = loaded;
            self.published.send_modify(|v| *v += 1);
        }
        Ok(())
    }

    /// Runs for the life of the service: keeps `verifier` on the published
    /// set, prunes unpublished keys, rotates on schedule.
    pub async fn maintain(self: Arc<Self>, verifier: Arc<Verifier>) {
        let mut last = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Err(e) = self.maintain_once(&verifier, &mut last).await {
                tracing::warn!(error = %e, "signing-key maintenance failed; will retry");
            }
        }
    }

    async fn maintain_once(&self, verifier: &Verifier, last: &mut Vec<String>) -> anyhow::Result<()> {
        let now = now();
        self.reload_if_changed().await?;
        if let Some(every) = self.policy.rotate_every {
            let newest = {
                let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
                keys.iter().map(|k| k.created_at).max().unwrap_or(now)
            };
            let due_after = now - every.as_secs() as i64;
            if newest <= due_after {
                self.rotate_unless_created_after(Some(due_after)).await?;
            }
        }
        let published = self.published();
        let kids: Vec<String> = published.iter().map(|k| k.kid.clone()).collect();
        if kids != *last {
            verifier.set_keys(&published)?;
            if self.store.prune_signing_keys(now).await? > 0 {
                self.reload().await?;
            } else {
                self.published.send_modify(|v| *v += 1);
            }
            *last = kids;
        }
        Ok(())
    }
}
