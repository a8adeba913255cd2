//! Failed credential checks per account, kept so that the throttle's delays
//! and locks survive a restart (docs/security.md, R-01). The throttle keeps
//! its working counts in memory (and in Redis when shared); this table is
//! what it writes through to, and reads when memory has no count.

use super::{Store, StoreError};

/// One account's failures inside the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    pub failures: u32,
    /// Milliseconds since the Unix epoch.
    pub last_failed_ms: u64,
}

fn to_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

impl Store {
    /// Counts a failure for `account` at `now_ms` and returns its failures
    /// in a row: 1 when the last one is older than `window_start_ms`.
    pub async fn record_login_failure(
        &self,
        account: &str,
        now_ms: u64,
        window_start_ms: u64,
    ) -> Result<u32, StoreError> {
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO login_failures (account, failures, last_failed_ms) VALUES ($1, 1, $2) \
             ON CONFLICT (account) DO UPDATE SET \
             failures = CASE WHEN login_failures.last_failed_ms < $3 THEN 1 ELSE login_failures.failures + 1 END, \
             last_failed_ms = excluded.last_failed_ms \
             RETURNING failures",
        )
        .bind(account)
        .bind(to_i64(now_ms))
        .bind(to_i64(window_start_ms))
        .fetch_one(self.db.writer())
        .await?;
        Ok(u32::try_from(failures).unwrap_or(u32::MAX))
    }

    /// After a success: `account` starts again from no failures.
    pub async fn clear_login_failures(&self, account: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE account = $1").bind(account).execute(self.db.writer()).await?;
        Ok(())
    }

    /// `account`'s failures since `window_start_ms`, if any.
    pub async fn login_failures(
        &self,
        account: &str,
        window_start_ms: u64,
    ) -> Result<Option<LoginFailures>, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT failures, last_failed_ms FROM login_failures WHERE account = $1 AND last_failed_ms >= $2",
        )
        .bind(account)
        .bind(to_i64(window_start_ms))
        .fetch_optional(self.db.reader())
        .await?;
        Ok(row.map(|(failures, last)| LoginFailures {
            failures: u32::try_from(failures).unwrap_or(u32::MAX),
            last_failed_ms: u64::try_from(last).unwrap_or(0),
        }))
    }

    /// Deletes failures older than the window; returns how many.
    pub async fn prune_login_failures(&self, window_start_ms: u64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM login_failures WHERE last_failed_ms < $1")
            .bind(to_i64(window_start_ms))
            .execute(self.db.writer())
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> anyhow::Result<(Store, tempfile::TempDir)> {
        let dir = tempfile::tempdir()?;
        Ok((Store::open(dir.path(), None).await?, dir))
    }

    #[tokio::test]
    async fn failures_count_up_inside_the_window_and_start_again_after_it() -> anyhow::Result<()> {
        let (store, _dir) = store().await?;
        assert_eq!(store.record_login_failure("user:ann", 1_000, 0).await?, 1);
        assert_eq!(store.record_login_failure("user:ann", 2_000, 0).await?, 2);
        assert_eq!(store.record_login_failure("user:bob", 2_500, 0).await?, 1, "accounts are separate");
        // The last failure (2,000) is before the window's start: a new run.
        assert_eq!(store.record_login_failure("user:ann", 9_000, 5_000).await?, 1);
        assert_eq!(store.record_login_failure("user:ann", 9_500, 5_000).await?, 2);
        let ann = LoginFailures { failures: 2, last_failed_ms: 9_500 };
        assert_eq!(store.login_failures("user:ann", 0).await?, Some(ann));
        assert_eq!(store.login_failures("user:bob", 3_000).await?, None, "bob's is outside the window");
        assert_eq!(store.login_failures("user:cy", 0).await?, None);
        store.clear_login_failures("user:ann").await?;
        assert_eq!(store.login_failures("user:ann", 0).await?, None, "a success clears");
        assert_eq!(store.prune_login_failures(3_000).await?, 1, "bob's is outside the window");
        assert_eq!(store.login_failures("user:bob", 0).await?, None);
        Ok(())
    }
}
