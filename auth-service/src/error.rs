//! How this service's own failures become an [`ApiError`]: outages are
//! UNAVAILABLE, everything else INTERNAL, with the detail logged, not sent.

pub use authpair_claims::ApiError;

use crate::{password::HashError, store::StoreError};

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "database error");
                ApiError::Internal
            }
        }
    }
}

impl From<HashError> for ApiError {
    fn from(err: HashError) -> Self {
        tracing::error!(error = %err, "password hashing failed");
        ApiError::Internal
    }
}
