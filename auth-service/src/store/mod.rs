//! Persistence for the auth service, through sqlx with embedded migrations.
//!
//! Callers see only [`Store`] and plain row types; SQL and the driver stay in
//! this module, so another backend can be added behind the same methods.
//!
//! - `users`: users, their roles and plan.
//! - `refresh`: refresh-token families and single-use rotation.
//! - `revocations`: the revocation log and the writes that revoke.
//! - `keys`: signing keys and their publish/sign schedule.
//! - `service_accounts`: OAuth client-credentials accounts.

mod keys;
mod refresh;
mod revocations;
mod service_accounts;
mod users;

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub use keys::{KeyRow, Rotation};
pub use refresh::{RefreshOutcome, RefreshRecord, Rotate};
pub use revocations::{RevokeUser, UserRevoked};
pub use service_accounts::ServiceAccountRow;
pub use users::{NewUser, UserRow};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    Conflict,
    #[error("not found")]
    NotFound,
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => StoreError::Unavailable(err),
            _ => StoreError::Other(err),
        }
    }
}

/// The database holds the private signing keys: create it owner-only
/// (SQLite gives its -wal and -shm files the same mode).
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The auth service's database.
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads.
    pool: SqlitePool,
    /// Every write, one at a time.
    writer: SqlitePool,
}

impl Store {
    /// Opens `database_url`, or `auth.db` in `data_dir`, and migrates it.
    pub async fn open(data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<Self> {
        let options = match database_url {
            Some(url) => SqliteConnectOptions::from_str(url)?,
            None => {
                let file = data_dir.join("auth.db");
                create_private_file(&file)?;
                SqliteConnectOptions::new().filename(file)
            }
        };
        // WAL lets readers run beside the single writer; NORMAL sync is
        // durable across process crashes in WAL mode. A busy writer is
        // waited for rather than failing the call.
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await?;
        // SQLite has one writer at a time. Writes go through this one
        // connection, so they queue in the pool (woken at once) instead of
        // colliding in SQLite and sleeping in its busy handler.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&writer).await?;
        Ok(Self { pool, writer })
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}
