//! How this service's own failures become an [`ApiError`]. Database errors
//! map in `authpair_claims::db` (outages UNAVAILABLE, the rest INTERNAL);
//! here, hashing failures. The detail is logged, never sent.

pub use authpair_claims::ApiError;

use crate::password::HashError;

impl From<HashError> for ApiError {
    fn from(err: HashError) -> Self {
        tracing::error!(error = %err, "password hashing failed");
        ApiError::Internal
    }
}
