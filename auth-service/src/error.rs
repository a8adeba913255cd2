//! What the auth service's handlers fail with.
//!
//! [`CredentialError`] is the refusals only this service makes: of
//! credentials, of a refresh token, of attempts after failures, and load
//! shedding of password checks. Each becomes a `tonic::Status` the way
//! authpair builds every refusal (`authpair_claims::error::status`: a
//! stable `ErrorInfo` reason in the `authpair` domain). [`ApiError`] is one
//! of those, or anything a protected service's handler can fail with
//! ([`authpair_claims::ApiError`]).
//!
//! Database errors map in `authpair_server::db` (outages UNAVAILABLE, the
//! rest INTERNAL); here, hashing failures. The detail is logged, never sent.

use std::time::Duration;

use authpair_claims::{AuthError, error::status};
use tonic::{Code, Status};

use crate::store::StoreError;

/// A refusal only the auth service makes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// A username and password, or a client id and secret, that are refused.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A refresh token that is unknown, expired, revoked or already spent.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// Login or refresh throttled after failures (per account or per source).
    #[error("too many attempts; retry in {}s", .retry_after.as_millis().div_ceil(1000).max(1))]
    TooManyAttempts {
        /// How long until the next attempt is allowed.
        retry_after: Duration,
    },
    /// Load shedding: the password hashing queue is full.
    #[error("busy: too many password checks waiting")]
    Overloaded,
}

impl CredentialError {
    /// The stable, machine-readable reason sent in `ErrorInfo`.
    pub fn reason(&self) -> &'static str {
        match self {
            CredentialError::InvalidCredentials => "INVALID_CREDENTIALS",
            CredentialError::InvalidRefreshToken => "REFRESH_TOKEN_INVALID",
            CredentialError::TooManyAttempts { .. } => "TOO_MANY_ATTEMPTS",
            CredentialError::Overloaded => "OVERLOADED",
        }
    }

    /// The gRPC code: refused credentials are UNAUTHENTICATED, throttling
    /// RESOURCE_EXHAUSTED (with RetryInfo), load shedding UNAVAILABLE.
    pub fn code(&self) -> Code {
        match self {
            CredentialError::InvalidCredentials | CredentialError::InvalidRefreshToken => Code::Unauthenticated,
            CredentialError::TooManyAttempts { .. } => Code::ResourceExhausted,
            CredentialError::Overloaded => Code::Unavailable,
        }
    }
}

impl From<CredentialError> for Status {
    fn from(err: CredentialError) -> Self {
        let retry_after = match &err {
            CredentialError::TooManyAttempts { retry_after } => Some(*retry_after),
            _ => None,
        };
        status(err.code(), err.reason(), err.to_string(), retry_after)
    }
}

/// What a handler of this service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// What any handler behind authpair can fail with: an auth decision,
    /// bad input, a conflict, an outage.
    #[error(transparent)]
    Common(#[from] authpair_claims::ApiError),
    /// A refusal only this service makes.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

/// The common errors by name, for building and matching them.
pub use authpair_claims::ApiError as Common;

impl ApiError {
    /// INVALID_ARGUMENT with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Common::invalid(message).into()
    }

    /// Refuses a NUL in `field` (see [`authpair_claims::ApiError::refuse_nul`]).
    pub fn refuse_nul(field: &str, value: &str) -> Result<(), Self> {
        Ok(Common::refuse_nul(field, value)?)
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        ApiError::Common(err.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ApiError::Common(err.into())
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Common(err) => err.into(),
            ApiError::Credentials(err) => err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt;

    use super::*;

    /// Code, message, ErrorInfo reason and domain, and RetryInfo of a status.
    fn parts(status: &Status) -> (Code, String, Option<(String, String)>, Option<Duration>) {
        let info = status.get_details_error_info().map(|i| (i.reason, i.domain));
        let retry = status.get_details_retry_info().and_then(|r| r.retry_delay);
        (status.code(), status.message().to_owned(), info, retry)
    }

    #[test]
    fn credential_refusals_carry_their_code_reason_and_the_authpair_domain() {
        let domain = authpair_claims::ERROR_DOMAIN.to_owned();
        let cases = [
            (CredentialError::InvalidCredentials, Code::Unauthenticated, "invalid credentials", "INVALID_CREDENTIALS"),
            (
                CredentialError::InvalidRefreshToken,
                Code::Unauthenticated,
                "invalid refresh token",
                "REFRESH_TOKEN_INVALID",
            ),
            (CredentialError::Overloaded, Code::Unavailable, "busy: too many password checks waiting", "OVERLOADED"),
        ];
        for (err, code, message, reason) in cases {
            let status = Status::from(ApiError::from(err));
            assert_eq!(parts(&status), (code, message.to_owned(), Some((reason.to_owned(), domain.clone())), None));
        }
        let throttled = Status::from(CredentialError::TooManyAttempts { retry_after: Duration::from_millis(1500) });
        assert_eq!(
            parts(&throttled),
            (
                Code::ResourceExhausted,
                "too many attempts; retry in 2s".to_owned(),
                Some(("TOO_MANY_ATTEMPTS".to_owned(), domain)),
                Some(Duration::from_millis(1500)),
            )
        );
    }
}
