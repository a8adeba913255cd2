//! The tower layer for a tonic `Channel`: [`BearerLayer`] attaches
//! `authorization: Bearer <token>` from a [`TokenCache`] to every call, and
//! retries once with a renewed token when the refusal is one a fresh token
//! may pass (see the module docs of `client`).

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http_body_util::BodyExt as _;
use secrecy::{ExposeSecret, SecretString};
use tonic::{Code, Status, body::Body};
use tower::{Layer, Service, ServiceExt as _};

use super::{
    cache::{MIN_AGE_TO_RENEW_INVALID, TokenCache},
    source::BoxFuture,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Wraps a channel so every call carries a token from `cache`.
#[derive(Debug, Clone)]
pub struct BearerLayer {
    cache: Arc<TokenCache>,
}

impl BearerLayer {
    /// A layer attaching tokens from `cache`.
    pub fn new(cache: Arc<TokenCache>) -> Self {
        Self { cache }
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = Bearer<S>;
    fn layer(&self, inner: S) -> Bearer<S> {
        Bearer { inner, cache: self.cache.clone() }
    }
}

/// The service [`BearerLayer`] makes: `S` with a token on every call, and
/// one retry with a renewed token when the server says it expired or was
/// revoked.
#[derive(Debug, Clone)]
pub struct Bearer<S> {
    inner: S,
    cache: Arc<TokenCache>,
}

fn with_token(
    parts: &http::request::Parts,
    body: bytes_like::Bytes,
    token: &SecretString,
) -> Result<http::Request<Body>, Status> {
    let mut request = http::Request::from_parts(parts.clone(), Body::new(http_body_util::Full::new(body)));
    let value = http::HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))
        .map_err(|_| Status::internal("token is not a valid header value"))?;
    request.headers_mut().insert(http::header::AUTHORIZATION, value);
    Ok(request)
}

/// Bytes, named through tonic's re-export so no extra crate is needed.
mod bytes_like {
    pub use tonic::codegen::Bytes;
}

/// Whether a new token may succeed where this one was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renewal {
    /// Not a refusal of the token.
    No,
    /// It expired or was revoked.
    Always,
    /// It no longer matches the deployment (its issuer, keys or roles): a
    /// token fetched since the change would pass.
    IfOld,
}

/// What a trailers-only error response (how gRPC sends unary failures)
/// says of renewing the token.
fn renewal(response: &http::Response<Body>) -> Renewal {
    match Status::from_header_map(response.headers()) {
        Some(status) if status.code() == Code::Unauthenticated => match crate::error::reason_of(&status).as_deref() {
            Some("TOKEN_EXPIRED" | "TOKEN_REVOKED") => Renewal::Always,
            Some("TOKEN_INVALID" | "UNKNOWN_ROLE") => Renewal::IfOld,
            _ => Renewal::No,
        },
        _ => Renewal::No,
    }
}

impl<S> Service<http::Request<Body>> for Bearer<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<http::Response<Body>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // Take the service that was made ready, leave a clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let cache = self.cache.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.map_err(|e| Status::internal(format!("request body: {e}")))?.to_bytes();
            let (token, generation) = cache.token().await?;
            let response = inner.call(with_token(&parts, body.clone(), &token)?).await.map_err(Into::into)?;
            match renewal(&response) {
                Renewal::No => return Ok(response),
                Renewal::IfOld if cache.is_younger_than(generation, MIN_AGE_TO_RENEW_INVALID).await => {
                    return Ok(response);
                }
                Renewal::Always | Renewal::IfOld => {}
            }
            let (token, _) = cache.renew(generation).await?;
            let inner = inner.ready().await.map_err(Into::into)?;
            inner.call(with_token(&parts, body, &token)?).await.map_err(Into::into)
        })
    }
}
