//! The client side of the auth service's revocation feed.
//!
//! Keeps one `WatchRevocations` stream open, resuming after the last applied
//! sequence whenever it reconnects (with backoff and jitter). The denylist
//! counts as fresh only once a connection's snapshot is complete, and then on
//! every event or heartbeat; while the stream is down the service goes on with
//! the last-known list until it is older than the maximum staleness, and then
//! fails closed (see `Denylist::check`). Each stream opens with the
//! deployment the auth service announces (issuer, role table, plans), which
//! the verifier takes and this service's policy is checked against.
//!
//! An outage is logged once, then summarised once a minute (`outage`), not
//! at every retry; the backoff starts over only after a stream got in sync.
//!
//! The feed runs on a thread of its own ([`FeedThread`]): on the serving
//! runtime, an arriving revocation would wait its turn behind every call
//! already queued there, hundreds of them on a saturated core.

use std::{sync::Arc, time::Duration};

use crate::{
    Denylist, Deployment, Policy, Revocation, Verifier,
    backoff::Backoff,
    client::{Bearer, BearerLayer, ServiceCredentials, TokenCache},
};
use authpair_proto::auth::v1::{
    WatchRevocationsRequest, WatchRevocationsResponse, auth_service_client::AuthServiceClient,
    watch_revocations_response::Event,
};
use secrecy::SecretString;
use tonic::transport::{Channel, ClientTlsConfig};
use tower::Layer as _;

use super::{
    FollowerError,
    keys::{self, FIRST_BACKOFF, MAX_BACKOFF, install},
    outage::Outage,
};

/// What this service asks for when it gets its own token.
const FEED_SCOPE: &str = "revocations:watch";

#[derive(Debug)]
pub struct FeedClient {
    service: &'static str,
    /// Carries this service's own service token (see `crate::client`).
    client: AuthServiceClient<Bearer<Channel>>,
    verifier: Arc<Verifier>,
    denylist: Arc<Denylist>,
    /// This service's policy, checked against each announced role table.
    policy: Option<Arc<Policy>>,
    outage: Outage,
    /// Whether the current stream got in sync.
    synced: bool,
}

/// The feed's own thread, with a single-threaded runtime and its own
/// connection to the auth service (a tonic channel's connection task runs on
/// the runtime that made it). A revocation is then applied as soon as the OS
/// runs this thread, however many calls the serving runtime has queued.
/// Dropping the handle stops the feed; [`FeedThread::stop`] also waits.
#[derive(Debug)]
pub struct FeedThread {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl FeedThread {
    /// Starts the thread; `make` builds the client on the thread's runtime.
    /// If it fails, the feed never becomes fresh and the service fails
    /// closed, as it would with the auth service unreachable.
    pub fn spawn<F>(make: F) -> std::io::Result<Self>
    where
        F: FnOnce() -> Result<FeedClient, FollowerError> + Send + 'static,
    {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new().name("revocation-feed".into()).spawn(move || {
            runtime.block_on(async move {
                let feed = match make() {
                    Ok(feed) => feed,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the revocation feed; failing closed");
                        return;
                    }
                };
                // A send or a dropped sender both mean stop.
                tokio::select! {
                    () = feed.run() => {}
                    _ = stopped => {}
                }
            });
        })?;
        Ok(Self { stop, thread })
    }

