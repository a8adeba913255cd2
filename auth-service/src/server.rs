//! `serve`: everything from a bound listener to a graceful stop.
//!
//! Startup order: data dir, database and migrations, signing key, signer
//! self-test, first admin, then the server. The self-test signs and verifies
//! a probe token so a missing crypto backend fails the start, not a request.

use std::{future::Future, sync::Arc};

use anyhow::Context;
use authpair_claims::{
    AuthInterceptor, Grant, Plan, Policy, TokenSigner, Verifier, VerifierConfig,
    serving::{reflection, secured_server},
};
use authpair_proto::auth::v1::{admin_service_server::AdminServiceServer, auth_service_server::AuthServiceServer};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::{
    Config,
    api::{admin::AdminApi, auth::AuthApi},
    bootstrap, keyfile,
    password::PasswordHasher,
    state::AuthState,
    store::Store,
};

/// Requests larger than this are refused before decoding.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Runs the auth service on `listener` until `shutdown` resolves, then lets
/// calls in flight finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    create_private_dir(&config.data_dir)?;
    let store = Store::open(&config.data_dir, config.database_url.as_deref()).await.context("opening the database")?;
    let key = keyfile::load_or_create(&config.data_dir)?;
    let public = key.public_jwk().clone();
    let signer = TokenSigner::new(key, config.issuer.clone(), config.audience.clone(), config.access_token_ttl);
    let verifier = Arc::new(Verifier::new(VerifierConfig {
        issuer: config.issuer.clone(),
        audience: config.audience.clone(),
        leeway: config.leeway,
        max_lifetime: config.access_token_ttl,
    }));
    verifier.set_keys(&[public])?;
    self_test(&signer, &verifier)?;

    let state = Arc::new(AuthState {
        hasher: PasswordHasher::new(config.hash_concurrency)?,
        config,
        store: store.clone(),
        signer,
    });
    bootstrap::ensure_admin(&state).await?;

    let policy = Policy::standard();
    policy.check_covers(Policy::all_methods())?;
    let interceptor = AuthInterceptor::new(verifier, Arc::new(policy));

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<AuthServiceServer<AuthApi>>().await;
    health.set_serving::<AdminServiceServer<AdminApi>>().await;
    let (reflection_v1, reflection_v1alpha) = reflection(&["auth.v1.AuthService", "auth.v1.AdminService"])?;

    tracing::info!(%addr, "auth-service listening");
    secured_server(interceptor)
        .add_service(AuthServiceServer::new(AuthApi::new(state.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES))
        .add_service(AdminServiceServer::new(AdminApi::new(state)).max_decoding_message_size(MAX_MESSAGE_BYTES))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await?;
    store.close().await;
    tracing::info!(%addr, "auth-service stopped");
    Ok(())
}

fn self_test(signer: &TokenSigner, verifier: &Verifier) -> anyhow::Result<()> {
    let probe = Grant {
        subject: "self-test".into(),
        username: "self-test".into(),
        client_id: "self-test".into(),
        roles: vec![],
        scopes: vec![],
        plan: Plan::Free,
    };
    let token = signer.issue(&probe).context("signing self-test")?;
    let claims = verifier.verify(token.token.expose_secret()).context("verifying self-test")?;
    anyhow::ensure!(claims.subject() == "self-test", "self-test token verified with the wrong subject");
    Ok(())
}

/// The data dir holds the private key: owner-only.
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("creating data dir {}", dir.display()))
}
