//! Fills `users.username_canonical` where it is NULL: rows stored before the
//! column existed, or written since by an older instance on a shared
//! database. The canonical form needs Unicode tables only Rust has here, so
//! the service computes it when it opens the store, before it serves.
//!
//! Two users whose names have one canonical form (`Admin` and `admin`) are
//! never merged: the fill refuses, naming them, and writes nothing, so an
//! operator decides which to rename. Everything runs in one serialized
//! transaction, so instances starting together on one PostgreSQL database
//! fill in turn, and the later ones find nothing left to do.

use std::collections::BTreeMap;

use super::Store;
use authpair_username as username;

/// (id, username as stored)
type Named = (String, String);

impl Store {
    pub(super) async fn fill_canonical_usernames(&self) -> anyhow::Result<()> {
        let mut tx = self.db.begin_serialized().await?;
        let missing: Vec<Named> =
            sqlx::query_as("SELECT id, username FROM users WHERE username_canonical IS NULL ORDER BY id")
                .fetch_all(&mut *tx)
                .await?;
        if missing.is_empty() {
            return Ok(());
        }
        let filled: Vec<(String, String, String)> =
            sqlx::query_as("SELECT id, username, username_canonical FROM users WHERE username_canonical IS NOT NULL")
                .fetch_all(&mut *tx)
                .await?;
        let mut holders: BTreeMap<String, Vec<Named>> = BTreeMap::new();
        for (id, name, key) in filled {
            holders.entry(key).or_default().push((id, name));
        }
        let mut fills = Vec::with_capacity(missing.len());
        for (id, name) in missing {
            // A name with no canonical form (one no new account could have)
            // is keyed by its exact text, which no canonical form equals, so
            // its account keeps logging in by that exact name.
            let key = username::canonical(&name).unwrap_or_else(|why| {
                tracing::warn!(user = id.as_str(), username = ?name, %why, "a stored username has no canonical form; it is matched exactly");
                name.clone()
            });
            holders.entry(key.clone()).or_default().push((id.clone(), name));
            fills.push((id, key));
        }
        let collisions: Vec<String> = holders
            .iter()
            .filter(|(_, users)| users.len() > 1)
            .map(|(key, users)| {
                let users: Vec<String> = users.iter().map(|(id, name)| format!("{name:?} (id {id})")).collect();
                let all = if users.len() == 2 { "both" } else { "all" };
                format!("{} are {all} {key:?}", users.join(" and "))
            })
            .collect();
        if !collisions.is_empty() {
            anyhow::bail!(
                "existing users have names that are one username once case, width and Unicode normalization are \
                 set aside (RFC 8265): {}. Accounts are never merged: rename or remove all but one user of each \
                 group (UPDATE users SET username = '…' WHERE id = '…'), then start again",
                collisions.join("; ")
            );
        }
        for (id, key) in &fills {
            sqlx::query("UPDATE users SET username_canonical = $1 WHERE id = $2")
                .bind(key)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        tracing::info!(users = fills.len(), "filled the canonical form of stored usernames");
        Ok(())
    }
}
