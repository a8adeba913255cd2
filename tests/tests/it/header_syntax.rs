//! TM-03: header names and values that HTTP/2 forbids. RFC 9113 §8.2 makes a
//! request with an upper-case field name, or a value holding CR, LF or NUL,
//! malformed; no Rust HTTP/2 client can even send one, so these frames are
//! written by hand (HPACK literals without Huffman coding). The request must
//! be refused as a protocol error and never reach authentication.

use std::{net::SocketAddr, time::Duration};

use authpair_tests::{TestApp, TestResult};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

const PROTOCOL_ERROR: u32 = 0x1;

/// How the server answered stream 1.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// Response headers with a body to follow: the call succeeded.
    Response,
    /// Headers that end the stream: a gRPC error (trailers only).
    Refused,
    /// RST_STREAM with this error code.
    Reset(u32),
    /// GOAWAY with this error code.
    GoAway(u32),
}

/// An HPACK integer with an `n`-bit prefix, the prefix's high bits `flags`.
fn integer(out: &mut Vec<u8>, flags: u8, n: u32, value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// A string literal, not Huffman coded.
fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    integer(out, 0, 7, bytes.len());
    out.extend_from_slice(bytes);
}

/// A literal field without indexing, with the name from static-table entry
/// `index` or, for index 0, spelled out.
fn field(out: &mut Vec<u8>, index: usize, name: &[u8], value: &[u8]) {
    integer(out, 0, 4, index);
    if index == 0 {
        string(out, name);
    }
    string(out, value);
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Calls GetMyProfile on stream 1 of a new connection with one extra header
/// `name: value` exactly as given, and reads until the stream is answered.
async fn call_with(addr: SocketAddr, name: &[u8], value: &[u8]) -> TestResult<Answer> {
    let mut block = vec![0x83, 0x86]; // :method POST, :scheme http
    field(&mut block, 4, b"", b"/resource.v1.ResourceService/GetMyProfile");
    field(&mut block, 1, b"", addr.to_string().as_bytes());
    field(&mut block, 31, b"", b"application/grpc");
    field(&mut block, 0, b"te", b"trailers");
    field(&mut block, 0, name, value);

    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    frame(&mut out, 0x4, 0, 0, &[]); // SETTINGS
    frame(&mut out, 0x1, 0x4, 1, &block); // HEADERS, END_HEADERS
    frame(&mut out, 0x0, 0x1, 1, &[0, 0, 0, 0, 0]); // DATA: an empty message, END_STREAM
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.write_all(&out).await?;

    let read = async {
        loop {
            let mut head = [0u8; 9];
            tcp.read_exact(&mut head).await?;
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let (kind, stream) = (head[3], u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff);
            let mut payload = vec![0u8; len];
            tcp.read_exact(&mut payload).await?;
            let code_at = |at: usize| payload.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            match (kind, stream) {
                (0x1, 1) if head[4] & 0x1 == 0 => return Ok::<_, std::io::Error>(Answer::Response),
                (0x1, 1) => return Ok(Answer::Refused),
                (0x3, 1) => return Ok(Answer::Reset(code_at(0).unwrap_or(u32::MAX))),
                (0x7, 0) => return Ok(Answer::GoAway(code_at(4).unwrap_or(u32::MAX))),
                _ => continue, // SETTINGS, WINDOW_UPDATE, PING...
            }
        }
    };
    Ok(tokio::time::timeout(Duration::from_secs(10), read).await??)
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
