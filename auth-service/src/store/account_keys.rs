//! Service accounts' registered public keys (RFC 7523 `private_key_jwt`),
//! and the client assertions already used: a `jti` is taken once per
//! client, by a unique row, so a replay fails on every instance that shares
//! the database.

use super::{Store, StoreError, service_accounts::require_account};

/// A public key registered for a service account: its id and the JWK as
/// stored (public members only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKey {
    pub kid: String,
    pub jwk: String,
}

impl Store {
    /// `account`'s keys, oldest first.
    pub async fn account_keys(&self, account: &str) -> Result<Vec<AccountKey>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT kid, jwk FROM service_account_keys WHERE account = $1 ORDER BY created_at, kid")
                .bind(account)
                .fetch_all(self.db.reader())
                .await?;
        Ok(rows.into_iter().map(|(kid, jwk)| AccountKey { kid, jwk }).collect())
    }

    /// Registers `key` for `account` unless it holds `max` keys already:
    /// `NotFound` without such an account, `Conflict` if the kid is taken
    /// or the account is full (the two told apart by `Ok(false)` for full).
    pub async fn add_account_key(
        &self,
        account: &str,
        key: &AccountKey,
        max: usize,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin_write().await?;
        require_account(&mut tx, account).await?;
        let (held,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM service_account_keys WHERE account = $1")
            .bind(account)
            .fetch_one(&mut *tx)
            .await?;
        if usize::try_from(held).unwrap_or(usize::MAX) >= max {
            return Ok(false);
        }
        sqlx::query("INSERT INTO service_account_keys (account, kid, jwk, created_at) VALUES ($1, $2, $3, $4)")
            .bind(account)
            .bind(&key.kid)
            .bind(&key.jwk)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes `account`'s key `kid`; `NotFound` if it has none such.
    pub async fn remove_account_key(&self, account: &str, kid: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM service_account_keys WHERE account = $1 AND kid = $2")
            .bind(account)
            .bind(kid)
            .execute(self.db.writer())
            .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Takes `jti` for `client_id` until `usable_until`: `false` if it was
    /// taken before (a replay), here or on another instance.
    pub async fn use_client_assertion(
        &self,
        client_id: &str,
        jti: &str,
        usable_until: i64,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "INSERT INTO client_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (client_id, jti) DO NOTHING",
        )
        .bind(client_id)
        .bind(jti)
        .bind(usable_until)
        .execute(self.db.writer())
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Forgets assertions that can no longer be presented.
    pub async fn prune_client_assertions(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM client_assertions WHERE expires_at < $1")
            .bind(now)
            .execute(self.db.writer())
            .await?;
        Ok(done.rows_affected())
    }
}
