//! The revocation log, and the writes that revoke a user's sessions and
//! token line. A logout, which ends a refresh family and logs its access
//! token, is `logout`'s.

use authpair_claims::Revocation;
use authpair_server::db::Backend;

use super::{Store, StoreError};

/// A revocation of every token of a user issued so far and, with
/// `end_sessions`, of every session.
#[derive(Debug, Clone, Copy)]
pub struct RevokeUser {
    pub now: i64,
    /// When every token issued before now has expired: the entry is kept
    /// until then.
    pub expires_at: i64,
    /// `Some(true)` also disables the user, `Some(false)` enables them.
    pub set_disabled: Option<bool>,
    /// Whether the user's sessions (refresh-token families) end too. If
    /// not, they refresh to tokens issued after the revocation.
    pub end_sessions: bool,
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
    /// Live log entries after `after`, in sequence order, a page at a time.
    pub async fn revocations_after(
        &self,
        issuer: &str,
        after: u64,
        now: i64,
    ) -> Result<Vec<(u64, Revocation)>, StoreError> {
        let rows: Vec<EntryRow> = sqlx::query_as(
            "SELECT seq, kind, subject, token_id, expires_at FROM revocations \
             WHERE seq > $1 AND expires_at >= $2 ORDER BY seq LIMIT $3",
        )
        .bind(after as i64)
        .bind(now)
        .bind(PAGE)
        .fetch_all(self.db.reader())
        .await?;
        rows.into_iter().map(|row| decode(issuer, row)).collect()
    }

    /// The highest sequence ever written (the newest entry is never pruned).
    pub async fn revocation_head(&self) -> Result<u64, StoreError> {
        let (head,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM revocations").fetch_one(self.db.reader()).await?;
        Ok(head as u64)
    }

    /// Deletes entries no live token can match, keeping the newest so the
    /// head never moves backwards.
    pub async fn prune_revocations(&self, now: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM revocations WHERE expires_at < $1 AND seq < (SELECT MAX(seq) FROM revocations)")
                .bind(now)
                .execute(self.db.writer())
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
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    user_id: &str,
    rev: RevokeUser,
    reason: &str,
) -> Result<UserRevoked, StoreError> {
    let updated = sqlx::query("UPDATE users SET disabled = COALESCE($1, disabled), updated_at = $2 WHERE id = $3")
        .bind(rev.set_disabled)
        .bind(rev.now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    let sessions_revoked = if rev.end_sessions {
        sqlx::query(
            "UPDATE refresh_families SET revoked_at = $1, revoke_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL",
        )
        .bind(rev.now)
        .bind(reason)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        0
    };
    let entry =
        Entry { kind: "subject", subject: user_id, token_id: None, expires_at: rev.expires_at, reason, now: rev.now };
    let seq = append(&mut *tx, backend, entry).await?;
    Ok(UserRevoked { sessions_revoked, sequence: seq })
}

/// The notification channel of the log. The payload is the schema, so
/// instances of other deployments sharing the database can ignore it.
pub const CHANNEL: &str = "authpair_revocations";

/// One log entry to append.
pub(super) struct Entry<'a> {
    pub kind: &'static str,
    pub subject: &'a str,
    pub token_id: Option<&'a str>,
    pub expires_at: i64,
    pub reason: &'a str,
    pub now: i64,
}

/// Appends to the log inside a serialized transaction
/// ([`authpair_server::db::Db::begin_serialized`]), so entries commit in
/// sequence order. On PostgreSQL it also notifies every instance's
/// listener; the notification is delivered only if the transaction commits.
pub(super) async fn append(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    entry: Entry<'_>,
) -> Result<u64, StoreError> {
    let (seq,): (i64,) = sqlx::query_as(
        "INSERT INTO revocations (kind, subject, token_id, expires_at, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
    )
    .bind(entry.kind)
    .bind(entry.subject)
    .bind(entry.token_id)
    .bind(entry.expires_at)
    .bind(entry.reason)
    .bind(entry.now)
    .fetch_one(&mut *tx)
    .await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, current_schema())").bind(CHANNEL).execute(&mut *tx).await?;
    }
    Ok(seq as u64)
}

impl Store {
    /// The schema this store's tables live in (PostgreSQL), the payload of
    /// its log notifications.
    pub async fn schema(&self) -> Result<String, StoreError> {
        let (schema,): (String,) =
            sqlx::query_as("SELECT CAST(current_schema() AS TEXT)").fetch_one(self.db.reader()).await?;
        Ok(schema)
    }
}
