//! On PostgreSQL several auth instances append to one revocation log. This
//! task LISTENs for the log's notifications (sent in the appending
//! transaction, so delivered only on commit) and brings this instance up to
//! date: its own denylist, for its admin API, and its feed's subscribers,
//! which may be resource services that never talk to the writing instance.
//!
//! Notifications are hints, the log is the truth: after every (re)connect,
//! when notifications may have been missed, it reads everything after the
//! last sequence it applied.
//!
//! On either backend, [`sweep`] does the same every feed heartbeat, as a
//! backstop. A handler that logs a revocation applies and announces it
//! itself, in a task that runs to the end even if its caller goes away
//! (`state::run_to_end`). An entry that still misses this instance (that
//! task failed, the follower stalled without losing its connection, or
//! something other than a handler wrote the log) would otherwise stay out of
//! its denylist and unannounced until the next revocation. The sweep bounds
//! that to one heartbeat.

use std::{sync::Arc, time::Duration};

use authpair_claims::Denylist;
use secrecy::ExposeSecret;
use sqlx::postgres::PgListener;

use crate::{
    revocation::feed::Feed,
    store::{CHANNEL, Store, StoreError},
};
use authpair_claims::{backoff::Backoff, clock::now};

/// Reconnect delays grow to this.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs for the life of the service.
pub async fn follow(store: Store, feed: Arc<Feed>, denylist: Arc<Denylist>, issuer: String) {
    let mut applied = feed.head();
    let mut backoff = Backoff::new(Duration::from_millis(100), MAX_BACKOFF);
    loop {
        match listen_once(&store, &feed, &denylist, &issuer, &mut applied).await {
            Ok(()) => backoff.reset(),
            Err(e) => {
                tracing::warn!(error = %e, "revocation log listener lost its connection; reconnecting");
                tokio::time::sleep(backoff.next_wait()).await;
            }
        }
    }
}

/// Applies whatever the log holds past what it last saw, every `every`,
/// for the life of the service.
pub async fn sweep(store: Store, feed: Arc<Feed>, denylist: Arc<Denylist>, issuer: String, every: Duration) {
    let mut applied = feed.head();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = catch_up(&store, &feed, &denylist, &issuer, &mut applied).await {
            tracing::warn!(error = %e, "revocation log sweep failed; trying again at the next heartbeat");
        }
    }
}

/// One connection's worth of listening; returns when it breaks.
async fn listen_once(
    store: &Store,
    feed: &Feed,
    denylist: &Denylist,
    issuer: &str,
    applied: &mut u64,
) -> anyhow::Result<()> {
    let mut listener = PgListener::connect(store.url().expose_secret()).await?;
    listener.listen(CHANNEL).await?;
    let schema = store.schema().await?;
    catch_up(store, feed, denylist, issuer, applied).await?;
    loop {
        // `try_recv` yields None when the connection dropped and was
        // re-established: what was sent meanwhile is lost, so catch up.
        match listener.try_recv().await? {
            Some(notification) if notification.payload() != schema => continue,
            _ => catch_up(store, feed, denylist, issuer, applied).await?,
        }
    }
}

/// Applies every entry after `applied` and announces the new head.
async fn catch_up(
    store: &Store,
    feed: &Feed,
    denylist: &Denylist,
    issuer: &str,
    applied: &mut u64,
) -> Result<(), StoreError> {
    loop {
        let batch = store.revocations_after(issuer, *applied, now()).await?;
        let Some(&(newest, _)) = batch.last() else { break };
        for (seq, revocation) in batch {
            denylist.apply_logged(seq, revocation);
        }
        *applied = newest;
    }
    feed.announce(store.revocation_head().await?.max(*applied));
    Ok(())
}
