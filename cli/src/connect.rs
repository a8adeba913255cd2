//! A channel to the auth service: plaintext for http URLs, TLS (with the
//! given CA, and a client certificate for mTLS) for https ones; and what a
//! failure over an http URL means when the server speaks TLS.

use std::{fs, path::Path, time::Duration};

use tonic::{
    Code, Status,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};

use crate::{
    args::Global,
    auth_url::AuthUrl,
    error::{CliError, transport},
    tls_probe::speaks_tls,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `url`, failing now (not at the first call) if it cannot.
pub async fn connect(url: &AuthUrl, global: &Global) -> Result<Channel, CliError> {
    let mut endpoint = Endpoint::from_shared(url.as_str().to_owned())
        .map_err(|e| CliError::other(format!("bad auth service URL {url}: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT);
    match (&global.auth_ca, url.is_https()) {
        (Some(ca), _) => endpoint = endpoint.tls_config(tls(ca, global)?).map_err(|e| transport(url, e))?,
        (None, true) => {
            return Err(CliError::other(format!("{url} is https: pass the CA that signed it with --auth-ca")));
        }
        (None, false) => {}
    }
    match endpoint.connect().await {
        Ok(channel) => Ok(channel),
        Err(e) => Err(tls_instead(url, transport(url, e)).await),
    }
}

/// A call's result, its failure explained when an http URL met a TLS port.
pub async fn checked<T>(url: &AuthUrl, result: Result<T, Status>) -> Result<T, CliError> {
    match result {
        Ok(value) => Ok(value),
        // A refusal from the service itself carries a reason; a transport
        // failure (the TLS port's alert read as HTTP/2) does not.
        Err(status)
            if matches!(status.code(), Code::Internal | Code::Unknown | Code::Unavailable)
                && authpair_claims::reason_of(&status).is_none() =>
        {
            Err(tls_instead(url, status.into()).await)
        }
        Err(status) => Err(status.into()),
    }
}

/// `error`, or for an http URL whose server speaks TLS, the error saying so.
async fn tls_instead(url: &AuthUrl, error: CliError) -> CliError {
    if url.is_https() || !speaks_tls(url).await {
        return error;
    }
    let https = match url.host_and_port() {
        Ok((host, port)) if host.contains(':') => format!("https://[{host}]:{port}"),
        Ok((host, port)) => format!("https://{host}:{port}"),
        Err(_) => "https://".to_owned(),
    };
    CliError::other(format!(
        "the server at {url} speaks TLS; use {https} (with --auth-ca and the CA that signed its certificate)"
    ))
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
