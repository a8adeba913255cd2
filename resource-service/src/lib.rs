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
//! - `api`: the `ResourceService` handlers.

mod api;
pub mod config;
mod feed;
mod keys;
mod server;

pub use config::Config;
pub use server::serve;
