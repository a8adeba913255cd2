//! Server plumbing both services share, so their transport is hardened the
//! same way: HTTP/2 limits, the auth layer, reflection, signals, logging.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use authpair_claims::AuthLayer;
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};
use tokio_stream::Stream;
use tonic::transport::{Server, server::TcpIncoming};
use tower::layer::util::{Identity, Stack};

use tonic_reflection::server::{v1, v1alpha};

use crate::bounded_io::Bounded;

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
/// also start TCP keepalive after this long idle.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Connections open at once, by default. Each holds a file descriptor, a
/// task and its HTTP/2 buffers; past the cap, new connections wait in the
/// kernel's accept backlog until one closes, rather than the process running
/// out of descriptors (where every accept fails).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// After an accept fails for a reason other than the one connection (out of
/// file descriptors, say), accepting pauses this long: tonic retries at
/// once, which spins a core for as long as the cause lasts. 1 s is the pause
/// hyper 0.14's `AddrIncoming` takes with `sleep_on_errors`.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

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
    /// grace is enforced on the socket (`bounded_io`).
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

/// The accepted connections of `listener`, with TCP_NODELAY (without it,
/// Nagle's algorithm and delayed ACKs add ~40 ms to small responses; tonic
/// only sets it for listeners it binds itself) and TCP keepalive, each
/// closed at `limits.max_age + limits.grace` ([`Bounded`]), and at most
/// `limits.max_connections` open at once.
pub fn incoming(listener: tokio::net::TcpListener, limits: ConnectionLimits) -> Incoming<TcpIncoming> {
    let accepted = TcpIncoming::from(listener).with_nodelay(Some(true)).with_keepalive(Some(KEEPALIVE_INTERVAL));
    Incoming::new(accepted, limits)
}

type SlotWait = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// The stream [`incoming`] returns: the connections `S` accepts, under the
/// limits. It owns the listener, so dropping it (when the server stops)
/// closes the port at once.
pub struct Incoming<S> {
    accepted: S,
    lifetime: Duration,
    slots: Arc<Semaphore>,
    /// The slot the next connection will hold, once taken.
    slot: Option<OwnedSemaphorePermit>,
    waiting_for_slot: Option<SlotWait>,
    /// Set after an accept failed for a reason other than its connection.
    paused: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Incoming<S> {
    fn new(accepted: S, limits: ConnectionLimits) -> Self {
        Self {
            accepted,
            lifetime: limits.max_age.saturating_add(limits.grace),
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            slot: None,
            waiting_for_slot: None,
            paused: None,
        }
    }
}

impl<S> std::fmt::Debug for Incoming<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("free_slots", &self.slots.available_permits())
            .field("paused", &self.paused.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, IO> Stream for Incoming<S>
where
    S: Stream<Item = std::io::Result<IO>> + Unpin,
{
    type Item = std::io::Result<Bounded<IO>>;

    /// A slot first, then an accept: at the cap, the next connection waits
    /// in the kernel's backlog until one closes.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(paused) = this.paused.as_mut() {
                ready!(paused.as_mut().poll(cx));
                this.paused = None;
            }
            if this.slot.is_none() {
                let slots = this.slots.clone();
                let waiting = this.waiting_for_slot.get_or_insert_with(|| Box::pin(slots.acquire_owned()));
                let taken = ready!(waiting.as_mut().poll(cx));
                this.waiting_for_slot = None;
                // Only a closed semaphore fails, and this one is never
                // closed; if it were, accepting would stop (fail closed).
                let Ok(slot) = taken else { return Poll::Ready(None) };
                this.slot = Some(slot);
            }
            match ready!(Pin::new(&mut this.accepted).poll_next(cx)) {
                Some(Ok(io)) => {
                    // Taken above; were it not, the connection would be dropped.
                    let Some(slot) = this.slot.take() else { continue };
                    return Poll::Ready(Some(Ok(Bounded::new(io, this.lifetime).holding(slot))));
                }
                // A connection that went away before it was accepted.
                Some(Err(e)) if is_connection_error(&e) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, pause = ?ACCEPT_ERROR_PAUSE, "accepting connections failed; pausing");
                    this.paused = Some(Box::pin(tokio::time::sleep(ACCEPT_ERROR_PAUSE)));
                }
                None => return Poll::Ready(None),
            }
        }
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
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
/// listing `services` and the health service, from authpair's descriptors
/// plus the health service's own.
#[allow(clippy::type_complexity)]
pub fn reflection(
    services: &[&str],
) -> Result<
    (
        v1::ServerReflectionServer<impl v1::ServerReflection>,
        v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>,
    ),
    tonic_reflection::server::Error,
> {
    let builder = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(authpair_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(authpair_proto::ERROR_DETAILS_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
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

#[cfg(test)]
mod tests {
    use std::io;

    use tokio::{io::DuplexStream, time::Instant};
    use tokio_stream::StreamExt as _;

    use super::*;

    /// What a listener accepted, in order, under the limits. Time is paused:
    /// it jumps to the next timer whenever every task waits.
    fn accepting(results: Vec<io::Result<DuplexStream>>) -> Incoming<impl Stream<Item = io::Result<DuplexStream>>> {
        let limits =
            ConnectionLimits { max_age: Duration::from_secs(60), grace: Duration::from_secs(60), max_connections: 10 };
        Incoming::new(tokio_stream::iter(results), limits)
    }

    fn connection() -> io::Result<DuplexStream> {
        Ok(tokio::io::duplex(8).0)
    }

    #[tokio::test]
    async fn an_accepted_connection_keeps_tcp_keepalive_on_and_sends_without_delay() -> io::Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let limits = ConnectionLimits {
            max_age: Duration::from_secs(1800),
            grace: Duration::from_secs(300),
            max_connections: 1,
        };
        let mut accepted = incoming(listener, limits);
        let _client = tokio::net::TcpStream::connect(addr).await?;
        let Some(connection) = accepted.next().await else { panic!("the listener ended without a connection") };
        let connection = connection?;
        let socket = socket2::SockRef::from(connection.get_ref());
        assert!(socket.keepalive()?, "SO_KEEPALIVE");
        assert_eq!(socket.tcp_keepalive_time()?, KEEPALIVE_INTERVAL);
        assert!(socket.tcp_nodelay()?, "TCP_NODELAY");
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn an_accept_that_fails_for_want_of_descriptors_pauses_accepting_for_a_second() {
        const EMFILE: i32 = 24;
        let mut incoming = accepting(vec![Err(io::Error::from_raw_os_error(EMFILE)), connection()]);
        let started = Instant::now();
        assert!(matches!(incoming.next().await, Some(Ok(_))), "the next connection is accepted");
        assert_eq!(started.elapsed(), ACCEPT_ERROR_PAUSE, "after the pause, not at once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_gone_before_it_was_accepted_does_not_pause_accepting() {
        let mut incoming = accepting(vec![Err(io::ErrorKind::ConnectionAborted.into()), connection()]);
        let started = Instant::now();
        assert!(matches!(incoming.next().await, Some(Ok(_))), "the next connection is accepted");
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
