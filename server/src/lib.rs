//! What authpair's servers share to *run*, apart from the token core
//! (`authpair-claims`), which a protected service uses alone.
//!
//! - [`startup`]: the one startup skeleton: a server describes itself
//!   ([`startup::Service`]) and `run` serves, drains and stops it.
//! - [`serving`]: the hardened gRPC server (HTTP/2 limits, the auth layer),
//!   connection lifetimes and the shutdown drain, reflection, signal
//!   handling and logging.
//! - [`listen`]: every listener's one accept loop (admission, socket
//!   options, accept errors), connections that end at a deadline, and the
//!   HTTP/1.1 listener with its limits.
//! - [`tls`]: rustls settings from PEM files, read once for every listener
//!   (optional mTLS on the gRPC port), and for calls to the auth service.
//! - [`data_dir`]: one running instance per data dir, by a file lock.
//! - [`db`] (feature `db`): one database handle over SQLite or PostgreSQL,
//!   and `db::StoreError`.
//! - [`redis_gcra`] (feature `redis`): GCRA in Redis, shared by all
//!   instances (quotas, login sources).
//! - [`quota`]: per-plan quotas (flags, local counts, Redis when shared).
//! - [`exporter`]: the Prometheus exporter on its own port.
//! - [`health_check`]: `--health-check`, a running server's health as an
//!   exit status.
//! - [`config`]: the flags every server takes, defined once, and their
//!   value parsers.

pub mod config;
pub mod data_dir;
#[cfg(feature = "db")]
pub mod db;
pub mod exporter;
pub mod health_check;
pub mod listen;
pub mod quota;
#[cfg(feature = "redis")]
pub mod redis_gcra;
pub mod serving;
pub mod startup;
pub mod tls;
