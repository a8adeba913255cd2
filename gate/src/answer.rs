//! How the gate answers Envoy.
//!
//! - **Allowed**: status OK and an `OkHttpResponse` that sets the verified
//!   identity as headers the upstream can trust (`<prefix>subject`,
//!   `principal`, `roles`, `scopes`, `plan`, `token-id`, and `actors` for a
//!   token exchanged on the subject's behalf), overwriting any a
//!   client sent, removes those it does not set (an anonymous call on a
//!   public rule carries none), and removes `authorization` if asked.
//! - **Denied**: the gRPC code of the refusal in `status`, and a
//!   `DeniedHttpResponse`: 401 with `WWW-Authenticate: Bearer` (RFC 6750:
//!   no error code when no token was sent, `invalid_token` otherwise), 403
//!   (`insufficient_scope` naming the scope when a scope is missing), 429
//!   with `Retry-After` over a quota, 503 when the gate cannot decide (a
//!   stale revocation list, keys not loaded, no quota store: fail closed).
//!   The body is the refusal as Google's JSON error model, with the same
//!   `ErrorInfo` reason and domain gRPC callers get. A gRPC caller also
//!   gets `grpc-status`, `grpc-message` and `grpc-status-details-bin`, the
//!   trailers any authpair service sends, so its client sees
//!   UNAUTHENTICATED or PERMISSION_DENIED with the reason, as everywhere.

use authpair_claims::{AuthError, Claims, ERROR_DOMAIN};
use authpair_proto::envoy_api::{
    envoy::{
        config::core::v3::{HeaderValue, HeaderValueOption, header_value_option::HeaderAppendAction},
        service::auth::v3::{CheckResponse, DeniedHttpResponse, OkHttpResponse, check_response::HttpResponse},
        r#type::v3::{HttpStatus, StatusCode},
    },
    google::rpc,
};
use serde_json::json;
use tonic::Code;

/// The identity headers, in the order they are set.
const IDENTITY: [&str; 7] = ["subject", "principal", "roles", "scopes", "plan", "token-id", "actors"];

/// What every answer is written with.
#[derive(Debug, Clone)]
pub struct Answers {
    /// `<prefix><name>` for each of [`IDENTITY`].
    names: Vec<String>,
    strip_authorization: bool,
}

impl Answers {
    pub fn new(prefix: &str, strip_authorization: bool) -> Self {
        Self { names: IDENTITY.iter().map(|name| format!("{prefix}{name}")).collect(), strip_authorization }
    }

    /// The identity header names, as set on allowed requests.
    pub fn identity_headers(&self) -> &[String] {
        &self.names
    }

    /// An allowed request, carrying `caller` (none on an anonymous call).
    pub fn allow(&self, caller: Option<&Claims>) -> CheckResponse {
        let values: [Option<String>; 7] = match caller {
            None => Default::default(),
            Some(c) => [
                Some(c.subject().to_owned()),
                Some(if c.is_service() { "service" } else { "user" }.to_owned()),
                Some(c.roles().join(",")),
                Some(c.scopes().join(" ")),
                Some(c.plan().to_owned()),
                Some(c.token_id().to_owned()),
                // The services acting for the subject (token exchange),
                // the one calling now first; none on a direct call.
                Some(c.actors().join(",")),
            ],
        };
        let mut headers = Vec::new();
        let mut headers_to_remove = Vec::new();
        for (name, value) in self.names.iter().zip(values) {
            // A value that is empty, or that no header could carry, is not
            // set; the client's header of that name is removed all the same.
            match value.filter(|v| !v.is_empty() && v.bytes().all(|b| (0x20..0x7f).contains(&b))) {
                Some(value) => headers.push(overwrite(name, value)),
                None => headers_to_remove.push(name.clone()),
            }
        }
        if self.strip_authorization {
            headers_to_remove.push("authorization".to_owned());
        }
        CheckResponse {
            status: Some(rpc::Status { code: Code::Ok as i32, message: String::new(), details: Vec::new() }),
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                headers,
                headers_to_remove,
                ..Default::default()
            })),
            dynamic_metadata: None,
        }
    }

    /// A denied request: `err`, for a gRPC caller if `grpc`.
    pub fn deny(&self, err: &AuthError, grpc: bool) -> CheckResponse {
        let code = err.code();
        let message = err.to_string();
        let (http, mut headers) = match (code, err) {
            (Code::Unauthenticated, AuthError::TokenMissing) => {
                (StatusCode::Unauthorized, vec![overwrite("www-authenticate", r#"Bearer realm="authpair""#.into())])
            }
            (Code::Unauthenticated, _) => (
                StatusCode::Unauthorized,
                vec![overwrite(
                    "www-authenticate",
                    format!(
                        r#"Bearer realm="authpair", error="invalid_token", error_description="{}""#,
                        quoted(&message)
                    ),
                )],
            ),
            (Code::PermissionDenied, AuthError::ScopeRequired(scope)) => (
                StatusCode::Forbidden,
                vec![overwrite(
                    "www-authenticate",
                    format!(r#"Bearer realm="authpair", error="insufficient_scope", scope="{}""#, quoted(scope)),
                )],
            ),
            (Code::PermissionDenied, _) => (StatusCode::Forbidden, Vec::new()),
            (Code::ResourceExhausted, _) => (StatusCode::TooManyRequests, Vec::new()),
            (Code::InvalidArgument, _) => (StatusCode::BadRequest, Vec::new()),
            _ => (StatusCode::ServiceUnavailable, Vec::new()),
        };
        let retry_after = match err {
            AuthError::QuotaExceeded { retry_after } => Some(retry_after.as_millis().div_ceil(1000).max(1)),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            headers.push(overwrite("retry-after", seconds.to_string()));
        }
        headers.push(overwrite("content-type", "application/json".into()));
        if grpc {
            // The same trailers a service behind the auth layer sends.
            let mut trailers = http::HeaderMap::new();
            if tonic::Status::from(err.clone()).add_header(&mut trailers).is_ok() {
                for (name, value) in &trailers {
                    if let Ok(value) = value.to_str() {
                        headers.push(overwrite(name.as_str(), value.to_owned()));
                    }
                }
            }
        }
        let mut details = vec![json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": err.reason(),
            "domain": ERROR_DOMAIN,
        })];
        if let Some(seconds) = retry_after {
            details.push(
                json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{seconds}s")}),
            );
        }
        let body = json!({"error": {
            "code": http as i32,
            "status": code_name(code),
            "message": message,
            "details": details,
        }});
        CheckResponse {
            status: Some(rpc::Status { code: code as i32, message, details: Vec::new() }),
            http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                status: Some(HttpStatus { code: http as i32 }),
                headers,
                body: body.to_string(),
            })),
            dynamic_metadata: None,
        }
    }
}

