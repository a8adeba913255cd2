//! orders-service: a gRPC service that is not authpair's, protected by
//! authpair. The whole adoption is in `main`:
//!
//! 1. declare each method's policy in the .proto (`orders.proto`);
//! 2. read it from the service's own descriptors ([`Policy::from_descriptors`]);
//! 3. follow the auth service's keys and revocation feed ([`Follower`]);
//! 4. put the [`AuthLayer`] around the server, here by describing the
//!    server to authpair-server's startup skeleton ([`Startup`]), which
//!    serves it with authpair's own bounds, health and reflection.
//!
//! The handlers (`orders.rs`) then only read the verified caller; one calls
//! the resource service on the caller's behalf with a token from token
//! exchange ([`next_hop`]).

use std::{sync::Arc, time::Duration};

use authpair_claims::{
    AuthLayer, Denylist, Policy, Verifier, VerifierConfig,
    client::{ServiceCredentials, TokenCache, TokenExchange},
    follower::{DEFAULT_UNKNOWN_KID_REFETCH, Follower, FollowerConfig, SecretString, report_health},
};
use authpair_server::{
    config::{ServiceConfig, ServiceDefaults, ServingFlags, parse_secret},
    serving::{init_tracing, shutdown_signal},
    startup::Startup,
};
use clap::Parser;
use tonic::transport::Endpoint;
use tonic_health::ServingStatus;

use orders_service::{
    SERVICE,
    orders::{NextHop, Orders},
    pb,
};

/// Every flag also reads `ORDERS_<FLAG>` from the environment.
#[derive(Debug, Parser)]
#[command(name = "orders-service", version, about = "An example service protected by authpair")]
struct Flags {
    /// Listener, connection bounds, TLS, logging, metrics: as authpair's own services.
    #[command(flatten)]
    serving: ServingFlags,
    /// The `aud` tokens for this service carry.
    #[arg(long, default_value = authpair_claims::defaults::AUDIENCE)]
    audience: String,
    /// Pins the `iss` tokens must carry; unset: the issuer the auth
    /// service announces (with the earlier ones it still honours).
    #[arg(long)]
    issuer: Option<String>,
    #[command(flatten)]
    auth: AuthFlags,
    /// The resource service, which DescribeCustomer asks on the caller's
    /// behalf (with a token from token exchange; this service's account
    /// then needs scope tokens:exchange, and the auth service a
    /// --delegations entry for it).
    #[arg(long, default_value = authpair_claims::defaults::RESOURCE_URL)]
    resource_url: String,
    /// The resource service's audience.
    #[arg(long, default_value = authpair_claims::defaults::AUDIENCE)]
    resource_audience: String,
}

/// Where the auth service is, and who this service is there.
#[derive(Debug, clap::Args)]
struct AuthFlags {
    /// The auth service: one URL, or several comma-separated instances.
    #[arg(long, default_value = authpair_claims::defaults::AUTH_URL, value_delimiter = ',')]
    auth_url: Vec<String>,
    /// This service's service account at the auth service (scope revocations:watch).
    #[arg(long, default_value = "orders-service")]
    client_id: String,
    /// That service account's client secret (prefer the environment
    /// variable: a flag's value shows in the process list).
    #[arg(long, hide_env_values = true, value_parser = parse_secret)]
    client_secret: SecretString,
    /// The auth service's own audience, which the feed's token is for.
    #[arg(long, default_value = authpair_claims::defaults::ADMIN_AUDIENCE)]
    auth_audience: String,
}

impl ServiceConfig for Flags {
    const DEFAULTS: ServiceDefaults =
        ServiceDefaults { env_prefix: "ORDERS", listen: "127.0.0.1:50055", data_dir: None, metrics_listen: "off" };
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let flags = Flags::load();
    if flags.serving.health_check {
        std::process::exit(authpair_server::health_check::check(&flags.serving).await);
    }
    init_tracing(&flags.serving.log, flags.serving.log_json);

    // Every method's rule, from orders.proto; a method without one refuses to start.
    // Its roles and scopes are checked against the role table the auth
    // service announces, when it arrives.
    let policy = Arc::new(Policy::from_descriptors(pb::DESCRIPTORS, &[SERVICE])?);
    let startup = Startup::begin("orders-service", &flags.serving)?;
    // The issuer and the roles that exist come from the auth service too.
    let verifier = Arc::new(Verifier::new(VerifierConfig {
        issuer: flags.issuer,
        ..VerifierConfig::following(flags.audience, Duration::from_secs(30), Duration::from_secs(3600))
    }));
    // Fail closed when the feed has been silent for a minute.
    let denylist = Arc::new(Denylist::fed(Duration::from_secs(60)));
    let resource = next_hop(&flags.auth, flags.resource_url, flags.resource_audience)?;
    let follower = follow(flags.auth, policy.clone(), verifier.clone(), denylist.clone())?;

    // Health turns SERVING once the keys are loaded and the feed is fresh.
    let listener = tokio::net::TcpListener::bind(flags.serving.listen).await?;
    startup
        .service(AuthLayer::new("orders-service", verifier.clone(), denylist.clone(), policy))
        .grpc(pb::orders_service_server::OrdersServiceServer::new(Orders::new(Some(resource))))
        .descriptors(pb::DESCRIPTORS)
        .health(ServingStatus::NotServing, |reporter, names| {
            report_health("orders-service", verifier, denylist, reporter, names)
        })
        .on_stop(async move { follower.stop().await })
        .run(listener, shutdown_signal())
        .await?;
    Ok(())
}

/// The resource service, asked on a caller's behalf: the caller's token is
/// exchanged at the auth service (as this service's account, for the auth
/// service's audience, scope tokens:exchange) for one the resource service
/// takes.
fn next_hop(auth: &AuthFlags, url: String, audience: String) -> Result<NextHop, Box<dyn std::error::Error>> {
    let auth_url = auth.auth_url.first().ok_or("--auth-url names no auth service")?;
    let auth_channel = Endpoint::from_shared(auth_url.clone())?.connect_lazy();
    let credentials = ServiceCredentials::new(
        auth_channel.clone(),
        auth.client_id.clone(),
        auth.client_secret.clone(),
        authpair_claims::token::roles::EXCHANGE_SCOPE.into(),
    )
    .for_audience(auth.auth_audience.clone());
    Ok(NextHop {
        exchange: TokenExchange::new(auth_channel, TokenCache::new(credentials)),
        channel: Endpoint::from_shared(url)?.connect_lazy(),
        audience,
    })
}

/// Follows the auth service's keys and revocation feed as this service's
/// own service account.
fn follow(
    auth: AuthFlags,
    policy: Arc<Policy>,
    verifier: Arc<Verifier>,
    denylist: Arc<Denylist>,
) -> Result<Follower, Box<dyn std::error::Error>> {
    let config = FollowerConfig {
        service: "orders-service",
        auth_urls: auth.auth_url,
        tls: None,
        client_id: auth.client_id,
        client_secret: auth.client_secret,
        auth_audience: auth.auth_audience,
        unknown_kid_refetch: DEFAULT_UNKNOWN_KID_REFETCH,
        policy: Some(policy),
    };
    Ok(Follower::start(config, verifier, denylist)?)
}
