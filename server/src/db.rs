//! One database handle for either backend, so each service's storage code is
//! written once: SQLite (the embedded default, a file in the data dir) or
//! PostgreSQL (a `postgres://` URL, shared by several instances).
//!
//! Both go through sqlx's `Any` driver. The SQL is the common subset: `$N`
//! placeholders (sqlx's SQLite driver binds them by number), `RETURNING`,
//! `ON CONFLICT`, integers, text and booleans. Each service keeps one
//! migration directory per backend, with the same tables.
//!
//! Writes that must be totally ordered (the revocation log, admin changes)
//! go through [`Db::begin_serialized`]: on SQLite every write already runs
//! on one connection under `BEGIN IMMEDIATE`; on PostgreSQL the transaction
//! first takes a transaction-scoped advisory lock, so such writes commit in
//! the order their sequence numbers were drawn, on every instance.

use std::{path::Path, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use sqlx::{Any, AnyPool, Transaction, any::AnyPoolOptions, migrate::Migrator};

use authpair_claims::ApiError;

/// How long [`Db::compact_after_rewrite`] waits on PostgreSQL for sessions
/// whose snapshots predate the rewrite (a busy shared server has short
/// transactions; a start is not held up for long by a stuck one).
pub const SNAPSHOT_WAIT: Duration = Duration::from_secs(10);

/// How long a call waits for a connection before it is UNAVAILABLE: long
/// enough to ride out a busy pool, short enough that a client sees an
/// outage as an outage.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a service waits for its database while it starts. The first
/// connection to a new SQLite file creates it and switches it to WAL, which
/// syncs it to disk (more than 3 s on a busy CI host); a file another
/// process holds locked is waited for up to SQLite's busy timeout of 5 s; a
/// PostgreSQL that is starting refuses connections for a while. None of
/// these is an outage to report as one.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The advisory lock key that orders serialized writes on PostgreSQL
/// ("authpair" in ASCII).
const WRITE_LOCK: i64 = 0x6175_7468_7061_6972;

/// Which database is behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The migrations of one service, one directory per backend.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    pub sqlite: &'static Migrator,
    pub postgres: &'static Migrator,
    /// The PostgreSQL schema the service's tables live in when its URL sets
    /// no `search_path` (`authpair_auth`, `authpair_resource`): sqlx keeps
    /// one migration history per schema, so two services migrating one
    /// schema would each find the other's history and refuse to start.
    pub schema: &'static str,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    Conflict,
    #[error("not found")]
    NotFound,
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Text the database cannot hold: PostgreSQL refuses NUL characters
    /// (SQLSTATE 22021) where SQLite stores them. A client's input, so a
    /// client's error.
    #[error("text the database cannot hold")]
    InvalidText,
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
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22021") => StoreError::InvalidText,
            sqlx::Error::Database(db) if db.code().is_some_and(|code| is_outage_code(&code)) => {
                StoreError::Unavailable(err)
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err),
            _ => StoreError::Other(err),
        }
    }
}

/// PostgreSQL SQLSTATEs that mean "the server cannot serve now", not "your
/// statement is wrong": connection exceptions (08), too many connections,
/// shutting down or starting up (57P01-57P03), and SQLite's busy/locked.
fn is_outage_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "53300" | "57P01" | "57P02" | "57P03" | "5" | "6")
}

/// Outages are UNAVAILABLE, text the database cannot hold INVALID_ARGUMENT,
/// everything else INTERNAL; the detail is logged, never sent. Callers map
/// Conflict and NotFound to what they mean first.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            StoreError::InvalidText => ApiError::invalid("text must not contain NUL characters"),
            other => {
                tracing::error!(error = %other, "database error");
                ApiError::Internal
            }
        }
    }
}

/// A service's database: a read pool and a write pool over one backend.
#[derive(Debug, Clone)]
pub struct Db {
    backend: Backend,
    /// Reads (and, on PostgreSQL, writes too).
    reader: AnyPool,
    /// Writes. On SQLite a single connection, so writes queue in the pool
    /// (woken at once) instead of colliding in SQLite's busy handler.
    writer: AnyPool,
    url: SecretString,
}

