//! The server side of `WatchRevocations`: the revocation feed.
//!
//! A subscriber gets, in order: the deployment (issuer, role table, plans);
//! the published keys; every live log entry
//! after the sequence it asked from; `SnapshotComplete` with the log head;
//! then live entries, key-set changes and a heartbeat every interval. New
//! entries are announced in-process through a watch channel holding the log
//! head; each subscriber then reads the log after its own last sequence, so a
//! slow subscriber can never miss an entry, only batch them.
//!
//! Every event is authorized as it goes out, not only the call that opened
//! the stream (AZ-05: an interceptor runs once per call). A watcher whose
//! token is revoked, or whose service account is deleted, is cut off with
//! UNAUTHENTICATED `TOKEN_REVOKED` at the next event, and the revocation is
//! itself an event; at its token's expiry the stream ends with
//! `TOKEN_EXPIRED`, and the watcher reconnects with a new token.
//!
//! Streams end when the server begins shutting down, so graceful shutdown
//! does not wait on them forever.

use std::{sync::Arc, time::Duration};

use authpair_claims::{AuthError, Claims, Denylist, Deployment, Revocation};
use authpair_proto::auth::v1::{
    GetJwksResponse, Heartbeat, SnapshotComplete, SubjectRevoked, TokenRevoked, WatchRevocationsResponse,
    watch_revocations_response::Event,
};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::{
    keys::keyring::KeyRing,
    store::{Store, StoreError},
};
use authpair_claims::clock::now;

pub type FeedStream = ReceiverStream<Result<WatchRevocationsResponse, Status>>;

#[derive(Debug)]
pub struct Feed {
    store: Store,
    keys: Arc<KeyRing>,
    /// The auth service's own denylist, which every subscriber is checked
    /// against on every event.
    denylist: Arc<Denylist>,
    /// Announced first on every stream; its issuer names the log's entries.
    deployment: Deployment,
    heartbeat: Duration,
    head: watch::Sender<u64>,
    stopping: watch::Receiver<bool>,
}

pub fn to_event(sequence: u64, revocation: Revocation) -> WatchRevocationsResponse {
    let event = match revocation {
        Revocation::Token { issuer, token_id, expires_at } => {
            Event::Token(TokenRevoked { issuer, token_id, expires_at })
        }
        Revocation::Subject { issuer, subject, min_generation, expires_at } => {
            Event::Subject(SubjectRevoked { issuer, subject, min_generation, expires_at })
        }
    };
    WatchRevocationsResponse { sequence, event: Some(event) }
}

impl Feed {
    pub async fn new(
        store: Store,
        keys: Arc<KeyRing>,
        denylist: Arc<Denylist>,
        deployment: Deployment,
        heartbeat: Duration,
        stopping: watch::Receiver<bool>,
    ) -> Result<Self, StoreError> {
        let (head, _) = watch::channel(store.revocation_head().await?);
        Ok(Self { store, keys, denylist, deployment, heartbeat, head, stopping })
    }

    /// Loads every live entry into the auth service's own denylist.
    pub async fn load(&self) -> Result<(), StoreError> {
        let mut after = 0;
        loop {
            let batch = self.store.revocations_after(&self.deployment.issuer, after, now()).await?;
            let Some((last, _)) = batch.last() else { return Ok(()) };
            after = *last;
            for (seq, revocation) in batch {
                self.denylist.apply_logged(seq, revocation);
            }
        }
    }

    /// The highest committed log sequence this instance knows of.
    pub fn head(&self) -> u64 {
        *self.head.borrow()
    }

    /// Tells subscribers that entry `sequence` is committed.
    pub fn announce(&self, sequence: u64) {
        self.head.send_if_modified(|head| {
            let newer = sequence > *head;
            if newer {
                *head = sequence;
            }
            newer
        });
    }

    /// Streams the feed from `after_sequence` to `watcher` until the server
    /// stops, the watcher goes, or its token expires or is revoked.
    pub fn subscribe(self: &Arc<Self>, after_sequence: u64, watcher: Claims) -> FeedStream {
        let (tx, rx) = mpsc::channel(256);
        let feed = self.clone();
        let left = Duration::from_secs(watcher.expires_at().saturating_sub(now().max(0) as u64));
        let to = Subscriber { tx, watcher };
        tokio::spawn(async move {
            let status = match tokio::time::timeout(left, feed.serve(after_sequence, &to)).await {
                Ok(Ok(())) => return,
                Ok(Err(status)) => status,
                Err(_expired) => AuthError::Expired.into(),
            };
            let _ = to.tx.send(Err(status)).await;
        });
        ReceiverStream::new(rx)
    }

