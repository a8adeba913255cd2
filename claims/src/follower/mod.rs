//! Following the auth service, for a service that checks its tokens: the
//! public keys (`GetJwks` at start and on an unknown kid) and the revocation
//! feed (`WatchRevocations`, resumed after the last applied sequence on every
//! reconnect, over one channel that fails over between auth-service URLs).
//!
//! - `keys`: the key fetcher, rate-limited on unknown kids.
//! - `feed`: the feed client on a thread of its own (it also takes the
//!   deployment the auth service announces), and health reporting from the
//!   feed's freshness.
//! - `outage`: how an unreachable auth service is logged: once, then a
//!   summary a minute.
//! - `error`: [`FollowerError`], what failed.
//!
//! [`Follower::start`] runs both for a [`Verifier`] and a [`Denylist`];
//! [`report_health`] turns the service's gRPC health SERVING only while
//! keys are loaded and the feed is fresh, so a load balancer stops sending
//! calls to an instance that would fail them closed.

mod error;
mod feed;
mod keys;
mod outage;

use std::{
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

pub use secrecy::SecretString;
use tonic::transport::ClientTlsConfig;

pub use error::FollowerError;
pub use feed::report_health;
pub use keys::channel;

use crate::{Denylist, Policy, Verifier};

/// The default for [`FollowerConfig::unknown_kid_refetch`].
pub const DEFAULT_UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(30);

/// Where the auth service is and who this service is to it.
#[derive(Debug, Clone)]
pub struct FollowerConfig {
    /// This service's name, as a metric label.
    pub service: &'static str,
    /// One or more auth-service instances sharing one database; calls go to
    /// those that answer.
    pub auth_urls: Vec<String>,
    /// TLS to the auth service, for `https` URLs.
    pub tls: Option<ClientTlsConfig>,
    /// This service's own service account (scope `revocations:watch`).
    pub client_id: String,
    /// That account's client secret.
    pub client_secret: SecretString,
    /// The auth service's own audience (its `--admin-audience`), which the
    /// feed's token is asked for.
    pub auth_audience: String,
    /// A token with an unknown kid re-reads the keys at most this often.
    pub unknown_kid_refetch: Duration,
    /// This service's policy, checked against the role table the auth
    /// service announces (an error is logged for each name it does not
    /// define).
    pub policy: Option<Arc<Policy>>,
}

/// The running key fetcher and feed. Dropping it stops the feed thread;
/// [`Follower::stop`] also waits for it and stops the fetcher.
#[derive(Debug)]
pub struct Follower {
    fetcher: tokio::task::JoinHandle<()>,
    feed: feed::FeedThread,
    fetches: Arc<AtomicU64>,
}

impl Follower {
    /// Starts fetching keys into `verifier` (on the current runtime) and
    /// following the feed into `denylist` and `verifier` (on its own thread).
    /// Until both are in place every authenticated call fails closed.
    pub fn start(
        config: FollowerConfig,
        verifier: Arc<Verifier>,
        denylist: Arc<Denylist>,
    ) -> Result<Self, FollowerError> {
        let FollowerConfig {
            service,
            auth_urls,
            tls,
            client_id,
            client_secret,
            auth_audience,
            unknown_kid_refetch,
            policy,
        } = config;
        let fetcher = keys::KeyFetcher::new(service, channel(&auth_urls, tls.clone())?, verifier.clone());
        let fetches = fetcher.fetches();
        let account = (client_id, client_secret, auth_audience);
        let feed = feed::FeedThread::spawn(move || {
            feed::FeedClient::connect(service, &auth_urls, tls, account, verifier, denylist, policy)
        })?;
        Ok(Self { fetcher: tokio::spawn(fetcher.run(unknown_kid_refetch)), feed, fetches })
    }

    /// How many times the keys were read with `GetJwks`.
    pub fn fetches(&self) -> Arc<AtomicU64> {
        self.fetches.clone()
    }

    /// Stops both and waits for the feed's thread to end.
    pub async fn stop(self) {
        self.fetcher.abort();
        self.feed.stop().await;
    }
}
