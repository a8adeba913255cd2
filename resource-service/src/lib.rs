//! authpair's resource service: serves data and decides what a proven caller
//! may do. It holds no secret; it verifies tokens with the auth service's
//! public keys.
//!
//! - [`serve`] (in `server`): the gRPC server; `main.rs` only parses [`Config`].
//! - `config`: flags with environment fallbacks.
//! - `keys`: loads and refreshes the public keys from the auth service.
//! - `api`: the `ResourceService` handlers.

mod api;
pub mod config;
mod keys;
mod server;

pub use config::Config;
pub use server::serve;
