//! The client certificate of a call's connection (mTLS), as a bound token
//! names it: the SHA-256 thumbprint of its DER (`x5t#S256`, RFC 8705 §3.1).

use sha2::Digest as _;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// The thumbprint of a verified client certificate, put in a request's
/// extensions by a listener tonic does not run (the HTTP listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientCertificate(pub [u8; 32]);

/// The SHA-256 thumbprint of a DER certificate.
pub fn certificate_thumbprint(der: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(der).into()
}

/// The thumbprint of the leaf certificate the connection's client presented
/// and the server verified: from tonic's TLS connection info, or a
/// [`ClientCertificate`] extension; `None` without one.
pub fn peer_certificate(extensions: &http::Extensions) -> Option<[u8; 32]> {
    if let Some(ClientCertificate(thumbprint)) = extensions.get::<ClientCertificate>() {
        return Some(*thumbprint);
    }
    let certs = extensions.get::<TlsConnectInfo<TcpConnectInfo>>().and_then(TlsConnectInfo::peer_certs)?;
    certs.first().map(|leaf| certificate_thumbprint(leaf.as_ref()))
}
