//! How this service's own failures become an [`ApiError`]. Database errors
//! map in `authpair_server::db` (outages UNAVAILABLE, the rest INTERNAL);
//! here, hashing failures. The detail is logged, never sent.

pub use authpair_claims::ApiError;
use authpair_claims::AuthError;

use crate::identity::password::HashError;

impl From<HashError> for ApiError {
    fn from(err: HashError) -> Self {
        match err {
            // Load shedding, not a fault: clients retry UNAVAILABLE with backoff.
            HashError::Busy => {
                tracing::warn!("password hashing queue full; shedding a request");
                metrics::counter!(authpair_claims::telemetry::THROTTLED, "kind" => "hashing", "reason" => "QUEUE_FULL")
                    .increment(1);
                AuthError::Overloaded.into()
            }
            HashError::Hash(_) | HashError::Gone => {
                tracing::error!(error = %err, "password hashing failed");
                ApiError::Internal
            }
        }
    }
}
