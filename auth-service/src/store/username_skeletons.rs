//! Fills `users.username_skeleton` where it is NULL: rows stored before the
//! column existed, written since by an older instance on a shared database,
//! or left without one at an earlier start (below). Runs after the
//! canonical forms are filled, from them, before the service serves.
//!
//! Existing names may look alike (`admin` and `admın`, created before
//! skeletons were checked). Accounts are never merged or refused their
//! login for it, and the start goes on: of each group the oldest row (the
//! one that already holds the skeleton, if any) gets it, and each other row
//! stays NULL, named in a warning at every start until an operator renames
//! or removes it. The skeleton is held all the same, so no new name that
//! looks like the group is created. Everything runs in one serialized
//! transaction, so instances starting together fill in turn.

use std::collections::BTreeMap;

use super::Store;
use authpair_username as username;

impl Store {
    pub(super) async fn fill_username_skeletons(&self) -> anyhow::Result<()> {
        let mut tx = self.db.begin_serialized().await?;
        let missing: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT id, username, username_canonical FROM users \
             WHERE username_skeleton IS NULL AND username_canonical IS NOT NULL ORDER BY created_at, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        if missing.is_empty() {
            return Ok(());
        }
        let held: Vec<(String, String)> =
            sqlx::query_as("SELECT username_skeleton, username FROM users WHERE username_skeleton IS NOT NULL")
                .fetch_all(&mut *tx)
                .await?;
        // skeleton → the name holding it
        let mut holders: BTreeMap<String, String> = held.into_iter().collect();
        let (mut filled, mut left) = (0_usize, 0_usize);
        for (id, name, canonical) in missing {
            let skeleton = username::skeleton(&canonical);
            if let Some(holder) = holders.get(&skeleton) {
                tracing::warn!(
                    user = id.as_str(),
                    username = ?name,
                    looks_like = ?holder,
                    "a stored username looks like another (UTS #39 confusables); it keeps working, but rename or \
                     remove one of the two"
                );
                left += 1;
                continue;
            }
            sqlx::query("UPDATE users SET username_skeleton = $1 WHERE id = $2")
                .bind(&skeleton)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            holders.insert(skeleton, name);
            filled += 1;
        }
        tx.commit().await?;
        if filled > 0 {
            tracing::info!(users = filled, "filled the confusable skeleton of stored usernames");
        }
        if left > 0 {
            tracing::warn!(users = left, "stored usernames left without a skeleton: each looks like another account");
        }
        Ok(())
    }
}
