//! The one error type for authentication and authorization failures, and the
//! one place that turns it into a `tonic::Status`; and [`ApiError`], which
//! handlers return, wrapping it beside the errors that are not about auth.
//!
//! Every failure carries a `google.rpc.ErrorInfo` with a stable `reason` (what
//! clients branch on) and the domain [`ERROR_DOMAIN`]. Messages are short,
//! name the cause, and never include token text or internal detail.
//! [`status`] builds such a refusal; a crate with refusals of its own (the
//! auth service's checks of credentials) builds its statuses with it too.

use std::{collections::HashMap, time::Duration};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `domain` of every `ErrorInfo` authpair returns.
pub const ERROR_DOMAIN: &str = "authpair";

/// The encoded descriptors of the `google.rpc` error details every refusal
/// carries (`ErrorInfo`, `RetryInfo`, `QuotaFailure`, `BadRequest`). A
/// service behind the auth layer registers them with its reflection service,
/// so that clients such as grpcurl decode a refusal's reason instead of
/// reporting an unknown message.
pub const ERROR_DETAILS_DESCRIPTOR_SET: &[u8] = authpair_proto::ERROR_DETAILS_DESCRIPTOR_SET;

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    // ---- Authentication: UNAUTHENTICATED (gRPC's 401). ----
    /// No `authorization` header on a call that needs a token.
    #[error("missing bearer token")]
    TokenMissing,
    /// More than one `authorization` header.
    #[error("more than one authorization header")]
    DuplicateAuthorization,
    /// An `authorization` header whose scheme is not Bearer.
    #[error("authorization scheme must be Bearer")]
    WrongScheme,
    /// A token longer than [`crate::token::verifier::MAX_TOKEN_BYTES`].
    #[error("token too large")]
    TokenTooLarge,
    /// Not a well-formed access token: its shape, encoding, JSON or a claim's
    /// type or value.
    #[error("malformed token")]
    Malformed,
    /// A `typ` other than at+jwt (RFC 9068).
    #[error("unsupported token type")]
    WrongType,
    /// An `alg` other than EdDSA.
    #[error("unsupported token algorithm")]
    WrongAlgorithm,
    /// A `kid` that names no trusted key.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify with the named key.
    #[error("invalid token signature")]
    BadSignature,
    /// `exp` has passed, beyond the leeway.
    #[error("token expired")]
    Expired,
    /// `nbf` is still ahead, beyond the leeway.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is ahead, beyond the leeway.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `exp - iat` exceeds the verifier's maximum lifetime.
    #[error("token lifetime too long")]
    LifetimeTooLong,
    /// `iss` is not the configured issuer.
    #[error("wrong token issuer")]
    WrongIssuer,
    /// `aud` names none of the verifying service's audiences.
    #[error("wrong token audience")]
    WrongAudience,
    /// A role, named, that the deployment's role table does not define: the
    /// auth service signed it, so the role was removed since, or this
    /// service follows another table. A fresh token carries only roles that
    /// exist.
    #[error("token names a role this deployment does not define")]
    UnknownRole(String),
    /// A required claim, named, is absent or empty.
    #[error("token missing required claim {0}")]
    MissingClaim(&'static str),
    /// The token was revoked: by its `jti`, or by a revocation of its subject
    /// logged after it was issued.
    #[error("token revoked")]
    Revoked,
    /// A token bound to a client certificate (`cnf.x5t#S256`, RFC 8705)
    /// on a connection without that certificate: another client's, or
    /// none. A replayed bound token proves nothing.
    #[error("token bound to another client certificate")]
    CertificateMismatch,

    // ---- Authorization: PERMISSION_DENIED (gRPC's 403). ----
    /// The method needs this role, which the caller lacks.
    #[error("requires role {0}")]
    RoleRequired(String),
    /// The method needs this scope, which the caller lacks.
    #[error("requires scope {0}")]
    ScopeRequired(String),
    /// The method is for users; the caller is a service account.
    #[error("requires a user token")]
    UserRequired,
    /// The method is for service accounts; the caller is a user.
    #[error("requires a service token")]
    ServiceRequired,
    /// The object belongs to someone else and the caller is not an admin.
    #[error("not the owner")]
    NotOwner,
    /// A service token on a connection without a verified TLS client
    /// certificate, where the layer requires one
    /// ([`crate::AuthLayer::require_client_cert_for_services`]).
    #[error("requires a client certificate")]
    ClientCertRequired,
    /// The method takes only callers acting as themselves, and a service
    /// called on a user's behalf (a token with `act`, RFC 8693).
    #[error("not on another's behalf")]
    DelegationForbidden,
    /// A service acting on a user's behalf, named, that the method's policy
    /// does not list among the services that may.
    #[error("{0} may not act on a user's behalf here")]
    ActorNotAllowed(String),
    /// The method has no policy, so nobody may call it (deny by default).
    #[error("method not allowed")]
    NoPolicy,

    // ---- Over a quota: RESOURCE_EXHAUSTED, with RetryInfo. ----
    /// The caller's plan quota for this method is used up for now.
    #[error("quota exceeded; retry in {}s", .retry_after.as_millis().div_ceil(1000).max(1))]
    QuotaExceeded {
        /// How long until a call may succeed again.
        retry_after: Duration,
    },

    // ---- Cannot decide now: UNAVAILABLE, fail closed; clients retry with backoff. ----
    /// The verifier holds no keys yet, so no token can be checked.
    #[error("signing keys not loaded yet")]
    KeysUnavailable,
    /// The revocation feed has not been heard from for too long to trust the
    /// denylist.
    #[error("revocation list is stale")]
    RevocationsStale,
    /// The quota cannot be checked (no limiter, or its store is down).
    #[error("quota service unavailable")]
    QuotaUnavailable,
}

