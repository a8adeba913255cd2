//! authpair's resource service: serves data and decides what a proven caller
//! may do. It holds no secret; it verifies tokens with the auth service's
//! public keys.
//!
//! - [`serve`] (in `server`): the gRPC server; `main.rs` only parses [`Config`].
//! - `config`: flags with environment fallbacks.
//! - `keys`: reads the public keys with GetJwks: at start and, rate-limited,
//!   on unknown kids.
//! - `feed`: follows the auth service's revocation feed (revocations and key
//!   changes) and reports health from its freshness.
//! - `api`: the `ResourceService` handlers; `documents`: their rules (input
//!   limits, ownership, the existence rule, pagination).
//! - `store`: documents via sqlx, in SQLite (default) or PostgreSQL.
//! - `quota`: per-plan quotas in this process (governor's GCRA);
//!   `redis_quota`: the same, shared by all instances through Redis.

mod api;
pub mod config;
mod documents;
mod feed;
mod keys;
mod quota;
mod redis_quota;
mod server;
mod store;

pub use config::Config;
pub use server::{MAX_MESSAGE_BYTES, serve};
