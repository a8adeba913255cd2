//! The client side: a tower layer for a tonic `Channel` that carries its own
//! token.
//!
//! Given a [`TokenSource`] (a service account's credentials, or a user's
//! refresh token), [`BearerLayer`] attaches `authorization: Bearer <token>`
//! to every call. The [`TokenCache`] behind it fetches a fresh token once the
//! current one is in the last fifth of its life, and holds a lock while it
//! does, so two callers never refresh at once: the second waits and uses the
//! first one's token. A call answered UNAUTHENTICATED with reason
//! TOKEN_EXPIRED (a clock skew, or a token that expired in flight),
//! TOKEN_REVOKED (someone revoked this token; the credentials may still be
//! good), TOKEN_INVALID (the deployment's issuer or keys changed since it
//! was issued) or UNKNOWN_ROLE (a role it carries was removed) is retried
//! once with a renewed token. If the credentials were revoked too, the
//! renewal fails and that is the answer. For the last two, only a token
//! older than [`MIN_AGE_TO_RENEW_INVALID`] is renewed: a newer one was
//! issued under the rules that refused it, so a client whose configuration
//! is wrong (an audience the server does not take, say) gets its refusal
//! instead of fetching a token for every call.
//!
//! To be able to retry, the layer buffers the request body: fine for unary
//! and server-streaming calls (one request message), not for long
//! client-streaming ones.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use authpair_proto::auth::v1::{IssueServiceTokenRequest, RefreshRequest, auth_service_client::AuthServiceClient};
use http_body_util::BodyExt as _;
use secrecy::{ExposeSecret, SecretString};
use tonic::{Code, Status, body::Body, transport::Channel};
use tower::{Layer, Service, ServiceExt as _};

use tokio::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A token and how long it is good for, as a source handed it out.
#[derive(Debug)]
pub struct FetchedToken {
    /// The access token.
    pub token: SecretString,
    /// Its lifetime from when it was fetched (`expires_in`).
    pub expires_in: Duration,
}

/// Where fresh access tokens come from.
pub trait TokenSource: Send + Sync + fmt::Debug + 'static {
    /// Gets a new access token; an error is the auth service's answer.
    fn fetch(&self) -> BoxFuture<'_, Result<FetchedToken, Status>>;
}

/// From a token response's `access_token` and `expires_in`.
fn fetched(access_token: String, expires_in: i64) -> FetchedToken {
    FetchedToken { token: SecretString::from(access_token), expires_in: Duration::from_secs(expires_in.max(0) as u64) }
}

/// A service account's client credentials (IssueServiceToken).
pub struct ServiceCredentials {
    client: AuthServiceClient<Channel>,
    client_id: String,
    client_secret: SecretString,
    scope: String,
    audience: String,
}

impl fmt::Debug for ServiceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceCredentials").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

impl ServiceCredentials {
    /// `scope`: space-separated scopes to ask for; empty for all granted.
    pub fn new(auth: Channel, client_id: String, client_secret: SecretString, scope: String) -> Self {
        Self { client: AuthServiceClient::new(auth), client_id, client_secret, scope, audience: String::new() }
    }

    /// Tokens for `audience`, the service they will be sent to, instead of
    /// the auth service's default audience.
    pub fn for_audience(mut self, audience: String) -> Self {
        self.audience = audience;
        self
    }
}

impl TokenSource for ServiceCredentials {
    fn fetch(&self) -> BoxFuture<'_, Result<FetchedToken, Status>> {
        let mut client = self.client.clone();
        let request = IssueServiceTokenRequest {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.expose_secret().to_owned(),
            scope: self.scope.clone(),
            audience: self.audience.clone(),
        };
        Box::pin(async move {
            let response = client.issue_service_token(request).await?.into_inner();
            Ok(fetched(response.access_token, response.expires_in))
        })
    }
}

/// A user's session: each fetch spends the refresh token and keeps its
/// successor.
pub struct RefreshTokenSource {
    client: AuthServiceClient<Channel>,
    refresh_token: tokio::sync::Mutex<SecretString>,
}

impl fmt::Debug for RefreshTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenSource").finish_non_exhaustive()
    }
}

impl RefreshTokenSource {
    /// A session on the auth service at `auth`, starting from `refresh_token`.
    pub fn new(auth: Channel, refresh_token: SecretString) -> Self {
        Self { client: AuthServiceClient::new(auth), refresh_token: tokio::sync::Mutex::new(refresh_token) }
    }
}

