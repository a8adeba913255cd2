//! Protect a gRPC service with authpair: the token core, and nothing that
//! runs a server (no database, no Redis, no exporter; metrics go through the
//! `metrics` facade only).
//!
//! - [`clock`]: the one wall clock, Unix seconds; [`backoff`]: the one
//!   retry pacing, exponential with jitter.
//! - [`claims`]: [`Claims`] (only verification makes one) and [`Grant`].
//! - [`keys`]: Ed25519 signing keys and their public JWK form.
//! - [`signer`]: issues RFC 9068 access tokens (`typ` at+jwt).
//! - [`verifier`]: strict verification of those tokens; it checks each
//!   signature itself, with the key it holds.
//! - `token_cache`: the verified-token cache, admitting a token on its
//!   second verification.
//! - [`ed25519`]: Ed25519 signature checks with ed25519-dalek's
//!   `verify_strict` verdict, by the backend the verifier's configuration
//!   names ([`Ed25519Backend`]): a key prepared once with variable-time
//!   fixed-base tables (the default), or ed25519-dalek itself.
//! - [`bearer`]: reads `authorization: Bearer` from a call's headers.
//! - [`revocation`]: the in-memory denylist (token ids and per-subject
//!   "not before" times) every call consults.
//! - [`policy`]: the method policy, read from a service's own descriptors
//!   (`(authpair.policy.v1.policy)` options); authorization proper.
//! - [`roles`]: the role table and the plans, as configuration.
//! - [`defaults`]: the addresses and names several binaries default to.
//! - [`deployment`]: the issuer, role table and plans the auth service
//!   announces to every verifier, so they are configured once.
//! - [`quota`]: the [`QuotaLimiter`] the auth layer asks for per-plan quotas.
//! - [`layer`]: the one auth layer: authentication, then authorization, then
//!   the quota, on every call; [`caller`] for handlers.
//! - [`follower`]: the auth service's keys and revocation feed, followed,
//!   with health from their freshness.
//! - [`client`]: the client side: a channel layer that carries a token from a
//!   service account or a user session, renewing it before expiry.
//! - [`telemetry`]: the metric names, and per-method handles.
//! - [`error`]: [`AuthError`] and the one `From<AuthError> for tonic::Status`;
//!   [`ERROR_DETAILS_DESCRIPTOR_SET`] for a service's reflection.
//!
//! A service's `build.rs` finds `authpair/policy/v1/policy.proto` in the
//! directory named by `DEP_AUTHPAIR_POLICY_PROTO`.

#![warn(missing_docs)]

pub mod backoff;
pub mod bearer;
pub mod claims;
pub mod client;
pub mod clock;
pub mod defaults;
pub mod deployment;
pub mod ed25519;
pub mod error;
pub mod follower;
pub mod keys;
pub mod layer;
pub mod policy;
pub mod quota;
pub mod revocation;
pub mod roles;
pub mod signer;
pub mod telemetry;
mod token_cache;
pub mod verifier;

pub use claims::{ADMIN_ROLE, Claims, Grant};
pub use deployment::Deployment;
pub use ed25519::Ed25519Backend;
pub use error::{ApiError, AuthError, ERROR_DETAILS_DESCRIPTOR_SET, ERROR_DOMAIN, reason_of};
pub use keys::{PublicJwk, SigningKey};
pub use layer::{AuthLayer, Caller, DecisionStats, caller, optional_caller};
pub use policy::{Access, Policy, Principal, Rule, Vocabulary, authorize_owner};
pub use quota::QuotaLimiter;
pub use revocation::{Denylist, Revocation};
pub use roles::{Plans, RoleScopes};
pub use signer::{IssuedToken, TokenSigner};
pub use verifier::{Verifier, VerifierConfig};
