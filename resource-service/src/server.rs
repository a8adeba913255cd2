//! `serve`: from a bound listener to a graceful stop.
//!
//! The server answers at once with health NOT_SERVING while background tasks
//! load the auth service's public keys and follow its revocation feed;
//! health turns SERVING when both are in place (see `feed::report_health`).

use std::{future::Future, sync::Arc};

use anyhow::Context as _;

use authpair_claims::{
    AuthInterceptor, Denylist, Policy, QuotaGate, QuotaLimiter, Verifier, VerifierConfig,
    serving::{drain_limited, incoming, reflection, secured_server},
    telemetry, tls,
};
use authpair_proto::resource::v1::resource_service_server::ResourceServiceServer;
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;
use tonic_health::ServingStatus;

use crate::{
    Config,
    api::ResourceApi,
    feed::{FeedClient, FeedThread, report_health},
    keys::{self, KeyFetcher},
    quota::LocalQuotas,
    redis_quota::RedisQuotas,
    store::Store,
};

const SERVICE_NAME: &str = "resource.v1.ResourceService";

/// Requests larger than this are refused before decoding (tonic's default
/// is 4 MiB). The largest valid request, an UpdateDocument with a 64 KiB body,
/// a 200-character title and an id, fits with room to spare.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// Runs the resource service on `listener` until `shutdown` resolves, then
/// lets calls in flight finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    anyhow::ensure!(
        config.audience != config.auth_audience,
        "--audience {:?} is the auth service's own (--auth-audience): tokens for its admin API would work here",
        config.audience
    );
    telemetry::serve_metrics(config.metrics_listen).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&config.data_dir)?;
    let store = Store::open(&config.data_dir, config.database_url.as_ref()).await?;
    let Some(client_secret) = config.client_secret.clone() else {
        anyhow::bail!("RESOURCE_CLIENT_SECRET is required: without the revocation feed every call would fail closed");
    };
    let verifier = Arc::new(Verifier::new(VerifierConfig {
        cache_bytes: config.token_cache_bytes,
        ..VerifierConfig::new(config.issuer.clone(), config.audience.clone(), config.leeway, config.max_token_lifetime)
    }));
    let denylist = Arc::new(Denylist::fed(config.max_revocation_staleness));
    let policy = Arc::new(Policy::standard()?);
    policy.check_covers(Policy::all_methods())?;
    let interceptor = AuthInterceptor::new("resource-service", verifier.clone(), denylist.clone(), policy.clone());
    let local_quotas = LocalQuotas::new(config.quota_free, config.quota_pro, config.quota_window)?;
    let quotas: Arc<dyn QuotaLimiter> = match &config.redis_url {
        Some(url) => Arc::new(
            RedisQuotas::connect(
                url.expose_secret(),
                &config.redis_prefix,
                config.quota_free,
                config.quota_pro,
                config.quota_window,
            )
            .await
            .context("connecting to Redis for quotas")?,
        ),
        None => local_quotas.clone(),
    };
    let quota_gate = QuotaGate::layer(policy, Some(quotas));

    let client_tls = match &config.auth_ca {
        Some(ca) => {
            let identity = config.client_cert.as_deref().zip(config.client_key.as_deref());
            Some(tls::client_tls(ca, identity)?)
        }
        None => None,
    };
    let channel = keys::channel(&config.auth_urls, client_tls.clone())?;
    let server_tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_tls(cert, key, config.tls_client_ca.as_deref())?),
        _ => None,
    };
    let fetcher = KeyFetcher::new(channel.clone(), verifier.clone());
    let api =
        ResourceApi::new(store.clone(), verifier.clone(), denylist.clone(), interceptor.stats(), fetcher.fetches());
    // The feed is followed as this service's own service account, on its own
    // thread and connection (see `FeedThread`).
    let account = (config.client_id.clone(), client_secret, config.auth_audience.clone());
    let (auth_urls, feed_verifier, feed_denylist) = (config.auth_urls.clone(), verifier.clone(), denylist.clone());
    let feed =
        FeedThread::spawn(move || FeedClient::connect(&auth_urls, client_tls, account, feed_verifier, feed_denylist))?;

    let (health, health_service) = tonic_health::server::health_reporter();
    for service in ["", SERVICE_NAME] {
        health.set_service_status(service, ServingStatus::NotServing).await;
    }
    let background = [
        tokio::spawn(fetcher.run(config.unknown_kid_refetch)),
        tokio::spawn(report_health(verifier, denylist, health, vec![SERVICE_NAME])),
        tokio::spawn(local_quotas.housekeep(config.quota_window)),
    ];
    let (reflection_v1, reflection_v1alpha) = reflection(&[SERVICE_NAME])?;

    tracing::info!(%addr, auth_urls = ?config.auth_urls, "resource-service listening");
    let limits = config.connection_limits();
    let router = secured_server(interceptor, quota_gate, server_tls, limits)?
        .add_service(ResourceServiceServer::new(api).max_decoding_message_size(MAX_MESSAGE_BYTES))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    let served = drain_limited(shutdown, limits.drain(), |signal| {
        router.serve_with_incoming_shutdown(incoming(listener, limits), signal)
    })
    .await;
    for task in background {
        task.abort();
    }
    feed.stop().await;
    store.close().await;
    tracing::info!(%addr, "resource-service stopped");
    Ok(served?)
}