impl Db {
    /// Opens `url` (`postgres://…` or `sqlite:…`), or the SQLite file
    /// `default_file` when there is none, and runs the backend's migrations.
    pub async fn open(url: Option<&SecretString>, default_file: &Path, migrations: Migrations) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let url = match url {
            Some(url) => url.clone(),
            None => {
                create_private_file(default_file)?;
                SecretString::from(format!("sqlite://{}?mode=rwc", percent_encode_path(default_file)))
            }
        };
        let backend = match url.expose_secret() {
            u if u.starts_with("postgres://") || u.starts_with("postgresql://") => Backend::Postgres,
            u if u.starts_with("sqlite:") => Backend::Sqlite,
            _ => anyhow::bail!("the database URL must start with postgres://, postgresql:// or sqlite:"),
        };
        // The first connection creates the file, switches it to WAL and runs
        // the migrations, all of which may wait on the disk or the server: it
        // gets STARTUP_TIMEOUT, in a pool of its own, closed once the schema is
        // current. The pools' own connections then open a ready database.
        // Several instances may start at once: sqlx's migrator takes a lock
        // on PostgreSQL, and on SQLite the busy timeout waits for the writer.
        // A URL that sets its own search_path keeps it; otherwise every
        // connection works in the service's own schema.
        let schema =
            (backend == Backend::Postgres && !url.expose_secret().contains("search_path")).then_some(migrations.schema);
        let startup =
            pool_options(backend, 1, schema).acquire_timeout(STARTUP_TIMEOUT).connect(url.expose_secret()).await?;
        let migrator = match backend {
            Backend::Sqlite => migrations.sqlite,
            Backend::Postgres => migrations.postgres,
        };
        if let Some(schema) = schema {
            prepare_schema(&startup, schema, migrator).await?;
        }
        migrator.run(&startup).await?;
        startup.close().await;
        let (reader, writer) = match backend {
            Backend::Sqlite => {
                let reader = pool_options(backend, 8, None).connect(url.expose_secret()).await?;
                let writer = pool_options(backend, 1, None).connect(url.expose_secret()).await?;
                (reader, writer)
            }
            Backend::Postgres => {
                let pool = pool_options(backend, 16, schema).connect(url.expose_secret()).await?;
                (pool.clone(), pool)
            }
        };
        Ok(Self { backend, reader, writer, url })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL it was opened with (it may hold a password).
    pub fn url(&self) -> &SecretString {
        &self.url
    }

    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// A write transaction. Row locks order concurrent writers of the same
    /// rows on PostgreSQL; SQLite takes its write lock at once.
    ///
    /// The BEGIN runs in a task of its own, which finishes whether or not its
    /// caller is still there. sqlx 0.8 loses a BEGIN that ran but whose caller
    /// was dropped before taking the result (a request cancelled at its
    /// deadline, a client that hung up): the pooled connection went back
    /// inside a transaction nobody could end, and on SQLite's one writer
    /// every later write failed ("attempted to call begin_with at non-zero
    /// transaction depth") with the write lock held. A transaction nobody
    /// takes from the task is dropped there and rolled back, as any other.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        let (backend, writer) = (self.backend, self.writer.clone());
        let begin = tokio::spawn(async move {
            match backend {
                Backend::Sqlite => writer.begin_with("BEGIN IMMEDIATE").await,
                Backend::Postgres => writer.begin().await,
            }
        });
        // A JoinError: the runtime is shutting down (or the task panicked).
        begin.await.map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?
    }

    /// A write transaction ordered against every other serialized one, on
    /// every instance, until it commits or rolls back.
    pub async fn begin_serialized(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.serialize(&mut tx).await?;
        Ok(tx)
    }

    /// Orders the rest of `tx`, a [`Self::begin_write`] transaction, against
    /// every serialized one, as if it had begun with
    /// [`Self::begin_serialized`]: for a write that learns only on the way
    /// that it must append to an ordered log. Call it before `tx` locks a
    /// row a serialized transaction may wait for, or the two can deadlock.
    pub async fn serialize(&self, tx: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITE_LOCK).execute(tx).await?;
        }
        Ok(())
    }

    /// Leaves no copy of rows of `table` that were just rewritten (secrets
    /// re-encrypted in place) in the database's files: old row versions stay
    /// behind in free space and, on SQLite, in the write-ahead log until a
    /// checkpoint. On SQLite, VACUUM rebuilds the file from the live rows
    /// (every page written anew, freed pages dropped) and a TRUNCATE
    /// checkpoint copies it into `*.db` and empties `*.db-wal`; on
    /// PostgreSQL, VACUUM FULL rewrites `table` into new files and removes
    /// the old ones (PostgreSQL's own WAL segments age out on their own).
    /// VACUUM FULL copies a row version that a transaction older than the
    /// rewrite could still see, so it waits first, for at most
    /// [`SNAPSHOT_WAIT`], until no other session holds a snapshot taken
    /// before the rewrite (as far as `pg_stat_activity` shows this role).
    /// Costs a rewrite of the database (SQLite) or the table: for one-off
    /// rewrites, not for every write.
    pub async fn compact_after_rewrite(&self, table: &str) -> anyhow::Result<()> {
        let mut conn = self.writer.acquire().await?;
        match self.backend {
            Backend::Sqlite => {
                sqlx::query("VACUUM").execute(&mut *conn).await?;
                let (busy, _, _): (i64, i64, i64) =
                    sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut *conn).await?;
                anyhow::ensure!(busy == 0, "the write-ahead log could not be checkpointed: a reader held it");
            }
            Backend::Postgres => {
                // Every transaction id below this one had begun when the
                // rewrite committed (as a 32-bit xid, what backend_xmin is).
                let horizon: String = sqlx::query_scalar(
                    "SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::numeric % 4294967296)::text",
                )
                .fetch_one(&mut *conn)
                .await?;
                let deadline = std::time::Instant::now() + SNAPSHOT_WAIT;
                loop {
                    let older: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM pg_stat_activity WHERE backend_xmin IS NOT NULL \
                         AND pid <> pg_backend_pid() AND age(backend_xmin) > age($1::text::xid)",
                    )
                    .bind(&horizon)
                    .fetch_one(&mut *conn)
                    .await?;
                    if older == 0 {
                        break;
                    }
                    if std::time::Instant::now() >= deadline {
                        tracing::warn!(
                            sessions = older,
                            "sessions older than the rewrite of {table} still run: VACUUM FULL may keep its former \
                             rows until they end and it runs again"
                        );
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                sqlx::query(&format!("VACUUM FULL \"{table}\"")).execute(&mut *conn).await?;
            }
        }
        Ok(())
    }

    /// Whether the database answers a trivial query within `within`.
    pub async fn answers(&self, within: Duration) -> bool {
        let ping = sqlx::query("SELECT 1").execute(&self.reader);
        matches!(tokio::time::timeout(within, ping).await, Ok(Ok(_)))
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Creates `schema` if it is missing, and refuses to start where this
/// service's tables are in `public` instead (where they were before each
/// service had a schema of its own): migrating an empty schema there would
/// start the service on no data.
async fn prepare_schema(pool: &AnyPool, schema: &str, migrator: &Migrator) -> anyhow::Result<()> {
    if let Err(e) = sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).execute(pool).await {
        // Instances starting together race on the catalog; the loser's
        // error only means the schema exists now.
        let raced = matches!(&e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("23505" | "42P06")));
        if !raced {
            return Err(e.into());
        }
    }
    let history: Option<String> =
        sqlx::query_scalar(&format!("SELECT to_regclass('\"{schema}\"._sqlx_migrations')::text"))
            .fetch_one(pool)
            .await?;
    if history.is_some() {
        return Ok(());
    }
    let in_public: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations')::text").fetch_one(pool).await?;
    let Some(first) = migrator.iter().next() else { return Ok(()) };
    if in_public.is_some() {
        let ours: Option<String> =
            sqlx::query_scalar("SELECT description FROM public._sqlx_migrations WHERE version = $1")
                .bind(first.version)
                .fetch_optional(pool)
                .await?;
        if ours.as_deref() == Some(first.description.as_ref()) {
            anyhow::bail!(
                "this service's tables are in the schema \"public\", but it now keeps them in \"{schema}\": \
                 move them there (ALTER TABLE … SET SCHEMA {schema}, the _sqlx_migrations table included), or \
                 keep them where they are by adding ?options=-c%20search_path%3Dpublic to the database URL"
            );
        }
    }
    Ok(())
}

