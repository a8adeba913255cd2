//! authpair's auth service: proves who a caller is and issues tokens.
//!
//! - [`serve`] (in `server`): startup order and the gRPC server; `main.rs` only
//!   parses [`Config`] and calls it.
//! - `config`: flags with environment fallbacks.
//! - `api`: the handlers of `AuthService` (login, refresh, JWKS) and
//!   `AdminService` (users and roles), plus the audit-event macro.
//! - `state`: what handlers share; issues token pairs.
//! - `store`: users, refresh-token families, the revocation log and signing
//!   keys, via sqlx on SQLite (default) or PostgreSQL (several instances).
//! - `keyring`: signing keys in memory; rotation and its schedule.
//! - `sealing`: the master key; signing keys sealed with it (AEAD) for the
//!   database. `at_rest`: sealed or, if allowed, plaintext; re-sealing at start.
//! - `feed`: the server side of the WatchRevocations stream.
//! - `log_listener`: on PostgreSQL, follows other instances' revocations
//!   (LISTEN/NOTIFY) into this instance's denylist and feed; on either
//!   backend, sweeps the log every feed heartbeat for an entry a cancelled
//!   handler committed but never announced.
//! - `password`: argon2id off the async threads, behind a semaphore.
//! - `secret`: opaque refresh tokens, their stored hashes, grace sealing.
//! - `grants`: which scopes roles grant.
//! - `throttle`: brute-force defence for Login and IssueServiceToken (its
//!   per-account counts kept in the store), and a per-source limit on
//!   failed Refreshes.
//! - `bootstrap`: the first admin.
//! - [`username`]: usernames in one canonical form (RFC 8265
//!   UsernameCaseMapped), so no name can pass for another.
//! - `input`: checks on client input; `error`: the handlers' errors,
//!   among them the refusals only this service makes (credentials, refresh
//!   tokens, throttling, load shedding).
//! - `metrics`: the names of the metrics only this service records.
//! - `introspection`: RFC 7662 verdicts from the verifier and denylist.
//! - `http`: the HTTP/1.1 listener: JWK set, discovery, introspection.

mod api;
mod at_rest;
mod bootstrap;
pub mod config;
mod error;
mod feed;
pub mod grants;
mod http;
pub mod input;
mod introspection;
mod keyring;
mod log_listener;
mod metrics;
pub mod password;
pub mod sealing;
mod secret;
mod server;
mod state;
mod store;
mod throttle;
pub mod username;

pub use config::{BootstrapAdmin, BootstrapServiceAccount, Config};
pub use server::{MAX_MESSAGE_BYTES, serve, serve_with_http};