impl AuthError {
    /// The stable, machine-readable reason sent in `ErrorInfo`.
    pub fn reason(&self) -> &'static str {
        use AuthError::*;
        match self {
            TokenMissing => "TOKEN_MISSING",
            UnknownRole(_) => "UNKNOWN_ROLE",
            DuplicateAuthorization | WrongScheme | TokenTooLarge | Malformed => "TOKEN_MALFORMED",
            WrongType | WrongAlgorithm | UnknownKey | BadSignature | IssuedInFuture | LifetimeTooLong | WrongIssuer
            | WrongAudience | MissingClaim(_) => "TOKEN_INVALID",
            Expired => "TOKEN_EXPIRED",
            NotYetValid => "TOKEN_NOT_YET_VALID",
            Revoked => "TOKEN_REVOKED",
            CertificateMismatch => "CERTIFICATE_MISMATCH",
            RoleRequired(_) => "ROLE_REQUIRED",
            ScopeRequired(_) => "SCOPE_REQUIRED",
            UserRequired => "USER_TOKEN_REQUIRED",
            ServiceRequired => "SERVICE_TOKEN_REQUIRED",
            NotOwner => "NOT_OWNER",
            ClientCertRequired => "CLIENT_CERT_REQUIRED",
            DelegationForbidden => "DELEGATION_FORBIDDEN",
            ActorNotAllowed(_) => "ACTOR_NOT_ALLOWED",
            QuotaExceeded { .. } => "QUOTA_EXCEEDED",
            QuotaUnavailable => "QUOTA_UNAVAILABLE",
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
            RoleRequired(_) | ScopeRequired(_) | UserRequired | ServiceRequired | NotOwner | ClientCertRequired
            | DelegationForbidden | ActorNotAllowed(_) | NoPolicy => Code::PermissionDenied,
            QuotaExceeded { .. } => Code::ResourceExhausted,
            KeysUnavailable | RevocationsStale | QuotaUnavailable => Code::Unavailable,
            _ => Code::Unauthenticated,
        }
    }
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        let mut metadata = HashMap::new();
        match &err {
            AuthError::RoleRequired(role) | AuthError::UnknownRole(role) => {
                metadata.insert("role".to_owned(), role.clone());
            }
            AuthError::ScopeRequired(scope) => {
                metadata.insert("scope".to_owned(), scope.clone());
            }
            AuthError::ActorNotAllowed(actor) => {
                metadata.insert("actor".to_owned(), actor.clone());
            }
            _ => {}
        }
        let retry_after = match &err {
            AuthError::QuotaExceeded { retry_after } => Some(*retry_after),
            _ => None,
        };
        refusal(err.code(), err.reason(), err.to_string(), metadata, retry_after)
    }
}

/// A refusal as authpair sends it: `code` and `message`, with an
/// `ErrorInfo` of `reason` in [`ERROR_DOMAIN`], and a `RetryInfo` when
/// `retry_after` is given. The statuses of [`AuthError`] are built the
/// same way.
pub fn status(code: Code, reason: &str, message: impl Into<String>, retry_after: Option<Duration>) -> Status {
    refusal(code, reason, message.into(), HashMap::new(), retry_after)
}

/// [`status`], with `metadata` in the `ErrorInfo`.
fn refusal(
    code: Code,
    reason: &str,
    message: String,
    metadata: HashMap<String, String>,
    retry_after: Option<Duration>,
) -> Status {
    let mut details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata);
    if let Some(retry_after) = retry_after {
        details.set_retry_info(Some(retry_after));
    }
    Status::with_error_details(code, message, details)
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
    /// An authentication or authorization failure, with its reason.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Bad input: INVALID_ARGUMENT with this message.
    #[error("{0}")]
    InvalidArgument(String),
    /// A conflict with an existing object: ALREADY_EXISTS.
    #[error("{0}")]
    AlreadyExists(String),
    /// No such object: NOT_FOUND.
    #[error("{0}")]
    NotFound(String),
    /// The request cannot apply to the current state: FAILED_PRECONDITION.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A dependency (the database, say) is down: UNAVAILABLE; retry later.
    #[error("service temporarily unavailable")]
    Unavailable,
    /// A bug or an unexpected failure: INTERNAL, with no detail sent.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// [`ApiError::InvalidArgument`] with `message`.
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

    #[test]
    fn a_refusal_built_elsewhere_carries_its_reason_in_the_authpair_domain_and_its_retry_delay() {
        let plain = status(Code::Unauthenticated, "SOME_REASON", "refused", None);
        assert_eq!((plain.code(), plain.message()), (Code::Unauthenticated, "refused"));
        assert_eq!(reason_of(&plain).as_deref(), Some("SOME_REASON"));
        assert_eq!(plain.get_details_retry_info().map(|r| r.retry_delay), None);

        let later = status(Code::ResourceExhausted, "SLOW_DOWN", "later", Some(Duration::from_secs(3)));
        assert_eq!(later.get_details_retry_info().and_then(|r| r.retry_delay), Some(Duration::from_secs(3)));
    }
}
