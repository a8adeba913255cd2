//! The revocation log, and the writes that revoke: a user's sessions and
//! token line, a refresh family, a single access token.

use authpair_claims::Revocation;

use super::{Store, StoreError};

/// A revocation of every session and token of a user issued so far.
#[derive(Debug, Clone, Copy)]
pub struct RevokeUser {
    pub now: i64,
    /// When every token issued before now has expired: the entry is kept
    /// until then.
    pub expires_at: i64,
    /// `Some(true)` also disables the user, `Some(false)` enables them.
    pub set_disabled: Option<bool>,
}

/// What revoking a user did.
#[derive(Debug, Clone, Copy)]
pub struct UserRevoked {
    pub sessions_revoked: u64,
    pub sequence: u64,
}

type EntryRow = (i64, String, String, Option<String>, i64);
const PAGE: i64 = 1000;

impl Store {
    /// Logs the revocation of one access token; returns its sequence.
    pub async fn revoke_access_token(
        &self,
        subject: &str,
        token_id: &str,
        expires_at: i64,
        now: i64,
        reason: &str,
    ) -> Result<u64, StoreError> {
        let (seq,): (i64,) = sqlx::query_as(
            "INSERT INTO revocations (kind, subject, token_id, expires_at, reason, created_at) \
             VALUES ('token', ?, ?, ?, ?, ?) RETURNING seq",
        )
        .bind(subject)
        .bind(token_id)
        .bind(expires_at)
        .bind(reason)
        .bind(now)
        .fetch_one(&self.writer)
        .await?;
        Ok(seq as u64)
    }

    /// Revokes the family of the refresh token with this hash, consumed or
    /// not; returns the family's user, or None for an unknown token.
    pub async fn revoke_family_of(
        &self,
        token_hash: &str,
        now: i64,
        reason: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let family: Option<(String, String)> = sqlx::query_as(
            "SELECT f.id, f.user_id FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
             WHERE t.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((family_id, user_id)) = family else {
            return Ok(None);
        };
        super::refresh::revoke_family(&mut tx, &family_id, now, reason).await?;
        tx.commit().await?;
        Ok(Some(user_id))
    }

    /// Live log entries after `after`, in sequence order, a page at a time.
    pub async fn revocations_after(
        &self,
        issuer: &str,
        after: u64,
        now: i64,
    ) -> Result<Vec<(u64, Revocation)>, StoreError> {
        let rows: Vec<EntryRow> = sqlx::query_as(
            "SELECT seq, kind, subject, token_id, expires_at FROM revocations \
             WHERE seq > ? AND expires_at >= ? ORDER BY seq LIMIT ?",
        )
        .bind(after as i64)
        .bind(now)
        .bind(PAGE)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|row| decode(issuer, row)).collect()
    }

    /// The highest sequence ever written (the newest entry is never pruned).
    pub async fn revocation_head(&self) -> Result<u64, StoreError> {
        let (head,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM revocations").fetch_one(&self.pool).await?;
        Ok(head as u64)
    }

    /// Deletes entries no live token can match, keeping the newest so the
    /// head never moves backwards.
    pub async fn prune_revocations(&self, now: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM revocations WHERE expires_at < ? AND seq < (SELECT MAX(seq) FROM revocations)")
                .bind(now)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected())
    }
}

/// The issuer is not stored: one auth database serves one issuer.
fn decode(issuer: &str, (seq, kind, subject, token_id, expires_at): EntryRow) -> Result<(u64, Revocation), StoreError> {
    let issuer = issuer.to_owned();
    let revocation = match (kind.as_str(), token_id) {
        ("token", Some(token_id)) => Revocation::Token { issuer, token_id, expires_at },
        // A subject entry revokes the tokens issued before it was logged.
        ("subject", _) => Revocation::Subject { issuer, subject, min_generation: seq as u64, expires_at },
        _ => return Err(StoreError::Corrupt(format!("revocation {seq} is incomplete"))),
    };
    Ok((seq as u64, revocation))
}

pub(super) async fn revoke_user_in(
    tx: &mut sqlx::SqliteConnection,
    user_id: &str,
    rev: RevokeUser,
    reason: &str,
) -> Result<UserRevoked, StoreError> {
    let updated = sqlx::query("UPDATE users SET disabled = COALESCE(?, disabled), updated_at = ? WHERE id = ?")
        .bind(rev.set_disabled)
        .bind(rev.now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    let sessions = sqlx::query(
        "UPDATE refresh_families SET revoked_at = ?, revoke_reason = ? WHERE user_id = ? AND revoked_at IS NULL",
    )
    .bind(rev.now)
    .bind(reason)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    let (seq,): (i64,) = sqlx::query_as(
        "INSERT INTO revocations (kind, subject, expires_at, reason, created_at) \
         VALUES ('subject', ?, ?, ?, ?) RETURNING seq",
    )
    .bind(user_id)
    .bind(rev.expires_at)
    .bind(reason)
    .bind(rev.now)
    .fetch_one(&mut *tx)
    .await?;
    Ok(UserRevoked { sessions_revoked: sessions.rows_affected(), sequence: seq as u64 })
}
