//! Service accounts: create, look up, list, delete.

use authpair_claims::Plan;

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountRow {
    pub name: String,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub plan: Plan,
    pub created_at: i64,
}

type Row = (String, String, String, String, i64);
const COLUMNS: &str = "name, secret_hash, scopes, plan, created_at";

fn decode((name, secret_hash, scopes, plan, created_at): Row) -> Result<ServiceAccountRow, StoreError> {
    let plan = plan.parse().map_err(|e: authpair_claims::claims::UnknownName| StoreError::Corrupt(e.to_string()))?;
    let scopes = scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    Ok(ServiceAccountRow { name, secret_hash, scopes, plan, created_at })
}

impl Store {
    /// Inserts `account`; `Conflict` if the name is taken. With `replace`,
    /// an existing account gets the new secret, scopes and plan instead.
    pub async fn put_service_account(&self, account: &ServiceAccountRow, replace: bool) -> Result<(), StoreError> {
        let sql = if replace {
            "INSERT INTO service_accounts (name, secret_hash, scopes, plan, created_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET secret_hash = excluded.secret_hash, \
             scopes = excluded.scopes, plan = excluded.plan"
        } else {
            "INSERT INTO service_accounts (name, secret_hash, scopes, plan, created_at) \
             VALUES (?, ?, ?, ?, ?)"
        };
        sqlx::query(sql)
            .bind(&account.name)
            .bind(&account.secret_hash)
            .bind(account.scopes.join(" "))
            .bind(account.plan.as_str())
            .bind(account.created_at)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn service_account(&self, name: &str) -> Result<Option<ServiceAccountRow>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM service_accounts WHERE name = ?"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(decode).transpose()
    }

    pub async fn service_accounts(&self) -> Result<Vec<ServiceAccountRow>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM service_accounts ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(decode).collect()
    }

    /// Deletes the account and logs the revocation of every token it holds,
    /// in one transaction; returns the log sequence, or `NotFound`.
    pub async fn delete_service_account(
        &self,
        name: &str,
        subject: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let deleted = sqlx::query("DELETE FROM service_accounts WHERE name = ?").bind(name).execute(&mut *tx).await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let (seq,): (i64,) = sqlx::query_as(
            "INSERT INTO revocations (kind, subject, expires_at, reason, created_at) \
             VALUES ('subject', ?, ?, 'service account deleted', ?) RETURNING seq",
        )
        .bind(subject)
        .bind(expires_at)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(seq as u64)
    }
}
