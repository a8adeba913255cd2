//! The HTTP/2 limits both servers set explicitly, checked with a raw HTTP/2
//! client (docs/security.md, DS-01, DS-02, DS-03, TM-06), the message size
//! cap, the connection age limit, and HTTP/1.1 refused (TM-08). DS-03's
//! enforcement writes frames by hand, since h2's client keeps to the limit.

use std::net::SocketAddr;

use std::time::Duration;

use authpair_proto::{
    auth::v1::LoginRequest,
    resource::v1::{GetMyProfileRequest, resource_service_client::ResourceServiceClient},
};
use authpair_tests::{
    ADMIN_USERNAME, TestApp, TestResult, bearer, channel,
    raw_h2::{
        Answer, CONTINUATION, DATA, END_HEADERS, END_STREAM_OR_ACK, HEADERS, RST_STREAM, SplittingRelay, answer,
        error_code, field, frame, goaway, handshake, header_block, read_frame,
    },
};
use tokio::net::TcpStream;
use tonic::Code;

type Sender = h2::client::SendRequest<tonic::codegen::Bytes>;
type Connection = h2::client::Connection<TcpStream, tonic::codegen::Bytes>;

async fn raw(addr: SocketAddr) -> Result<(Sender, Connection), Box<dyn std::error::Error + Send + Sync>> {
    let tcp = TcpStream::connect(addr).await?;
    Ok(h2::client::handshake(tcp).await?)
}

/// A gRPC health check request; `extra` header bytes make it as big as wanted.
fn health_check(addr: SocketAddr, extra: usize) -> http::Request<()> {
    let mut request = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if extra > 0 {
        request = request.header("x-padding", "p".repeat(extra));
    }
    request.body(()).unwrap_or_else(|e| panic!("request: {e}"))
}

/// Sends `request` with an empty gRPC message and returns the HTTP status,
/// while driving the connection.
async fn send(
    sender: &mut Sender,
    connection: &mut Connection,
    request: http::Request<()>,
) -> Result<http::StatusCode, h2::Error> {
    let exchange = async {
        let (response, mut body) = sender.send_request(request, false)?;
        body.send_data(tonic::codegen::Bytes::from_static(&[0, 0, 0, 0, 0]), true)?;
        Ok::<_, h2::Error>(response.await?.status())
    };
    tokio::select! {
        status = exchange => status,
        ended = &mut *connection => Err(ended.err().unwrap_or_else(|| h2::Error::from(h2::Reason::NO_ERROR))),
    }
}

#[tokio::test]
async fn ds_03_both_servers_advertise_max_concurrent_streams_200() -> TestResult {
    let app = TestApp::spawn().await?;
    for addr in [app.auth_server.addr, app.resource_server.addr] {
        let (mut sender, mut connection) = raw(addr).await?;
        let status = send(&mut sender, &mut connection, health_check(addr, 0)).await?;
        assert_eq!(status, http::StatusCode::OK);
        // The server's SETTINGS have been received by now.
        assert_eq!(connection.max_concurrent_send_streams(), 200, "{addr}");
    }
    Ok(())
}

const REFUSED_STREAM: u32 = 0x7;

/// A health check's request headers, every field a literal that is never
/// added to the table, so the same block opens any number of streams.
fn health_check_headers() -> Vec<u8> {
    let mut block = vec![0x83, 0x86]; // :method POST, :scheme http
    field(&mut block, 4, b"", b"/grpc.health.v1.Health/Check");
    field(&mut block, 31, b"", b"application/grpc");
    field(&mut block, 0, b"te", b"trailers");
    block
}

#[tokio::test]
async fn ds_03_a_stream_beyond_the_200_advertised_is_refused_while_the_200_stay_open() -> TestResult {
    use tokio::io::AsyncWriteExt as _;
    let app = TestApp::spawn().await?;
    for addr in [app.auth_server.addr, app.resource_server.addr] {
        // A client that ignores the advertised limit, as an attacker would:
        // 201 requests whose bodies never come, so every stream stays open.
        let mut tcp = handshake(addr).await?;
        let block = health_check_headers();
        let mut burst = Vec::new();
        for stream in (1..=401).step_by(2) {
            frame(&mut burst, HEADERS, END_HEADERS, stream, &block);
        }
        tcp.write_all(&burst).await?;
        // The first reset must be the 201st stream's, REFUSED_STREAM (which a
        // gRPC client reports as UNAVAILABLE, and may retry).
        let reset = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let (kind, _, stream, payload) = read_frame(&mut tcp).await?;
                if kind == RST_STREAM {
                    return Ok::<_, std::io::Error>((stream, error_code(&payload, 0).unwrap_or(0)));
                }
            }
        })
        .await
        .map_err(|_| format!("{addr}: no stream was refused"))??;
        assert_eq!(reset, (401, REFUSED_STREAM), "{addr}");
    }
    Ok(())
}

