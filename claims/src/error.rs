//! The one error type for authentication and authorization failures, and the
//! one place that turns it into a `tonic::Status`; and [`ApiError`], which
//! handlers return, wrapping it beside the errors that are not about auth.
//!
//! Every failure carries a `google.rpc.ErrorInfo` with a stable `reason` (what
//! clients branch on) and the domain [`ERROR_DOMAIN`]. Messages are short,
//! name the cause, and never include token text or internal detail.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `domain` of every `ErrorInfo` authpair returns.
pub const ERROR_DOMAIN: &str = "authpair";

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    // ---- Authentication: UNAUTHENTICATED (gRPC's 401). ----
    #[error("missing bearer token")]
    TokenMissing,
    #[error("more than one authorization header")]
    DuplicateAuthorization,
    #[error("authorization scheme must be Bearer")]
    WrongScheme,
    #[error("token too large")]
    TokenTooLarge,
    #[error("malformed token")]
    Malformed,
    #[error("unsupported token type")]
    WrongType,
    #[error("unsupported token algorithm")]
    WrongAlgorithm,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("invalid token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token issued in the future")]
    IssuedInFuture,
    #[error("token lifetime too long")]
    LifetimeTooLong,
    #[error("wrong token issuer")]
    WrongIssuer,
    #[error("wrong token audience")]
    WrongAudience,
    #[error("token missing required claim {0}")]
    MissingClaim(&'static str),
    #[error("token revoked")]
    Revoked,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("invalid refresh token")]
    InvalidRefreshToken,

    // ---- Authorization: PERMISSION_DENIED (gRPC's 403). ----
    #[error("requires role {0}")]
    RoleRequired(String),
    #[error("requires scope {0}")]
    ScopeRequired(String),
    #[error("requires a user token")]
    UserRequired,
    #[error("requires a service token")]
    ServiceRequired,
    #[error("not the owner")]
    NotOwner,
    #[error("requires a client certificate")]
    ClientCertRequired,
    #[error("method not allowed")]
    NoPolicy,

    // ---- Over a quota: RESOURCE_EXHAUSTED, with RetryInfo. ----
    #[error("quota exceeded; retry in {}s", .retry_after.as_millis().div_ceil(1000).max(1))]
    QuotaExceeded { retry_after: std::time::Duration },
    #[error("too many attempts; retry in {}s", .retry_after.as_millis().div_ceil(1000).max(1))]
    TooManyAttempts { retry_after: std::time::Duration },

    // ---- Cannot decide now: UNAVAILABLE, fail closed; clients retry with backoff. ----
    /// Load shedding (DS-04): the password hashing queue is full.
    #[error("busy: too many password checks waiting")]
    Overloaded,
    #[error("signing keys not loaded yet")]
    KeysUnavailable,
    #[error("revocation list is stale")]
    RevocationsStale,
    #[error("quota service unavailable")]
    QuotaUnavailable,
}

impl AuthError {
    /// The stable, machine-readable reason sent in `ErrorInfo`.
    pub fn reason(&self) -> &'static str {
        use AuthError::*;
        match self {
            TokenMissing => "TOKEN_MISSING",
            DuplicateAuthorization | WrongScheme | TokenTooLarge | Malformed => "TOKEN_MALFORMED",
            WrongType | WrongAlgorithm | UnknownKey | BadSignature | IssuedInFuture | LifetimeTooLong | WrongIssuer
            | WrongAudience | MissingClaim(_) => "TOKEN_INVALID",
            Expired => "TOKEN_EXPIRED",
            NotYetValid => "TOKEN_NOT_YET_VALID",
            Revoked => "TOKEN_REVOKED",
            InvalidCredentials => "INVALID_CREDENTIALS",
            InvalidRefreshToken => "REFRESH_TOKEN_INVALID",
            RoleRequired(_) => "ROLE_REQUIRED",
            ScopeRequired(_) => "SCOPE_REQUIRED",
            UserRequired => "USER_TOKEN_REQUIRED",
            ServiceRequired => "SERVICE_TOKEN_REQUIRED",
            NotOwner => "NOT_OWNER",
            ClientCertRequired => "CLIENT_CERT_REQUIRED",
            QuotaExceeded { .. } => "QUOTA_EXCEEDED",
            TooManyAttempts { .. } => "TOO_MANY_ATTEMPTS",
            QuotaUnavailable => "QUOTA_UNAVAILABLE",
            NoPolicy => "METHOD_NOT_ALLOWED",
            KeysUnavailable => "KEYS_UNAVAILABLE",
            RevocationsStale => "REVOCATIONS_STALE",
            Overloaded => "OVERLOADED",
        }
    }

    /// The gRPC code: authentication failures are UNAUTHENTICATED, a known
    /// caller without the right is PERMISSION_DENIED.
    pub fn code(&self) -> Code {
        use AuthError::*;
        match self {
            RoleRequired(_) | ScopeRequired(_) | UserRequired | ServiceRequired | NotOwner | ClientCertRequired
            | NoPolicy => Code::PermissionDenied,
            QuotaExceeded { .. } | TooManyAttempts { .. } => Code::ResourceExhausted,
            KeysUnavailable | RevocationsStale | QuotaUnavailable | Overloaded => Code::Unavailable,
            _ => Code::Unauthenticated,
        }
    }
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        let mut metadata = HashMap::new();
        match &err {
            AuthError::RoleRequired(role) => {
                metadata.insert("role".to_owned(), role.clone());
            }
            AuthError::ScopeRequired(scope) => {
                metadata.insert("scope".to_owned(), scope.clone());
            }
            _ => {}
        }
        let mut details = ErrorDetails::with_error_info(err.reason(), ERROR_DOMAIN, metadata);
        if let AuthError::QuotaExceeded { retry_after } | AuthError::TooManyAttempts { retry_after } = &err {
            details.set_retry_info(Some(*retry_after));
        }
        Status::with_error_details(err.code(), err.to_string(), details)
    }
}

/// The `ErrorInfo` reason of a status authpair built (domain
/// [`ERROR_DOMAIN`]), for clients that branch on it.
pub fn reason_of(status: &Status) -> Option<String> {
    status.get_details_error_info().filter(|info| info.domain == ERROR_DOMAIN).map(|info| info.reason)
}

/// What a handler can fail with: an auth decision, or an error that is not
/// about auth (bad input, conflicts, outages). Internal detail is logged by
/// whoever creates `Unavailable` or `Internal`, and never sent.
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

    /// Refuses a NUL in `field`: PostgreSQL cannot store one (SQLite can),
    /// so every input that reaches SQL refuses it alike on both backends.
    pub fn refuse_nul(field: &str, value: &str) -> Result<(), Self> {
        if value.contains('\0') {
            Err(Self::invalid(format!("{field} must not contain NUL characters")))
        } else {
            Ok(())
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_failures_map_to_unauthenticated_and_role_failures_to_permission_denied() {
        let expired = Status::from(AuthError::Expired);
        assert_eq!(expired.code(), Code::Unauthenticated);
        assert_eq!(expired.message(), "token expired");
        let info = expired.get_details_error_info().map(|i| (i.reason, i.domain));
        assert_eq!(info, Some(("TOKEN_EXPIRED".into(), ERROR_DOMAIN.into())));

        let denied = Status::from(AuthError::RoleRequired("admin".into()));
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert_eq!(denied.message(), "requires role admin");
        assert_eq!(denied.get_details_error_info().map(|i| i.reason), Some("ROLE_REQUIRED".into()));
    }
}
