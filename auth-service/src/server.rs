//! `serve`: the auth service described for the shared startup skeleton
//! (`authpair_server::startup`), which serves, drains and stops it.
//!
//! Startup order: the policy read and checked against the role table; the
//! metrics exporter, TLS files and data dir (`Startup`); the handlers'
//! shared state (database and migrations, signing keys, revocations loaded:
//! `AuthState::open`); the signer's self-test; the first admin and service
//! account; then the description: both gRPC services, health from the
//! database, background tasks, the HTTP listener. The self-test signs and
//! verifies a probe token so a missing crypto backend fails the start, not
//! a request.

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context;
use authpair_claims::{AuthLayer, Denylist, Grant, Policy, Rule, TokenSigner, Verifier};
use authpair_proto::auth::v1::{admin_service_server::AdminServiceServer, auth_service_server::AuthServiceServer};
use authpair_server::{
    db::Backend,
    startup::{Service, Startup, default_url},
};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    Config,
    api::{admin::AdminApi, auth::AuthApi},
    bootstrap, http,
    keys::keyring::KeyRing,
    revocation::log_listener,
    state::{AuthState, now},
    store::Store,
};

/// This service's name in logs, metrics and the data-dir lock.
const SERVICE: &str = "auth-service";

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
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the HTTP listener (--http-listen) on {addr}"))?,
        ),
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
    config.check().map_err(anyhow::Error::msg)?;
    let (policy, introspect) = read_policy(&config)?;
    let startup = Startup::begin(SERVICE, &config.shared.serving)?.with_data_dir(&config.shared)?;
    let public_url = match &config.public_url {
        Some(url) => url.clone(),
        // The HTTP listener's URL, else the gRPC port's: the one address there is.
        None => default_url(http.as_ref().unwrap_or(&listener).local_addr()?, startup.tls_on()),
    };
    let deployment = config.deployment(&public_url);
    tracing::info!(issuer = %deployment.issuer, "tokens carry this issuer");
    let assertion_audiences = vec![deployment.issuer.clone(), format!("{public_url}{}", http::paths::TOKEN_PATH)];
    let state = AuthState::open(config, deployment, assertion_audiences, startup.stopping()).await?;
    self_test_and_bootstrap(&state).await?;
    // No method of this service has a quota, so no limiter: one that did
    // would fail closed.
    let client_cert_required = state.config.shared.serving.require_client_cert_for_services;
    let layer = AuthLayer::new(SERVICE, state.verifier.clone(), state.denylist.clone(), Arc::new(policy))
        .require_client_cert_for_services(client_cert_required);
    let store = state.store.clone();
    let mut service = startup
        .service(layer)
        .grpc(AuthServiceServer::new(AuthApi::new(state.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES))
        .grpc(AdminServiceServer::new(AdminApi::new(state.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES))
        .descriptors(authpair_proto::FILE_DESCRIPTOR_SET)
        .health(ServingStatus::Serving, |reporter, names| report_database_health(store, reporter, names));
    service = background(service, &state);
    if let Some(listener) = http {
        let access = http::Access { rule: introspect, client_cert_required };
        let router = http::router(http::Documents::new(state.clone(), &public_url, access)?);
        service = service.http(listener, router, state.config.http_limits);
    }
    service.run(listener, shutdown).await
}

/// The verifier given the published keys, the signer's self-test (a token
/// it signs must verify), then the first admin and service account.
async fn self_test_and_bootstrap(state: &AuthState) -> anyhow::Result<()> {
    state.verifier.set_keys(&state.keys.published())?;
    self_test(&state.signer, &state.keys, &state.verifier, &state.config.admin_audience)?;
    bootstrap::ensure_admin(state).await?;
    bootstrap::ensure_service_account(state).await
}

/// The method policy from this service's descriptors, checked against the
/// role table (a rule naming a role or scope the table does not define
/// refuses to start), and the rule HTTP introspection applies.
fn read_policy(config: &Config) -> anyhow::Result<(Policy, Rule)> {
    let policy = Policy::from_descriptors(authpair_proto::FILE_DESCRIPTOR_SET, authpair_proto::AUTH_SERVICES)?;
    policy.check_names(&config.role_scopes.vocabulary([]))?;
    let introspect = policy.rule(INTROSPECT).cloned().context("the policy has no Introspect method")?;
    Ok((policy, introspect))
}

/// The background tasks: key rotation, housekeeping, the revocation log's
/// sweep every feed heartbeat for an entry no handler applied here
/// (log_listener.rs) and, with one database shared by several instances,
/// the others' revocations through LISTEN/NOTIFY; the database closed at
/// the end.
fn background(service: Service, state: &Arc<AuthState>) -> Service {
    let (store, denylist, issuer) = (state.store.clone(), state.denylist.clone(), state.deployment.issuer.clone());
    let sweep = log_listener::sweep(
        store.clone(),
        state.feed.clone(),
        denylist.clone(),
        issuer.clone(),
        state.config.feed_heartbeat,
    );
    let closing = store.clone();
    let service = service
        .on_stop(async move { closing.close().await })
        .task(state.keys.clone().maintain(state.verifier.clone()))
        .task(housekeeping(store.clone(), denylist.clone(), state.throttle.clone()))
        .task(sweep);
    match store.backend() {
        Backend::Postgres => service.task(log_listener::follow(store, state.feed.clone(), denylist, issuer)),
        Backend::Sqlite => service,
    }
}

/// Periodic housekeeping: expired revocations, session tokens and used
/// client assertions, idle throttle sources, login failures older than
/// their window.
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
        if let Err(e) = store.prune_client_assertions(now()).await {
            tracing::warn!(error = %e, "pruning used client assertions failed");
        }
    }
}

/// How often health asks the database, and how long an answer may take.
const HEALTH_EVERY: Duration = Duration::from_millis(500);
const HEALTH_WITHIN: Duration = Duration::from_secs(2);

/// Sets the health of every service this server runs (`names`, and the
/// server's own, "") to SERVING while the database answers and NOT_SERVING
/// while it does not, logging each change.
async fn report_database_health(store: Store, health: HealthReporter, names: Vec<&'static str>) {
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
        for service in std::iter::once("").chain(names.iter().copied()) {
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
        certificate: None,
        actors: Vec::new(),
        not_after: None,
    };
    let key = keys.signing_key().context("no signing key is valid now")?;
    let token = signer.issue(&key, &probe).context("signing self-test")?;
    let claims = verifier.verify(token.token.expose_secret()).context("verifying self-test")?;
    anyhow::ensure!(claims.subject() == "self-test", "self-test token verified with the wrong subject");
    anyhow::ensure!(claims.is_for_this_service(), "self-test token is not for this service's own audience");
    Ok(())
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
