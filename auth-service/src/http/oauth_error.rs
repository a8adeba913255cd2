//! The token endpoint's refusals: RFC 6749 §5.2 error responses (JSON
//! `error` and `error_description`, `Cache-Control: no-store`), the status
//! each takes, and how a refusal of the gRPC API's own logic ([`ApiError`])
//! becomes one.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use authpair_claims::AuthError;

use crate::error::{ApiError, Common, CredentialError};

/// The challenge of a 401: client authentication is HTTP Basic (RFC 6749 §2.3.1).
const BASIC_CHALLENGE: &str = r#"Basic realm="authpair", charset="UTF-8""#;

/// One error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
    retry_after_secs: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: impl AsRef<str>) -> Self {
        Self { status, code, description: description_text(description.as_ref()), retry_after_secs: None }
    }

    /// A request the endpoint cannot read: a parameter missing or repeated,
    /// the wrong content type, a malformed value.
    pub fn invalid_request(description: impl AsRef<str>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// A body over the size cap: 413, `invalid_request`.
    pub fn too_large(max_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            format!("the body must be at most {max_bytes} bytes"),
        )
    }

    /// Client authentication failed, was missing, or was of a kind the
    /// grant does not take: 401 with a Basic challenge (RFC 6749 §5.2).
    pub fn invalid_client(description: impl AsRef<str>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    /// The grant (the username and password, the refresh token) is refused.
    pub fn invalid_grant(description: impl AsRef<str>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    pub fn unsupported_grant_type() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be one of password, refresh_token, client_credentials",
        )
    }

    pub fn invalid_scope(description: impl AsRef<str>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    /// RFC 8707 §2's code for an audience the deployment does not issue
    /// for, or that the client was not granted.
    pub fn invalid_target(description: impl AsRef<str>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_target", description)
    }

    /// The client authenticated, but may not use this grant as it asked:
    /// here, its tokens are bound to a client certificate it did not
    /// present (RFC 6749 §5.2, RFC 8705).
    pub fn unauthorized_client(description: impl AsRef<str>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    /// The answer to a refusal from the gRPC API's logic. `credentials` is
    /// what refused credentials become: `invalid_grant` for a user's,
    /// `invalid_client` for a client's. Throttling is 429 and load shedding
    /// or an outage 503, both `temporarily_unavailable` with `Retry-After`.
    pub fn from_api(err: ApiError, credentials: Self) -> Self {
        match err {
            ApiError::Credentials(CredentialError::InvalidCredentials) => credentials,
            ApiError::Credentials(CredentialError::InvalidRefreshToken) => Self::invalid_grant("invalid refresh token"),
            ApiError::Credentials(e @ CredentialError::TooManyAttempts { retry_after }) => {
                let secs = retry_after.as_millis().div_ceil(1000).max(1) as u64;
                let mut answer = Self::new(StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable", e.to_string());
                answer.retry_after_secs = Some(secs);
                answer
            }
            ApiError::Credentials(e @ CredentialError::Overloaded) => Self::unavailable(e.to_string()),
            ApiError::Common(Common::Auth(e @ AuthError::KeysUnavailable)) => Self::unavailable(e.to_string()),
            ApiError::Common(Common::Unavailable) => Self::unavailable("service temporarily unavailable"),
            ApiError::Common(
                Common::InvalidArgument(m)
                | Common::AlreadyExists(m)
                | Common::NotFound(m)
                | Common::FailedPrecondition(m),
            ) => Self::invalid_request(m),
            // No other refusal comes from the token logic; were one added,
            // it is refused rather than answered as a success.
            ApiError::Common(Common::Auth(e)) => Self::invalid_request(e.to_string()),
            ApiError::Common(Common::Internal) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error")
            }
        }
    }

    fn unavailable(description: impl AsRef<str>) -> Self {
        let mut answer = Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", description);
        answer.retry_after_secs = Some(1);
        answer
    }

    /// The RFC 6749 `error` code.
    #[cfg(test)]
    pub fn code(&self) -> &'static str {
        self.code
    }
}

/// `error_description` holds only printable ASCII without `"` and `\`
/// (RFC 6749 §5.2): quotes become `'`, anything else outside the set `?`.
fn description_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '?',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "error_description": self.description }).to_string();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(BASIC_CHALLENGE));
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_keeps_to_the_characters_rfc_6749_allows() {
        assert_eq!(description_text(r#"scope "x\y" was not granted"#), "scope 'x?y' was not granted");
        assert_eq!(description_text("caf\u{e9}\n"), "caf??");
    }

    #[test]
    fn refused_credentials_take_the_grants_code_and_a_refresh_token_is_invalid_grant() {
        let client = OAuthError::invalid_client("client authentication failed");
        assert_eq!(OAuthError::from_api(CredentialError::InvalidCredentials.into(), client.clone()), client);
        let refresh = OAuthError::from_api(CredentialError::InvalidRefreshToken.into(), client);
        assert_eq!((refresh.status, refresh.code), (StatusCode::BAD_REQUEST, "invalid_grant"));
    }
}