    /// Sends one event if the watcher may still have it; `Ok(false)` if the
    /// watcher has gone.
    async fn send(&self, to: &Subscriber, event: WatchRevocationsResponse) -> Result<bool, Status> {
        if let Err(refused) = self.denylist.check(&to.watcher) {
            tracing::info!(
                watcher = to.watcher.subject(),
                reason = refused.reason(),
                "revocation feed: watcher cut off"
            );
            return Err(refused.into());
        }
        Ok(to.tx.send(Ok(event)).await.is_ok())
    }

    fn keys_event(&self, sequence: u64) -> WatchRevocationsResponse {
        let keys = self.keys.published().iter().map(|k| k.to_proto()).collect();
        WatchRevocationsResponse { sequence, event: Some(Event::Keys(GetJwksResponse { keys })) }
    }

    /// Sends everything after `last`; returns the new last sequence, or None
    /// if the subscriber has gone.
    async fn send_after(&self, mut last: u64, to: &Subscriber) -> Result<Option<u64>, Status> {
        loop {
            let batch =
                self.store.revocations_after(&self.deployment.issuer, last, now()).await.map_err(unavailable)?;
            let Some((newest, _)) = batch.last() else { return Ok(Some(last)) };
            last = *newest;
            for (seq, revocation) in batch {
                if !self.send(to, to_event(seq, revocation)).await? {
                    return Ok(None);
                }
            }
        }
    }

    async fn serve(&self, after: u64, to: &Subscriber) -> Result<(), Status> {
        // Subscribe before reading, so nothing committed meanwhile is missed.
        let mut head = self.head.subscribe();
        let mut keys = self.keys.subscribe();
        let mut stopping = self.stopping.clone();
        head.borrow_and_update();
        keys.borrow_and_update();

        let current_head = self.store.revocation_head().await.map_err(unavailable)?;
        let deployment = Event::Deployment(self.deployment.to_proto());
        if !self.send(to, WatchRevocationsResponse { sequence: current_head, event: Some(deployment) }).await? {
            return Ok(());
        }
        if !self.send(to, self.keys_event(current_head)).await? {
            return Ok(());
        }
        if after > current_head {
            // The watcher has applied entries this log does not hold (the
            // database was restored from a backup, or it followed another
            // log): new entries here would be numbered at or below its
            // position and never reach it. A snapshot ending below where it
            // stands tells it the log was reset (resource-service's
            // `Ended::LogReset`): it starts over from 0.
            let reset = WatchRevocationsResponse {
                sequence: current_head,
                event: Some(Event::SnapshotComplete(SnapshotComplete {})),
            };
            self.send(to, reset).await?;
            return Ok(());
        }
        let Some(mut last) = self.send_after(after, to).await? else { return Ok(()) };
        let complete = WatchRevocationsResponse {
            sequence: last.max(current_head),
            event: Some(Event::SnapshotComplete(SnapshotComplete {})),
        };
        if !self.send(to, complete).await? {
            return Ok(());
        }

        let mut heartbeat = tokio::time::interval(self.heartbeat);
        heartbeat.tick().await;
        loop {
            let event = tokio::select! {
                _ = stopping.changed() => return Ok(()),
                _ = to.tx.closed() => return Ok(()),
                changed = head.changed() => {
                    if changed.is_err() { return Ok(()); }
                    match self.send_after(last, to).await? {
                        Some(newest) => { last = newest; continue; }
                        None => return Ok(()),
                    }
                }
                changed = keys.changed() => {
                    if changed.is_err() { return Ok(()); }
                    self.keys_event(last)
                }
                // A heartbeat carries the log head, so the watcher can tell
                // how far behind it is.
                _ = heartbeat.tick() => {
                    WatchRevocationsResponse { sequence: self.head().max(last), event: Some(Event::Heartbeat(Heartbeat {})) }
                }
            };
            if !self.send(to, event).await? {
                return Ok(());
            }
        }
    }
}

/// One stream's sending end, and who is watching.
struct Subscriber {
    tx: mpsc::Sender<Result<WatchRevocationsResponse, Status>>,
    watcher: Claims,
}

fn unavailable(err: StoreError) -> Status {
    tracing::warn!(error = %err, "revocation feed cannot read the log");
    Status::unavailable("revocation log unavailable")
}
