//! The access token itself: what it says, how it is signed and verified,
//! and what its names (issuer, roles, plans) mean in the deployment.
//!
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
//! - [`roles`]: the role table and the plans, as configuration, and the
//!   names a method policy may use ([`Vocabulary`]).
//! - [`deployment`]: the issuer, role table and plans the auth service
//!   announces to every verifier, so they are configured once.
//!
//! Nothing here depends on the policy, the denylist or the layer; they
//! depend on this.
//!
//! [`Claims`]: claims::Claims
//! [`Grant`]: claims::Grant
//! [`Ed25519Backend`]: ed25519::Ed25519Backend
//! [`Vocabulary`]: roles::Vocabulary

pub mod bearer;
pub mod claims;
pub mod deployment;
pub mod ed25519;
pub mod keys;
pub mod roles;
pub mod signer;
mod token_cache;
pub mod verifier;
