//! A connection that ends at a deadline, whatever its peer does, and holds
//! its place under its listener's limits until it ends.
//!
//! Graceful closing (GOAWAY at the max age, or at shutdown) waits for the
//! calls in flight, and a call whose response the peer never lets through
//! (it keeps the stream's HTTP/2 flow-control window shut) is in flight for
//! ever: it would hold its connection, and the server's graceful shutdown,
//! open indefinitely. tonic 0.14's `max_connection_age_grace` would bound
//! that, but with it set tonic sends no GOAWAY at the age (see
//! `serving::ConnectionLimits::grace`). So the bound is here, on the
//! socket: once the deadline passes, reads and writes fail and hyper drops the
//! connection.
//!
//! Until a connection has sent its first [`OPENING_BYTES`] (the HTTP/2
//! client preface and a frame header, or a TLS ClientHello), the deadline is
//! [`OPENING_TIMEOUT`] instead. hyper's HTTP/2 server waits for the preface
//! for ever, and its keepalive pings start only after it, so a socket that
//! sends nothing, or a few bytes, would otherwise hold a connection (a file
//! descriptor and a task) for the whole lifetime. grpc-go bounds the same
//! with `ConnectionTimeout` (120 s).

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};
use tonic::transport::server::Connected;

use super::admission::Slot;

/// A new connection's first bytes, which must arrive within
/// [`OPENING_TIMEOUT`]: the 24-byte HTTP/2 client preface and the 9-byte
/// header of the SETTINGS frame that must follow it. A TLS ClientHello is
/// longer.
pub const OPENING_BYTES: usize = 24 + 9;
/// How long a new connection has to send its [`OPENING_BYTES`]. Clients send
/// them as soon as the socket (or TLS) is up.
pub const OPENING_TIMEOUT: Duration = Duration::from_secs(10);

/// `IO` until `lifetime` after it was accepted (until [`OPENING_TIMEOUT`]
/// if it has not sent its opening bytes by then); then every read and
/// write fails.
#[derive(Debug)]
pub struct Bounded<IO> {
    io: IO,
    deadline: Pin<Box<Sleep>>,
    /// Whether the reading task is registered to be woken at the deadline.
    armed: bool,
    /// When the connection was accepted, and how long it may live once open.
    accepted: Instant,
    lifetime: Duration,
    /// Bytes read so far, until the opening bytes are in; then None.
    opening: Option<usize>,
    /// The connection's place under its listener's limits, given back when
    /// it is dropped.
    _slot: Option<Slot>,
}

impl<IO> Bounded<IO> {
    pub fn new(io: IO, lifetime: Duration) -> Self {
        let accepted = Instant::now();
        Self {
            io,
            deadline: Box::pin(tokio::time::sleep_until(accepted + OPENING_TIMEOUT.min(lifetime))),
            armed: false,
            accepted,
            lifetime,
            opening: Some(0),
            _slot: None,
        }
    }

    /// The connection inside.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// Holds `slot` for as long as the connection lives.
    pub fn holding(self, slot: Slot) -> Self {
        Self { _slot: Some(slot), ..self }
    }

    /// Counts `read` bytes towards the opening; once it is complete the
    /// deadline moves to the end of the lifetime.
    fn opened(&mut self, read: usize) {
        let Some(so_far) = self.opening.as_mut() else { return };
        *so_far += read;
        if *so_far >= OPENING_BYTES {
            self.opening = None;
            // A lifetime past what an Instant can hold (flags take any
            // number of seconds) is as good as never: 30 years, as tokio's
            // own `sleep` caps it.
            let end = self.accepted.checked_add(self.lifetime);
            self.deadline.as_mut().reset(end.unwrap_or(self.accepted + Duration::from_secs(30 * 365 * 86_400)));
            // A reset timer must be polled again to wake anyone.
            self.armed = false;
        }
    }

    /// Whether the deadline has passed. The first check registers the
    /// calling task (hyper drives a connection from one task) to be woken at
    /// the deadline, so an idle connection is closed too; later checks cost
    /// one state load (`is_elapsed`), not a timer poll.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.armed {
            return self.deadline.is_elapsed();
        }
        self.armed = true;
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn lifetime_reached() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection lifetime reached")
}

/// Reads and writes both check: h2 reads whenever its task wakes, but first
/// flushes what it must send, so a peer that reads nothing is caught on the
/// write side.
impl<IO: AsyncRead + Unpin> AsyncRead for Bounded<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(lifetime_reached()));
        }
        if this.opening.is_none() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            this.opened(buf.filled().len() - before);
        }
        read
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Bounded<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(lifetime_reached()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(lifetime_reached()));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The peer address stays readable as the plain socket's (`remote_addr`).
impl<IO: Connected> Connected for Bounded<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream, duplex};

    use super::*;

    const LIFETIME: Duration = Duration::from_secs(60);

    /// A connection accepted now, and its peer's end. Time is paused in these
    /// tests: it jumps to the next timer whenever every task waits.
    fn accepted() -> (DuplexStream, Bounded<DuplexStream>, Instant) {
        let (peer, ours) = duplex(64);
        (peer, Bounded::new(ours, LIFETIME), Instant::now())
    }

    fn timed_out<T: std::fmt::Debug>(result: io::Result<T>) -> bool {
        matches!(&result, Err(e) if e.kind() == io::ErrorKind::TimedOut)
    }

    /// `io`, or an error that is not a timeout if it still waits after two
    /// lifetimes (a deadline that never fires fails the test, not hangs it).
    async fn within_two_lifetimes<T>(io: impl Future<Output = io::Result<T>>) -> io::Result<T> {
        tokio::time::timeout(LIFETIME * 2, io).await.unwrap_or_else(|_| Err(io::Error::other("still waiting")))
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_stops_short_of_its_opening_bytes_is_closed_at_the_opening_timeout() -> io::Result<()> {
        let (mut peer, mut connection, accepted) = accepted();
        peer.write_all(&[0; OPENING_BYTES - 1]).await?;
        let mut buf = [0; 64];
        assert_eq!(connection.read(&mut buf).await?, OPENING_BYTES - 1);
        let read = within_two_lifetimes(connection.read(&mut buf)).await;
        assert!(timed_out(read), "the read waited out the opening timeout and failed");
        assert_eq!(accepted.elapsed(), OPENING_TIMEOUT);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn an_opened_connection_lives_its_whole_lifetime_and_no_longer() -> io::Result<()> {
        let (mut peer, mut connection, accepted) = accepted();
        peer.write_all(&[0; OPENING_BYTES]).await?;
        let mut buf = [0; 64];
        connection.read_exact(&mut buf[..OPENING_BYTES]).await?;
        let read = within_two_lifetimes(connection.read(&mut buf)).await;
        assert!(timed_out(read), "the idle read failed at the end of the lifetime");
        assert_eq!(accepted.elapsed(), LIFETIME, "not at the opening timeout");
        Ok(())
    }

    /// A peer that reads nothing: the connection's writes block, and fail at
    /// the deadline.
    #[tokio::test(start_paused = true)]
    async fn writes_to_a_peer_that_reads_nothing_fail_at_the_deadline() -> io::Result<()> {
        let (_peer, mut connection, accepted) = accepted();
        let written = within_two_lifetimes(connection.write_all(&[0; 1024])).await;
        assert!(timed_out(written), "the blocked write failed at the deadline");
        assert_eq!(accepted.elapsed(), OPENING_TIMEOUT);
        Ok(())
    }
}
