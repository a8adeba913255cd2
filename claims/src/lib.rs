//! The auth core shared by both authpair services.
//!
//! - [`claims`]: [`Claims`] (only verification makes one), [`Role`], [`Plan`], [`Grant`].
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
//! - [`bearer`]: reads `authorization: Bearer` from gRPC metadata.
//! - [`revocation`]: the in-memory denylist (token ids and per-subject
//!   "not before" times) every interceptor consults.
//! - [`policy`]: the method policy table; authorization proper.
//! - [`quota`]: the async gate that applies per-plan quotas after authorization.
//! - [`redis_gcra`]: GCRA in Redis, shared by all instances (quotas, login sources).
//! - [`interceptor`]: the path layer and the interceptor that run authentication,
//!   then authorization, on every call; [`caller`] for handlers.
//! - [`client`]: the client side: a channel layer that carries a token from a
//!   service account or a user session, renewing it before expiry.
//! - [`config`]: flag value parsers both services' configs share.
//! - [`db`]: one database handle over SQLite or PostgreSQL, and [`db::StoreError`].
//! - [`serving`]: the hardened server builder (HTTP/2 limits, auth layers in
//!   order), connection lifetimes, the connection cap and the shutdown drain, reflection, signal
//!   handling and logging that both services share.
//! - [`bounded_io`]: a connection that ends at a deadline, whatever its peer does.
//! - [`telemetry`]: Prometheus metrics on their own port, and the call timing layer.
//! - [`tls`]: rustls server and client settings from PEM files (optional mTLS).
//! - [`error`]: [`AuthError`] and the one `From<AuthError> for tonic::Status`.

pub mod bearer;
pub mod bounded_io;
pub mod claims;
pub mod client;
pub mod config;
pub mod db;
pub mod ed25519;
pub mod error;
pub mod interceptor;
pub mod keys;
pub mod policy;
pub mod quota;
pub mod redis_gcra;
pub mod revocation;
pub mod serving;
pub mod signer;
pub mod telemetry;
pub mod tls;
mod token_cache;
pub mod verifier;

pub use claims::{Claims, Grant, Plan, Role};
pub use ed25519::Ed25519Backend;
pub use error::{ApiError, AuthError, ERROR_DOMAIN, reason_of};
pub use interceptor::{AuthContext, AuthInterceptor, DecisionStats, caller, method_layer, optional_caller};
pub use keys::{PublicJwk, SigningKey};
pub use policy::{Access, Policy, Principal, Rule, authorize_owner};
pub use quota::{QuotaGate, QuotaLimiter};
pub use revocation::{Denylist, Revocation};
pub use signer::{IssuedToken, TokenSigner};
pub use verifier::{Verifier, VerifierConfig};
