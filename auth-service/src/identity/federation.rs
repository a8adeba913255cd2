//! Federation: a token from a trusted external issuer (`--federation`;
//! a Kubernetes projected service-account token, a SPIFFE JWT-SVID) as a
//! service account's proof of identity. Its `iss` + `sub` name the account
//! (a mapping the admin API keeps); nothing secret is stored.
//!
//! A token is taken only if its issuer is configured; its `alg` is one a
//! client assertion may use (`identity::assertion`) and its key's; it
//! verifies with a key from that issuer's configured JWK set; `aud` names
//! the audience configured for the issuer (by default this auth service's
//! issuer); `exp` is present, not past, and no further than the issuer's
//! maximum lifetime (from `iat` too); `sub` is not empty. Keys come only
//! from the configured place, never from a token's header (`jku`, `x5u`
//! are not read), and a key the set lacks is fetched again at most every
//! [`MIN_REFETCH`] per issuer: a flood of unknown `kid`s costs one fetch.

use std::{
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Validation, jwk::Jwk};
use serde::Deserialize;
use tokio::net::TcpStream;

use super::assertion::{self, Rejected};
use super::trusted_issuers::{Federation, KeySource, TrustedIssuer, is_subject};

/// The least time between two fetches of one issuer's keys for a `kid` it
/// lacks.
pub const MIN_REFETCH: Duration = Duration::from_secs(30);
/// How long a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWK set read.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Why a federated token is refused. The client is told only "invalid
/// credentials"; the audit line says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FederationError {
    #[error("not a JWT this service reads")]
    Malformed,
    #[error("its issuer is not trusted")]
    UntrustedIssuer,
    #[error("alg is not one taken, or not its key's")]
    Algorithm,
    #[error("no key of its issuer has its kid")]
    UnknownKey,
    #[error("its signature does not verify")]
    Signature,
    #[error("aud does not name this auth service")]
    Audience,
    #[error("expired, or good for longer than its issuer allows")]
    Lifetime,
    #[error("no sub")]
    Subject,
    #[error("its issuer's keys cannot be read")]
    KeysUnavailable,
}

impl FederationError {
    /// The audit reason.
    pub fn reason(self) -> &'static str {
        match self {
            FederationError::Malformed => "federated_malformed",
            FederationError::UntrustedIssuer => "federated_untrusted_issuer",
            FederationError::Algorithm => "federated_algorithm",
            FederationError::UnknownKey => "federated_unknown_key",
            FederationError::Signature => "federated_signature",
            FederationError::Audience => "federated_audience",
            FederationError::Lifetime => "federated_lifetime",
            FederationError::Subject => "federated_subject",
            FederationError::KeysUnavailable => "federated_keys_unavailable",
        }
    }
}

/// The trusted issuers with their keys as last read.
#[derive(Debug, Default)]
pub struct Federated {
    issuers: Vec<Arc<IssuerKeys>>,
}

#[derive(Debug)]
struct IssuerKeys {
    trusted: TrustedIssuer,
    keys: RwLock<Vec<Jwk>>,
    /// When the keys were last fetched; `None`: never.
    fetched: Mutex<Option<Instant>>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct FederatedClaims {
    sub: String,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
}

impl Federated {
    pub fn new(federation: Option<&Federation>) -> Self {
        let issuers = federation.map(|f| f.issuers.clone()).unwrap_or_default();
        Self {
            issuers: issuers
                .into_iter()
                .map(|trusted| {
                    Arc::new(IssuerKeys {
                        trusted,
                        keys: RwLock::new(Vec::new()),
                        fetched: Mutex::new(None),
                        fetching: tokio::sync::Mutex::new(()),
                    })
                })
                .collect(),
        }
    }

    /// Whether `iss` is a trusted issuer.
    pub fn trusts(&self, iss: &str) -> bool {
        self.issuer(iss).is_some()
    }

    fn issuer(&self, iss: &str) -> Option<&Arc<IssuerKeys>> {
        self.issuers.iter().find(|i| i.trusted.issuer == iss)
    }

    /// Verifies `token` from the issuer `iss` names; its (issuer, subject).
    /// `own_issuer` is the audience an issuer without one configured must
    /// name; `leeway` applies to `exp`, `nbf` and `iat`.
    pub async fn verify(
        &self,
        token: &str,
        iss: &str,
        own_issuer: &str,
        leeway: Duration,
        now: u64,
    ) -> Result<(String, String), FederationError> {
        let issuer = self.issuer(iss).ok_or(FederationError::UntrustedIssuer)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| FederationError::Malformed)?;
        if !assertion::is_signature_algorithm(header.alg) {
            return Err(FederationError::Algorithm);
        }
        let mut candidates = issuer.candidates(header.kid.as_deref());
        if candidates.is_empty() {
            issuer.refetch().await?;
            candidates = issuer.candidates(header.kid.as_deref());
        }
        if candidates.is_empty() {
            return Err(FederationError::UnknownKey);
        }
        let audience = issuer.trusted.audience.as_deref().unwrap_or(own_issuer);
        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.set_issuer(&[iss]);
        validation.set_audience(&[audience]);
        validation.leeway = leeway.as_secs();
        validation.validate_nbf = true;
        let claims: FederatedClaims =
            assertion::decode_with(token, header.alg, candidates, &validation).map_err(|rejected| match rejected {
                Rejected::Algorithm => FederationError::Algorithm,
                Rejected::Signature => FederationError::Signature,
                Rejected::Audience => FederationError::Audience,
                Rejected::IssuerOrSubject => FederationError::Subject,
                Rejected::Lifetime => FederationError::Lifetime,
                Rejected::Malformed => FederationError::Malformed,
            })?;
        let max = issuer.trusted.max_token_lifetime.as_secs() + leeway.as_secs();
        let too_long = claims.exp > now.saturating_add(max)
            || claims.iat.is_some_and(|iat| claims.exp.saturating_sub(iat) > max || iat > now + leeway.as_secs());
        if too_long {
            return Err(FederationError::Lifetime);
        }
        if !is_subject(&claims.sub) {
            return Err(FederationError::Subject);
        }
        Ok((iss.to_owned(), claims.sub))
    }
}

