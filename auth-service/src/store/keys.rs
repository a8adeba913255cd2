//! Signing keys: the private key material, as stored (sealed, see
//! `sealing`), and its publish/sign schedule.

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::{Store, StoreError};

/// A stored signing key. Debug never shows the private key.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub kid: String,
    /// The private key as stored: sealed, or plaintext PEM.
    pub private_key: SecretString,
    pub created_at: i64,
    pub signs_from: i64,
    pub unpublish_at: Option<i64>,
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub previous: Option<(String, i64)>,
}

type Row = (String, String, i64, i64, Option<i64>);

impl Store {
    /// Keys still published at `now`, oldest first.
    pub async fn signing_keys(&self, now: i64) -> Result<Vec<KeyRow>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT kid, private_key_pem, created_at, signs_from, unpublish_at FROM signing_keys \
             WHERE unpublish_at IS NULL OR unpublish_at > $1 ORDER BY signs_from, created_at",
        )
        .bind(now)
        .fetch_all(self.db.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(kid, pem, created_at, signs_from, unpublish_at)| KeyRow {
                kid,
                private_key: SecretString::from(pem),
                created_at,
                signs_from,
                unpublish_at,
            })
            .collect())
    }

    /// Adds key `kid` (`private_key` as stored), signing from `signs_from`. Every key that has not been
    /// retired yet retires at `signs_from` and leaves the JWK set at
    /// `old_unpublish_at`, in the same transaction.
    ///
    /// With `unless_created_after`, nothing happens (None) if a key newer
    /// than that exists: several instances may decide on the same scheduled
    /// rotation, and only the first one's happens.
    pub async fn add_signing_key(
        &self,
        kid: &str,
        private_key: &SecretString,
        now: i64,
        signs_from: i64,
        old_unpublish_at: i64,
        unless_created_after: Option<i64>,
    ) -> Result<Option<Rotation>, StoreError> {
        let mut tx = self.db.begin_serialized().await?;
        let (newest,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(created_at), $1) FROM signing_keys")
            .bind(i64::MIN)
            .fetch_one(&mut *tx)
            .await?;
        if unless_created_after.is_some_and(|after| newest > after) {
            return Ok(None);
        }
        let previous: Option<(String,)> = sqlx::query_as(
            "SELECT kid FROM signing_keys WHERE retired_at IS NULL AND signs_from <= $1 \
             ORDER BY signs_from DESC, created_at DESC LIMIT 1",
        )
        .bind(signs_from)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1, unpublish_at = $2 WHERE retired_at IS NULL")
            .bind(signs_from)
            .bind(old_unpublish_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO signing_keys (kid, private_key_pem, created_at, signs_from) VALUES ($1, $2, $3, $4)")
            .bind(kid)
            .bind(private_key.expose_secret())
            .bind(now)
            .bind(signs_from)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(Rotation { previous: previous.map(|(kid,)| (kid, old_unpublish_at)) }))
    }

    /// Rewrites every stored key `reseal` returns a new form for, in one
    /// transaction that instances starting together take in turn, so each
    /// finds what the one before it wrote. An error from `reseal` rewrites
    /// nothing. After a rewrite, the database is compacted so the keys'
    /// former forms leave its files ([`authpair_server::db::Db::compact_after_rewrite`]).
    /// Returns how many keys were rewritten.
    pub async fn reseal_signing_keys(
        &self,
        mut reseal: impl FnMut(&str, &str) -> anyhow::Result<Option<String>>,
    ) -> anyhow::Result<usize> {
        let mut tx = self.db.begin_serialized().await?;
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT kid, private_key_pem FROM signing_keys ORDER BY kid").fetch_all(&mut *tx).await?;
        // Plaintext keys among them are wiped from memory when dropped.
        let rows: Vec<(String, Zeroizing<String>)> =
            rows.into_iter().map(|(kid, stored)| (kid, Zeroizing::new(stored))).collect();
        let mut rewritten = Vec::new();
        for (kid, stored) in &rows {
            if let Some(new) = reseal(kid, stored)? {
                rewritten.push((kid, new));
            }
        }
        for (kid, new) in &rewritten {
            sqlx::query("UPDATE signing_keys SET private_key_pem = $1 WHERE kid = $2")
                .bind(new)
                .bind(kid.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if !rewritten.is_empty() {
            // The forms replaced (plaintext PEM, or sealed with a previous
            // master key) must not survive in the database's files. A
            // failure here leaves the rows sealed and the start going.
            if let Err(e) = self.db.compact_after_rewrite("signing_keys").await {
                tracing::warn!(
                    error = %format!("{e:#}"),
                    "signing keys were sealed, but the database files may still hold their former form until \
                     SQLite's VACUUM (PostgreSQL's VACUUM FULL signing_keys) runs"
                );
            }
        }
        Ok(rewritten.len())
    }

    /// Deletes keys, private part included, that are no longer published.
    pub async fn prune_signing_keys(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM signing_keys WHERE unpublish_at IS NOT NULL AND unpublish_at <= $1")
            .bind(now)
            .execute(self.db.writer())
            .await?;
        Ok(done.rows_affected())
    }
}
