//! Whether a server speaks TLS: asked when a call over an `http://` URL
//! fails, so that the error can say "use https://" instead of an HTTP/2
//! protocol error.
//!
//! The probe opens one TCP connection, sends a TLS ClientHello and reads
//! the first byte of the answer: a TLS server answers with a handshake
//! record (content type 22, RFC 8446 §5.1), or an alert (21) if it likes
//! nothing offered; a plaintext HTTP/2 server answers with a frame, whose
//! first byte is the high byte of a length no TLS record type has, or
//! closes. No certificate is looked at and nothing is sent after the hello.

use std::{sync::Arc, time::Duration};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tokio_rustls::rustls::{self, ClientConfig, ClientConnection, RootCertStore, pki_types::ServerName};

use crate::auth_url::AuthUrl;

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// TLS record content types that only a TLS peer sends first.
const HANDSHAKE: u8 = 22;
const ALERT: u8 = 21;

/// Whether the server at `url` answers a ClientHello as TLS; false when it
/// cannot be told (unreachable, slow, or no TLS).
pub async fn speaks_tls(url: &AuthUrl) -> bool {
    matches!(tokio::time::timeout(PROBE_TIMEOUT, first_byte_after_hello(url)).await, Ok(Some(HANDSHAKE | ALERT)))
}

async fn first_byte_after_hello(url: &AuthUrl) -> Option<u8> {
    let (host, port) = url.host_and_port().ok()?;
    let hello = client_hello(&host)?;
    let mut tcp = TcpStream::connect((host.as_str(), port)).await.ok()?;
    tcp.write_all(&hello).await.ok()?;
    let mut first = [0u8; 1];
    match tcp.read(&mut first).await {
        Ok(1) => Some(first[0]),
        _ => None,
    }
}

/// The bytes of a ClientHello for `host` (a name, or an IP address).
fn client_hello(host: &str) -> Option<Vec<u8>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).ok()?;
    let mut connection = ClientConnection::new(Arc::new(config), name).ok()?;
    let mut hello = Vec::new();
    connection.write_tls(&mut hello).ok()?;
    Some(hello)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hello_is_one_tls_handshake_record() {
        let hello = client_hello("127.0.0.1").unwrap_or_default();
        assert_eq!(hello.first(), Some(&HANDSHAKE));
        let hello = client_hello("auth.example.com").unwrap_or_default();
        assert_eq!(hello.first(), Some(&HANDSHAKE));
    }
}
