//! Errors of the auth service's handlers that are not auth decisions: bad
//! input, conflicts, outages. Auth failures stay [`AuthError`] and go through
//! its one mapping. Internal detail is logged, never sent.

use authpair_claims::AuthError;
use tonic::Status;

use crate::{password::HashError, store::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("service temporarily unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidArgument(message.into())
    }
}

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

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Auth(auth) => auth.into(),
            ApiError::InvalidArgument(m) => Status::invalid_argument(m),
            ApiError::AlreadyExists(m) => Status::already_exists(m),
            ApiError::NotFound(m) => Status::not_found(m),
            ApiError::FailedPrecondition(m) => Status::failed_precondition(m),
            ApiError::Unavailable => Status::unavailable(err.to_string()),
            ApiError::Internal => Status::internal(err.to_string()),
        }
    }
}