impl TokenSource for RefreshTokenSource {
    fn fetch(&self) -> BoxFuture<'_, Result<FetchedToken, Status>> {
        Box::pin(async move {
            let mut current = self.refresh_token.lock().await;
            let request = RefreshRequest { refresh_token: current.expose_secret().to_owned() };
            let response = self.client.clone().refresh(request).await?.into_inner();
            *current = SecretString::from(response.refresh_token.clone());
            Ok(fetched(response.access_token, response.expires_in))
        })
    }
}

struct Current {
    token: SecretString,
    renew_at: Instant,
    fetched_at: Instant,
    generation: u64,
}

/// A token refused as TOKEN_INVALID or UNKNOWN_ROLE is renewed only when it
/// was fetched at least this long ago.
pub const MIN_AGE_TO_RENEW_INVALID: Duration = Duration::from_secs(10);

/// The current token of one [`TokenSource`]; see the module docs.
pub struct TokenCache {
    source: Box<dyn TokenSource>,
    current: tokio::sync::Mutex<Option<Current>>,
    fetches: AtomicU64,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache").field("source", &self.source).field("fetches", &self.fetches).finish()
    }
}

impl TokenCache {
    /// A cache with no token yet: the first call fetches one.
    pub fn new(source: impl TokenSource) -> Arc<Self> {
        Arc::new(Self { source: Box::new(source), current: tokio::sync::Mutex::new(None), fetches: AtomicU64::new(0) })
    }

    /// How many tokens have been fetched.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A token with most of its life ahead, and its generation.
    pub async fn token(&self) -> Result<(SecretString, u64), Status> {
        self.get(None).await
    }

    /// As [`Self::token`], but never generation `stale` again: the server
    /// said it expired or was revoked. If another caller already renewed,
    /// that token is used.
    pub async fn renew(&self, stale: u64) -> Result<(SecretString, u64), Status> {
        self.get(Some(stale)).await
    }

    /// Whether generation `generation` is still the current token and was
    /// fetched less than `age` ago.
    pub async fn is_younger_than(&self, generation: u64, age: Duration) -> bool {
        let current = self.current.lock().await;
        current.as_ref().is_some_and(|c| c.generation == generation && c.fetched_at.elapsed() < age)
    }

    async fn get(&self, stale: Option<u64>) -> Result<(SecretString, u64), Status> {
        // Held across the fetch: concurrent callers wait here and then find
        // the fresh token instead of fetching their own.
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref()
            && Instant::now() < c.renew_at
            && stale != Some(c.generation)
        {
            return Ok((c.token.clone(), c.generation));
        }
        let fetched = self.source.fetch().await?;
        let generation = self.fetches.fetch_add(1, Ordering::Relaxed) + 1;
        // Renew in the last fifth of the token's life.
        let renew_at = Instant::now() + fetched.expires_in.mul_f64(0.8);
        *current = Some(Current { token: fetched.token.clone(), renew_at, fetched_at: Instant::now(), generation });
        Ok((fetched.token, generation))
    }
}

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
        Some(status) if status.code() == Code::Unauthenticated => match crate::reason_of(&status).as_deref() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out "t1", "t2", ... for an hour each.
    #[derive(Debug, Default)]
    struct Numbered(AtomicU64);

    impl TokenSource for Numbered {
        fn fetch(&self) -> BoxFuture<'_, Result<FetchedToken, Status>> {
            let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
            Box::pin(async move {
                Ok(FetchedToken { token: SecretString::from(format!("t{n}")), expires_in: Duration::from_secs(3600) })
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_counts_as_too_young_to_renew_for_an_invalid_refusal_only_until_the_minimum_age()
    -> Result<(), Status> {
        let cache = TokenCache::new(Numbered::default());
        let (_, first) = cache.token().await?;
        assert!(cache.is_younger_than(first, MIN_AGE_TO_RENEW_INVALID).await, "just fetched");
        tokio::time::advance(MIN_AGE_TO_RENEW_INVALID).await;
        assert!(!cache.is_younger_than(first, MIN_AGE_TO_RENEW_INVALID).await, "old enough to renew");
        let (token, second) = cache.renew(first).await?;
        assert_eq!((token.expose_secret(), second), ("t2", 2));
        assert!(!cache.is_younger_than(first, MIN_AGE_TO_RENEW_INVALID).await, "no longer the current token");
        assert!(cache.is_younger_than(second, MIN_AGE_TO_RENEW_INVALID).await);
        Ok(())
    }
}