#[tokio::test]
async fn tm_06_a_header_list_over_16_kib_is_refused_before_any_handler() -> TestResult {
    let app = TestApp::spawn().await?;
    let addr = app.resource_server.addr;
    let (mut sender, mut connection) = raw(addr).await?;
    assert_eq!(send(&mut sender, &mut connection, health_check(addr, 15 * 1024)).await?, http::StatusCode::OK);
    let (mut sender, mut connection) = raw(addr).await?;
    match send(&mut sender, &mut connection, health_check(addr, 17 * 1024)).await {
        Ok(status) => assert_eq!(status, http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        Err(e) => assert!(e.is_reset() || e.is_go_away(), "{e}"),
    }
    Ok(())
}

/// h2's answer to a header block that is still growing: the connection ends.
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// How many CONTINUATION frames that do not end the block h2 reads before
/// it calls the rest a flood: with the 16 KiB header list and h2's 16 KiB
/// frames, a full list fits in one frame, plus h2's margin (its floor, five).
/// The frame that ends the block does not count.
const CONTINUATIONS_ALLOWED: usize = 5;

/// Sends `frames` on a new connection, which must end with GOAWAY
/// ENHANCE_YOUR_CALM and debug data `why`. The server may stop reading
/// before the end, and closing on unread bytes resets the connection, so
/// the write may fail; the GOAWAY sent before the reset is still read.
async fn calmed_by(addr: SocketAddr, frames: Vec<u8>, why: &str) -> TestResult {
    use tokio::io::AsyncWriteExt as _;
    let (mut read, mut write) = handshake(addr).await?.into_split();
    let writer = tokio::spawn(async move { write.write_all(&frames).await });
    let ended = tokio::time::timeout(Duration::from_secs(10), goaway(&mut read)).await;
    writer.abort();
    let (code, debug) = ended.map_err(|_| format!("{addr}: no GOAWAY"))??;
    assert_eq!((code, debug.as_str()), (ENHANCE_YOUR_CALM, why), "{addr}");
    Ok(())
}

/// `block` on stream 1, in frames of 16 KiB, the largest the servers take.
fn in_largest_frames(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    header_block(&mut out, 0, 1, block, 16 * 1024);
    out
}

/// After an attack on one connection: a new one is served.
async fn serves_a_new_connection(addr: SocketAddr) -> TestResult {
    let (mut sender, mut connection) = raw(addr).await?;
    assert_eq!(send(&mut sender, &mut connection, health_check(addr, 0)).await?, http::StatusCode::OK, "{addr}");
    Ok(())
}

#[tokio::test]
async fn tm_06_a_header_block_split_over_continuation_frames_is_read_like_one_frame() -> TestResult {
    let app = TestApp::spawn().await?;
    // A real tonic client, its every header block relayed as seven frames
    // (HEADERS, five CONTINUATIONs and the one that ends the block), the
    // token cut across several.
    let relay = SplittingRelay::start(app.resource_server.addr, CONTINUATIONS_ALLOWED + 2).await?;
    let mut resource = ResourceServiceClient::new(channel(relay.addr)?);
    let token = app.root_token().await?;
    let profile = resource.get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?.into_inner();
    assert_eq!(profile.username, ADMIN_USERNAME);
    // Split or not, the token cap and the checks behind it apply.
    let status = resource.get_my_profile(bearer(GetMyProfileRequest {}, &"A".repeat(9000))).await.err();
    let status = status.ok_or("a 9,000-byte token was accepted")?;
    assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "token too large"), "{status:?}");
    let status = resource.get_my_profile(bearer(GetMyProfileRequest {}, &format!("{token}x"))).await.err();
    let status = status.ok_or("a damaged token was accepted")?;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(relay.blocks_split() >= 3, "only {} header blocks were split", relay.blocks_split());
    Ok(())
}

