//! orders-service: a gRPC service that is not authpair's, protected by
//! authpair. The whole adoption is in `main`:
//!
//! 1. declare each method's policy in the .proto (`orders.proto`);
//! 2. read it from the service's own descriptors ([`Policy::from_descriptors`]);
//! 3. follow the auth service's keys and revocation feed ([`Follower`]);
//! 4. put the [`AuthLayer`] around the server.
//!
//! The handlers (`orders.rs`) then only read the verified caller.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use authpair_claims::{
    AuthLayer, Denylist, Policy, Verifier, VerifierConfig,
    follower::{DEFAULT_UNKNOWN_KID_REFETCH, Follower, FollowerConfig, SecretString, report_health},
};
use clap::Parser;

use orders_service::{SERVICE, orders::Orders, pb};

#[derive(Debug, Parser)]
#[command(name = "orders-service", version, about = "An example service protected by authpair")]
struct Flags {
    /// Address to listen on.
    #[arg(long, env = "ORDERS_LISTEN", default_value = "127.0.0.1:50055")]
    listen: SocketAddr,
    /// The auth service: one URL, or several comma-separated instances.
    #[arg(long, env = "ORDERS_AUTH_URL", default_value = authpair_claims::defaults::AUTH_URL, value_delimiter = ',')]
    auth_url: Vec<String>,
    /// This service's service account at the auth service (scope revocations:watch).
    #[arg(long, env = "ORDERS_CLIENT_ID", default_value = "orders-service")]
    client_id: String,
    /// That service account's client secret (prefer the environment
    /// variable: a flag's value shows in the process list).
    #[arg(long, env = "ORDERS_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// The `aud` tokens for this service carry.
    #[arg(long, env = "ORDERS_AUDIENCE", default_value = authpair_claims::defaults::AUDIENCE)]
    audience: String,
    /// The auth service's own audience, which the feed's token is for.
    #[arg(long, env = "ORDERS_AUTH_AUDIENCE", default_value = authpair_claims::defaults::ADMIN_AUDIENCE)]
    auth_audience: String,
    /// Pins the `iss` tokens must carry; unset: the issuer the auth
    /// service announces (with the earlier ones it still honours).
    #[arg(long, env = "ORDERS_ISSUER")]
    issuer: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(terminal).init();
    let flags = Flags::parse();

    // Every method's rule, from orders.proto; a method without one refuses to start.
    // Its roles and scopes are checked against the role table the auth
    // service announces, when it arrives.
    let policy = Arc::new(Policy::from_descriptors(pb::DESCRIPTORS, &[SERVICE])?);
    // The issuer and the roles that exist come from the auth service too.
    let verifier = Arc::new(Verifier::new(VerifierConfig {
        issuer: flags.issuer,
        ..VerifierConfig::following(flags.audience, Duration::from_secs(30), Duration::from_secs(3600))
    }));
    // Fail closed when the feed has been silent for a minute.
    let denylist = Arc::new(Denylist::fed(Duration::from_secs(60)));
    let follower = Follower::start(
        FollowerConfig {
            service: "orders-service",
            auth_urls: flags.auth_url,
            tls: None,
            client_id: flags.client_id,
            client_secret: SecretString::from(flags.client_secret),
            auth_audience: flags.auth_audience,
            unknown_kid_refetch: DEFAULT_UNKNOWN_KID_REFETCH,
            policy: Some(policy.clone()),
        },
        verifier.clone(),
        denylist.clone(),
    )?;

    // Health turns SERVING once the keys are loaded and the feed is fresh.
    let (health, health_service) = tonic_health::server::health_reporter();
    tokio::spawn(report_health("orders-service", verifier.clone(), denylist.clone(), health, vec![SERVICE]));
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::DESCRIPTORS)
            // So grpcurl and other reflection clients decode a refusal's reason.
            .register_encoded_file_descriptor_set(authpair_claims::ERROR_DETAILS_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };

    let listener = tokio::net::TcpListener::bind(flags.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "orders-service listening");
    tonic::transport::Server::builder()
        .layer(AuthLayer::new("orders-service", verifier, denylist, policy))
        .add_service(pb::orders_service_server::OrdersServiceServer::new(Orders::default()))
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    follower.stop().await;
    Ok(())
}
