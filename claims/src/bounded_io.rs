//! A connection that ends at a deadline, whatever its peer does.
//!
//! Graceful closing (GOAWAY at the max age, or at shutdown) waits for the
//! calls in flight, and a call whose response the peer never lets through
//! (it keeps the stream's HTTP/2 flow-control window shut) is in flight for
//! ever: it would hold its connection, and the server's graceful shutdown,
//! open indefinitely. tonic 0.14's `max_connection_age_grace` would bound
//! that, but with it set tonic sends no GOAWAY at the age (see
//! `serving::DEFAULT_MAX_CONNECTION_AGE`). So the bound is here, on the
//! socket: once the deadline passes, reads and writes fail and hyper drops the
//! connection.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::Sleep,
};
use tonic::transport::server::Connected;

/// `IO` until `lifetime` after it was accepted; then every read fails.
#[derive(Debug)]
pub struct Bounded<IO> {
    io: IO,
    deadline: Pin<Box<Sleep>>,
    /// Whether the reading task is registered to be woken at the deadline.
    armed: bool,
}

impl<IO> Bounded<IO> {
    pub fn new(io: IO, lifetime: Duration) -> Self {
        Self { io, deadline: Box::pin(tokio::time::sleep(lifetime)), armed: false }
    }
}

impl<IO> Bounded<IO> {
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
        Pin::new(&mut this.io).poll_read(cx, buf)
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
