//! [`FollowerError`]: why following the auth service could not start, or
//! why one read of its keys failed.

use tonic::Status;

use crate::token::keys::KeyError;

/// What failed while starting the follower or reading the auth service's
/// keys.
#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    /// No auth-service URL was given.
    #[error("no auth-service URL configured")]
    NoAuthUrl,
    /// An auth-service URL, or the TLS configuration for it, is refused.
    #[error("auth-service URL {url:?}: {source}")]
    Endpoint {
        /// The URL as configured.
        url: String,
        /// What tonic refused.
        source: tonic::transport::Error,
    },
    /// The feed's thread or its runtime could not be started.
    #[error("cannot start the revocation feed's thread: {0}")]
    Thread(#[from] std::io::Error),
    /// `GetJwks` failed.
    #[error(transparent)]
    Fetch(#[from] Status),
    /// The JWK set has no key this service can use.
    #[error("the JWK set has no usable key")]
    NoUsableKey,
    /// The verifier refused the keys.
    #[error(transparent)]
    Keys(#[from] KeyError),
}
