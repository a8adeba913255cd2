//! authpair's resource service: serves data and decides what a proven caller
//! may do. It holds no secret; it verifies tokens with the auth service's
//! public keys.
//!
//! - [`serve`] (in `server`): the gRPC server; `main.rs` only parses [`Config`].
//! - `config`: flags with environment fallbacks.
//! - The auth service's keys and revocation feed are followed by
//!   `authpair_claims::follower`, as any protected service does.
//! - `api`: the `ResourceService` handlers; `documents`: their rules (input
//!   limits, ownership, the existence rule, pagination).
//! - `store`: documents via sqlx, in SQLite (default) or PostgreSQL.
//! - Per-plan quotas (`--plan-quotas`; Redis when shared) are
//!   `authpair_server::quota`; the one quota this service's methods name is
//!   `api::QUOTAS`.

mod api;
pub mod config;
mod documents;
mod server;
mod store;

pub use config::Config;
pub use server::{MAX_MESSAGE_BYTES, serve};
