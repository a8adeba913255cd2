//! `serve`: the resource service described for the shared startup
//! skeleton (`authpair_server::startup`), which serves, drains and stops it.
//!
//! The server answers at once with health NOT_SERVING while background tasks
//! load the auth service's public keys and follow its revocation feed;
//! health turns SERVING when both are in place (see `feed::report_health`).

use std::{future::Future, sync::Arc};

use authpair_claims::{AuthLayer, Policy, follower::report_health};
use authpair_proto::resource::v1::resource_service_server::ResourceServiceServer;
use authpair_server::{quota, startup::Startup};
use tokio::net::TcpListener;
use tonic_health::ServingStatus;

use crate::{
    Config,
    api::{QUOTAS, ResourceApi},
    store::Store,
};

/// This service's name in metrics, logs and the data-dir lock.
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
    config.check().map_err(anyhow::Error::msg)?;
    // Read before anything starts: a policy naming a quota this service does
    // not define refuses to start. Its roles and scopes are checked against
    // the role table the auth service announces, when it arrives.
    let policy =
        Arc::new(Policy::from_descriptors(authpair_proto::FILE_DESCRIPTOR_SET, authpair_proto::RESOURCE_SERVICES)?);
    policy.check_quotas(QUOTAS.iter().copied())?;
    let startup = Startup::begin(SERVICE, &config.shared.serving)?.with_data_dir(&config.shared)?;
    let store = Store::open(&config.shared.data_dir, config.shared.database_url.as_ref()).await?;
    let verifier = Arc::new(config.follow.verifier(config.audience.clone(), Vec::new(), &config.shared.tokens));
    let denylist = Arc::new(config.follow.denylist());
    let (quotas, local_quotas) = quota::limiter(&config.quotas, &config.shared.redis).await?;
    let layer = AuthLayer::new(SERVICE, verifier.clone(), denylist.clone(), policy.clone())
        .with_quotas(quotas)
        .require_client_cert_for_services(config.shared.serving.require_client_cert_for_services);
    // The feed on its own thread and connection, as this service's own
    // service account.
    let follower = config.follow.start(SERVICE, &config.client_id, Some(policy), verifier.clone(), denylist.clone())?;
    let api = ResourceApi::new(store.clone(), verifier.clone(), denylist.clone(), layer.stats(), follower.fetches());

    // NOT_SERVING until the keys are in and the feed is fresh.
    startup
        .service(layer)
        .grpc(ResourceServiceServer::new(api).max_decoding_message_size(MAX_MESSAGE_BYTES))
        .descriptors(authpair_proto::FILE_DESCRIPTOR_SET)
        .health(ServingStatus::NotServing, move |reporter, names| {
            report_health(SERVICE, verifier, denylist, reporter, names)
        })
        .task(local_quotas.clone().housekeep(config.quotas.quota_window))
        .on_stop(async move { follower.stop().await })
        .on_stop(async move { store.close().await })
        .run(listener, shutdown)
        .await
}
