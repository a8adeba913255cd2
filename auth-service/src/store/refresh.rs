//! Refresh-token families and single-use rotation (RFC 9700 §4.14.2).
//!
//! The consume-and-issue step is one transaction whose first statement is a
//! conditional write (`... WHERE consumed_at IS NULL`), so two concurrent
//! refreshes of the same token, on one instance or several, serialize on
//! the row (SQLite: the database write lock) and exactly one finds it
//! unconsumed.
//!
//! Each access token a family issues is recorded in the same transaction
//! ([`super::session_tokens`]), and reuse revokes those still live along
//! with the family: the thief may hold one.

use super::{
    Store, StoreError,
    session_tokens::{self, RevokedToken, SessionToken},
    users::UserRow,
};

/// A refresh token to store: only its hash, never the token.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub token_hash: String,
    pub idle_expires_at: i64,
}

/// A rotation to attempt.
#[derive(Debug, Clone)]
pub struct Rotate<'a> {
    pub presented_hash: &'a str,
    pub next: &'a RefreshRecord,
    /// The access token to issue with the successor.
    pub access: &'a SessionToken,
    /// The successor sealed to the presented token, kept for the grace window.
    pub sealed_next: Option<String>,
    pub now: i64,
    /// Seconds after its rotation during which a retry of the same token gets
    /// the same successor back. 0 disables the window.
    pub grace_secs: i64,
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// The token was live: it is now consumed and its successor stored.
    /// `audience` is the session's, as asked at Login ('' for the default).
    Rotated { user: UserRow, family_id: String, audience: String },
    /// A retry inside the grace window: the successor already issued is
    /// handed back (sealed); nothing new is stored, so the family never forks.
    Replayed { user: UserRow, family_id: String, audience: String, sealed_successor: String },
    /// The token had already been rotated: theft is assumed and the whole
    /// family is now revoked, with the access tokens it issued that were
    /// still live, each logged (`revoked`).
    Reused { user_id: String, family_id: String, revoked: Vec<RevokedToken> },
    /// Unknown, expired, revoked, or the user is disabled.
    Invalid,
}

type FamilyRow = (String, i64, Option<i64>, String);
type SpentRow = (String, String, Option<i64>, Option<String>, Option<String>, Option<i64>, i64, String);

