//! What the handlers share (opened by [`AuthState::open`]), and the
//! operations several handlers need: issuing a token pair, recording a
//! revocation, and running a write to the end ([`run_to_end`]).

use std::{future::Future, sync::Arc};

use anyhow::Context;
use authpair_claims::{Denylist, Deployment, Grant, IssuedToken, Revocation, TokenSigner, Verifier, VerifierConfig};
use authpair_proto::auth::v1::LoginResponse;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

use crate::{
    at_rest::KeysAtRest,
    config::Config,
    error::{ApiError, Common},
    feed::Feed,
    grants,
    keyring::{KeyPolicy, KeyRing},
    password::PasswordHasher,
    secret::{new_refresh_token, refresh_token_hash},
    store::{RefreshRecord, RevokeUser, SessionToken, Store, UserRow},
    throttle::Throttle,
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
        ed25519: config.shared.ed25519,
        ..VerifierConfig::following(config.admin_audience.clone(), config.shared.leeway, config.access_token_ttl)
    });
    verifier.set_deployment(deployment);
    verifier
}

/// A new refresh token and the record that stores it.
pub struct NextRefresh {
    pub token: SecretString,
    pub record: RefreshRecord,
}

/// The `jti` and `iat` of an access token a session is about to issue,
/// fixed before it is signed so the session can record it
/// ([`SessionToken`]) in the transaction that issues it.
pub struct NextAccess {
    pub token_id: String,
    pub issued_at: i64,
    pub record: SessionToken,
}

impl AuthState {
    /// Opens the database and signing keys and loads the revocation log:
    /// everything the handlers share. `stopping` ends feed streams when
    /// shutdown begins.
    pub async fn open(
        config: Config,
        deployment: Deployment,
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
            retire_grace: config.access_token_ttl + config.shared.leeway,
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
        let throttle = match &config.shared.redis_url {
            Some(url) => Throttle::shared(
                config.throttle,
                config.trusted_proxies.clone(),
                url.expose_secret(),
                &config.shared.redis_prefix,
                Some(store.clone()),
            )
            .await
            .context("connecting to Redis for login throttling")?,
            None => Throttle::new(config.throttle, config.trusted_proxies.clone(), Some(store.clone()))?,
        };
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
        }))
    }

    pub fn next_refresh(&self, now: i64) -> Result<NextRefresh, ApiError> {
        let token = new_refresh_token().map_err(|e| {
            tracing::error!(error = %e, "random source failed");
            ApiError::Common(Common::Internal)
        })?;
        let record = RefreshRecord {
            token_hash: refresh_token_hash(&token),
            idle_expires_at: now + self.config.refresh_token_idle.as_secs() as i64,
        };
        Ok(NextRefresh { token, record })
    }

    /// The next access token of a session, issued at `now`.
    pub fn next_access(&self, now: i64) -> Result<NextAccess, ApiError> {
        let token_id = authpair_claims::token::signer::new_token_id().map_err(|e| {
            tracing::error!(error = %e, "random source failed");
            ApiError::Common(Common::Internal)
        })?;
        let passes_until = now + (self.config.access_token_ttl + self.config.shared.leeway).as_secs() as i64;
        let record = SessionToken { token_id: token_id.clone(), expires_at: passes_until };
        Ok(NextAccess { token_id, issued_at: now, record })
    }

    /// The generation to stamp on a token: the log head as committed in
    /// the database (not this instance's view of it, which may lag another
    /// instance's write). Read it BEFORE looking the caller up, so a
    /// revocation logged in between makes the token revoked rather than
    /// letting it slip past (fail closed).
    pub async fn generation(&self) -> Result<u64, ApiError> {
        Ok(self.store.revocation_head().await?)
    }

    /// Signs an access token for `grant` with the current signing key: a
    /// new one, or with `access` the one a session recorded.
    pub fn sign(&self, grant: &Grant, access: Option<&NextAccess>) -> Result<IssuedToken, ApiError> {
        let key = self.keys.signing_key().ok_or_else(|| {
            tracing::error!("no signing key is valid now; is the clock behind the key's creation?");
            ApiError::Common(Common::Internal)
        })?;
        let signed = match access {
            Some(a) => self.signer.issue_as(&key, grant, a.token_id.clone(), a.issued_at.max(0) as u64),
            None => self.signer.issue(&key, grant),
        };
        signed.map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            ApiError::Common(Common::Internal)
        })
    }

    /// Signs access token `access` for `user` (roles and plan as stored
    /// now) and pairs it with `refresh_token`, as Login answers (Refresh's
    /// answer has the same fields: `.into()`). `generation` from
    /// [`Self::generation`]; `audience` already resolved
    /// ([`Config::resolve_audience`]).
    pub fn token_response(
        &self,
        user: &UserRow,
        refresh_token: &SecretString,
        (generation, access): (u64, &NextAccess),
        audience: &str,
    ) -> Result<LoginResponse, ApiError> {
        let grant = grants::for_user(user, &self.config.role_scopes, generation, audience);
        let issued = self.sign(&grant, Some(access))?;
        Ok(LoginResponse {
            access_token: issued.token.expose_secret().to_owned(),
            token_type: "Bearer".into(),
            expires_in: issued.expires_in.as_secs() as i64,
            refresh_token: refresh_token.expose_secret().to_owned(),
            scope: grant.scopes.join(" "),
        })
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
        let expires_at = now + (self.config.access_token_ttl + self.config.shared.leeway).as_secs() as i64;
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
