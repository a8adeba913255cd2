//! `POST /oauth2/introspect` (RFC 7662 §2): form `token=…`, the caller
//! authenticated by `Authorization: Bearer` with a service token that passes
//! the same policy rule as the gRPC `Introspect` method (and, where service
//! tokens need a client certificate, comes with one).

use authpair_claims::{
    layer::{authenticate, peer_certificate},
    token::bearer::bearer_token,
};
use axum::{
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::documents::Documents;
use crate::sessions::introspection;

/// The form body's bound: one token (8 KiB at most) and its name.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// RFC 6750 §3: 401 with a challenge, or 403 `insufficient_scope`.
fn refused(status: StatusCode, error: &'static str) -> Response {
    let challenge = HeaderValue::from_static(if status == StatusCode::UNAUTHORIZED {
        "Bearer"
    } else {
        r#"Bearer error="insufficient_scope""#
    });
    let body = json!({ "error": error }).to_string();
    let headers =
        [(header::WWW_AUTHENTICATE, challenge), (header::CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    (status, headers, body).into_response()
}

fn bad_request(status: StatusCode) -> Response {
    let body = json!({ "error": "invalid_request" }).to_string();
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

pub async fn introspect(State(docs): State<Documents>, request: Request) -> Response {
    let state = docs.state();
    let access = docs.introspection();
    // The caller first, as the auth layer takes a gRPC caller (a bound
    // token only over its certificate): an unauthenticated request's body
    // is never read.
    let certificate = peer_certificate(request.extensions());
    let caller = match bearer_token(request.headers()) {
        Ok(Some(token)) => authenticate(&state.verifier, &state.denylist, Some(token), || certificate).ok().flatten(),
        _ => None,
    };
    let Some(caller) = caller else { return refused(StatusCode::UNAUTHORIZED, "invalid_token") };
    let without_certificate = access.client_cert_required && caller.is_service() && certificate.is_none();
    if without_certificate || access.rule.authorize(Some(&caller)).is_err() {
        return refused(StatusCode::FORBIDDEN, "insufficient_scope");
    }
    if !super::form::is_form(request.headers()) {
        return bad_request(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let body = match to_bytes(request.into_body(), MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => return bad_request(StatusCode::PAYLOAD_TOO_LARGE),
    };
    let mut tokens = form_urlencoded::parse(&body).filter(|(name, _)| name == "token").map(|(_, v)| v);
    let (Some(token), None) = (tokens.next(), tokens.next()) else { return bad_request(StatusCode::BAD_REQUEST) };
    if token.is_empty() {
        return bad_request(StatusCode::BAD_REQUEST);
    }
    let claims = introspection::active_claims(state, &token);
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    (headers, Body::from(introspection::to_json(claims.as_deref()).to_string())).into_response()
}
