//! A channel to the auth service: plaintext for http URLs, TLS (with the
//! given CA, and a client certificate for mTLS) for https ones.

use std::{fs, path::Path, time::Duration};

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::{
    args::Global,
    error::{CliError, transport},
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `url`, failing now (not at the first call) if it cannot.
pub async fn connect(url: &str, global: &Global) -> Result<Channel, CliError> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| CliError::other(format!("bad auth service URL {url:?}: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT);
    match (&global.auth_ca, url.starts_with("https://")) {
        (Some(ca), _) => endpoint = endpoint.tls_config(tls(ca, global)?).map_err(|e| transport(url, e))?,
        (None, true) => {
            return Err(CliError::other(format!("{url} is https: pass the CA that signed it with --auth-ca")));
        }
        (None, false) => {}
    }
    endpoint.connect().await.map_err(|e| transport(url, e))
}

fn tls(ca: &Path, global: &Global) -> Result<ClientTlsConfig, CliError> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
    if let (Some(cert), Some(key)) = (&global.client_cert, &global.client_key) {
        tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(tls)
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    fs::read(path).map_err(|e| CliError::other(format!("{}: {e}", path.display())))
}
