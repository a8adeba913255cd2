//! A protected service holds no secret: it trusts the auth service's
//! public keys, read from `GetJwks` and pushed on the revocation feed.
//!
//! This module reads them with `GetJwks`: once at start (with backoff, until
//! the auth service answers), and again when a token names a kid we do not
//! know, at most once per interval however many such tokens arrive, so a
//! flood of random kids cannot cause a fetch storm.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::FollowerError;
use crate::{PublicJwk, Verifier, backoff::Backoff};
use authpair_proto::auth::v1::{GetJwksRequest, GetJwksResponse, auth_service_client::AuthServiceClient};
use tonic::transport::{Channel, Endpoint};

const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The first retry waits about this long; each failure doubles it.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One channel over every auth-service URL: tonic balances calls across the
/// endpoints that answer, so keys and the feed fail over when one is down.
pub fn channel(auth_urls: &[String], tls: Option<tonic::transport::ClientTlsConfig>) -> Result<Channel, FollowerError> {
    let mut endpoints = Vec::with_capacity(auth_urls.len());
    for url in auth_urls {
        let refused = |source| FollowerError::Endpoint { url: url.clone(), source };
        let mut endpoint = Endpoint::from_shared(url.clone()).map_err(refused)?.connect_timeout(CALL_TIMEOUT);
        if let Some(tls) = &tls {
            endpoint = endpoint.tls_config(tls.clone()).map_err(refused)?;
        }
        endpoints.push(endpoint);
    }
    if endpoints.is_empty() {
        return Err(FollowerError::NoAuthUrl);
    }
    Ok(match endpoints.len() {
        1 => endpoints.remove(0).connect_lazy(),
        _ => Channel::balance_list(endpoints.into_iter()),
    })
}

/// Installs a JWK set. A set with no usable key is refused, so a broken
/// auth service cannot empty our trust store.
pub fn install(jwks: &GetJwksResponse, verifier: &Verifier) -> Result<usize, FollowerError> {
    let keys = jwks
        .keys
        .iter()
        .filter_map(|jwk| match PublicJwk::from_proto(jwk) {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::warn!(kid = jwk.kid.as_str(), error = %e, "ignoring unusable JWK");
                None
            }
        })
        .collect::<Vec<_>>();
    if keys.is_empty() {
        return Err(FollowerError::NoUsableKey);
    }
    verifier.set_keys(&keys)?;
    Ok(keys.len())
}

/// Reads keys with `GetJwks`, counting every fetch.
#[derive(Debug, Clone)]
pub struct KeyFetcher {
    service: &'static str,
    client: AuthServiceClient<Channel>,
    verifier: Arc<Verifier>,
    fetches: Arc<AtomicU64>,
}

impl KeyFetcher {
    /// A fetcher for the service named `service` (a metric label).
    pub fn new(service: &'static str, channel: Channel, verifier: Arc<Verifier>) -> Self {
        Self { service, client: AuthServiceClient::new(channel), verifier, fetches: Arc::default() }
    }

    pub fn fetches(&self) -> Arc<AtomicU64> {
        self.fetches.clone()
    }

    async fn fetch(&mut self) -> Result<usize, FollowerError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(crate::telemetry::KEY_FETCHES, "service" => self.service).increment(1);
        let mut request = tonic::Request::new(GetJwksRequest {});
        request.set_timeout(CALL_TIMEOUT);
        let jwks = self.client.get_jwks(request).await?.into_inner();
        install(&jwks, &self.verifier)
    }

    /// Runs for the life of the service.
    pub async fn run(mut self, refetch_interval: Duration) {
        let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
        while self.verifier.key_count() == 0 {
            match self.fetch().await {
                Ok(count) => tracing::info!(keys = count, "signing keys loaded"),
                Err(e) => {
                    let wait = backoff.next_wait();
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "auth service keys not available yet");
                    tokio::time::sleep(wait).await;
                }
            }
        }
        let mut last: Option<Instant> = None;
        loop {
            self.verifier.unknown_kid_seen().notified().await;
            if last.is_some_and(|at| at.elapsed() < refetch_interval) {
                continue;
            }
            last = Some(Instant::now());
            match self.fetch().await {
                Ok(count) => tracing::info!(keys = count, "re-read signing keys after an unknown kid"),
                Err(e) => tracing::warn!(error = %e, "re-reading signing keys failed; keeping the last known keys"),
            }
        }
    }
}
