//! HTTP/2 written and read by hand, for requests no Rust HTTP/2 client will
//! send (forbidden header bytes, streams past the advertised limit): frames
//! (RFC 9113 §4.1) and HPACK literals without Huffman coding (RFC 7541).

use tokio::{io::AsyncReadExt as _, net::TcpStream};

/// The client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;

/// END_STREAM on DATA and HEADERS; ACK on SETTINGS.
pub const END_STREAM_OR_ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// An HPACK integer with an `n`-bit prefix, the prefix's high bits `flags`.
pub fn integer(out: &mut Vec<u8>, flags: u8, n: u32, value: usize) {
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
pub fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    integer(out, 0, 7, bytes.len());
    out.extend_from_slice(bytes);
}

/// A literal field without indexing, with the name from static-table entry
/// `index` or, for index 0, spelled out. Nothing enters the dynamic table,
/// so the same block can open any number of streams.
pub fn field(out: &mut Vec<u8>, index: usize, name: &[u8], value: &[u8]) {
    integer(out, 0, 4, index);
    if index == 0 {
        string(out, name);
    }
    string(out, value);
}

/// Appends one frame to `out`.
pub fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// The next frame off `tcp`: (type, flags, stream, payload).
pub async fn read_frame(tcp: &mut TcpStream) -> std::io::Result<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    tcp.read_exact(&mut head).await?;
    let mut payload = vec![0; u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize];
    tcp.read_exact(&mut payload).await?;
    Ok((head[3], head[4], u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff, payload))
}

/// The error code an RST_STREAM (at 0) or GOAWAY (at 4) payload carries.
pub fn error_code(payload: &[u8], at: usize) -> Option<u32> {
    payload.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}