/// A pool's options. On SQLite, the reader has 8 connections and the writer
/// one; on PostgreSQL one pool of 16 does both, each connection in `schema`
/// when one is given.
fn pool_options(backend: Backend, connections: u32, schema: Option<&'static str>) -> AnyPoolOptions {
    let options = AnyPoolOptions::new().max_connections(connections).acquire_timeout(ACQUIRE_TIMEOUT);
    match backend {
        Backend::Postgres => match schema {
            Some(schema) => options.after_connect(move |conn, _| {
                Box::pin(async move {
                    sqlx::query(&format!("SET search_path TO \"{schema}\"")).execute(conn).await.map(drop)
                })
            }),
            None => options,
        },
        Backend::Sqlite => options
            // sqlx pings every connection when it goes back to the pool, and by
            // default again when it comes out. An in-process SQLite connection
            // has no peer to lose while idle, so the second ping only costs a
            // round trip to its worker thread (two context switches) on every
            // query: three per login, whose non-hashing work is all the login
            // throughput target (BENCHMARKS.md) has room for.
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn))),
    }
}

/// WAL lets readers run beside the writer; NORMAL sync is durable across
/// process crashes in WAL mode; a busy writer is waited for, not failed.
async fn sqlite_pragmas(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    for pragma in [
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",
        "PRAGMA busy_timeout = 5000",
    ] {
        sqlx::query(pragma).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The path as a URL path: everything but unreserved bytes and `/` escaped,
/// so a `?`, `#` or `%` in a directory name stays part of the path.
fn percent_encode_path(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.to_string_lossy().bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The SQLite file may hold private keys: create it owner-only (SQLite
/// gives its -wal and -shm files the same mode).
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_url_characters_stay_paths() {
        assert_eq!(percent_encode_path(Path::new("/tmp/a b?c#d%e/auth.db")), "/tmp/a%20b%3Fc%23d%25e/auth.db");
    }

    /// Callers that go away while their write transaction begins (requests
    /// cancelled at their deadline, clients that hung up), at every moment
    /// the scheduling gives, never leave the writer unusable: each later
    /// write still begins, writes and commits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_whose_callers_go_away_as_they_begin_never_leave_the_writer_inside_a_transaction()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let empty = Migrations { sqlite: &Migrator::DEFAULT, postgres: &Migrator::DEFAULT, schema: "authpair_test" };
        let db = Db::open(None, &dir.path().join("t.db"), empty).await?;
        sqlx::query("CREATE TABLE t (n INTEGER)").execute(db.writer()).await?;
        let (mut begun, mut cancelled) = (0, 0);
        for round in 0..2_000_i64 {
            // Given up after 0 to 1,521 turns of this task (more often few),
            // while the connection's worker thread runs the BEGIN beside it.
            let give_up = async {
                for _ in 0..(round % 40).pow(2) {
                    tokio::task::yield_now().await;
                }
            };
            tokio::select! {
                tx = db.begin_write() => { tx?.rollback().await?; begun += 1; }
                () = give_up => cancelled += 1,
            }
            let mut tx = db.begin_write().await.map_err(|e| format!("round {round}: {e}"))?;
            sqlx::query("INSERT INTO t (n) VALUES ($1)").bind(round).execute(&mut *tx).await?;
            tx.commit().await?;
        }
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(db.reader()).await?;
        assert_eq!(rows, 2_000, "every round's write committed");
        assert!(begun > 0 && cancelled > 0, "{begun} begun, {cancelled} given up: the rounds did not cover both");
        Ok(())
    }

    /// The flake of CI's first SQLite open ("pool timed out while waiting
    /// for an open connection"), made repeatable: another connection holds
    /// the new file's write lock for longer than a call's acquire timeout
    /// (and less than SQLite's busy timeout), so switching it to WAL waits.
    #[tokio::test]
    async fn a_database_locked_at_startup_for_longer_than_a_calls_acquire_timeout_is_waited_for_not_failed()
    -> Result<(), Box<dyn std::error::Error>> {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("t.db");
        let url = format!("sqlite://{}?mode=rwc", percent_encode_path(&file));
        let mut holder = sqlx::AnyConnection::connect(&url).await?;
        sqlx::query("CREATE TABLE held (n INTEGER)").execute(&mut holder).await?;
        sqlx::query("BEGIN EXCLUSIVE").execute(&mut holder).await?;
        let held_for = ACQUIRE_TIMEOUT + Duration::from_millis(500);
        let release = tokio::spawn(async move {
            tokio::time::sleep(held_for).await;
            sqlx::query("ROLLBACK").execute(&mut holder).await.map(|_| holder)
        });
        let empty = Migrations { sqlite: &Migrator::DEFAULT, postgres: &Migrator::DEFAULT, schema: "authpair_test" };
        let started = std::time::Instant::now();
        let db = Db::open(None, &file, empty).await.map_err(|e| format!("{e:#}"))?;
        assert!(started.elapsed() >= held_for, "the open did not wait for the lock: {:?}", started.elapsed());
        release.await??.close().await?;
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(db.reader()).await?;
        assert_eq!(journal, "wal");
        sqlx::query("INSERT INTO held (n) VALUES (1)").execute(db.writer()).await?;
        Ok(())
    }

    #[test]
    fn connection_failures_are_outages_and_statement_errors_are_not() {
        assert!(matches!(StoreError::from(sqlx::Error::PoolTimedOut), StoreError::Unavailable(_)));
        assert!(is_outage_code("08006") && is_outage_code("57P01") && !is_outage_code("42P01"));
        assert!(matches!(StoreError::from(sqlx::Error::ColumnNotFound("x".into())), StoreError::Other(_)));
    }
}