/// A header set on the request (or response), replacing any of that name.
fn overwrite(name: &str, value: String) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue { key: name.to_owned(), value, raw_value: Vec::new() }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    }
}

/// `text` inside an RFC 7230 quoted string: `"` and `\` escaped.
fn quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The canonical name of a gRPC code, as Google's JSON errors spell it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Unauthenticated => "UNAUTHENTICATED",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::Unavailable => "UNAVAILABLE",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn denied(response: &CheckResponse) -> Option<&DeniedHttpResponse> {
        match &response.http_response {
            Some(HttpResponse::DeniedResponse(denied)) => Some(denied),
            _ => None,
        }
    }

    fn header<'a>(denied: &'a DeniedHttpResponse, name: &str) -> Option<&'a str> {
        denied.headers.iter().filter_map(|h| h.header.as_ref()).find(|h| h.key == name).map(|h| h.value.as_str())
    }

    #[test]
    fn each_refusal_gets_its_http_status_bearer_challenge_and_json_reason() -> Result<(), String> {
        let answers = Answers::new("x-authpair-", false);
        let cases = [
            (AuthError::TokenMissing, 401, Some(r#"Bearer realm="authpair""#), "TOKEN_MISSING"),
            (
                AuthError::Expired,
                401,
                Some(r#"Bearer realm="authpair", error="invalid_token", error_description="token expired""#),
                "TOKEN_EXPIRED",
            ),
            (
                AuthError::ScopeRequired("documents:write".into()),
                403,
                Some(r#"Bearer realm="authpair", error="insufficient_scope", scope="documents:write""#),
                "SCOPE_REQUIRED",
            ),
            (AuthError::RoleRequired("admin".into()), 403, None, "ROLE_REQUIRED"),
            (AuthError::QuotaExceeded { retry_after: Duration::from_millis(1500) }, 429, None, "QUOTA_EXCEEDED"),
            (AuthError::RevocationsStale, 503, None, "REVOCATIONS_STALE"),
        ];
        for (err, status, challenge, reason) in cases {
            let response = answers.deny(&err, false);
            assert_eq!(response.status.as_ref().map(|s| s.code), Some(err.code() as i32), "{err:?}");
            let denied = denied(&response).ok_or("not a denied response")?;
            assert_eq!(denied.status.as_ref().map(|s| s.code), Some(status), "{err:?}");
            assert_eq!(header(denied, "www-authenticate"), challenge, "{err:?}");
            let body: serde_json::Value = serde_json::from_str(&denied.body).map_err(|e| e.to_string())?;
            assert_eq!(body["error"]["details"][0]["reason"], reason, "{err:?}");
            assert_eq!(body["error"]["details"][0]["domain"], ERROR_DOMAIN);
            assert_eq!(header(denied, "grpc-status"), None, "an HTTP caller gets no gRPC trailers");
        }
        let quota = answers.deny(&AuthError::QuotaExceeded { retry_after: Duration::from_millis(1500) }, false);
        assert_eq!(denied(&quota).and_then(|d| header(d, "retry-after")), Some("2"), "rounded up");
        Ok(())
    }

    #[test]
    fn a_grpc_caller_gets_grpc_status_message_and_details_as_from_any_authpair_service() -> Result<(), String> {
        let response = Answers::new("x-authpair-", false).deny(&AuthError::RoleRequired("admin".into()), true);
        let denied = denied(&response).ok_or("not a denied response")?;
        assert_eq!(header(denied, "grpc-status"), Some("7"));
        assert_eq!(header(denied, "grpc-message"), Some("requires%20role%20admin"));
        assert!(header(denied, "grpc-status-details-bin").is_some_and(|d| !d.is_empty()));
        Ok(())
    }

    #[test]
    fn an_anonymous_allowed_call_carries_no_identity_and_removes_every_identity_header() -> Result<(), String> {
        let response = Answers::new("x-id-", true).allow(None);
        let Some(HttpResponse::OkResponse(ok)) = &response.http_response else { return Err("not OK".into()) };
        assert!(ok.headers.is_empty());
        assert_eq!(
            ok.headers_to_remove,
            [
                "x-id-subject",
                "x-id-principal",
                "x-id-roles",
                "x-id-scopes",
                "x-id-plan",
                "x-id-token-id",
                "x-id-actors",
                "authorization"
            ]
        );
        Ok(())
    }
}
