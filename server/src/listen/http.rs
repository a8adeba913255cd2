//! The HTTP/1.1 listener: an axum router served on the one accept loop
//! ([`super::Incoming`], per-source admission), every resource bounded by
//! [`HttpLimits`] (connections in all and per source, the time an idle or
//! header-less connection may stay open, each connection's age) and by
//! constants (the request head's size, headers per request). TLS, when
//! given an acceptor, within the idle timeout.

use std::{net::SocketAddr, time::Duration};

use authpair_claims::layer::{ClientCertificate, certificate_thumbprint};
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
use tokio_stream::StreamExt as _;
use tower::ServiceExt as _;

use super::{Incoming, admission::Admission};
use crate::config::HttpLimits;

/// The request head's size bound: hyper's read buffer (its minimum).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Headers per request.
pub const MAX_HEADERS: usize = 32;
/// How long a connection has to finish its request once asked to close (at
/// its age, or when the service stops); then its socket is closed.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The listener's name in logs, with the flags that bound it.
const NAME: &str = "HTTP (--http-max-connections, --http-max-connections-per-source)";

/// The TCP peer of the connection a request came on (a request extension),
/// for throttling by source.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

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
    // Accept, then decide: the accept never waits for a slot, so a source
    // over its limit cannot keep others waiting in the backlog.
    let admission = Admission::by_source(limits.max_connections, limits.max_connections_per_source);
    let lifetime = limits.max_connection_age.saturating_add(SHUTDOWN_GRACE);
    let mut incoming = Incoming::new(listener, NAME, lifetime, admission);
    let mut connections = JoinSet::new();
    let mut stop = stopping.clone();
    loop {
        let accepted = tokio::select! {
            accepted = incoming.next() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        let stream = match accepted {
            Some(Ok(stream)) => stream,
            // The loop logs and pauses on accept errors itself.
            Some(Err(_)) => continue,
            None => break,
        };
        let Ok(peer) = stream.get_ref().peer_addr() else { continue };
        let (router, tls, stopping) = (router.clone(), tls.clone(), stopping.clone());
        connections.spawn(async move {
            match tls {
                None => connection(stream, peer, None, router, limits, stopping).await,
                Some(tls) => match tokio::time::timeout(limits.idle_timeout, tls.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let leaf = stream.get_ref().1.peer_certificates().and_then(|certs| certs.first());
                        let certificate = leaf.map(|leaf| ClientCertificate(certificate_thumbprint(leaf.as_ref())));
                        connection(stream, peer, certificate, router, limits, stopping).await
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "HTTP TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "HTTP TLS handshake timed out"),
                },
            }
        });
    }
    drop(incoming);
    // Stopping: each connection is finishing within its grace.
    while connections.join_next().await.is_some() {}
}

/// One HTTP/1.1 connection, with the bounds above: the request head within
/// the idle timeout (hyper's header read timeout runs from the moment the
/// connection waits for a head: when it opens and after each response).
/// Each request carries the connection's peer and, over mTLS, the verified
/// client certificate's thumbprint.
async fn connection<I>(
    io: I,
    peer: SocketAddr,
    certificate: Option<ClientCertificate>,
    router: Router,
    limits: HttpLimits,
    mut stopping: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let service = router.map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(Peer(peer));
        if let Some(certificate) = certificate {
            request.extensions_mut().insert(certificate);
        }
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
