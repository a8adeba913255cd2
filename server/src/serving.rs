//! The gRPC server every authpair server runs, hardened the same way:
//! HTTP/2 limits, the auth layer, connection lifetimes, the shutdown drain,
//! reflection; and signals and logging.

use std::{future::Future, pin::Pin, time::Duration};

use authpair_claims::AuthLayer;
use tonic::transport::Server;
use tower::layer::util::{Identity, Stack};

use tonic_reflection::server::{v1, v1alpha};

/// HTTP/2 and request limits. tonic's defaults advertise no
/// MAX_CONCURRENT_STREAMS and put no limit on resets the server itself
/// causes (RUSTSEC-2024-0003), so each is set explicitly.
pub const MAX_CONCURRENT_STREAMS: u32 = 200;
pub const MAX_LOCAL_ERROR_RESETS: usize = 1024;
/// Streams a client may open and cancel before the server has accepted them
/// (rapid reset, CVE-2023-44487): h2's own default, set here so that a
/// change of default upstream cannot lift it.
pub const MAX_PENDING_ACCEPT_RESETS: usize = 20;
pub const MAX_HEADER_LIST_BYTES: u32 = 16 * 1024;
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2 PING keepalive: a PING after this long, and the connection closed
/// if it is not answered within [`KEEPALIVE_TIMEOUT`]. The accepted sockets
/// start TCP keepalive after as long idle.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Connections open at once, by default. Each holds a file descriptor, a
/// task and its HTTP/2 buffers; past the cap, new connections wait in the
/// kernel's accept backlog until one closes, rather than the process running
/// out of descriptors (where every accept fails).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// How long a connection may live, and how many may be open at once
/// (`--max-connection-age-secs`, `--max-connection-age-grace-secs`,
/// `--max-connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// GOAWAY at this age; the calls in flight may finish. So no connection
    /// lives for ever, and long-lived clients spread over instances added
    /// since they connected.
    pub max_age: Duration,
    /// Closed at `max_age + grace`, whatever is in flight: a peer that keeps
    /// a response's flow-control window shut would otherwise hold its call,
    /// and its connection, open for ever. Not tonic's
    /// `max_connection_age_grace`: with one set, tonic 0.14.9 sends no GOAWAY
    /// at the age and instead cuts the connection, calls and all, at age +
    /// grace (`connection_timeout_future` in its `transport/server`), so the
    /// grace is enforced on the socket (`listen::bounded`).
    pub grace: Duration,
    /// Connections open at once; the next is accepted when one closes.
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// How long graceful shutdown waits for the calls in flight before the
    /// server stops anyway: unary calls end within [`REQUEST_TIMEOUT`], and
    /// revocation feeds end as shutdown begins. A call still in flight then
    /// is one its peer will not let finish.
    pub fn drain(&self) -> Duration {
        self.grace.min(REQUEST_TIMEOUT)
    }

    /// How long a connection may live in all: its age and the grace after.
    pub fn lifetime(&self) -> Duration {
        self.max_age.saturating_add(self.grace)
    }
}

/// A server whose every call passes the auth layer.
pub type SecuredServer = Server<Stack<AuthLayer, Identity>>;

/// A server with the limits above and the auth layer around every route
/// (see `authpair_claims::layer` for what it checks, in which order).
pub fn secured_server(
    auth: AuthLayer,
    tls: Option<tonic::transport::ServerTlsConfig>,
    life: ConnectionLimits,
) -> Result<SecuredServer, tonic::transport::Error> {
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    Ok(builder
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .http2_max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
        .http2_max_pending_accept_reset_streams(Some(MAX_PENDING_ACCEPT_RESETS))
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .timeout(REQUEST_TIMEOUT)
        .max_connection_age(life.max_age)
        .layer(auth))
}

/// Runs `serve`, handing it the shutdown signal to give tonic, until it
/// returns or until `drain` has passed since `shutdown` resolved. tonic's
/// graceful shutdown waits for every connection to close, and a call whose
/// peer keeps its response's flow-control window shut never ends; past
/// `drain` such a connection is left to its [`Bounded`] deadline.
pub async fn drain_limited<'a, S, E>(
    shutdown: impl Future<Output = ()> + Send + 'a,
    drain: Duration,
    serve: impl FnOnce(Pin<Box<dyn Future<Output = ()> + Send + 'a>>) -> S,
) -> Result<(), E>
where
    S: Future<Output = Result<(), E>>,
{
    let (began, began_rx) = tokio::sync::oneshot::channel();
    let signal = Box::pin(async move {
        shutdown.await;
        let _ = began.send(());
    });
    let limit = async move {
        match began_rx.await {
            Ok(()) => tokio::time::sleep(drain).await,
            // The signal was dropped unfired: the server ended by itself.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        served = serve(signal) => served,
        () = limit => {
            tracing::warn!(?drain, "calls still in flight after the shutdown drain; stopping without them");
            Ok(())
        }
    }
}

/// gRPC reflection, v1 and v1alpha (grpcurl 1.8 speaks only v1alpha),
/// listing `services` and the health service, from the descriptor `sets`
/// plus the error details' (so clients decode a refusal's reason) and the
/// health service's own.
#[allow(clippy::type_complexity)]
pub fn reflection(
    sets: &[&'static [u8]],
    services: &[&'static str],
) -> Result<
    (
        v1::ServerReflectionServer<impl v1::ServerReflection>,
        v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>,
    ),
    tonic_reflection::server::Error,
> {
    let builder = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(authpair_claims::ERROR_DETAILS_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        for set in sets {
            builder = builder.register_encoded_file_descriptor_set(set);
        }
        for name in services.iter().chain(&["grpc.health.v1.Health"]) {
            builder = builder.with_service_name(*name);
        }
        builder
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}

/// Resolves on SIGINT or SIGTERM, so `serve` can finish calls in flight.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut stream) => {
                    stream.recv().await;
                }
                // Without a SIGTERM handler, only SIGINT can stop us gracefully.
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutdown signal received; finishing calls in flight");
}

/// Logs to stderr through tracing, filtered by `filter` (EnvFilter syntax),
/// as one JSON object per line when `json` is set. A second call (two
/// services in one process) keeps the first subscriber.
pub fn init_tracing(filter: &str, json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init()
    };
}
