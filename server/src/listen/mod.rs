//! Every listener's one accept loop, gRPC and HTTP alike: accept errors
//! handled the same way, the same socket options, admission under the
//! listener's limits, and each connection closed at its deadline.
//!
//! - [`Incoming`]: the accepted connections of a listener, as a stream;
//! - [`admission`]: which connections are kept (a queue at the cap for
//!   gRPC, per-source counts for HTTP);
//! - [`bounded`]: a connection that ends at a deadline, whatever its peer
//!   does, holding its slot until then;
//! - [`http`]: the HTTP/1.1 listener that serves an axum router on it
//!   (its flags: `config::HttpLimits`).

pub mod admission;
pub mod bounded;
pub mod http;

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::{AcquireError, OwnedSemaphorePermit},
};
use tokio_stream::Stream;

use crate::serving::KEEPALIVE_INTERVAL;
use admission::{Admission, Refusals, Slot};
use bounded::Bounded;

/// After an accept fails for a reason other than the one connection (out of
/// file descriptors, say), accepting pauses this long: retrying at once
/// would spin a core for as long as the cause lasts. 1 s is the pause
/// hyper 0.14's `AddrIncoming` takes with `sleep_on_errors`.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// What accepts connections: a TCP listener, or a test's stand-in.
pub trait Accept: Unpin {
    /// The connection accepted.
    type Io;

    /// The next connection and its peer, with its socket options set.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Io, SocketAddr)>>;

    /// Closes a connection that is not kept.
    fn refuse(io: Self::Io);
}

impl Accept for TcpListener {
    type Io = TcpStream;

    /// With TCP_NODELAY (without it, Nagle's algorithm and delayed ACKs add
    /// ~40 ms to small responses) and TCP keepalive.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, peer) = ready!(TcpListener::poll_accept(self, cx))?;
        let _ = stream.set_nodelay(true);
        let keepalive = socket2::TcpKeepalive::new().with_time(KEEPALIVE_INTERVAL);
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
        Poll::Ready(Ok((stream, peer)))
    }

    /// Closed at once, nothing read, with a reset: the socket is freed now
    /// rather than after a FIN exchange.
    fn refuse(stream: TcpStream) {
        let _ = stream.set_zero_linger();
    }
}

type SlotWait = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// The connections a listener accepts, under its [`Admission`], each closed
/// at `lifetime` after its accept ([`Bounded`]). It owns the listener, so
/// dropping it (when the server stops) closes the port at once.
pub struct Incoming<L: Accept = TcpListener> {
    listener: L,
    /// Names the listener (and the flags that bound it) in logs.
    name: &'static str,
    lifetime: Duration,
    admission: Admission,
    /// Under a queue, the slot the next connection will hold, once taken.
    slot: Option<OwnedSemaphorePermit>,
    waiting_for_slot: Option<SlotWait>,
    /// Set after an accept failed for a reason other than its connection.
    paused: Option<Pin<Box<tokio::time::Sleep>>>,
    refusals: Refusals,
}

impl<L: Accept> Incoming<L> {
    /// `listener`'s connections, named `name` in logs, each living at most
    /// `lifetime`, kept by `admission`.
    pub fn new(listener: L, name: &'static str, lifetime: Duration, admission: Admission) -> Self {
        Self {
            listener,
            name,
            lifetime,
            admission,
            slot: None,
            waiting_for_slot: None,
            paused: None,
            refusals: Refusals::default(),
        }
    }
}

impl<L: Accept> std::fmt::Debug for Incoming<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("name", &self.name)
            .field("admission", &self.admission)
            .field("paused", &self.paused.is_some())
            .finish_non_exhaustive()
    }
}

impl<L: Accept> Stream for Incoming<L> {
    type Item = io::Result<Bounded<L::Io>>;

