//! authpair's auth service: proves who a caller is and issues tokens.
//!
//! - [`serve`] (in `server`): startup order and the gRPC server; `main.rs` only
//!   parses [`Config`] and calls it.
//! - `config`: flags with environment fallbacks.
//! - `api`: the handlers of `AuthService` (login, refresh, JWKS) and
//!   `AdminService` (users and roles), plus the audit-event macro.
//! - `state`: what handlers share; issues token pairs.
//! - `store`: users and refresh-token families in SQLite via sqlx.
//! - `password`: argon2id off the async threads, behind a semaphore.
//! - `keyfile`: the Ed25519 signing key in the data dir (mode 0600).
//! - `secret`: opaque refresh tokens and their stored hashes.
//! - `grants`: which scopes roles grant.
//! - `bootstrap`: the first admin.
//! - `input`: checks on client input; `error`: non-auth handler errors.

mod api;
mod bootstrap;
pub mod config;
mod error;
mod grants;
pub mod input;
pub mod keyfile;
mod password;
mod secret;
mod server;
mod state;
mod store;

pub use config::{BootstrapAdmin, Config};
pub use server::{MAX_MESSAGE_BYTES, serve};
