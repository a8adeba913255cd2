//! The auth service's HTTP listener under a client holding idle sockets:
//! connections past the per-source cap, or past what is kept for sources
//! with few, are closed at once; everyone else is still answered at once;
//! an idle or header-less connection is closed at the short idle timeout.
//!
//! Sources are addresses of 127.0.0.0/8, each a loopback source of its own
//! on Linux; the service listens on 127.0.0.1.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use auth_service::config::HttpLimits;
use authpair_tests::{
    ADMIN_AUDIENCE, AuthConfig, Server, TestApp, TestResult,
    http1::{self, Ask},
    start_auth,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    sync::mpsc,
    time::Instant,
};

const JWKS: &str = "/.well-known/jwks.json";

fn source(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// An auth service whose HTTP listener has `limits`.
async fn service(limits: HttpLimits) -> anyhow::Result<(Server, SocketAddr, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let server = start_auth(AuthConfig { http_limits: limits, ..AuthConfig::new(dir.path()) }).await?;
    let http = server.http_addr.ok_or_else(|| anyhow::anyhow!("no HTTP listener"))?;
    Ok((server, http, dir))
}

/// Small caps, and an idle timeout long enough that held sockets stay open
/// for the whole test unless a cap closes them.
fn small_caps() -> HttpLimits {
    HttpLimits {
        max_connections: 64,
        max_connections_per_source: 16,
        idle_timeout: Duration::from_secs(60),
        ..HttpLimits::default()
    }
}

/// `n` idle connections from `from`, each watched by a task that reports on
/// `closed` when the server closes it (and keeps it open until then).
async fn hold(from: IpAddr, to: SocketAddr, n: usize, closed: &mpsc::UnboundedSender<IpAddr>) -> anyhow::Result<()> {
    for _ in 0..n {
        // A connection refused at once may be reset before the connect
        // itself reports success.
        let mut stream = match http1::connect_from(from, to).await {
            Ok(stream) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                let _ = closed.send(from);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let closed = closed.clone();
        tokio::spawn(async move {
            let mut byte = [0u8; 1];
            // Ok(0) after a FIN, Err after a reset: either way, closed.
            let _ = stream.read(&mut byte).await;
            let _ = closed.send(from);
        });
    }
    Ok(())
}

/// Waits for `n` closes reported on `closed` (at most 10 s), and returns
/// how many came from each source, in order of `sources`.
async fn closes(closed: &mut mpsc::UnboundedReceiver<IpAddr>, n: usize, sources: &[IpAddr]) -> TestResult<Vec<usize>> {
    let mut counts = vec![0; sources.len()];
    for _ in 0..n {
        let from = tokio::time::timeout(Duration::from_secs(10), closed.recv()).await?.ok_or("watchers gone")?;
        if let Some(i) = sources.iter().position(|s| *s == from) {
            counts[i] += 1;
        }
    }
    Ok(counts)
}

/// The JWK set fetched over a new connection from `from`, and how long it took.
async fn jwks_from(from: IpAddr, http: SocketAddr) -> TestResult<Duration> {
    let started = Instant::now();
    let answer = http1::send_from(from, http, Ask::get(JWKS)).await?;
    let took = started.elapsed();
    assert_eq!(answer.status, 200);
    assert!(answer.json()?["keys"].as_array().is_some_and(|keys| !keys.is_empty()));
    Ok(took)
}

#[tokio::test]
async fn one_source_holding_idle_sockets_past_its_cap_is_closed_at_once_and_another_source_is_answered_within_100_ms()
-> TestResult {
    let (_server, http, _dir) = service(small_caps()).await?;
    let (hog, other) = (source(1), source(2));
    let (closed, mut closed_rx) = mpsc::unbounded_channel();
    hold(hog, http, 24, &closed).await?;
    // The 8 past the per-source cap of 16 are closed as soon as accepted.
    assert_eq!(closes(&mut closed_rx, 8, &[hog]).await?, vec![8]);

    let took = jwks_from(other, http).await?;
    assert!(took < Duration::from_millis(100), "the JWK set took {took:?} while one source held 16 idle sockets");
    // The hog still holds its 16, and a further one of its connections is
    // closed without an answer.
    assert!(closed_rx.try_recv().is_err(), "a connection within the cap was closed");
    let refused = http1::send_from(hog, http, Ask::get(JWKS)).await;
    assert!(refused.is_err(), "a connection past the per-source cap was answered: {refused:?}");
    Ok(())
}

#[tokio::test]
async fn several_sources_at_their_cap_leave_the_last_quarter_to_sources_with_few_connections() -> TestResult {
    let (_server, http, _dir) = service(small_caps()).await?;
    let hogs = [source(1), source(3), source(4), source(5)];
    let (closed, mut closed_rx) = mpsc::unbounded_channel();
    // One after the other: three fill the 48 unreserved slots; the fourth
    // gets the 4 a source may hold of the 16 kept, and its other 12 are closed.
    for hog in hogs {
        hold(hog, http, 16, &closed).await?;
    }
    assert_eq!(closes(&mut closed_rx, 12, &hogs).await?, vec![0, 0, 0, 12]);

    let took = jwks_from(source(2), http).await?;
    assert!(took < Duration::from_millis(100), "the JWK set took {took:?} while four sources held 52 idle sockets");
    assert!(closed_rx.try_recv().is_err(), "a kept connection was closed");
    Ok(())
}

#[tokio::test]
async fn a_connection_that_sends_no_request_head_is_closed_at_the_idle_timeout() -> TestResult {
    let idle = Duration::from_secs(1);
    let (_server, http, _dir) = service(HttpLimits { idle_timeout: idle, ..HttpLimits::default() }).await?;
    // Nothing sent, then half a head (a slow client): both closed at the idle timeout.
    for sent in [&b""[..], b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: a\r\n"] {
        let started = Instant::now();
        let mut stream = tokio::net::TcpStream::connect(http).await?;
        stream.write_all(sent).await?;
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await?;
        let took = started.elapsed();
        assert!(read.is_ok() && rest.is_empty(), "{read:?} {:?}", String::from_utf8_lossy(&rest));
        assert!(took >= idle && took < idle * 3, "closed after {took:?} with {} bytes sent", sent.len());
    }
    Ok(())
}

#[tokio::test]
async fn a_keep_alive_connection_idle_after_its_response_is_closed_at_the_idle_timeout() -> TestResult {
    let idle = Duration::from_secs(1);
    let (_server, http, _dir) = service(HttpLimits { idle_timeout: idle, ..HttpLimits::default() }).await?;
    let mut stream = tokio::net::TcpStream::connect(http).await?;
    stream.write_all(format!("GET {JWKS} HTTP/1.1\r\nHost: {http}\r\n\r\n").as_bytes()).await?;
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await??;
    let took = started.elapsed();
    assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"), "{:?}", String::from_utf8_lossy(&answer));
    assert!(took >= idle && took < idle * 3, "closed {took:?} after the request");
    Ok(())
}

#[tokio::test]
async fn a_request_whose_head_has_arrived_gets_the_longer_request_timeout_and_then_503() -> TestResult {
    let (idle, request) = (Duration::from_secs(1), Duration::from_secs(3));
    let limits = HttpLimits { idle_timeout: idle, request_timeout: request, ..HttpLimits::default() };
    let app = TestApp::spawn_with(|a| a.http_limits = limits, |_| {}).await?;
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    let caller = app.service_token_for("introspector", &["tokens:introspect"], "", ADMIN_AUDIENCE).await?;
    // An allowed caller's head in full, then a body that never comes: past
    // the idle timeout the request is still waited for, and at the request
    // timeout it gets 503.
    let mut stream = tokio::net::TcpStream::connect(http).await?;
    let head = format!(
        "POST /oauth2/introspect HTTP/1.1\r\nHost: {http}\r\nAuthorization: Bearer {caller}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntoken="
    );
    stream.write_all(head.as_bytes()).await?;
    let started = Instant::now();
    let mut status = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut status)).await??;
    let took = started.elapsed();
    assert_eq!(String::from_utf8_lossy(&status), "HTTP/1.1 503", "after {took:?}");
    assert!(took >= request && took < request + idle * 2, "503 after {took:?}");
    Ok(())
}
