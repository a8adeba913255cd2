//! Service accounts: create, look up, list, delete.

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountRow {
    pub name: String,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub plan: String,
    pub created_at: i64,
    /// The audiences its tokens may be for; empty: the deployment's default
    /// audience alone.
    pub audiences: Vec<String>,
    pub certificate_binding: CertificateBinding,
}

/// Whether an account's tokens are bound to the client certificate they are
/// asked for with (RFC 8705); stored by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertificateBinding {
    /// Bound when asked for over mTLS, a bearer token otherwise.
    #[default]
    Optional,
    /// Issued only over mTLS, always bound.
    Required,
    /// Never bound.
    Off,
}

impl CertificateBinding {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateBinding::Optional => "optional",
            CertificateBinding::Required => "required",
            CertificateBinding::Off => "off",
        }
    }

    fn parse(name: &str) -> Result<Self, StoreError> {
        match name {
            "optional" => Ok(CertificateBinding::Optional),
            "required" => Ok(CertificateBinding::Required),
            "off" => Ok(CertificateBinding::Off),
            other => Err(StoreError::Corrupt(format!("certificate binding {other:?}"))),
        }
    }
}

type Row = (String, String, String, String, i64, String, String);
const COLUMNS: &str = "name, secret_hash, scopes, plan, created_at, audiences, certificate_binding";

fn words(text: &str) -> Vec<String> {
    text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn decode(
    (name, secret_hash, scopes, plan, created_at, audiences, binding): Row,
) -> Result<ServiceAccountRow, StoreError> {
    Ok(ServiceAccountRow {
        name,
        secret_hash,
        scopes: words(&scopes),
        plan,
        created_at,
        audiences: words(&audiences),
        certificate_binding: CertificateBinding::parse(&binding)?,
    })
}

/// `NotFound` unless service account `name` exists, read in `tx` (which
/// then writes something of the account's).
pub(super) async fn require_account(tx: &mut sqlx::AnyConnection, name: &str) -> Result<(), StoreError> {
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT name FROM service_accounts WHERE name = $1").bind(name).fetch_optional(tx).await?;
    exists.map(|_| ()).ok_or(StoreError::NotFound)
}

impl Store {
    /// Inserts `account`; `Conflict` if the name is taken. With `replace`,
    /// an existing account gets the new secret, scopes, plan, audiences and
    /// certificate binding instead.
    pub async fn put_service_account(&self, account: &ServiceAccountRow, replace: bool) -> Result<(), StoreError> {
        let sql = if replace {
            "INSERT INTO service_accounts (name, secret_hash, scopes, plan, created_at, audiences, certificate_binding) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO UPDATE SET secret_hash = excluded.secret_hash, \
             scopes = excluded.scopes, plan = excluded.plan, audiences = excluded.audiences, \
             certificate_binding = excluded.certificate_binding"
        } else {
            "INSERT INTO service_accounts (name, secret_hash, scopes, plan, created_at, audiences, certificate_binding) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        };
        sqlx::query(sql)
            .bind(&account.name)
            .bind(&account.secret_hash)
            .bind(account.scopes.join(" "))
            .bind(account.plan.as_str())
            .bind(account.created_at)
            .bind(account.audiences.join(" "))
            .bind(account.certificate_binding.as_str())
            .execute(self.db.writer())
            .await?;
        Ok(())
    }

    pub async fn service_account(&self, name: &str) -> Result<Option<ServiceAccountRow>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM service_accounts WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.db.reader())
            .await?;
        row.map(decode).transpose()
    }

    pub async fn service_accounts(&self) -> Result<Vec<ServiceAccountRow>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM service_accounts ORDER BY name"))
            .fetch_all(self.db.reader())
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
        let mut tx = self.db.begin_serialized().await?;
        let deleted = sqlx::query("DELETE FROM service_accounts WHERE name = $1").bind(name).execute(&mut *tx).await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let entry = super::revocations::Entry {
            kind: "subject",
            subject,
            token_id: None,
            expires_at,
            reason: "service account deleted",
            now,
        };
        let seq = super::revocations::append(&mut tx, self.backend(), entry).await?;
        tx.commit().await?;
        Ok(seq)
    }
}
