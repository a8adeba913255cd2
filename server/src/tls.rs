//! TLS (rustls) from PEM files named in configuration: one reading of a
//! server's files gives both its gRPC port's settings (tonic) and its HTTP
//! listener's acceptor (rustls with the ring provider tonic's TLS already
//! uses, only HTTP/1.1 offered by ALPN); and the settings for calls to the
//! auth service, and an HTTPS client's trusting one CA file. mTLS is optional: with a client CA, clients of either may
//! present a certificate; the auth layer can require one of service
//! callers (see `authpair_claims::AuthLayer`), and the auth service binds
//! service tokens to it.

use std::{fs, io, path::Path, sync::Arc};

use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ClientConfig, RootCertStore, ServerConfig,
        crypto::{CryptoProvider, ring},
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
        server::{WebPkiClientVerifier, danger::ClientCertVerifier},
    },
};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

fn read(path: &Path) -> io::Result<Vec<u8>> {
    fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

fn invalid(path: &Path, what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {what}: {e}", path.display()))
}

/// A server's TLS: the same certificate chain and key on every listener.
pub struct ServerTls {
    /// The gRPC port's (HTTP/2 by ALPN, client certificates verified when
    /// presented if a client CA is given).
    pub grpc: ServerTlsConfig,
    /// The HTTP listener's (HTTP/1.1 by ALPN, client certificates as on
    /// the gRPC port).
    pub http: TlsAcceptor,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

/// A server's certificate chain and key, read once; with `client_ca`,
/// client certificates signed by it are verified when presented
/// (optional), on the gRPC port and the HTTP listener alike.
pub fn server_tls(cert: &Path, key: &Path, client_ca: Option<&Path>) -> io::Result<ServerTls> {
    let (cert_pem, key_pem) = (read(cert)?, read(key)?);
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(cert, "reading certificates", e))?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| invalid(key, "reading a private key", e))?;
    let ca_pem = client_ca.map(read).transpose()?;
    let provider = Arc::new(ring::default_provider());
    let http = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(cert, "TLS for the HTTP listener", e))?;
    let http = match client_ca.zip(ca_pem.as_deref()) {
        Some((ca, ca_pem)) => http.with_client_cert_verifier(optional_client_certificates(ca, ca_pem, provider)?),
        None => http.with_no_client_auth(),
    };
    let mut http = http.with_single_cert(chain, private).map_err(|e| invalid(cert, "TLS for the HTTP listener", e))?;
    http.alpn_protocols = vec![b"http/1.1".to_vec()];

    let mut grpc = ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem));
    if let Some(ca_pem) = ca_pem {
        grpc = grpc.client_ca_root(Certificate::from_pem(ca_pem)).client_auth_optional(true);
    }
    Ok(ServerTls { grpc, http: TlsAcceptor::from(Arc::new(http)) })
}

/// The HTTP listener's client certificates, as the gRPC port takes them:
/// verified against the CA in `ca_pem` when presented, optional.
fn optional_client_certificates(
    ca: &Path,
    ca_pem: &[u8],
    provider: Arc<CryptoProvider>,
) -> io::Result<Arc<dyn ClientCertVerifier>> {
    WebPkiClientVerifier::builder_with_provider(Arc::new(root_store(ca, ca_pem)?), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| invalid(ca, "client certificate verification", e))
}

/// The certificates of the PEM file `ca` (its text `pem`) as the roots a
/// peer's chain must lead to.
fn root_store(ca: &Path, pem: &[u8]) -> io::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pem) {
        let certificate = certificate.map_err(|e| invalid(ca, "reading certificates", e))?;
        roots.add(certificate).map_err(|e| invalid(ca, "a CA certificate", e))?;
    }
    Ok(roots)
}

/// An HTTPS client's TLS (rustls, HTTP/1.1) trusting the CAs of the PEM
/// file `ca` (its text `pem`) and no others, presenting no certificate.
pub fn https_client(ca: &Path, pem: &[u8]) -> io::Result<Arc<ClientConfig>> {
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(ca, "TLS for an HTTPS client", e))?
        .with_root_certificates(root_store(ca, pem)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client trusting `ca` (else the system's roots are not used: pass the
/// CA), presenting `identity` (certificate, key) for mTLS when given.
pub fn client_tls(ca: &Path, identity: Option<(&Path, &Path)>) -> io::Result<ClientTlsConfig> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(tls)
}
