//! The router: the JWK set, the metadata (at two paths), the token and
//! introspection endpoints, 404 for anything else, 405 (with `Allow`) for
//! another method on a known path, and a time bound on every request.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use super::{introspect, metadata, token};
use crate::{api::auth::AuthApi, state::AuthState};

pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// RFC 8414 §3's well-known path for the metadata.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// OpenID Discovery's path, where the same metadata is served for the
/// libraries that look there.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const TOKEN_PATH: &str = "/oauth2/token";
pub const INTROSPECTION_PATH: &str = "/oauth2/introspect";

/// A cached JWK set may be this old at most, however long the publish delay.
const MAX_DOCUMENT_AGE: Duration = Duration::from_secs(3600);

/// What the handlers need: the state (keys, verifier, denylist), the gRPC
/// API's logic (for the token endpoint), the metadata (fixed at start) and
/// the caching header.
#[derive(Debug, Clone)]
pub struct Documents {
    state: Arc<AuthState>,
    api: AuthApi,
    metadata: Bytes,
    cache_control: HeaderValue,
    introspection: introspect::Access,
}

impl Documents {
    /// `public_url` is what the metadata's URLs start with;
    /// `introspection` is the policy rule the caller of the introspection
    /// endpoint must pass, as the gRPC method's.
    pub fn new(state: Arc<AuthState>, public_url: &str, introspection: introspect::Access) -> anyhow::Result<Self> {
        let metadata = serde_json::to_vec(&metadata::document(&state, public_url))?;
        // A cache must never hold the JWK set past the publish delay: a key
        // is published that long before it signs, so every verifier that
        // refetches on expiry has it before the first token it signs.
        let max_age = state.config.key_publish_delay.min(MAX_DOCUMENT_AGE).as_secs();
        let cache_control = HeaderValue::try_from(format!("public, max-age={max_age}"))?;
        let api = AuthApi::new(state.clone());
        Ok(Self { state, api, metadata: Bytes::from(metadata), cache_control, introspection })
    }

    pub(super) fn state(&self) -> &AuthState {
        &self.state
    }

    pub(super) fn api(&self) -> &AuthApi {
        &self.api
    }

    pub(super) fn introspection(&self) -> &introspect::Access {
        &self.introspection
    }
}

/// Every route, the fallback and the request timeout (`--http-request-timeout-secs`).
pub fn router(documents: Documents) -> Router {
    let request_timeout = documents.state.config.http_limits.request_timeout;
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
        .state
        .keys
        .published()
        .iter()
        .map(|k| {
            let jwk = k.to_proto();
            json!({ "kty": jwk.kty, "crv": jwk.crv, "x": jwk.x, "kid": jwk.kid, "alg": jwk.alg, "use": jwk.r#use })
        })
        .collect();
    match serde_json::to_vec(&json!({ "keys": keys })) {
        Ok(body) => json_response(body, docs.cache_control.clone()),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn metadata(State(docs): State<Documents>) -> Response {
    json_response(docs.metadata.clone(), docs.cache_control.clone())
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
