//! `serve`: from a bound listener to a graceful stop.
//!
//! The server answers at once with health NOT_SERVING while background tasks
//! load the auth service's public keys and follow its revocation feed;
//! health turns SERVING when both are in place (see `feed::report_health`).

use std::{future::Future, sync::Arc};

use anyhow::Context as _;

use authpair_claims::{
    AuthLayer, Denylist, Policy, QuotaLimiter, Verifier, VerifierConfig,
    follower::{Follower, FollowerConfig, report_health},
};
use authpair_proto::resource::v1::resource_service_server::ResourceServiceServer;
use authpair_server::{
    data_dir::DataDirLock,
    exporter,
    serving::{drain_limited, incoming, reflection, secured_server},
    tls,
};
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;
use tonic_health::ServingStatus;

use crate::{
    Config,
    api::ResourceApi,
    quota::{LocalQuotas, QUOTAS},
    redis_quota::RedisQuotas,
    store::Store,
};

const SERVICE_NAME: &str = "resource.v1.ResourceService";
/// This service's name in metrics and logs.
const SERVICE: &str = "resource-service";

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
    config.check().map_err(anyhow::Error::msg)?;
    // Read before anything starts: a policy naming a quota this service does
    // not define refuses to start. Its roles and scopes are checked against
    // the role table the auth service announces, when it arrives.
    let policy =
        Arc::new(Policy::from_descriptors(authpair_proto::FILE_DESCRIPTOR_SET, authpair_proto::RESOURCE_SERVICES)?);
    policy.check_quotas(QUOTAS.iter().copied())?;
    exporter::serve_metrics(config.shared.metrics_listen, "--metrics-listen").map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&config.shared.data_dir)?;
    // SQLite in the data dir: one instance at a time. Held until serve returns.
    let _data_dir_lock = match config.shared.database_url {
        None => Some(DataDirLock::acquire(&config.shared.data_dir, "resource-service")?),
        Some(_) => None,
    };
    let store = Store::open(&config.shared.data_dir, config.shared.database_url.as_ref()).await?;
    let Some(client_secret) = config.client_secret.clone() else {
        anyhow::bail!("RESOURCE_CLIENT_SECRET is required: without the revocation feed every call would fail closed");
    };
    // The issuer and roles come from the auth service's announcement
    // unless --issuer pins the issuer.
    let verifier = Arc::new(Verifier::new(VerifierConfig {
        issuer: config.issuer.clone(),
        cache_bytes: config.token_cache_bytes,
        ed25519: config.shared.ed25519,
        ..VerifierConfig::following(config.audience.clone(), config.shared.leeway, config.max_token_lifetime)
    }));
    let denylist = Arc::new(Denylist::fed(config.max_revocation_staleness));
    let local_quotas = LocalQuotas::new(&config.plan_quotas, config.quota_window)?;
    let quotas: Arc<dyn QuotaLimiter> = match &config.shared.redis_url {
        Some(url) => Arc::new(
            RedisQuotas::connect(
                url.expose_secret(),
                &config.shared.redis_prefix,
                &config.plan_quotas,
                config.quota_window,
            )
            .await
            .context("connecting to Redis for quotas")?,
        ),
        None => local_quotas.clone(),
    };
    let auth = AuthLayer::new(SERVICE, verifier.clone(), denylist.clone(), policy.clone())
        .with_quotas(quotas)
        .require_client_cert_for_services(config.shared.require_client_cert_for_services);

    let client_tls = match &config.auth_ca {
        Some(ca) => {
            let identity = config.client_cert.as_deref().zip(config.client_key.as_deref());
            Some(tls::client_tls(ca, identity)?)
        }
        None => None,
    };
    let server_tls = match (&config.shared.tls_cert, &config.shared.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_tls(cert, key, config.shared.tls_client_ca.as_deref())?),
        _ => None,
    };
    // The keys and the feed are followed as this service's own service
    // account; the feed on its own thread and connection.
    let follower = Follower::start(
        FollowerConfig {
            service: SERVICE,
            auth_urls: config.auth_urls.clone(),
            tls: client_tls,
            client_id: config.client_id.clone(),
            client_secret,
            auth_audience: config.auth_audience.clone(),
            unknown_kid_refetch: config.unknown_kid_refetch,
            policy: Some(policy),
        },
        verifier.clone(),
        denylist.clone(),
    )?;
    let api = ResourceApi::new(store.clone(), verifier.clone(), denylist.clone(), auth.stats(), follower.fetches());

    let (health, health_service) = tonic_health::server::health_reporter();
    for service in ["", SERVICE_NAME] {
        health.set_service_status(service, ServingStatus::NotServing).await;
    }
    let background = [
        tokio::spawn(report_health(SERVICE, verifier, denylist, health, vec![SERVICE_NAME])),
        tokio::spawn(local_quotas.housekeep(config.quota_window)),
    ];
    let (reflection_v1, reflection_v1alpha) = reflection(authpair_proto::RESOURCE_SERVICES)?;

    tracing::info!(%addr, auth_urls = ?config.auth_urls, "resource-service listening");
    let limits = config.shared.connection_limits();
    let router = secured_server(auth, server_tls, limits)?
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
    follower.stop().await;
    store.close().await;
    tracing::info!(%addr, "resource-service stopped");
    Ok(served?)
}
