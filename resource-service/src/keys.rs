//! The resource service holds no secret: it reads the auth service's public
//! keys from `GetJwks` and verifies tokens locally.
//!
//! At start it retries with exponential backoff and jitter until the auth
//! service answers; until then health reports NOT_SERVING and authenticated
//! calls get UNAVAILABLE. After that it re-reads the keys periodically, and
//! keeps the last good set if a re-read fails.

use std::{sync::Arc, time::Duration};

use authpair_claims::{PublicJwk, Verifier};
use authpair_proto::auth::v1::{GetJwksRequest, auth_service_client::AuthServiceClient};
use tonic::transport::{Channel, Endpoint};
use tonic_health::{ServingStatus, server::HealthReporter};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub fn channel(auth_url: &str) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(auth_url.to_owned())?.connect_timeout(CALL_TIMEOUT).timeout(CALL_TIMEOUT).connect_lazy())
}

/// Reads the JWK set once and installs it. A set with no usable key is an
/// error, so a broken auth service cannot empty our trust store.
pub async fn fetch_once(client: &mut AuthServiceClient<Channel>, verifier: &Verifier) -> anyhow::Result<usize> {
    let jwks = client.get_jwks(GetJwksRequest {}).await?.into_inner();
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
    anyhow::ensure!(!keys.is_empty(), "the JWK set has no usable key");
    verifier.set_keys(&keys)?;
    Ok(keys.len())
}

/// Runs for the life of the service: first load with backoff, then periodic
/// refresh. Health flips to SERVING once keys are loaded.
pub async fn keep_keys_fresh(
    channel: Channel,
    verifier: Arc<Verifier>,
    health: HealthReporter,
    services: Vec<&'static str>,
    refresh_every: Duration,
) {
    let mut client = AuthServiceClient::new(channel);
    let mut backoff = FIRST_BACKOFF;
    loop {
        match fetch_once(&mut client, &verifier).await {
            Ok(count) => {
                tracing::info!(keys = count, "signing keys loaded");
                break;
            }
            Err(e) => {
                let wait = with_jitter(backoff);
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "auth service keys not available yet");
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    for service in std::iter::once("").chain(services) {
        health.set_service_status(service, ServingStatus::Serving).await;
    }
    let mut ticker = tokio::time::interval(refresh_every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if let Err(e) = fetch_once(&mut client, &verifier).await {
            tracing::warn!(error = %e, "key refresh failed; keeping the last known keys");
        }
    }
}

/// Full jitter on the upper half: a wait in [d/2, d], so restarts spread out.
fn with_jitter(d: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let fraction = if getrandom::getrandom(&mut byte).is_ok() { f64::from(byte[0]) / 255.0 } else { 1.0 };
    d.mul_f64(0.5 + 0.5 * fraction)
}
