//! The one error type for authentication and authorization failures, and the
//! one place that turns it into a `tonic::Status`.
//!
//! Every failure carries a `google.rpc.ErrorInfo` with a stable `reason` (what
//! clients branch on) and the domain [`ERROR_DOMAIN`]. Messages are short,
//! name the cause, and never include token text or internal detail.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::claims::Role;

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
    #[error("invalid feed credential")]
    FeedCredentialInvalid,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("invalid refresh token")]
    InvalidRefreshToken,

    // ---- Authorization: PERMISSION_DENIED (gRPC's 403). ----
    #[error("requires role {}", .0.as_str())]
    RoleRequired(Role),
    #[error("method not allowed")]
    NoPolicy,

    // ---- The verifier cannot decide yet: UNAVAILABLE, fail closed. ----
    #[error("signing keys not loaded yet")]
    KeysUnavailable,
    #[error("revocation list is stale")]
    RevocationsStale,
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
            FeedCredentialInvalid => "FEED_CREDENTIAL_INVALID",
            InvalidCredentials => "INVALID_CREDENTIALS",
            InvalidRefreshToken => "REFRESH_TOKEN_INVALID",
            RoleRequired(_) => "ROLE_REQUIRED",
            NoPolicy => "METHOD_NOT_ALLOWED",
            KeysUnavailable => "KEYS_UNAVAILABLE",
            RevocationsStale => "REVOCATIONS_STALE",
        }
    }

    /// The gRPC code: authentication failures are UNAUTHENTICATED, a known
    /// caller without the right is PERMISSION_DENIED.
    pub fn code(&self) -> Code {
        use AuthError::*;
        match self {
            RoleRequired(_) | NoPolicy => Code::PermissionDenied,
            KeysUnavailable | RevocationsStale => Code::Unavailable,
            _ => Code::Unauthenticated,
        }
    }
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        let mut metadata = HashMap::new();
        if let AuthError::RoleRequired(role) = &err {
            metadata.insert("role".to_owned(), role.as_str().to_owned());
        }
        let details = ErrorDetails::with_error_info(err.reason(), ERROR_DOMAIN, metadata);
        Status::with_error_details(err.code(), err.to_string(), details)
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

        let denied = Status::from(AuthError::RoleRequired(Role::Admin));
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert_eq!(denied.message(), "requires role admin");
        assert_eq!(denied.get_details_error_info().map(|i| i.reason), Some("ROLE_REQUIRED".into()));
    }
}
