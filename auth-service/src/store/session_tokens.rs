//! The access tokens each session (refresh-token family) has issued, so the
//! session's end by refresh-token reuse can revoke them through the log.
//!
//! A token is recorded in the transaction that issues it (Login's, a
//! rotation's, a grace replay's), before it is signed, so no token of a
//! family is ever outside this table while the family lives. Revoking takes
//! the family's row lock first ([`super::refresh`]), and so does every
//! transaction that records a token, so a token recorded concurrently is
//! either seen by the revoking transaction or refused for a revoked family.

use authpair_server::db::Backend;

use super::{
    Store, StoreError,
    revocations::{Entry, append},
};

/// An access token about to be issued from a session.
#[derive(Debug, Clone)]
pub struct SessionToken {
    /// The `jti` it will carry.
    pub token_id: String,
    /// When no verifier takes it any more: `exp` plus leeway. Its log
    /// entry, should it be revoked, is kept until then.
    pub expires_at: i64,
}

/// An access token of a family logged as revoked, at `sequence`.
#[derive(Debug, Clone)]
pub struct RevokedToken {
    pub sequence: u64,
    pub token: SessionToken,
}

pub(super) async fn record(
    tx: &mut sqlx::AnyConnection,
    family_id: &str,
    token: &SessionToken,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO session_access_tokens (token_id, family_id, expires_at) VALUES ($1, $2, $3)")
        .bind(&token.token_id)
        .bind(family_id)
        .bind(token.expires_at)
        .execute(tx)
        .await?;
    Ok(())
}

/// Logs every still-live access token of `family_id` as revoked, and
/// forgets them: each is logged once, however often the family is revoked.
/// `tx` must be serialized (the log's order) and hold the family's row lock.
pub(super) async fn revoke_all(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    family_id: &str,
    subject: &str,
    now: i64,
    reason: &str,
) -> Result<Vec<RevokedToken>, StoreError> {
    let live: Vec<(String, i64)> = sqlx::query_as(
        "DELETE FROM session_access_tokens WHERE family_id = $1 AND expires_at >= $2 RETURNING token_id, expires_at",
    )
    .bind(family_id)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut revoked = Vec::with_capacity(live.len());
    for (token_id, expires_at) in live {
        let entry = Entry { kind: "token", subject, token_id: Some(&token_id), expires_at, reason, now };
        let sequence = append(&mut *tx, backend, entry).await?;
        revoked.push(RevokedToken { sequence, token: SessionToken { token_id, expires_at } });
    }
    Ok(revoked)
}

impl Store {
    /// Forgets tokens no verifier takes any more.
    pub async fn prune_session_tokens(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM session_access_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(self.db.writer())
            .await?;
        Ok(done.rows_affected())
    }
}
