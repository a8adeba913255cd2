//! authpair-gate: Envoy's external authorization API
//! (`envoy.service.auth.v3.Authorization/Check`) decided with authpair's
//! token core, so any service behind Envoy or Istio gets what a service
//! linked with `authpair-claims` gets: signature, audience, method policy,
//! quotas, and revocation within a second. No database; Redis only for
//! quotas shared between instances.
//!
//! - [`serve`] (in `server`): the gRPC server; `main.rs` only parses [`Config`].
//! - `config`: flags with environment fallbacks (`GATE_<FLAG>`).
//! - [`routes`]: the routes file: each upstream's audience and policy.
//! - [`http_rules`]: an HTTP upstream's rules (method, path pattern) and
//!   the normal form a path must have to match one.
//! - [`check`]: the Check service, deciding in the auth layer's order.
//! - [`answer`]: the allowed and denied answers Envoy acts on.

pub mod answer;
pub mod check;
pub mod config;
pub mod http_rules;
pub mod routes;
mod server;

pub use config::Config;
pub use server::{SERVICE, serve};