impl IssuerKeys {
    /// The keys `kid` names (each key when the token names none).
    fn candidates(&self, kid: Option<&str>) -> Vec<Jwk> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.iter().filter(|k| kid.is_none() || k.common.key_id.as_deref() == kid).cloned().collect()
    }

    /// Reads the key set again, unless it was read less than
    /// [`MIN_REFETCH`] ago (then the keys stay as they are).
    async fn refetch(&self) -> Result<(), FederationError> {
        let _one = self.fetching.lock().await;
        let recent =
            { *self.fetched.lock().unwrap_or_else(|p| p.into_inner()) }.is_some_and(|at| at.elapsed() < MIN_REFETCH);
        if recent {
            return Ok(());
        }
        *self.fetched.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let body = match &self.trusted.keys {
            KeySource::File(path) => read_file(path).await,
            KeySource::Url { url, ca_file } => fetch(url, ca_file.as_deref()).await,
        };
        let body = body.map_err(|e| {
            tracing::warn!(issuer = %self.trusted.issuer, error = %e, "reading a trusted issuer's keys failed");
            FederationError::KeysUnavailable
        })?;
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| {
            tracing::warn!(issuer = %self.trusted.issuer, error = %e, "a trusted issuer's key set is not a JWK set");
            FederationError::KeysUnavailable
        })?;
        // Signing keys only: one marked for encryption, or of a kind no
        // token may be signed with, is left out.
        let keys: Vec<Jwk> = set
            .keys
            .into_iter()
            .filter(|k| k.get("use").is_none_or(|u| u == "sig"))
            .filter_map(|k| serde_json::from_value::<Jwk>(k).ok())
            .filter(assertion::is_signing_key)
            .collect();
        tracing::info!(issuer = %self.trusted.issuer, keys = keys.len(), "read a trusted issuer's keys");
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        Ok(())
    }
}

async fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let body = tokio::fs::read(path).await.map_err(|e| format!("{}: {e}", path.display()))?;
    if body.len() > MAX_JWKS_BYTES {
        return Err(format!("{}: over {MAX_JWKS_BYTES} bytes", path.display()));
    }
    Ok(body)
}

/// `GET url` (http, or https trusting the CAs in `ca_file`), within
/// [`FETCH_TIMEOUT`], the body at most [`MAX_JWKS_BYTES`], status 200.
async fn fetch(url: &str, ca_file: Option<&std::path::Path>) -> Result<Vec<u8>, String> {
    tokio::time::timeout(FETCH_TIMEOUT, fetch_now(url, ca_file))
        .await
        .map_err(|_| format!("{url}: no answer within {FETCH_TIMEOUT:?}"))?
}

async fn fetch_now(url: &str, ca_file: Option<&std::path::Path>) -> Result<Vec<u8>, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let host = uri.host().ok_or_else(|| format!("{url}: no host"))?.to_owned();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let tcp = TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("{url}: {e}"))?;
    let request = http::Request::get(path)
        .header(http::header::HOST, uri.authority().map_or(host.clone(), |a| a.to_string()))
        .header(http::header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("{url}: {e}"))?;
    let response = if https {
        let ca = ca_file.ok_or_else(|| format!("{url}: https needs a ca_file"))?;
        let tls = tls_to(ca, &host).await?;
        let stream = tls.0.connect(tls.1, tcp).await.map_err(|e| format!("{url}: TLS: {e}"))?;
        send(TokioIo::new(stream), request).await
    } else {
        send(TokioIo::new(tcp), request).await
    }
    .map_err(|e| format!("{url}: {e}"))?;
    if response.status() != http::StatusCode::OK {
        return Err(format!("{url}: status {}", response.status()));
    }
    let body = Limited::new(response.into_body(), MAX_JWKS_BYTES).collect().await.map_err(|e| format!("{url}: {e}"))?;
    Ok(body.to_bytes().to_vec())
}

async fn send<I>(
    io: I,
    request: http::Request<Empty<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    sender.send_request(request).await
}

/// A TLS connector trusting the certificates in `ca` and the server name
/// `host`.
async fn tls_to(
    ca: &std::path::Path,
    host: &str,
) -> Result<(tokio_rustls::TlsConnector, tokio_rustls::rustls::pki_types::ServerName<'static>), String> {
    use tokio_rustls::rustls::pki_types::ServerName;
    let pem = tokio::fs::read(ca).await.map_err(|e| format!("{}: {e}", ca.display()))?;
    let config = authpair_server::tls::https_client(ca, &pem).map_err(|e| e.to_string())?;
    let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host}: {e}"))?;
    Ok((tokio_rustls::TlsConnector::from(config), name))
}
