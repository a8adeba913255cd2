//! Identities from trusted external issuers, each mapped to the service
//! account its tokens log in as.

use super::{Store, StoreError, service_accounts::require_account};

/// An external issuer's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentity {
    pub issuer: String,
    pub subject: String,
}

impl Store {
    /// The account `issuer`'s `subject` logs in as, if mapped.
    pub async fn federated_account(&self, issuer: &str, subject: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT account FROM federated_identities WHERE issuer = $1 AND subject = $2")
                .bind(issuer)
                .bind(subject)
                .fetch_optional(self.db.reader())
                .await?;
        Ok(row.map(|(account,)| account))
    }

    /// `account`'s identities, by issuer and subject.
    pub async fn federated_identities(&self, account: &str) -> Result<Vec<FederatedIdentity>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT issuer, subject FROM federated_identities WHERE account = $1 ORDER BY issuer, subject",
        )
        .bind(account)
        .fetch_all(self.db.reader())
        .await?;
        Ok(rows.into_iter().map(|(issuer, subject)| FederatedIdentity { issuer, subject }).collect())
    }

    /// Maps `identity` to `account`: `NotFound` without such an account,
    /// `Conflict` if the identity is mapped already (to it or another).
    pub async fn add_federated_identity(
        &self,
        account: &str,
        identity: &FederatedIdentity,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        require_account(&mut tx, account).await?;
        sqlx::query("INSERT INTO federated_identities (issuer, subject, account, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&identity.issuer)
            .bind(&identity.subject)
            .bind(account)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes `identity`'s mapping; `NotFound` if there is none.
    pub async fn remove_federated_identity(&self, identity: &FederatedIdentity) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM federated_identities WHERE issuer = $1 AND subject = $2")
            .bind(&identity.issuer)
            .bind(&identity.subject)
            .execute(self.db.writer())
            .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }
}
