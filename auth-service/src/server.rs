//! `serve`: everything from a bound listener to a graceful stop.
//!
//! Startup order: the audiences checked (the admin one shared with no
//! resource service); data dir; the handlers' shared state (database and
//! migrations, signing keys, revocations loaded: `AuthState::open`); signer
//! self-test; first admin; background tasks; then the server. The
//! self-test signs and verifies a probe token so a missing crypto backend
//! fails the start, not a request.

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context;
use authpair_claims::{AuthLayer, Denylist, Grant, Policy, TokenSigner, Verifier};
use authpair_proto::auth::v1::{admin_service_server::AdminServiceServer, auth_service_server::AuthServiceServer};
use authpair_server::{
    data_dir::DataDirLock,
    db::Backend,
    exporter,
    serving::{drain_limited, incoming, reflection, secured_server},
    tls,
};
use secrecy::ExposeSecret;
use tokio::{net::TcpListener, sync::watch};

use crate::{
    Config,
    api::{admin::AdminApi, auth::AuthApi},
    bootstrap, http,
    keys::keyring::KeyRing,
    revocation::log_listener,
    state::{AuthState, now},
    store::Store,
};

/// How often expired revocations are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Requests larger than this are refused before decoding.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The gRPC method whose policy rule the HTTP introspection endpoint applies.
const INTROSPECT: &str = "/auth.v1.AuthService/Introspect";

/// Runs the auth service on `listener` until `shutdown` resolves, then lets
/// calls in flight finish. The HTTP listener, unless `--http-listen off`, is
/// bound here.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let http = match config.http_listen {
        Some(addr) => Some(http::bind(addr).await?),
        None => None,
    };
    serve_with_http(listener, http, config, shutdown).await
}

