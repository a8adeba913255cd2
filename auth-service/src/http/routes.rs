//! The router: the JWK set, the metadata (at two paths), the token and
//! introspection endpoints, 404 for anything else, 405 (with `Allow`) for
//! another method on a known path, and a time bound on every request.

use std::time::Duration;

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use super::{
    documents::Documents,
    introspect,
    paths::{DISCOVERY_PATH, INTROSPECTION_PATH, JWKS_PATH, METADATA_PATH, TOKEN_PATH},
    token,
};

/// Every route, the fallback and the request timeout (`--http-request-timeout-secs`).
pub fn router(documents: Documents) -> Router {
    let request_timeout = documents.state().config.http_limits.request_timeout;
    Router::new()
        .route(JWKS_PATH, get(jwks))
        .route(METADATA_PATH, get(metadata))
        .route(DISCOVERY_PATH, get(metadata))
        .route(TOKEN_PATH, post(token::token))
        .route(INTROSPECTION_PATH, post(introspect::introspect))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(request_timeout, within_time))
        .layer(middleware::from_fn(super::host::one_valid_host))
        .with_state(documents)
}

fn json_response(body: impl Into<Body>, cache_control: HeaderValue) -> Response {
    let headers =
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json")), (header::CACHE_CONTROL, cache_control)];
    (headers, body.into()).into_response()
}

/// The published keys, as `GetJwks` returns them, in RFC 7517 form.
async fn jwks(State(docs): State<Documents>) -> Response {
    let keys: Vec<Value> = docs
        .state()
        .keys
        .published()
        .iter()
        .map(|k| {
            let jwk = k.to_proto();
            json!({ "kty": jwk.kty, "crv": jwk.crv, "x": jwk.x, "kid": jwk.kid, "alg": jwk.alg, "use": jwk.r#use })
        })
        .collect();
    match serde_json::to_vec(&json!({ "keys": keys })) {
        Ok(body) => json_response(body, docs.cache_control()),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn metadata(State(docs): State<Documents>) -> Response {
    json_response(docs.metadata(), docs.cache_control())
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// 503 for a request not answered within `timeout` (a body that trickles
/// in, say); the handler is dropped.
async fn within_time(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
