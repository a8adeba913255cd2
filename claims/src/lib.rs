//! Protect a gRPC service with authpair: the token core, and nothing that
//! runs a server (no database, no Redis, no exporter; metrics go through the
//! `metrics` facade only).
//!
//! By concern, each folder depending only on those listed before it (and on
//! the shared helpers below):
//!
//! - [`token`]: the access token: [`Claims`] (only verification makes one)
//!   and [`Grant`], signing keys, the [`TokenSigner`], the strict
//!   [`Verifier`] with its cache and Ed25519 backends, reading `Bearer`
//!   headers, and what the token's names mean: the role table, the plans
//!   and the [`Deployment`] the auth service announces.
//! - [`revocation`]: the in-memory [`Denylist`] (token ids and per-subject
//!   generations) every call consults, and the [`Revocation`] entries that
//!   feed it.
//! - [`policy`]: the method policy, read from a service's own descriptors
//!   (`(authpair.policy.v1.policy)` options); authorization proper; and the
//!   [`QuotaLimiter`] the layer asks for per-plan quotas.
//! - [`client`]: the client side: a channel layer that carries a token from a
//!   service account or a user session, renewing it before expiry.
//! - [`layer`]: the one auth layer: authentication, then authorization, then
//!   the quota, on every call; [`caller`] for handlers; its per-method
//!   metric handles.
//! - [`follower`]: the auth service's keys and revocation feed, followed,
//!   with health from their freshness.
//!
//! Shared helpers, which depend on no folder:
//!
//! - [`clock`]: the one wall clock, Unix seconds; [`backoff`]: the one
//!   retry pacing, exponential with jitter.
//! - [`defaults`]: the addresses and names several binaries default to.
//! - [`telemetry`]: the names of the metrics this crate records.
//! - [`error`]: [`AuthError`] and the one `From<AuthError> for tonic::Status`;
//!   [`error::status`] for the refusals other crates define;
//!   [`ERROR_DETAILS_DESCRIPTOR_SET`] for a service's reflection.
//!
//! A service's `build.rs` finds `authpair/policy/v1/policy.proto` in the
//! directory named by `DEP_AUTHPAIR_POLICY_PROTO`.

#![warn(missing_docs)]

pub mod backoff;
pub mod client;
pub mod clock;
pub mod defaults;
pub mod error;
pub mod follower;
pub mod layer;
pub mod policy;
pub mod revocation;
pub mod telemetry;
pub mod token;

pub use error::{ApiError, AuthError, ERROR_DETAILS_DESCRIPTOR_SET, ERROR_DOMAIN, reason_of};
pub use layer::{AuthLayer, Caller, DecisionStats, caller, optional_caller};
pub use policy::{Access, Policy, Principal, QuotaLimiter, Rule, authorize_owner};
pub use revocation::{Denylist, Revocation};
pub use token::{
    claims::{ADMIN_ROLE, Claims, Grant},
    deployment::Deployment,
    ed25519::Ed25519Backend,
    keys::{PublicJwk, SigningKey},
    roles::{Plans, RoleScopes, Vocabulary},
    signer::{IssuedToken, TokenSigner},
    verifier::{Verifier, VerifierConfig},
};
