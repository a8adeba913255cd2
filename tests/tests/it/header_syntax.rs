//! TM-03: header names and values that HTTP/2 forbids. RFC 9113 §8.2 makes a
//! request with an upper-case field name, or a value holding CR, LF or NUL,
//! malformed; no Rust HTTP/2 client can even send one, so these frames are
//! written by hand (HPACK literals without Huffman coding). The request must
//! be refused as a protocol error and never reach authentication.

use std::{net::SocketAddr, time::Duration};

use authpair_tests::{
    TestApp, TestResult,
    raw_h2::{Answer, DATA, END_HEADERS, END_STREAM_OR_ACK, HEADERS, PREFACE, SETTINGS, answer, field, frame},
};
use tokio::{io::AsyncWriteExt as _, net::TcpStream};

const PROTOCOL_ERROR: u32 = 0x1;

/// Calls GetMyProfile on stream 1 of a new connection with one extra header
/// `name: value` exactly as given, and reads until the stream is answered.
async fn call_with(addr: SocketAddr, name: &[u8], value: &[u8]) -> TestResult<Answer> {
    let mut block = vec![0x83, 0x86]; // :method POST, :scheme http
    field(&mut block, 4, b"", b"/resource.v1.ResourceService/GetMyProfile");
    field(&mut block, 1, b"", addr.to_string().as_bytes());
    field(&mut block, 31, b"", b"application/grpc");
    field(&mut block, 0, b"te", b"trailers");
    field(&mut block, 0, name, value);

    let mut out = PREFACE.to_vec();
    frame(&mut out, SETTINGS, 0, 0, &[]);
    frame(&mut out, HEADERS, END_HEADERS, 1, &block);
    frame(&mut out, DATA, END_STREAM_OR_ACK, 1, &[0, 0, 0, 0, 0]); // an empty message
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.write_all(&out).await?;

    Ok(tokio::time::timeout(Duration::from_secs(10), answer(&mut tcp, 1)).await??)
}

#[tokio::test]
async fn tm_03_an_upper_case_name_or_cr_lf_nul_in_a_value_is_a_protocol_error_never_a_call() -> TestResult {
    let app = TestApp::spawn().await?;
    let (_, token) = app.user_with_token("tim", &[]).await?;
    let addr = app.resource_server.addr;
    let bearer = format!("Bearer {token}");

    // The controls: the same bytes with a valid header are a successful
    // call, and with a wrong token a refused one.
    assert_eq!(call_with(addr, b"authorization", bearer.as_bytes()).await?, Answer::Response);
    assert_eq!(call_with(addr, b"authorization", b"Bearer x.y.z").await?, Answer::Refused);

    let refused = |answer: &Answer| matches!(answer, Answer::Reset(PROTOCOL_ERROR) | Answer::GoAway(PROTOCOL_ERROR));
    let answer = call_with(addr, b"Authorization", bearer.as_bytes()).await?;
    assert!(refused(&answer), "upper-case name: {answer:?}");
    for bad in ["\r\nx-user: admin", "\nx-user: admin", "\r", "\0admin"] {
        let value = format!("{bearer}{bad}");
        let answer = call_with(addr, b"authorization", value.as_bytes()).await?;
        assert!(refused(&answer), "value ending {bad:?}: {answer:?}");
        let answer = call_with(addr, b"x-request-note", value.as_bytes()).await?;
        assert!(refused(&answer), "{bad:?} in another header: {answer:?}");
    }
    // Still serving.
    assert_eq!(call_with(addr, b"authorization", bearer.as_bytes()).await?, Answer::Response);
    Ok(())
}
