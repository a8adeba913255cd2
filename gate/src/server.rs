//! `serve`: the gate described for the shared startup skeleton
//! (`authpair_server::startup`), which serves, drains and stops it.
//!
//! It answers at once with health NOT_SERVING while the follower loads the
//! auth service's keys and follows its revocation feed, as the resource
//! service does; SERVING once both are in place. Until then, and whenever
//! the feed goes stale, every Check that carries a token is denied (503):
//! the gate fails closed.

use std::{future::Future, sync::Arc};

use authpair_claims::{AuthLayer, Policy, follower::report_health};
use authpair_proto::{
    ENVOY_AUTHORIZATION_SERVICE, ENVOY_DESCRIPTOR_SET,
    envoy_api::envoy::service::auth::v3::authorization_server::AuthorizationServer,
};
use authpair_server::{quota, startup::Startup};
use tokio::net::TcpListener;
use tonic_health::ServingStatus;

use crate::{Config, answer::Answers, check::Gate, routes::Routes};

/// The gate's name in metrics, logs and health.
pub const SERVICE: &str = "authpair-gate";

/// Runs the gate on `listener` until `shutdown` resolves, then lets checks
/// in flight finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    // Read and checked before anything starts, as a service's proto policy is.
    let routes = Arc::new(Routes::load(&config.routes)?);
    let mut audiences = routes.audiences_besides(&config.follow.auth_audience)?;
    let startup = Startup::begin(SERVICE, &config.serving)?;
    // Every route's audience verifies; each check then asks for its route's.
    let first = audiences.remove(0);
    let verifier = Arc::new(config.follow.verifier(first, audiences, &config.tokens));
    let denylist = Arc::new(config.follow.denylist());
    let (quotas, local_quotas) = quota::limiter(&config.quotas, &config.redis).await?;
    // The routes' roles, scopes and quotas are checked against what the
    // auth service announces; one it does not define is logged as an error.
    let names = Some(Arc::new(routes.naming_policy()));
    let follower = config.follow.start(SERVICE, &config.client_id, names, verifier.clone(), denylist.clone())?;
    let answers = Answers::new(&config.identity_header_prefix, config.strip_authorization);
    let gate = Gate::new(routes.clone(), verifier.clone(), denylist.clone(), quotas, answers);
    tracing::info!(routes = ?routes.names(), "deciding for these routes");

    // The gate's own methods need no token: Envoy sends the request to
    // decide inside the message. Reach it over mTLS in production.
    let check = format!("/{ENVOY_AUTHORIZATION_SERVICE}/Check");
    let layer = AuthLayer::new(SERVICE, verifier.clone(), denylist.clone(), Arc::new(Policy::public(&[&check])));
    startup
        .service(layer)
        .grpc(AuthorizationServer::new(gate))
        .descriptors(ENVOY_DESCRIPTOR_SET)
        .health(ServingStatus::NotServing, move |reporter, names| {
            report_health(SERVICE, verifier, denylist, reporter, names)
        })
        .task(local_quotas.clone().housekeep(config.quotas.quota_window))
        .on_stop(async move { follower.stop().await })
        .run(listener, shutdown)
        .await
}