#[tokio::test]
async fn tm_06_a_continuation_flood_gets_goaway_enhance_your_calm_at_its_sixth_frame() -> TestResult {
    use tokio::io::AsyncWriteExt as _;
    let app = TestApp::spawn().await?;
    for addr in [app.auth_server.addr, app.resource_server.addr] {
        // The limit's edge: HEADERS, five empty CONTINUATIONs and one that
        // ends the block open a call like any other.
        let block = health_check_headers();
        let mut edge = Vec::new();
        frame(&mut edge, HEADERS, 0, 1, &block[..1]);
        for _ in 0..CONTINUATIONS_ALLOWED {
            frame(&mut edge, CONTINUATION, 0, 1, &[]);
        }
        frame(&mut edge, CONTINUATION, END_HEADERS, 1, &block[1..]);
        frame(&mut edge, DATA, END_STREAM_OR_ACK, 1, &[0, 0, 0, 0, 0]);
        let mut tcp = handshake(addr).await?;
        tcp.write_all(&edge).await?;
        let answered = tokio::time::timeout(Duration::from_secs(10), answer(&mut tcp, 1)).await??;
        assert_eq!(answered, Answer::Response, "{addr}");

        // The flood (CVE-2024-27316's shape): CONTINUATION frames that never
        // end the block; the sixth ends the connection.
        let mut flood = Vec::new();
        frame(&mut flood, HEADERS, 0, 1, &block[..1]);
        for _ in 0..50 {
            frame(&mut flood, CONTINUATION, 0, 1, &[]);
        }
        calmed_by(addr, flood, "too_many_continuations").await?;
        serves_a_new_connection(addr).await?;
    }
    Ok(())
}

#[tokio::test]
async fn tm_06_a_1_mib_authorization_value_ends_the_connection_after_six_frames_of_it() -> TestResult {
    let app = TestApp::spawn().await?;
    for addr in [app.auth_server.addr, app.resource_server.addr] {
        let mut block = health_check_headers();
        field(&mut block, 23, b"", format!("Bearer {}", "A".repeat(1 << 20)).as_bytes()); // 23: authorization
        calmed_by(addr, in_largest_frames(&block), "too_many_continuations").await?;
    }
    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &app.root_token().await?)).await?;
    assert_eq!(profile.into_inner().username, ADMIN_USERNAME);
    Ok(())
}

