//! The HTTP/1.1 listener (`--http-listen`): the documents standard JWT and
//! OAuth libraries fetch (`/.well-known/jwks.json`, the RFC 8414 metadata at
//! `/.well-known/oauth-authorization-server` and
//! `/.well-known/openid-configuration`), the RFC 6749 token endpoint
//! (`POST /oauth2/token`) and RFC 7662 introspection
//! (`POST /oauth2/introspect`). Nothing else.
//!
//! hyper parses HTTP, axum routes it. Every resource is bounded, by flags
//! ([`HttpLimits`]): connections in all and per source (decided right after
//! the accept, `admission`), the time an idle or header-less connection may
//! stay open, the time a request in progress has, each connection's age;
//! and by constants: the request head's size, the POST bodies' sizes.
//! TLS, with the gRPC port's certificate, when the gRPC port has TLS.
//!
//! - `routes`: the router and the per-request timeout;
//! - `documents`: what the handlers share;
//! - `paths`: the paths, named once;
//! - `metadata`: the authorization server metadata;
//! - `token`: the token endpoint, on the gRPC API's logic;
//! - `client_auth`: the token endpoint's client credentials;
//! - `oauth_error`: the token endpoint's RFC 6749 errors;
//! - `form`: the POST endpoints' body type;
//! - `introspect`: the introspection endpoint;
//! - `admission`: which accepted connection is kept;
//! - `host`: 400 for a request without exactly one valid `Host`;
//! - `limits`: the flags;
//! - `tls`: the rustls acceptor.

mod admission;
mod client_auth;
mod documents;
mod form;
mod host;
mod introspect;
mod limits;
mod metadata;
mod oauth_error;
mod paths;
mod routes;
mod tls;
mod token;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::Context;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    sync::watch,
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use admission::{Admission, Refused};
pub use documents::Access;
pub use documents::Documents;
pub use limits::HttpLimits;
pub use routes::router;

/// The request head's size bound: hyper's read buffer (its minimum).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Headers per request.
pub const MAX_HEADERS: usize = 32;
/// How long a connection has to finish its request once asked to close (at
/// its age, or when the service stops).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// After an accept fails for a reason other than its connection (out of
/// descriptors, say), accepting pauses this long rather than spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);
/// The TCP peer of the connection a request came on (a request extension),
/// for throttling by source.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

/// Refused connections are logged at most this often, with their count.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// Binds `addr` for the HTTP listener; the error names both.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("binding the HTTP listener (--http-listen) on {addr}"))
}

/// The TLS acceptor for the HTTP listener, from the gRPC port's PEM files.
pub fn acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    tls::acceptor(cert, key).context("TLS for the HTTP listener")
}

/// The URL the listener is reached at when no `--public-url` says otherwise.
pub fn default_public_url(listener: &TcpListener, tls: bool) -> anyhow::Result<String> {
    let scheme = if tls { "https" } else { "http" };
    Ok(format!("{scheme}://{}", listener.local_addr()?))
}

/// Serves `router` on `listener` under `limits` until `stopping` turns true;
/// then stops accepting and lets each connection finish its request (for at
/// most [`SHUTDOWN_GRACE`]). Dropping the future drops every connection.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: HttpLimits,
    stopping: watch::Receiver<bool>,
) {
    let admission = Admission::new(&limits);
    let mut refusals = Refusals::default();
    let mut connections = JoinSet::new();
    let mut stop = stopping.clone();
    loop {
        // Accept, then decide: the accept never waits for a slot, so a
        // source over its limit cannot keep others waiting in the backlog.
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::warn!(error = %e, pause = ?ACCEPT_ERROR_PAUSE, "HTTP accept failed; pausing");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let slot = match admission.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                // Closed at once, nothing read, with a reset: the socket is
                // freed now rather than after a FIN exchange.
                let _ = stream.set_zero_linger();
                drop(stream);
                refusals.note(peer, why);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (router, tls, stopping) = (router.clone(), tls.clone(), stopping.clone());
        connections.spawn(async move {
            let _slot = slot;
            match tls {
                None => connection(stream, peer, router, limits, stopping).await,
                Some(tls) => match tokio::time::timeout(limits.idle_timeout, tls.accept(stream)).await {
                    Ok(Ok(stream)) => connection(stream, peer, router, limits, stopping).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "HTTP TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "HTTP TLS handshake timed out"),
                },
            }
        });
    }
    drop(listener);
    // Stopping: each connection is finishing within its grace.
    while connections.join_next().await.is_some() {}
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// Refused connections, logged at most once per [`REFUSAL_LOG_EVERY`] with
/// how many there were since, so a flood of them does not flood the log.
#[derive(Debug, Default)]
struct Refusals {
    since_logged: u64,
    logged_at: Option<Instant>,
}

impl Refusals {
    fn note(&mut self, peer: SocketAddr, why: Refused) {
        self.since_logged += 1;
        tracing::debug!(%peer, limit = why.as_str(), "HTTP connection refused");
        if self.logged_at.is_some_and(|at| at.elapsed() < REFUSAL_LOG_EVERY) {
            return;
        }
        tracing::warn!(
            refused = self.since_logged,
            last_source = %admission::Source::from(peer.ip()),
            limit = why.as_str(),
            "HTTP connections refused at a limit (--http-max-connections, --http-max-connections-per-source)"
        );
        self.since_logged = 0;
        self.logged_at = Some(Instant::now());
    }
}

/// One HTTP/1.1 connection, with the bounds above: the request head within
/// the idle timeout (hyper's header read timeout runs from the moment the
/// connection waits for a head: when it opens and after each response).
async fn connection<I>(io: I, peer: SocketAddr, router: Router, limits: HttpLimits, mut stopping: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    // Each request carries its connection's peer.
    let service = router.map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(Peer(peer));
        request
    });
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = tokio::time::sleep(limits.max_connection_age) => {}
        _ = stopping.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
}
