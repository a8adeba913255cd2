//! Signing keys: the private key material and its publish/sign schedule.

use authpair_claims::SigningKey;
use secrecy::{ExposeSecret, SecretString};

use super::{Store, StoreError};

/// A stored signing key. Debug never shows the private key.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub kid: String,
    pub private_key_pem: SecretString,
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
             WHERE unpublish_at IS NULL OR unpublish_at > ? ORDER BY signs_from, created_at",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(kid, pem, created_at, signs_from, unpublish_at)| KeyRow {
                kid,
                private_key_pem: SecretString::from(pem),
                created_at,
                signs_from,
                unpublish_at,
            })
            .collect())
    }

    /// Adds `key`, signing from `signs_from`. Every key that has not been
    /// retired yet retires at `signs_from` and leaves the JWK set at
    /// `old_unpublish_at`, in the same transaction.
    pub async fn add_signing_key(
        &self,
        key: &SigningKey,
        now: i64,
        signs_from: i64,
        old_unpublish_at: i64,
    ) -> Result<Rotation, StoreError> {
        let pem = key.to_pkcs8_pem().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let previous: Option<(String,)> = sqlx::query_as(
            "SELECT kid FROM signing_keys WHERE retired_at IS NULL AND signs_from <= ? \
             ORDER BY signs_from DESC, created_at DESC LIMIT 1",
        )
        .bind(signs_from)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query("UPDATE signing_keys SET retired_at = ?, unpublish_at = ? WHERE retired_at IS NULL")
            .bind(signs_from)
            .bind(old_unpublish_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO signing_keys (kid, private_key_pem, created_at, signs_from) VALUES (?, ?, ?, ?)")
            .bind(key.kid())
            .bind(pem.expose_secret())
            .bind(now)
            .bind(signs_from)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Rotation { previous: previous.map(|(kid,)| (kid, old_unpublish_at)) })
    }

    /// Deletes keys, private part included, that are no longer published.
    pub async fn prune_signing_keys(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM signing_keys WHERE unpublish_at IS NOT NULL AND unpublish_at <= ?")
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }
}
