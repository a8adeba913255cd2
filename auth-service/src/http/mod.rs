//! The HTTP/1.1 listener (`--http-listen`): the documents standard JWT
//! libraries fetch (`/.well-known/jwks.json`, `/.well-known/openid-configuration`)
//! and RFC 7662 introspection (`POST /oauth2/introspect`). Nothing else.
//!
//! hyper parses HTTP, axum routes it. Every resource is bounded: the request
//! head by size and by time to arrive (which also closes idle keep-alive
//! connections), each request by time, the introspection body by size,
//! connections by count and by age. TLS, with the gRPC port's certificate,
//! when the gRPC port has TLS.
//!
//! - `routes`: the router, the documents, the per-request timeout;
//! - `introspect`: the introspection endpoint;
//! - `tls`: the rustls acceptor.

mod introspect;
mod routes;
mod tls;

use std::{net::SocketAddr, sync::Arc, time::Duration};

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
    sync::{Semaphore, watch},
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;

pub use introspect::Access;
pub use routes::{Documents, router};

/// A request head (request line and headers) must arrive within this,
/// and an idle keep-alive connection is closed after it.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The request head's size bound: hyper's read buffer (its minimum).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Headers per request.
pub const MAX_HEADERS: usize = 32;
/// A request, body included, is answered within this or gets 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once; past it, new ones wait in the accept backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// No connection lives longer: asked to close gracefully at this age, then
/// cut [`SHUTDOWN_GRACE`] later, whatever a slow reader is doing.
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(120);
/// How long a connection has to finish its request once asked to close.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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

/// Serves `router` on `listener` until `stopping` turns true; then stops
/// accepting and lets each connection finish its request (for at most
/// [`SHUTDOWN_GRACE`]). Dropping the future drops every connection.
pub async fn serve(listener: TcpListener, router: Router, tls: Option<TlsAcceptor>, stopping: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    let mut stop = stopping.clone();
    loop {
        // A slot first, then the accept: past the cap, connections wait in
        // the kernel's backlog rather than being accepted and dropped.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, say: pause rather than spin.
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (router, tls, stopping) = (router.clone(), tls.clone(), stopping.clone());
        connections.spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(stream, router, stopping).await,
                Some(tls) => match tokio::time::timeout(HEADER_READ_TIMEOUT, tls.accept(stream)).await {
                    Ok(Ok(stream)) => connection(stream, router, stopping).await,
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

/// One HTTP/1.1 connection, with the bounds above.
async fn connection<I>(io: I, router: Router, mut stopping: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(router));
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = tokio::time::sleep(MAX_CONNECTION_AGE) => {}
        _ = stopping.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
}