    /// Stops the feed and waits for its thread to end.
    pub async fn stop(self) {
        let Self { stop, thread } = self;
        drop(stop);
        // Joining blocks, so not on an async worker.
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// Why a connection ended.
enum Ended {
    /// The auth service's log is behind what we applied: it was reset.
    LogReset,
    Closed,
}

impl FeedClient {
    /// Follows the auth service at `auth_urls` as service account
    /// `client_id`, with tokens for `auth_audience` (the auth service's own).
    /// Call it on the runtime the feed runs on: the channel's connection task
    /// runs on the runtime that made it.
    pub fn connect(
        service: &'static str,
        auth_urls: &[String],
        tls: Option<ClientTlsConfig>,
        (client_id, client_secret, auth_audience): (String, SecretString, String),
        verifier: Arc<Verifier>,
        denylist: Arc<Denylist>,
        policy: Option<Arc<Policy>>,
    ) -> Result<Self, FollowerError> {
        let channel = keys::channel(auth_urls, tls)?;
        let credentials = ServiceCredentials::new(channel.clone(), client_id, client_secret, FEED_SCOPE.to_owned())
            .for_audience(auth_audience);
        let bearer = BearerLayer::new(TokenCache::new(credentials));
        Ok(Self {
            service,
            client: AuthServiceClient::new(bearer.layer(channel)),
            verifier,
            denylist,
            policy,
            outage: Outage::new("revocation feed"),
            synced: false,
        })
    }

    /// Runs for the life of the service.
    pub async fn run(mut self) {
        let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
        loop {
            self.synced = false;
            match self.follow().await {
                Ok(Ended::LogReset) => {
                    tracing::warn!("the auth service's revocation log is behind ours; starting over");
                    self.denylist.clear();
                    continue;
                }
                Ok(Ended::Closed) => tracing::debug!("revocation feed ended (server stop); reconnecting"),
                // Routine: the auth service ends a watch when the token that
                // opened it expires, and the next call carries a new one.
                Err(e) if crate::error::reason_of(&e).as_deref() == Some("TOKEN_EXPIRED") => {
                    tracing::debug!("revocation feed ended at this service's token expiry; reconnecting")
                }
                Err(e) => {
                    let age = self.denylist.age().map(|a| a.as_secs());
                    self.outage.failed(&e, age);
                }
            }
            // A stream that got in sync starts the backoff over; a failure
            // to connect or to sync doubles it.
            if self.synced {
                backoff.reset();
            }
            tokio::time::sleep(backoff.next_wait()).await;
        }
    }

    /// One connection: resume after the last applied sequence, apply events
    /// until the stream ends.
    async fn follow(&mut self) -> Result<Ended, tonic::Status> {
        let after = self.denylist.sequence();
        let request = tonic::Request::new(WatchRevocationsRequest { after_sequence: after });
        let mut stream = self.client.watch_revocations(request).await?.into_inner();
        let mut in_sync = false;
        while let Some(event) = stream.message().await? {
            let WatchRevocationsResponse { sequence, event } = event;
            match event {
                Some(Event::Keys(jwks)) => {
                    if let Err(e) = install(&jwks, &self.verifier) {
                        tracing::warn!(error = %e, "ignoring a key set from the feed");
                    }
                }
                Some(Event::Token(t)) => self.denylist.apply_logged(
                    sequence,
                    Revocation::Token { issuer: t.issuer, token_id: t.token_id, expires_at: t.expires_at },
                ),
                Some(Event::Subject(s)) => self.denylist.apply_logged(
                    sequence,
                    Revocation::Subject {
                        issuer: s.issuer,
                        subject: s.subject,
                        min_generation: s.min_generation,
                        expires_at: s.expires_at,
                    },
                ),
                Some(Event::SnapshotComplete(_)) => {
                    if sequence < after {
                        return Ok(Ended::LogReset);
                    }
                    in_sync = true;
                    self.synced = true;
                    if self.outage.recovered() == 0 {
                        tracing::info!(sequence, "revocation feed in sync");
                    }
                }
                Some(Event::Deployment(announced)) => self.take_deployment(announced),
                Some(Event::Heartbeat(_)) => {
                    self.denylist.prune();
                    let behind = sequence.saturating_sub(self.denylist.sequence());
                    metrics::gauge!(crate::telemetry::FEED_LAG, "service" => self.service).set(behind as f64);
                }
                None => {}
            }
            if in_sync {
                self.denylist.heard();
            }
        }
        Ok(Ended::Closed)
    }

    /// Takes an announced deployment into the verifier and, when it is new,
    /// checks this service's policy against it: a method naming a role or
    /// scope the deployment does not define can be called by nobody, which
    /// the operator should hear of.
    fn take_deployment(&self, announced: authpair_proto::auth::v1::Deployment) {
        let deployment = match Deployment::from_proto(announced) {
            Ok(deployment) => deployment,
            Err(e) => {
                tracing::error!(error = %e, "ignoring the deployment the auth service announced");
                return;
            }
        };
        if !self.verifier.set_deployment(&deployment) {
            return;
        }
        tracing::info!(
            issuer = %deployment.issuer,
            previous_issuers = ?deployment.previous_issuers,
            roles = ?deployment.role_scopes.roles().collect::<Vec<_>>(),
            "deployment announced by the auth service"
        );
        if let Some(policy) = &self.policy {
            let known = deployment.role_scopes.vocabulary(policy.quotas().iter().map(String::as_str));
            if let Err(e) = policy.check_names(&known) {
                tracing::error!(error = %e, "this service's policy names what the auth service does not define");
            }
        }
    }
}

/// Flips health between SERVING and NOT_SERVING as keys and feed freshness
/// allow, and logs each change.
pub async fn report_health(
    service: &'static str,
    verifier: Arc<Verifier>,
    denylist: Arc<Denylist>,
    health: tonic_health::server::HealthReporter,
    services: Vec<&'static str>,
) {
    let mut serving = None;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        if let Some(age) = denylist.age() {
            metrics::gauge!(crate::telemetry::FEED_AGE, "service" => service).set(age.as_secs_f64());
        }
        let now_serving = verifier.key_count() > 0 && !denylist.is_stale();
        if serving == Some(now_serving) {
            continue;
        }
        let starting = serving.is_none();
        serving = Some(now_serving);
        let status = if now_serving {
            tracing::info!("serving: keys loaded and revocation feed fresh");
            tonic_health::ServingStatus::Serving
        } else if starting {
            tracing::info!("waiting for the signing keys and the revocation feed");
            tonic_health::ServingStatus::NotServing
        } else {
            let age = denylist.age().map(|a| a.as_secs());
            tracing::warn!(keys = verifier.key_count(), feed_age_secs = ?age, "not serving: failing closed");
            tonic_health::ServingStatus::NotServing
        };
        for service in std::iter::once("").chain(services.iter().copied()) {
            health.set_service_status(service, status).await;
        }
    }
}