/// As [`serve`], with the HTTP listener already bound (or none), e.g. on
/// port 0 by a caller that needs its address.
pub async fn serve_with_http(
    listener: TcpListener,
    http: Option<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    config.check().map_err(anyhow::Error::msg)?;
    // Read before anything starts: a policy naming a role or scope the
    // table does not define refuses to start.
    let policy = Policy::from_descriptors(authpair_proto::FILE_DESCRIPTOR_SET, authpair_proto::AUTH_SERVICES)?;
    policy.check_names(&config.role_scopes.vocabulary([]))?;
    let introspect_rule = policy.rule(INTROSPECT).cloned().context("the policy has no Introspect method")?;
    exporter::serve_metrics(config.shared.metrics_listen, "--metrics-listen").map_err(anyhow::Error::msg)?;
    create_private_dir(&config.shared.data_dir)?;
    // SQLite in the data dir: one instance at a time. Held until serve returns.
    let _data_dir_lock = match config.shared.database_url {
        None => Some(DataDirLock::acquire(&config.shared.data_dir, "auth-service")?),
        Some(_) => None,
    };
    // Flipped when shutdown begins, so feed streams end and do not hold the
    // graceful shutdown open.
    let (stopping, stopping_rx) = watch::channel(false);
    let tls_on = config.shared.tls_cert.is_some();
    let public_url = match (&config.public_url, &http) {
        (Some(url), _) => url.clone(),
        (None, Some(http)) => http::default_public_url(http, tls_on)?,
        // No HTTP listener: the gRPC port is the one address there is.
        (None, None) => http::default_public_url(&listener, tls_on)?,
    };
    let deployment = config.deployment(&public_url);
    tracing::info!(issuer = %deployment.issuer, "tokens carry this issuer");
    let state = AuthState::open(config, deployment, stopping_rx).await?;
    let (store, keys, denylist) = (state.store.clone(), state.keys.clone(), state.denylist.clone());
    let config = &state.config;
    let verifier = state.verifier.clone();
    verifier.set_keys(&keys.published())?;
    self_test(&state.signer, &keys, &verifier, &config.admin_audience)?;

    // No method of this service has a quota, so no limiter: one that did
    // would fail closed.
    let auth = AuthLayer::new("auth-service", verifier.clone(), denylist.clone(), Arc::new(policy))
        .require_client_cert_for_services(config.shared.require_client_cert_for_services);
    let tls = match (&config.shared.tls_cert, &config.shared.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_tls(cert, key, config.shared.tls_client_ca.as_deref())?),
        _ => None,
    };
    bootstrap::ensure_admin(&state).await?;
    bootstrap::ensure_service_account(&state).await?;

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<AuthServiceServer<AuthApi>>().await;
    health.set_serving::<AdminServiceServer<AdminApi>>().await;
    // Health tells the truth: NOT_SERVING while the database does not
    // answer, so a load balancer stops sending logins here.
    let health_task = tokio::spawn(report_database_health(store.clone(), health));
    let (reflection_v1, reflection_v1alpha) = reflection(authpair_proto::AUTH_SERVICES)?;

    let mut background = vec![
        health_task,
        tokio::spawn(keys.maintain(verifier)),
        tokio::spawn(housekeeping(store.clone(), denylist.clone(), state.throttle.clone())),
    ];
    // The log swept every heartbeat, for an entry no handler applied here
    // (log_listener.rs).
    let sweep = log_listener::sweep(
        store.clone(),
        state.feed.clone(),
        denylist.clone(),
        state.deployment.issuer.clone(),
        state.config.feed_heartbeat,
    );
    background.push(tokio::spawn(sweep));
    // With one database shared by several instances, the others' revocations
    // reach this one's denylist and feed through LISTEN/NOTIFY.
    if store.backend() == Backend::Postgres {
        let follow = log_listener::follow(store.clone(), state.feed.clone(), denylist, state.deployment.issuer.clone());
        background.push(tokio::spawn(follow));
    }
    if let Some(listener) = http {
        let access = http::Access {
            rule: introspect_rule,
            client_cert_required: state.config.shared.require_client_cert_for_services,
        };
        background.push(start_http(listener, state.clone(), &public_url, access, stopping.subscribe())?);
    }
    let shutdown = async move {
        shutdown.await;
        let _ = stopping.send(true);
    };

    let limits = state.config.shared.connection_limits();
    tracing::info!(%addr, "auth-service listening");
    let router = secured_server(auth, tls, limits)?
        .add_service(AuthServiceServer::new(AuthApi::new(state.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES))
        .add_service(AdminServiceServer::new(AdminApi::new(state)).max_decoding_message_size(MAX_MESSAGE_BYTES))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    drain_limited(shutdown, limits.drain(), |signal| {
        router.serve_with_incoming_shutdown(incoming(listener, limits), signal)
    })
    .await?;
    for task in background {
        task.abort();
    }
    store.close().await;
    tracing::info!(%addr, "auth-service stopped");
    Ok(())
}

/// Starts the HTTP listener: TLS when the gRPC port has it, its URLs from
/// `--public-url` or else from the address it is bound to.
fn start_http(
    listener: TcpListener,
    state: Arc<AuthState>,
    public_url: &str,
    access: http::Access,
    stopping: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let config = &state.config;
    let tls = match (&config.shared.tls_cert, &config.shared.tls_key) {
        (Some(cert), Some(key)) => Some(http::acceptor(cert, key)?),
        _ => None,
    };
    let addr = listener.local_addr()?;
    let router = http::router(http::Documents::new(state.clone(), public_url, access)?);
    tracing::info!(%addr, %public_url, "auth-service HTTP (JWKS, metadata, token endpoint, introspection) on");
    Ok(tokio::spawn(http::serve(listener, router, tls, config.http_limits, stopping)))
}

