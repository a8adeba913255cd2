//! One-shot HTTP/1.1 requests with hyper's client: a connection of its own
//! per request (plain, or TLS with a given rustls client config), the whole
//! response read.

use std::{net::SocketAddr, sync::Arc};

use http_body_util::{BodyExt as _, Full};
use hyper::{
    HeaderMap, Request, StatusCode,
    body::Bytes,
    client::conn::http1,
    header::{HOST, HeaderName, HeaderValue},
};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, rustls::ClientConfig};

/// What came back.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// A request to send: method, path, headers, body.
#[derive(Debug, Clone, Default)]
pub struct Ask<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: Vec<u8>,
}

impl<'a> Ask<'a> {
    pub fn get(path: &'a str) -> Self {
        Self { method: "GET", path, ..Self::default() }
    }

    pub fn method(method: &'a str, path: &'a str) -> Self {
        Self { method, path, ..Self::default() }
    }

    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// `GET path` on plain HTTP.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Answer> {
    send(addr, Ask::get(path)).await
}

/// `ask` on plain HTTP.
pub async fn send(addr: SocketAddr, ask: Ask<'_>) -> anyhow::Result<Answer> {
    exchange(TcpStream::connect(addr).await?, addr, ask).await
}

/// `ask` on plain HTTP from a connection bound to `source` (any address of
/// 127.0.0.0/8 is a loopback source of its own on Linux).
pub async fn send_from(source: std::net::IpAddr, addr: SocketAddr, ask: Ask<'_>) -> anyhow::Result<Answer> {
    exchange(connect_from(source, addr).await?, addr, ask).await
}

/// A TCP connection to `addr` from `source` (port chosen by the OS).
pub async fn connect_from(source: std::net::IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match source {
        std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

/// `ask` over TLS with `tls` (which trusts the server's CA), naming `server_name`.
pub async fn send_tls(
    addr: SocketAddr,
    tls: Arc<ClientConfig>,
    server_name: &str,
    ask: Ask<'_>,
) -> anyhow::Result<Answer> {
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(server_name.to_owned())?;
    let stream = TlsConnector::from(tls).connect(name, TcpStream::connect(addr).await?).await?;
    exchange(stream, addr, ask).await
}

async fn exchange<I>(io: I, addr: SocketAddr, ask: Ask<'_>) -> anyhow::Result<Answer>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(io)).await?;
    let driver = tokio::spawn(connection);
    let mut request = Request::builder().method(ask.method).uri(ask.path).header(HOST, addr.to_string());
    for (name, value) in ask.headers {
        request = request.header(HeaderName::try_from(name)?, HeaderValue::try_from(value)?);
    }
    let response = sender.send_request(request.body(Full::new(Bytes::from(ask.body)))?).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    driver.abort();
    Ok(Answer { status: parts.status, headers: parts.headers, body })
}
