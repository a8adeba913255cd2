//! What the handlers share (opened by [`AuthState::open`]), and the
//! operations several handlers need: resolving an audience, recording a
//! revocation, and running a write to the end ([`run_to_end`]). Issuing a
//! token pair is `sessions::issue`'s.

use std::{future::Future, sync::Arc};

use anyhow::Context;
use authpair_claims::{Denylist, Deployment, Revocation, TokenSigner, Verifier, VerifierConfig};
use secrecy::ExposeSecret;
use tokio::sync::watch;

use crate::{
    config::Config,
    error::{ApiError, Common},
    identity::{federation::Federated, password::PasswordHasher, throttle::Throttle},
    keys::{
        at_rest::KeysAtRest,
        keyring::{KeyPolicy, KeyRing},
    },
    revocation::feed::Feed,
    store::{RevokeUser, Store},
};

#[derive(Debug)]
pub struct AuthState {
    pub config: Config,
    /// The issuer, earlier issuers, role table and plans: what this
    /// service's tokens mean, announced first on every feed stream.
    pub deployment: Deployment,
    pub store: Store,
    pub hasher: PasswordHasher,
    pub signer: TokenSigner,
    pub keys: Arc<KeyRing>,
    /// This service's own view of revocations, for its admin API.
    pub denylist: Arc<Denylist>,
    /// Checks every token this service sees: callers' (the auth layer) and
    /// introspected ones. Its keys follow the published set (`KeyRing::maintain`).
    pub verifier: Arc<Verifier>,
    pub feed: Arc<Feed>,
    pub throttle: Arc<Throttle>,
    /// What a client assertion's `aud` may name (RFC 7523 §3): the issuer
    /// and the token endpoint's URL.
    pub assertion_audiences: Vec<String>,
    /// Trusted external issuers (`--federation`) and their keys.
    pub federated: Federated,
}

pub use authpair_claims::clock::now;

/// Runs `write` to the end in a task of its own, whatever its caller does.
///
/// When a caller goes away (its deadline passes, it hangs up), its handler's
/// future is dropped at the next await. A revoking write dropped between its
/// commit and [`AuthState::logged`] would leave a durable log entry in force
/// nowhere and announced to no one until the log sweep found it, and would
/// lose its audit line. So the commit, the apply and the audit run here.
pub async fn run_to_end<T: Send + 'static>(
    write: impl Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(write).await.map_err(|e| {
        // The write panicked, or the runtime is shutting down.
        tracing::error!(error = %e, "a write's task failed");
        ApiError::Common(Common::Internal)
    })?
}

/// The verifier of every token this service sees. Its own audience is the
/// admin one: authenticated methods (the admin API, the revocation feed,
/// introspection's caller) take only tokens for it. Public ones also take
/// the resource services' (the access token a Logout revokes), and so does
/// introspection for the token it judges: every audience the deployment
/// issues for.
/// Its issuers and roles are the deployment's, as on every other verifier.
fn verifier(config: &Config, deployment: &Deployment) -> Verifier {
    let verifier = Verifier::new(VerifierConfig {
        public_audiences: config.resource_audiences().map(str::to_owned).collect(),
        ed25519: config.shared.tokens.ed25519,
        ..VerifierConfig::following(config.admin_audience.clone(), config.shared.tokens.leeway, config.access_token_ttl)
    });
    verifier.set_deployment(deployment);
    verifier
}

impl AuthState {
    /// Opens the database and signing keys and loads the revocation log:
    /// everything the handlers share. `stopping` ends feed streams when
    /// shutdown begins.
    pub async fn open(
        config: Config,
        deployment: Deployment,
        assertion_audiences: Vec<String>,
        stopping: watch::Receiver<bool>,
    ) -> anyhow::Result<Arc<Self>> {
        // Before the database: a missing or unreadable master key stops the
        // start before anything is written.
        let at_rest = KeysAtRest::from_config(&config)?;
        let store = Store::open(&config.shared.data_dir, config.shared.database_url.as_ref())
            .await
            .context("opening the database")?;
        let key_policy = KeyPolicy {
            publish_delay: config.key_publish_delay,
            retire_grace: config.access_token_ttl + config.shared.tokens.leeway,
            rotate_every: (!config.key_rotation.is_zero()).then_some(config.key_rotation),
        };
        let keys = Arc::new(KeyRing::open(store.clone(), key_policy, at_rest).await.context("loading signing keys")?);
        let signer = TokenSigner::new(deployment.issuer.clone(), config.access_token_ttl);
        let denylist = Arc::new(Denylist::local());
        let feed = Feed::new(
            store.clone(),
            keys.clone(),
            denylist.clone(),
            deployment.clone(),
            config.feed_heartbeat,
            stopping,
        )
        .await?;
        feed.load().await.context("loading revocations")?;
        let throttle = match &config.shared.redis.url {
            Some(url) => Throttle::shared(
                config.throttle,
                config.trusted_proxies.clone(),
                url.expose_secret(),
                &config.shared.redis.prefix,
                Some(store.clone()),
            )
            .await
            .context("connecting to Redis for login throttling")?,
            None => Throttle::new(config.throttle, config.trusted_proxies.clone(), Some(store.clone()))?,
        };
        let federated = Federated::new(config.federation.as_ref());
        Ok(Arc::new(AuthState {
            verifier: Arc::new(verifier(&config, &deployment)),
            deployment,
            hasher: PasswordHasher::new(config.hash_concurrency, config.hash_queue)?,
            config,
            store,
            signer,
            keys,
            denylist,
            feed: Arc::new(feed),
            throttle,
            assertion_audiences,
            federated,
        }))
    }

    /// The audience a caller asked for ("" is the default), or
    /// INVALID_ARGUMENT (RFC 8707's invalid_target) for one this deployment
    /// does not issue for.
    pub fn audience<'a>(&'a self, requested: &'a str) -> Result<&'a str, ApiError> {
        self.config.resolve_audience(requested).ok_or_else(|| {
            let shown: String = requested.chars().take(64).collect();
            ApiError::invalid(format!("unknown audience {shown:?}"))
        })
    }

    /// The audiences a new service account is granted: each resolved as by
    /// [`Self::audience`], deduplicated.
    pub fn granted_audiences(&self, requested: &[String]) -> Result<Vec<String>, ApiError> {
        let mut granted: Vec<String> = Vec::new();
        for name in requested {
            let audience = self.audience(name)?;
            if !granted.iter().any(|a| a == audience) {
                granted.push(audience.to_owned());
            }
        }
        Ok(granted)
    }

    /// A revocation of every token and session of a subject issued so far,
    /// kept until the last of the tokens has expired.
    pub fn revoke_user(&self, set_disabled: Option<bool>) -> RevokeUser {
        let now = now();
        let expires_at = now + (self.config.access_token_ttl + self.config.shared.tokens.leeway).as_secs() as i64;
        RevokeUser { now, expires_at, set_disabled, end_sessions: true }
    }

    /// Makes a committed log entry effective here and on the feed.
    pub fn logged(&self, sequence: u64, revocation: Revocation) {
        self.denylist.apply_logged(sequence, revocation);
        self.feed.announce(sequence);
    }

    /// Subject revocation logged at `sequence`: tokens with a lower `gen`.
    pub fn subject_revocation(&self, subject: &str, sequence: u64, rev: RevokeUser) -> Revocation {
        Revocation::Subject {
            issuer: self.deployment.issuer.clone(),
            subject: subject.to_owned(),
            min_generation: sequence,
            expires_at: rev.expires_at,
        }
    }
}