/// Periodic housekeeping: expired revocations and session tokens, idle
/// throttle sources, login failures older than their window.
async fn housekeeping(store: Store, denylist: Arc<Denylist>, throttle: Arc<crate::identity::throttle::Throttle>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        denylist.prune();
        throttle.housekeep().await;
        if let Err(e) = store.prune_revocations(now()).await {
            tracing::warn!(error = %e, "pruning expired revocations failed");
        }
        if let Err(e) = store.prune_session_tokens(now()).await {
            tracing::warn!(error = %e, "pruning expired session tokens failed");
        }
    }
}

/// How often health asks the database, and how long an answer may take.
const HEALTH_EVERY: Duration = Duration::from_millis(500);
const HEALTH_WITHIN: Duration = Duration::from_secs(2);

/// Sets the health of every service this server runs (and the server's
/// own, "") to SERVING while the database answers and NOT_SERVING while it
/// does not, logging each change.
async fn report_database_health(store: Store, health: tonic_health::server::HealthReporter) {
    let mut serving = true;
    let mut tick = tokio::time::interval(HEALTH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let answers = store.answers(HEALTH_WITHIN).await;
        if answers == serving {
            continue;
        }
        serving = answers;
        let status = if serving {
            tracing::info!("the database answers again: serving");
            tonic_health::ServingStatus::Serving
        } else {
            tracing::warn!("the database does not answer: not serving until it does");
            tonic_health::ServingStatus::NotServing
        };
        for service in ["", authpair_proto::AUTH_SERVICES[0], authpair_proto::AUTH_SERVICES[1]] {
            health.set_service_status(service, status).await;
        }
    }
}

/// Signs a probe for `audience` and verifies it as a call would.
fn self_test(signer: &TokenSigner, keys: &KeyRing, verifier: &Verifier, audience: &str) -> anyhow::Result<()> {
    let probe = Grant {
        subject: "self-test".into(),
        username: "self-test".into(),
        client_id: "self-test".into(),
        roles: vec![],
        scopes: vec![],
        plan: "self-test".into(),
        generation: 0,
        audience: audience.to_owned(),
    };
    let key = keys.signing_key().context("no signing key is valid now")?;
    let token = signer.issue(&key, &probe).context("signing self-test")?;
    let claims = verifier.verify(token.token.expose_secret()).context("verifying self-test")?;
    anyhow::ensure!(claims.subject() == "self-test", "self-test token verified with the wrong subject");
    anyhow::ensure!(claims.is_for_this_service(), "self-test token is not for this service's own audience");
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use authpair_claims::VerifierConfig;

    use super::*;
    use crate::keys::{at_rest::KeysAtRest, keyring::KeyPolicy, sealing::MasterKey};

    const TTL: Duration = Duration::from_secs(900);
    const LEEWAY: Duration = Duration::from_secs(30);

    fn verifier(audience: &str) -> Verifier {
        Verifier::new(VerifierConfig::new("authpair".into(), audience.into(), LEEWAY, TTL))
    }

    #[tokio::test]
    async fn r_09_the_start_up_self_test_fails_unless_a_token_it_signs_verifies() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path(), None).await?;
        let policy = KeyPolicy { publish_delay: Duration::ZERO, retire_grace: TTL + LEEWAY, rotate_every: None };
        let at_rest = KeysAtRest::Sealed { current: MasterKey::from_bytes(&[7; 32]), previous: None };
        let keys = KeyRing::open(store, policy, at_rest).await?;
        let signer = TokenSigner::new("authpair".into(), TTL);

        let trusting = verifier("authpair");
        trusting.set_keys(&keys.published())?;
        self_test(&signer, &keys, &trusting, "authpair")?;

        // A verifier that cannot check the signing key's signatures (here it
        // trusts no key; a missing crypto backend looks the same from here)
        // stops the start.
        let error = self_test(&signer, &keys, &verifier("authpair"), "authpair").err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("verifying self-test"));
        // So does one that would refuse every token the service issues.
        let elsewhere = verifier("elsewhere");
        elsewhere.set_keys(&keys.published())?;
        let error = self_test(&signer, &keys, &elsewhere, "authpair").err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("verifying self-test"));
        Ok(())
    }
}
