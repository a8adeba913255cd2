//! Users: create, look up, change roles, list.

use super::{
    Store, StoreError,
    revocations::{RevokeUser, UserRevoked, revoke_user_in},
};

/// Fails with `Conflict` (rolling back) if no enabled admin would remain.
async fn ensure_an_admin_remains(tx: &mut sqlx::AnyConnection) -> Result<(), StoreError> {
    let (admins,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM users WHERE (' ' || roles || ' ') LIKE '% admin %' AND NOT disabled")
            .fetch_one(tx)
            .await?;
    if admins == 0 { Err(StoreError::Conflict) } else { Ok(()) }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub roles: Vec<String>,
    pub plan: String,
    pub disabled: bool,
    pub created_at: i64,
}

/// A user to insert. The password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The name as typed, shown back.
    pub username: String,
    /// Its canonical form ([`authpair_username::canonical`]): unique, and what
    /// lookups by name compare.
    pub canonical: String,
    /// The canonical form's confusable skeleton ([`authpair_username::skeleton`]):
    /// unique, so no account looks like another.
    pub skeleton: String,
    pub password_hash: String,
    pub roles: Vec<String>,
    pub plan: String,
}

type Row = (String, String, String, String, String, i64, i64);
/// `disabled` as 0/1: sqlx's Any driver cannot decode SQLite booleans.
const COLUMNS: &str =
    "id, username, password_hash, roles, plan, CASE WHEN disabled THEN 1 ELSE 0 END AS disabled, created_at";

fn decode((id, username, password_hash, roles, plan, disabled, created_at): Row) -> Result<UserRow, StoreError> {
    // Names as stored: a role the table no longer defines grants nothing,
    // and no policy names it.
    let roles = roles.split(' ').filter(|r| !r.is_empty()).map(str::to_owned).collect();
    Ok(UserRow { id, username, password_hash, roles, plan, disabled: disabled != 0, created_at })
}

pub(super) fn encode_roles(roles: &[String]) -> String {
    roles.join(" ")
}

impl Store {
    pub async fn create_user(&self, user: NewUser, now: i64) -> Result<UserRow, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO users \
             (id, username, username_canonical, username_skeleton, password_hash, roles, plan, disabled, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8, $9)",
        )
        .bind(&id)
        .bind(&user.username)
        .bind(&user.canonical)
        .bind(&user.skeleton)
        .bind(&user.password_hash)
        .bind(encode_roles(&user.roles))
        .bind(&user.plan)
        .bind(now)
        .bind(now)
        .execute(self.db.writer())
        .await?;
        Ok(UserRow {
            id,
            username: user.username,
            password_hash: user.password_hash,
            roles: user.roles,
            plan: user.plan,
            disabled: false,
            created_at: now,
        })
    }

    /// The user whose canonical username is `key` ([`authpair_username::lookup_key`]).
    pub async fn user_by_username(&self, key: &str) -> Result<Option<UserRow>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE username_canonical = $1"))
            .bind(key)
            .fetch_optional(self.db.reader())
            .await?;
        row.map(decode).transpose()
    }

    /// The user whose name's confusable skeleton is `skeleton`.
    pub async fn user_by_skeleton(&self, skeleton: &str) -> Result<Option<UserRow>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE username_skeleton = $1"))
            .bind(skeleton)
            .fetch_optional(self.db.reader())
            .await?;
        row.map(decode).transpose()
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
        let mut conn = self.db.reader().acquire().await?;
        self.user_by_id_in(&mut conn, id).await
    }

    pub(super) async fn user_by_id_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: &str,
    ) -> Result<Option<UserRow>, StoreError> {
        let row: Option<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1")).bind(id).fetch_optional(conn).await?;
        row.map(decode).transpose()
    }

    /// Users holding `role` who are not disabled.
    pub async fn count_with_role(&self, role: &str) -> Result<i64, StoreError> {
        // Roles are space-separated names of letters, digits and `:._-/`
        // (see `authpair_claims::roles`), so padding both sides with spaces
        // makes the LIKE match whole names only.
        let pattern = format!("% {role} %");
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM users WHERE (' ' || roles || ' ') LIKE $1 AND NOT disabled")
                .bind(pattern)
                .fetch_one(self.db.reader())
                .await?;
        Ok(count)
    }

    /// Replaces a user's roles and, in the same transaction, revokes their
    /// tokens issued before (and their sessions if `revoke.end_sessions`):
    /// a token issued with the new roles reads the log head after this
    /// commits, so it is never caught, and one with the old roles read it
    /// before, so it always is. Refuses (with `Conflict`) a change that
    /// would leave no enabled admin.
    pub async fn set_roles(
        &self,
        id: &str,
        roles: &[String],
        revoke: RevokeUser,
    ) -> Result<(UserRow, UserRevoked), StoreError> {
        let mut tx = self.db.begin_serialized().await?;
        let updated = sqlx::query("UPDATE users SET roles = $1, updated_at = $2 WHERE id = $3")
            .bind(encode_roles(roles))
            .bind(revoke.now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        ensure_an_admin_remains(&mut tx).await?;
        let revoked = revoke_user_in(&mut tx, self.backend(), id, revoke, "roles changed").await?;
        let user = self.user_by_id_in(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok((user, revoked))
    }

    /// Revokes a user's sessions and older tokens, disabling them too when
    /// `revoke.set_disabled` says so; refuses (with `Conflict`) to disable
    /// the last enabled admin. Returns the user and what was revoked.
    pub async fn revoke_user_checked(
        &self,
        id: &str,
        revoke: RevokeUser,
        reason: &str,
    ) -> Result<(UserRow, UserRevoked), StoreError> {
        let mut tx = self.db.begin_serialized().await?;
        let revoked = revoke_user_in(&mut tx, self.backend(), id, revoke, reason).await?;
        ensure_an_admin_remains(&mut tx).await?;
        let user = self.user_by_id_in(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok((user, revoked))
    }

    pub async fn enable_user(&self, id: &str, now: i64) -> Result<UserRow, StoreError> {
        let mut tx = self.db.begin_serialized().await?;
        let updated = sqlx::query("UPDATE users SET disabled = FALSE, updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let user = self.user_by_id_in(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(user)
    }

    /// Up to `limit` users with usernames after `after`, in username order.
    pub async fn list_users(&self, after: &str, limit: u32) -> Result<Vec<UserRow>, StoreError> {
        let rows: Vec<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE username > $1 ORDER BY username LIMIT $2"))
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(self.db.reader())
                .await?;
        rows.into_iter().map(decode).collect()
    }
}