impl Store {
    /// Starts a login session with its first refresh token and access
    /// token; returns the family id. `audience` is what Login asked for (''
    /// for the default).
    pub async fn start_refresh_family(
        &self,
        user_id: &str,
        audience: &str,
        first: (&RefreshRecord, &SessionToken),
        now: i64,
        expires_at: i64,
    ) -> Result<String, StoreError> {
        let family_id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO refresh_families (id, user_id, created_at, expires_at, audience) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&family_id)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .bind(audience)
        .execute(&mut *tx)
        .await?;
        insert_token(&mut tx, &family_id, first.0, now).await?;
        session_tokens::record(&mut tx, &family_id, first.1).await?;
        tx.commit().await?;
        Ok(family_id)
    }

    /// Consumes the presented token and, if it was live, stores its successor
    /// in the same family. `next.idle_expires_at` is capped at the family's
    /// absolute expiry.
    pub async fn rotate_refresh(&self, r: Rotate<'_>) -> Result<RefreshOutcome, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let consumed: Option<(String, i64)> = sqlx::query_as(
            "UPDATE refresh_tokens SET consumed_at = $1, successor_hash = $2, successor_sealed = $3 \
             WHERE token_hash = $4 AND consumed_at IS NULL RETURNING family_id, idle_expires_at",
        )
        .bind(r.now)
        .bind(&r.next.token_hash)
        .bind(&r.sealed_next)
        .bind(r.presented_hash)
        .fetch_optional(&mut *tx)
        .await?;

        let Some((family_id, idle_expires_at)) = consumed else {
            return self.spent_token(tx, &r).await;
        };
        let (user_id, expires_at, revoked_at, audience) = lock_family(&mut tx, &family_id).await?;
        let user = match self.user_by_id_in(&mut tx, &user_id).await? {
            Some(user) if !user.disabled => user,
            _ => {
                revoke_family(&mut tx, &family_id, r.now, "user disabled").await?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Invalid);
            }
        };
        if revoked_at.is_some() || expires_at <= r.now || idle_expires_at <= r.now {
            // Keep the consumption: an expired token stays dead.
            tx.commit().await?;
            return Ok(RefreshOutcome::Invalid);
        }
        let next = RefreshRecord {
            token_hash: r.next.token_hash.clone(),
            idle_expires_at: r.next.idle_expires_at.min(expires_at),
        };
        insert_token(&mut tx, &family_id, &next, r.now).await?;
        session_tokens::record(&mut tx, &family_id, r.access).await?;
        tx.commit().await?;
        Ok(RefreshOutcome::Rotated { user, family_id, audience })
    }

    /// The presented token was not live: unknown, a retry inside the grace
    /// window, or reuse of a rotated token.
    async fn spent_token(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        r: &Rotate<'_>,
    ) -> Result<RefreshOutcome, StoreError> {
        let spent: Option<SpentRow> = sqlx::query_as(
            "SELECT t.family_id, f.user_id, t.consumed_at, t.successor_hash, t.successor_sealed, f.revoked_at, \
             f.expires_at, f.audience FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.token_hash = $1",
        )
        .bind(r.presented_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((family_id, user_id, consumed_at, successor_hash, sealed, revoked_at, expires_at, audience)) = spent
        else {
            return Ok(RefreshOutcome::Invalid);
        };
        let in_grace = r.grace_secs > 0
            && revoked_at.is_none()
            && expires_at > r.now
            && consumed_at.is_some_and(|at| at >= r.now - r.grace_secs);
        if let (true, Some(successor_hash), Some(sealed)) = (in_grace, successor_hash, sealed) {
            let successor: Option<(Option<i64>,)> =
                sqlx::query_as("SELECT consumed_at FROM refresh_tokens WHERE token_hash = $1")
                    .bind(&successor_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
            let user = self.user_by_id_in(&mut tx, &user_id).await?;
            if let (Some((None,)), Some(user)) = (successor, user)
                && !user.disabled
            {
                // Under the family's lock: a reuse revoking it now either
                // sees this token or makes the replay fail. Serialized
                // first, as the reuse below needs, since it may follow
                // holding that lock.
                self.db.serialize(&mut tx).await?;
                let (_, _, revoked_at, _) = lock_family(&mut tx, &family_id).await?;
                if revoked_at.is_none() {
                    session_tokens::record(&mut tx, &family_id, r.access).await?;
                    tx.commit().await?;
                    return Ok(RefreshOutcome::Replayed { user, family_id, audience, sealed_successor: sealed });
                }
            }
        }
        // The log is appended to in sequence order: serialized before the
        // family's row is locked (`Db::serialize`; taking it twice is a no-op).
        self.db.serialize(&mut tx).await?;
        revoke_family(&mut tx, &family_id, r.now, "reuse").await?;
        let revoked =
            session_tokens::revoke_all(&mut tx, self.backend(), &family_id, &user_id, r.now, "refresh token reused")
                .await?;
        tx.commit().await?;
        Ok(RefreshOutcome::Reused { user_id, family_id, revoked })
    }
}

impl Store {
    /// Records `token`, about to be issued by token exchange from the
    /// session access token `subject_token_id` (itself recorded, an
    /// exchanged one included), as one more access token of that session,
    /// so the session's end revokes it too. `false`, recording nothing, if
    /// the subject token belongs to no live session: its session ended
    /// (logged out, revoked, expired), or it is no session's token.
    pub async fn record_exchanged(
        &self,
        subject_token_id: &str,
        token: &SessionToken,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let family: Option<(String,)> =
            sqlx::query_as("SELECT family_id FROM session_access_tokens WHERE token_id = $1 AND expires_at >= $2")
                .bind(subject_token_id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((family_id,)) = family else { return Ok(false) };
        let (_, expires_at, revoked_at, _) = lock_family(&mut tx, &family_id).await?;
        if revoked_at.is_some() || expires_at <= now {
            return Ok(false);
        }
        session_tokens::record(&mut tx, &family_id, token).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// The family's row, locked until the transaction ends: a write that
/// records an access token for the family and one that revokes it take
/// turns (a no-op UPDATE: SQLite has no `SELECT ... FOR UPDATE`, and there
/// the write lock orders them anyway).
async fn lock_family(tx: &mut sqlx::AnyConnection, family_id: &str) -> Result<FamilyRow, StoreError> {
    let row = sqlx::query_as(
        "UPDATE refresh_families SET expires_at = expires_at WHERE id = $1 \
         RETURNING user_id, expires_at, revoked_at, audience",
    )
    .bind(family_id)
    .fetch_one(tx)
    .await?;
    Ok(row)
}

async fn insert_token(
    tx: &mut sqlx::AnyConnection,
    family_id: &str,
    record: &RefreshRecord,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, idle_expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&record.token_hash)
    .bind(family_id)
    .bind(now)
    .bind(record.idle_expires_at)
    .execute(tx)
    .await?;
    Ok(())
}

pub(super) async fn revoke_family(
    tx: &mut sqlx::AnyConnection,
    family_id: &str,
    now: i64,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_families SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL")
        .bind(now)
        .bind(reason)
        .bind(family_id)
        .execute(tx)
        .await?;
    Ok(())
}
