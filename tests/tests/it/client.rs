//! The client-side layer in the claims crate: a channel that carries its
//! own token, renews it before expiry, refreshes once for many callers, and
//! retries once after TOKEN_EXPIRED or TOKEN_REVOKED.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use authpair_claims::client::{BearerLayer, FetchedToken, RefreshTokenSource, TokenCache, TokenSource};
use authpair_proto::auth::v1::LogoutRequest;
use authpair_proto::resource::v1::{GetMyProfileRequest, resource_service_client::ResourceServiceClient};
use authpair_tests::{Forger, TestApp, TestResult, bearer, channel};
use secrecy::SecretString;
use tonic::Status;
use tower::Layer as _;

#[tokio::test]
async fn the_client_layer_renews_a_users_token_before_it_expires_so_no_call_fails() -> TestResult {
    let app = TestApp::spawn_with(|a| a.access_token_ttl = Duration::from_secs(2), |_| {}).await?;
    app.create_user("cli", "cli-password", &[]).await?;
    let session = app.login("cli", "cli-password").await?;
    let source = RefreshTokenSource::new(channel(app.auth_server.addr)?, SecretString::from(session.refresh_token));
    let cache = TokenCache::new(source);
    let mut resource =
        ResourceServiceClient::new(BearerLayer::new(cache.clone()).layer(channel(app.resource_server.addr)?));
    let start = Instant::now();
    let mut calls = 0;
    // Several token lifetimes of back-to-back calls.
    while start.elapsed() < Duration::from_secs(5) {
        resource.get_my_profile(GetMyProfileRequest {}).await?;
        calls += 1;
    }
    eprintln!("{calls} calls over 5 s with a 2 s token: {} tokens fetched", cache.fetches());
    assert!(cache.fetches() >= 3, "only {} fetches", cache.fetches());
    Ok(())
}

#[tokio::test]
async fn twenty_concurrent_callers_share_one_token_fetch() -> TestResult {
    let app = TestApp::spawn().await?;
    let (client_id, secret) = app.service_account("fanout", &["profile"]).await?;
    let source = authpair_claims::client::ServiceCredentials::new(
        channel(app.auth_server.addr)?,
        client_id,
        SecretString::from(secret),
        String::new(),
    );
    let cache = TokenCache::new(source);
    let resource =
        ResourceServiceClient::new(BearerLayer::new(cache.clone()).layer(channel(app.resource_server.addr)?));
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let mut resource = resource.clone();
            tokio::spawn(async move {
                resource.get_my_profile(GetMyProfileRequest {}).await.map(|r| r.into_inner().subject)
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await??, "svc:fanout");
    }
    assert_eq!(cache.fetches(), 1);
    Ok(())
}

/// First hands out a token that has already expired (while claiming it is
/// good for an hour), then valid ones.
#[derive(Debug)]
struct ExpiredFirst {
    forger: Forger,
    served: AtomicU32,
}

impl TokenSource for ExpiredFirst {
    fn fetch(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<FetchedToken, Status>> + Send + '_>> {
        let n = self.served.fetch_add(1, Ordering::Relaxed);
        let mut claims = self.forger.claims("retry-user", &["viewer"]);
        if n == 0 {
            let past = authpair_tests::now() - 3600;
            claims["iat"] = serde_json::json!(past - 900);
            claims["nbf"] = serde_json::json!(past - 900);
            claims["exp"] = serde_json::json!(past);
        }
        let token = SecretString::from(self.forger.sign(&self.forger.header(), &claims));
        Box::pin(std::future::ready(Ok(FetchedToken { token, expires_in: Duration::from_secs(3600) })))
    }
}

#[tokio::test]
async fn a_call_refused_with_token_expired_is_retried_once_with_a_new_token() -> TestResult {
    let app = TestApp::spawn().await?;
    let source = ExpiredFirst { forger: app.forger().await?, served: AtomicU32::new(0) };
    let cache: Arc<TokenCache> = TokenCache::new(source);
    let mut resource =
        ResourceServiceClient::new(BearerLayer::new(cache.clone()).layer(channel(app.resource_server.addr)?));
    let profile = resource.get_my_profile(GetMyProfileRequest {}).await?.into_inner();
    assert_eq!(profile.subject, "retry-user");
    assert_eq!(cache.fetches(), 2, "one expired token, one renewal");
    Ok(())
}

/// Hands out the given tokens in order, each claimed good for an hour.
#[derive(Debug)]
struct InOrder {
    tokens: Vec<String>,
    served: AtomicU32,
}

impl TokenSource for InOrder {
    fn fetch(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<FetchedToken, Status>> + Send + '_>> {
        let n = self.served.fetch_add(1, Ordering::Relaxed) as usize;
        let fetched = match self.tokens.get(n) {
            Some(token) => {
                Ok(FetchedToken { token: SecretString::from(token.clone()), expires_in: Duration::from_secs(3600) })
            }
            None => Err(Status::unauthenticated("no more tokens")),
        };
        Box::pin(std::future::ready(fetched))
    }
}

#[tokio::test]
async fn a_call_refused_with_token_revoked_is_retried_once_with_a_new_token() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("rev", "rev-password", &[]).await?;
    let revoked = app.login("rev", "rev-password").await?;
    let request = bearer(LogoutRequest { refresh_token: revoked.refresh_token }, &revoked.access_token);
    app.auth.clone().logout(request).await?;
    let fresh = app.login("rev", "rev-password").await?;
    let source = InOrder { tokens: vec![revoked.access_token.clone(), fresh.access_token], served: AtomicU32::new(0) };
    let cache: Arc<TokenCache> = TokenCache::new(source);
    let mut resource =
        ResourceServiceClient::new(BearerLayer::new(cache.clone()).layer(channel(app.resource_server.addr)?));
    // The revocation reaches the resource service through its feed; until
    // then the revoked token still passes and nothing is retried.
    let start = Instant::now();
    while cache.fetches() < 2 {
        assert!(start.elapsed() < Duration::from_secs(5), "the revoked token was never refused");
        let profile = resource.get_my_profile(GetMyProfileRequest {}).await?.into_inner();
        assert_eq!(profile.username, "rev");
    }
    assert_eq!(cache.fetches(), 2, "one revoked token, one renewal");
    Ok(())
}