    /// Under a queue, a slot first and then an accept: at the cap, the next
    /// connection waits in the kernel's backlog until one closes. By source,
    /// the accept first and then the decision.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(paused) = this.paused.as_mut() {
                ready!(paused.as_mut().poll(cx));
                this.paused = None;
            }
            if let (Admission::Queue(slots), None) = (&this.admission, &this.slot) {
                let slots = slots.clone();
                let waiting = this.waiting_for_slot.get_or_insert_with(|| Box::pin(slots.acquire_owned()));
                let taken = ready!(waiting.as_mut().poll(cx));
                this.waiting_for_slot = None;
                // Only a closed semaphore fails, and this one is never
                // closed; if it were, accepting would stop (fail closed).
                let Ok(slot) = taken else { return Poll::Ready(None) };
                this.slot = Some(slot);
            }
            let (io, peer) = match ready!(this.listener.poll_accept(cx)) {
                Ok(accepted) => accepted,
                // A connection that went away before it was accepted.
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::warn!(listener = this.name, error = %e, pause = ?ACCEPT_ERROR_PAUSE, "accepting connections failed; pausing");
                    this.paused = Some(Box::pin(tokio::time::sleep(ACCEPT_ERROR_PAUSE)));
                    continue;
                }
            };
            let slot = match &this.admission {
                // Taken above; were it not, the connection would be dropped.
                Admission::Queue(_) => match this.slot.take() {
                    Some(slot) => Slot::Queued(slot),
                    None => continue,
                },
                Admission::BySource(sources) => match sources.admit(peer.ip()) {
                    Ok(counted) => Slot::Counted(counted),
                    Err(why) => {
                        L::refuse(io);
                        this.refusals.note(this.name, peer, why);
                        continue;
                    }
                },
            };
            return Poll::Ready(Some(Ok(Bounded::new(io, this.lifetime).holding(slot))));
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

#[cfg(test)]
mod tests {
    use std::{collections::VecDeque, io};

    use tokio::{io::DuplexStream, time::Instant};
    use tokio_stream::StreamExt as _;

    use super::*;

    /// Hands out what a listener accepted, in order; then waits for ever.
    struct Scripted(VecDeque<io::Result<DuplexStream>>);

    impl Accept for Scripted {
        type Io = DuplexStream;

        fn poll_accept(&mut self, _: &mut Context<'_>) -> Poll<io::Result<(DuplexStream, SocketAddr)>> {
            match self.0.pop_front() {
                Some(result) => Poll::Ready(result.map(|io| (io, SocketAddr::from(([10, 0, 0, 1], 4000))))),
                None => Poll::Pending,
            }
        }

        fn refuse(_: DuplexStream) {}
    }

    /// What a listener accepted, under a queue of ten. Time is paused: it
    /// jumps to the next timer whenever every task waits.
    fn accepting(results: Vec<io::Result<DuplexStream>>) -> Incoming<Scripted> {
        Incoming::new(Scripted(results.into()), "test", Duration::from_secs(120), Admission::queue(10))
    }

    fn connection() -> io::Result<DuplexStream> {
        Ok(tokio::io::duplex(8).0)
    }

    #[tokio::test]
    async fn an_accepted_connection_keeps_tcp_keepalive_on_and_sends_without_delay() -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut accepted = Incoming::new(listener, "test", Duration::from_secs(2100), Admission::queue(1));
        let _client = TcpStream::connect(addr).await?;
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

    #[tokio::test(start_paused = true)]
    async fn by_source_a_connection_past_its_sources_cap_is_refused_and_the_next_is_kept() {
        let results = vec![connection(), connection(), connection()];
        let mut incoming =
            Incoming::new(Scripted(results.into()), "test", Duration::from_secs(120), Admission::by_source(10, 2));
        let first = incoming.next().await;
        let second = incoming.next().await;
        assert!(matches!((&first, &second), (Some(Ok(_)), Some(Ok(_)))), "two kept from one source");
        // The third, from the same source, is refused: the stream waits for
        // another accept rather than yield it.
        let third = tokio::time::timeout(Duration::from_secs(1), incoming.next()).await;
        assert!(third.is_err(), "a third connection from one source was kept past its cap of two");
        drop(first);
    }
}
