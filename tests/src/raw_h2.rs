//! HTTP/2 written and read by hand, for requests no Rust HTTP/2 client will
//! send (forbidden header bytes, streams past the advertised limit, header
//! blocks split over CONTINUATION frames): frames (RFC 9113 §4.1), HPACK
//! literals without Huffman coding (RFC 7541), and a relay that splits a
//! real client's header blocks.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// The client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;
pub const CONTINUATION: u8 = 0x9;

/// END_STREAM on DATA and HEADERS; ACK on SETTINGS.
pub const END_STREAM_OR_ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
/// HEADERS flags that put more than the block in the payload.
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

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

/// Appends header block `block` for `stream` as one HEADERS frame (keeping
/// `flags`' END_STREAM) and as many CONTINUATION frames as pieces of at most
/// `piece_len` bytes need; only the last frame carries END_HEADERS.
pub fn header_block(out: &mut Vec<u8>, flags: u8, stream: u32, block: &[u8], piece_len: usize) {
    let mut pieces = block.chunks(piece_len.max(1)).peekable();
    let (mut kind, mut flags) = (HEADERS, flags & !END_HEADERS);
    if pieces.peek().is_none() {
        frame(out, kind, flags | END_HEADERS, stream, &[]);
    }
    while let Some(piece) = pieces.next() {
        let last = if pieces.peek().is_none() { END_HEADERS } else { 0 };
        frame(out, kind, flags | last, stream, piece);
        (kind, flags) = (CONTINUATION, 0);
    }
}

/// A connection to `addr` past the preface: ours and an empty SETTINGS sent,
/// the server's SETTINGS read and acknowledged.
pub async fn handshake(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let mut tcp = TcpStream::connect(addr).await?;
    let mut hello = PREFACE.to_vec();
    frame(&mut hello, SETTINGS, 0, 0, &[]);
    tcp.write_all(&hello).await?;
    loop {
        let (kind, flags, _, _) = read_frame(&mut tcp).await?;
        if kind == SETTINGS && flags & END_STREAM_OR_ACK == 0 {
            let mut ack = Vec::new();
            frame(&mut ack, SETTINGS, END_STREAM_OR_ACK, 0, &[]);
            tcp.write_all(&ack).await?;
            return Ok(tcp);
        }
    }
}

/// The next frame off `input`: (type, flags, stream, payload).
pub async fn read_frame(input: &mut (impl AsyncRead + Unpin)) -> std::io::Result<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    input.read_exact(&mut head).await?;
    let mut payload = vec![0; u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize];
    input.read_exact(&mut payload).await?;
    Ok((head[3], head[4], u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff, payload))
}

/// The error code an RST_STREAM (at 0) or GOAWAY (at 4) payload carries.
pub fn error_code(payload: &[u8], at: usize) -> Option<u32> {
    payload.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Frames off `input` until a GOAWAY: its error code and debug data.
pub async fn goaway(input: &mut (impl AsyncRead + Unpin)) -> std::io::Result<(u32, String)> {
    loop {
        let (kind, _, _, payload) = read_frame(input).await?;
        if kind == GOAWAY {
            let debug = String::from_utf8_lossy(payload.get(8..).unwrap_or_default()).into_owned();
            return Ok((error_code(&payload, 4).unwrap_or(u32::MAX), debug));
        }
    }
}

/// A TCP relay to `target` that passes every frame on unchanged, except
/// that each header block a client sends in one HEADERS frame goes on in
/// `pieces` frames or a few fewer (HEADERS, then CONTINUATION), as a client or proxy with
/// small frames may send it and as no Rust client does by itself. Responses
/// come back untouched. Stops accepting when dropped.
#[derive(Debug)]
pub struct SplittingRelay {
    pub addr: SocketAddr,
    split: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl SplittingRelay {
    pub async fn start(target: SocketAddr, pieces: usize) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let split = Arc::new(AtomicUsize::new(0));
        let counted = split.clone();
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let counted = counted.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else { return };
                    let (mut from_client, mut to_client) = inbound.into_split();
                    let (mut from_server, mut to_server) = outbound.into_split();
                    tokio::spawn(async move { tokio::io::copy(&mut from_server, &mut to_client).await });
                    // Ends when either side closes; dropping `to_server` then
                    // closes the server's side too.
                    let _ = relay_splitting(&mut from_client, &mut to_server, pieces, &counted).await;
                });
            }
        });
        Ok(Self { addr, split, accept })
    }

    /// How many header blocks went on in more than one frame.
    pub fn blocks_split(&self) -> usize {
        self.split.load(Ordering::SeqCst)
    }
}

impl Drop for SplittingRelay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn relay_splitting(
    from: &mut (impl AsyncRead + Unpin),
    to: &mut (impl tokio::io::AsyncWrite + Unpin),
    pieces: usize,
    split: &AtomicUsize,
) -> std::io::Result<()> {
    let mut preface = [0; PREFACE.len()];
    from.read_exact(&mut preface).await?;
    to.write_all(&preface).await?;
    loop {
        let (kind, flags, stream, payload) = read_frame(from).await?;
        let mut out = Vec::new();
        let whole_block = kind == HEADERS && flags & END_HEADERS != 0 && flags & (PADDED | PRIORITY) == 0;
        if whole_block && payload.len() >= pieces && pieces > 1 {
            header_block(&mut out, flags, stream, &payload, payload.len().div_ceil(pieces));
            split.fetch_add(1, Ordering::SeqCst);
        } else {
            frame(&mut out, kind, flags, stream, &payload);
        }
        to.write_all(&out).await?;
    }
}

/// How the server answered a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Response headers with a body to follow: the call succeeded.
    Response,
    /// Headers that end the stream: a gRPC error (trailers only).
    Refused,
    /// RST_STREAM with this error code.
    Reset(u32),
    /// GOAWAY with this error code.
    GoAway(u32),
}

/// Frames off `input` until `stream` is answered.
pub async fn answer(input: &mut (impl AsyncRead + Unpin), stream: u32) -> std::io::Result<Answer> {
    loop {
        let (kind, flags, on, payload) = read_frame(input).await?;
        match kind {
            HEADERS if on == stream && flags & END_STREAM_OR_ACK == 0 => return Ok(Answer::Response),
            HEADERS if on == stream => return Ok(Answer::Refused),
            RST_STREAM if on == stream => return Ok(Answer::Reset(error_code(&payload, 0).unwrap_or(u32::MAX))),
            GOAWAY => return Ok(Answer::GoAway(error_code(&payload, 4).unwrap_or(u32::MAX))),
            _ => continue, // SETTINGS, WINDOW_UPDATE, PING, other streams
        }
    }
}