#[tokio::test]
async fn tm_06_two_thousand_small_headers_end_the_connection_with_goaway_enhance_your_calm() -> TestResult {
    let app = TestApp::spawn().await?;
    // Each field costs 9 bytes on the wire and counts 38 (32 besides its 6,
    // RFC 7541 §4.1), so the first 16 KiB frame alone holds over 1,800 and
    // passes h2's hard limit of four times the 16 KiB list (65,536), as a
    // compact encoder's (grpcurl's) would: the connection ends, not the stream.
    let mut block = health_check_headers();
    for i in 0..2000 {
        field(&mut block, 0, format!("x{i:04}").as_bytes(), b"v");
    }
    for addr in [app.auth_server.addr, app.resource_server.addr] {
        calmed_by(addr, in_largest_frames(&block), "header_list_way_too_large").await?;
        serves_a_new_connection(addr).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_login_request_over_64_kib_is_refused_without_reaching_the_handler() -> TestResult {
    let app = TestApp::spawn().await?;
    let request = LoginRequest { username: "big".into(), password: "p".repeat(70 * 1024), ..Default::default() };
    let status = app.auth.clone().login(request).await.err().ok_or("accepted")?;
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    // Still serving.
    let status = app.login("nobody", "x").await.err().ok_or("accepted")?;
    assert_eq!(status.code(), Code::Unauthenticated);
    Ok(())
}

#[tokio::test]
async fn ds_02_a_connection_that_keeps_making_the_server_reset_streams_gets_goaway() -> TestResult {
    let app = TestApp::spawn().await?;
    let addr = app.resource_server.addr;
    let (mut sender, mut connection) = raw(addr).await?;
    // Each request says content-length 5 and then ends with no body: the
    // server must reset the stream (a server-caused reset, RUSTSEC-2024-0003).
    let mut sent = 0u32;
    let outcome = loop {
        if sent > 3000 {
            break None;
        }
        let request = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
            .header("content-type", "application/grpc")
            .header("content-length", "5")
            .body(())?;
        let exchange = async {
            futures_ready(&mut sender).await?;
            let (response, _) = sender.send_request(request, true)?;
            response.await.map(drop)
        };
        let result = tokio::select! {
            result = exchange => result,
            ended = &mut connection => break Some(ended.err()),
        };
        sent += 1;
        if let Err(e) = result
            && e.is_go_away()
        {
            break Some(Some(e));
        }
    };
    let error = outcome.flatten().ok_or(format!("no GOAWAY after {sent} server-caused resets"))?;
    assert_eq!(error.reason(), Some(h2::Reason::ENHANCE_YOUR_CALM), "{error}");
    assert!(sent <= 1100, "GOAWAY only after {sent} resets");
    eprintln!("GOAWAY ENHANCE_YOUR_CALM after {sent} server-caused resets");
    Ok(())
}

async fn futures_ready(sender: &mut Sender) -> Result<(), h2::Error> {
    std::future::poll_fn(|cx| sender.poll_ready(cx)).await
}

#[tokio::test]
async fn ds_01_a_rapid_reset_flood_gets_goaway_enhance_your_calm_on_both_servers() -> TestResult {
    let app = TestApp::spawn().await?;
    for addr in [app.auth_server.addr, app.resource_server.addr] {
        let (mut sender, mut connection) = raw(addr).await?;
        // Open a stream and cancel it at once, over and over (CVE-2023-44487):
        // dropping both halves of an unfinished request sends RST_STREAM.
        let mut sent = 0u32;
        let ended = loop {
            if sent >= 20_000 {
                break None;
            }
            let open = async {
                futures_ready(&mut sender).await?;
                let (response, body) = sender.send_request(health_check(addr, 0), false)?;
                drop((response, body));
                Ok::<_, h2::Error>(())
            };
            let result = tokio::select! {
                biased;
                ended = &mut connection => break Some(ended.err()),
                result = open => result,
            };
            sent += 1;
            if let Err(e) = result {
                break Some(Some(e));
            }
        };
        let error = ended.flatten().ok_or(format!("{addr}: no GOAWAY after {sent} rapid resets"))?;
        assert!(error.is_go_away(), "{addr}: {error}");
        assert_eq!(error.reason(), Some(h2::Reason::ENHANCE_YOUR_CALM), "{addr}: {error}");
        eprintln!("{addr}: GOAWAY ENHANCE_YOUR_CALM after {sent} rapid resets");
    }
    // Both still serve new connections.
    app.login("nobody", "x").await.err().ok_or("accepted")?;
    let status = app.resource.clone().get_status(authpair_proto::resource::v1::GetStatusRequest {}).await;
    status?;
    Ok(())
}

#[tokio::test]
async fn at_its_max_age_a_connection_gets_goaway_yet_its_call_in_flight_finishes() -> TestResult {
    let age = std::time::Duration::from_secs(1);
    let app = TestApp::spawn_with(
        |a| a.shared.serving.max_connection_age = age,
        |r| r.shared.serving.max_connection_age = age,
    )
    .await?;
    for addr in [app.auth_server.addr, app.resource_server.addr] {
        let (mut sender, connection) = raw(addr).await?;
        let mut connection = tokio::spawn(connection);
        // A call in flight: its headers are sent, its message is not yet.
        let (response, mut body) = sender.send_request(health_check(addr, 0), false)?;

        // Well past the age the connection is still open, for that call.
        let open = tokio::time::timeout(age * 3, &mut connection).await;
        assert!(open.is_err(), "{addr}: the connection ended with a call in flight: {open:?}");
        // But it takes no new call: the server has said GOAWAY.
        let refused = async {
            futures_ready(&mut sender).await?;
            let (response, mut new_body) = sender.send_request(health_check(addr, 0), false)?;
            new_body.send_data(tonic::codegen::Bytes::from_static(&[0, 0, 0, 0, 0]), true)?;
            response.await.map(|r| r.status())
        };
        let refused = tokio::time::timeout(age * 3, refused).await.map_err(|_| format!("{addr}: no answer"))?;
        assert!(refused.is_err(), "{addr}: a new call on an aged connection got {refused:?}");

        // The call in flight completes normally.
        body.send_data(tonic::codegen::Bytes::from_static(&[0, 0, 0, 0, 0]), true)?;
        let response = response.await?;
        assert_eq!(response.status(), http::StatusCode::OK, "{addr}");
        let mut response_body = response.into_body();
        while let Some(chunk) = response_body.data().await {
            chunk?;
        }
        let trailers = response_body.trailers().await?.ok_or("no trailers")?;
        assert_eq!(trailers.get("grpc-status").map(|v| v.as_bytes()), Some(&b"0"[..]), "{addr}: {trailers:?}");

        // Then the connection closes, cleanly.
        let ended = tokio::time::timeout(age * 10, connection).await.map_err(|_| format!("{addr}: still open"))??;
        if let Err(e) = ended {
            assert_eq!(e.reason(), Some(h2::Reason::NO_ERROR), "{addr}: {e}");
        }
    }
    Ok(())
}

/// TM-08: both ports speak HTTP/2 only (tonic's `accept_http1` stays off), so
/// no gRPC-Web or HTTP/1.1 path exists beside the one the interceptor guards.
/// An HTTP/1.1 request gets no HTTP/1.1 answer, and the connection is closed.
#[tokio::test]
async fn tm_08_an_http_1_1_request_gets_no_http_1_1_answer_on_either_port() -> TestResult {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = TestApp::spawn().await?;
    for addr in [app.auth_server.addr, app.resource_server.addr] {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.write_all(
            b"POST /resource.v1.ResourceService/GetStatus HTTP/1.1\r\nHost: authpair\r\n\
              Content-Type: application/grpc-web\r\nContent-Length: 5\r\n\r\n\0\0\0\0\0",
        )
        .await?;
        let mut reply = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut reply)).await;
        assert!(!reply.starts_with(b"HTTP/"), "{addr} answered HTTP/1: {:?}", String::from_utf8_lossy(&reply));
        match read {
            Err(_) => return Err(format!("{addr}: the connection stayed open").into()),
            // Closing with our bytes unread may reset the connection: closed too.
            Ok(Err(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{addr}: {e}"),
            Ok(Ok(_)) => {}
        }
    }
    Ok(())
}

/// A health check on a raw connection that grants the server no
/// flow-control window: the answer's headers arrive, but its message and
/// trailers never can, so the call stays in flight for as long as the peer
/// likes. Returns the connection's task once the headers are in.
async fn call_held_open(
    addr: SocketAddr,
) -> Result<tokio::task::JoinHandle<Result<(), h2::Error>>, Box<dyn std::error::Error + Send + Sync>> {
    let tcp = TcpStream::connect(addr).await?;
    let (mut sender, connection) = h2::client::Builder::new().initial_window_size(0).handshake(tcp).await?;
    let connection = tokio::spawn(connection);
    let (response, mut body) = sender.send_request(health_check(addr, 0), false)?;
    body.send_data(tonic::codegen::Bytes::from_static(&[0, 0, 0, 0, 0]), true)?;
    let response = response.await?;
    assert_eq!(response.status(), http::StatusCode::OK, "{addr}");
    // Kept, never read: dropping either would reset the stream.
    tokio::spawn(async move {
        let _held = (sender, body, response);
        std::future::pending::<()>().await;
    });
    Ok(connection)
}

/// A peer that keeps a response's window shut (as a revocation feed watcher
/// could for ever) holds its call in flight, so GOAWAY at the max age cannot
/// close the connection; at age + grace it is closed anyway.
#[tokio::test]
async fn a_call_whose_peer_keeps_its_window_shut_is_cut_at_the_max_age_plus_its_grace() -> TestResult {
    let (age, grace) = (std::time::Duration::from_secs(1), std::time::Duration::from_secs(1));
    let app = TestApp::spawn_with(
        |a| (a.shared.serving.max_connection_age, a.shared.serving.max_connection_age_grace) = (age, grace),
        |r| (r.shared.serving.max_connection_age, r.shared.serving.max_connection_age_grace) = (age, grace),
    )
    .await?;
    for addr in [app.auth_server.addr, app.resource_server.addr] {
        let started = std::time::Instant::now();
        let mut connection = call_held_open(addr).await?;
        // Past its age (GOAWAY), the held call keeps it open until the grace ends.
        let open = tokio::time::timeout((age + grace / 2).saturating_sub(started.elapsed()), &mut connection).await;
        assert!(open.is_err(), "{addr}: the connection ended before its grace was over: {open:?}");
        let ended = tokio::time::timeout(age * 10, connection).await;
        assert!(ended.is_ok(), "{addr}: the connection was still open {:?} after it opened", started.elapsed());
        eprintln!("{addr}: a call held open was cut after {:?}", started.elapsed());
    }
    Ok(())
}

/// The same peer cannot hold a graceful shutdown open: the server stops
/// within its drain (the grace, at most 30 s) with the call still held.
#[tokio::test]
async fn graceful_shutdown_ends_within_its_drain_though_a_peer_keeps_a_window_shut() -> TestResult {
    let grace = std::time::Duration::from_secs(1);
    let mut app = TestApp::spawn_with(
        |a| a.shared.serving.max_connection_age_grace = grace,
        |r| r.shared.serving.max_connection_age_grace = grace,
    )
    .await?;
    let held = [call_held_open(app.auth_server.addr).await?, call_held_open(app.resource_server.addr).await?];
    for server in [&mut app.resource_server, &mut app.auth_server] {
        let started = std::time::Instant::now();
        let stopped = tokio::time::timeout(grace * 10, server.stop()).await;
        let addr = server.addr;
        stopped.map_err(|_| format!("{addr}: still stopping after {:?}", started.elapsed()))??;
        assert!(started.elapsed() >= grace, "{addr}: stopped in {:?}, before its drain", started.elapsed());
    }
    drop(held);
    Ok(())
}

/// A socket that sends part of the HTTP/2 client preface and then nothing
/// is closed at the opening timeout (10 s), on both servers. hyper alone
/// waits for the rest of a preface for ever, and its keepalive pings start
/// only after it, so such sockets would pile up for the whole connection
/// lifetime.
#[tokio::test]
async fn a_connection_that_stops_in_the_middle_of_its_preface_is_closed_at_the_opening_timeout() -> TestResult {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = TestApp::spawn().await?;
    let opening = authpair_server::listen::bounded::OPENING_TIMEOUT;
    let closed_after = |addr: SocketAddr| async move {
        let mut tcp = TcpStream::connect(addr).await?;
        let started = std::time::Instant::now();
        tcp.write_all(b"PRI * HTTP/2.0\r\n").await?;
        // The server's own SETTINGS may come first; then the close.
        let mut reply = Vec::new();
        match tokio::time::timeout(opening * 3, tcp.read_to_end(&mut reply)).await {
            Err(_) => Err(format!("{addr}: still open after {:?}", started.elapsed()).into()),
            Ok(Err(e)) if e.kind() != std::io::ErrorKind::ConnectionReset => Err(e.into()),
            Ok(_) => Ok::<_, Box<dyn std::error::Error + Send + Sync>>(started.elapsed()),
        }
    };
    let (auth, resource) = tokio::join!(closed_after(app.auth_server.addr), closed_after(app.resource_server.addr));
    for elapsed in [auth?, resource?] {
        // The timer started at accept, a moment before `started`.
        assert!(elapsed + std::time::Duration::from_secs(1) >= opening, "closed after {elapsed:?}, before the timeout");
    }
    Ok(())
}

/// With a cap of two connections, a third waits unaccepted (its call gets
/// no answer) until one of the two closes; then it is served. The resource
/// service here: no other service connects to it.
#[tokio::test]
async fn past_the_connection_cap_a_new_connection_waits_until_one_closes() -> TestResult {
    let app = TestApp::spawn_with(|_| {}, |r| r.shared.serving.max_connections = 2).await?;
    let addr = app.resource_server.addr;
    // A connection and its health check's HTTP status, once answered.
    let open = || async move {
        let (mut sender, connection) = raw(addr).await?;
        let connection = tokio::spawn(connection);
        let (response, mut body) = sender.send_request(health_check(addr, 0), false)?;
        body.send_data(tonic::codegen::Bytes::from_static(&[0, 0, 0, 0, 0]), true)?;
        let answered = tokio::spawn(async move { response.await.map(|r| r.status()) });
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((sender, connection, answered))
    };
    let wait = std::time::Duration::from_secs(5);
    // Two served (the harness's readiness check may hold a slot a moment
    // longer, so these may wait that long).
    let (first_sender, first_connection, first_answer) = open().await?;
    let (second_sender, second_connection, second_answer) = open().await?;
    assert_eq!(tokio::time::timeout(wait, first_answer).await???, http::StatusCode::OK);
    assert_eq!(tokio::time::timeout(wait, second_answer).await???, http::StatusCode::OK);

    let (_third_sender, _third_connection, mut third_answer) = open().await?;
    let waited = tokio::time::timeout(std::time::Duration::from_secs(1), &mut third_answer).await;
    assert!(waited.is_err(), "a third connection was served past the cap of two: {waited:?}");

    // The first closes, its socket with it; the third is served.
    drop(first_sender);
    first_connection.abort();
    let answer = tokio::time::timeout(wait, third_answer).await.map_err(|_| "the third was never served")???;
    assert_eq!(answer, http::StatusCode::OK);
    drop(second_sender);
    second_connection.abort();
    Ok(())
}
