//! `serve`: from a bound listener to a graceful stop.
//!
//! The server answers at once (health NOT_SERVING) while a background task
//! loads the auth service's public keys; see `keys`.

use std::{future::Future, sync::Arc};

use authpair_claims::{
    AuthInterceptor, Policy, Verifier, VerifierConfig,
    serving::{reflection, secured_server},
};
use authpair_proto::resource::v1::resource_service_server::ResourceServiceServer;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::{Config, api::ResourceApi, keys};

const SERVICE_NAME: &str = "resource.v1.ResourceService";

/// Runs the resource service on `listener` until `shutdown` resolves, then
/// lets calls in flight finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    std::fs::create_dir_all(&config.data_dir)?;
    let verifier = Arc::new(Verifier::new(VerifierConfig {
        issuer: config.issuer.clone(),
        audience: config.audience.clone(),
        leeway: config.leeway,
        max_lifetime: config.max_token_lifetime,
    }));
    let policy = Policy::standard();
    policy.check_covers(Policy::all_methods())?;
    let interceptor = AuthInterceptor::new(verifier.clone(), Arc::new(policy));
    let api = ResourceApi::new(verifier.clone(), interceptor.stats());

    let (health, health_service) = tonic_health::server::health_reporter();
    for service in ["", SERVICE_NAME] {
        health.set_service_status(service, ServingStatus::NotServing).await;
    }
    let key_task = tokio::spawn(keys::keep_keys_fresh(
        keys::channel(&config.auth_url)?,
        verifier,
        health,
        vec![SERVICE_NAME],
        config.key_refresh,
    ));
    let (reflection_v1, reflection_v1alpha) = reflection(&[SERVICE_NAME])?;

    tracing::info!(%addr, auth_url = config.auth_url.as_str(), "resource-service listening");
    let served = secured_server(interceptor)
        .add_service(ResourceServiceServer::new(api))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await;
    key_task.abort();
    tracing::info!(%addr, "resource-service stopped");
    Ok(served?)
}
