//! authpair's auth service: proves who a caller is and issues tokens.
//!
//! - [`serve`] (in `server`): the service described for the shared startup
//!   skeleton (`authpair_server::startup`); `main.rs` only parses [`Config`]
//!   and calls it. `bootstrap`: the first admin and the
//!   configured service account, created at start.
//! - [`config`]: flags with environment fallbacks.
//! - `state`: what handlers share; audiences, recording revocations, running
//!   a write to the end.
//! - `api`: the handlers of `AuthService` (login, refresh, JWKS) and
//!   `AdminService` (users and roles), plus the audit-event macro.
//! - `http`: the HTTP/1.1 router (JWK set, discovery, token endpoint,
//!   introspection), served by the shared HTTP listener.
//! - [`identity`]: usernames, passwords (argon2id), the brute-force
//!   throttle, checks on client input.
//! - [`sessions`]: issuing token pairs, opaque refresh tokens and client
//!   secrets, which scopes roles grant, introspection verdicts.
//! - [`keys`]: signing keys in memory and their rotation; the master key and
//!   keys sealed with it at rest.
//! - `revocation`: the WatchRevocations feed, and following other
//!   instances' revocations through the log.
//! - `store`: users, refresh-token families, the revocation log and signing
//!   keys, via sqlx on SQLite (default) or PostgreSQL (several instances).
//! - `error`: the handlers' errors, among them the refusals only this
//!   service makes (credentials, refresh tokens, throttling, load
//!   shedding); `metrics`: the names of the metrics only this service
//!   records.
//!
//! Each room's `mod.rs` maps its files. A module uses only those below it
//! in this order: `server`, `bootstrap`, `http`, `api`, `sessions`, `state`,
//! `revocation`, `keys`, `config`, `identity`, `error`, `store`, `metrics`
//! (`import_circles.rs` in tests/ checks that no two use each other).

mod api;
mod bootstrap;
pub mod config;
mod error;
mod http;
pub mod identity;
pub mod keys;
mod metrics;
mod revocation;
mod server;
pub mod sessions;
mod state;
mod store;

pub use config::{BootstrapAdmin, BootstrapServiceAccount, Config};
pub use server::{MAX_MESSAGE_BYTES, serve, serve_with_http};
