//! What authpair's auth and resource services share to *run*, apart from the
//! token core (`authpair-claims`), which a protected service uses alone.
//!
//! - [`serving`]: the hardened server builder (HTTP/2 limits, the auth
//!   layer), connection lifetimes, the connection cap and the shutdown
//!   drain, reflection, signal handling and logging.
//! - [`bounded_io`]: a connection that ends at a deadline, whatever its peer does.
//! - [`tls`]: rustls server and client settings from PEM files (optional mTLS).
//! - [`data_dir`]: one running instance per data dir, by a file lock.
//! - [`db`]: one database handle over SQLite or PostgreSQL, and [`db::StoreError`].
//! - [`redis_gcra`]: GCRA in Redis, shared by all instances (quotas, login sources).
//! - [`exporter`]: the Prometheus exporter on its own port.
//! - [`config`]: the flags both services take, defined once, and their value parsers.

pub mod bounded_io;
pub mod config;
pub mod data_dir;
pub mod db;
pub mod exporter;
pub mod redis_gcra;
pub mod serving;
pub mod tls;
