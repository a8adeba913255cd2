//! TLS (rustls) for both servers and for the resource service's calls to
//! the auth service, from PEM files named in configuration. mTLS is
//! optional: with a client CA, clients may present a certificate, and the
//! auth layer can require one of service callers (see `authpair_claims::AuthLayer`).

use std::{fs, io, path::Path};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

fn read(path: &Path) -> io::Result<Vec<u8>> {
    fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// A server's certificate chain and key; with `client_ca`, client
/// certificates signed by it are verified when presented (optional).
pub fn server_tls(cert: &Path, key: &Path, client_ca: Option<&Path>) -> io::Result<ServerTlsConfig> {
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?));
    if let Some(ca) = client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(read(ca)?)).client_auth_optional(true);
    }
    Ok(tls)
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
