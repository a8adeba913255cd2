//! `envoy.service.auth.v3.Authorization/Check`: the request Envoy asks
//! about ([`Asked`]), decided in the auth layer's order (`authpair_claims`'s
//! `layer` module docs): find the rule, authenticate the bearer token
//! (verifier, token cache, denylist, as the resource service does), deny
//! when no rule applies, authorize against the route's audience and rule,
//! then the quota. The answer is written by `answer`.

use std::{collections::HashMap, sync::Arc};

use authpair_claims::{
    AuthError, Claims, Denylist, QuotaLimiter, Verifier, layer::authenticate, token::bearer::bearer_value,
};
use authpair_proto::envoy_api::envoy::service::auth::v3::{CheckRequest, CheckResponse, authorization_server};
use metrics::Counter;
use tonic::{Request, Response, Status};

use crate::{
    answer::Answers,
    routes::{ROUTE_EXTENSION, Routes},
};

/// Metric: checks decided, by route, outcome and reason.
pub const CHECKS: &str = "authpair_gate_checks_total";

/// What Envoy asks about: the parts of its check request a decision reads.
#[derive(Debug)]
pub struct Asked<'a> {
    /// The route named by the `authpair_route` context extension.
    pub route: Option<&'a str>,
    pub method: &'a str,
    /// The path, query string included (rules ignore it).
    pub path: &'a str,
    /// The bearer token: none, one, or why the header is unusable.
    pub token: Result<Option<&'a str>, AuthError>,
    /// Whether the request is a gRPC call (its content type), so a denial
    /// carries `grpc-status` for its client.
    pub grpc: bool,
    /// The client certificate Envoy verified and forwarded
    /// (`include_peer_certificate`; URL-encoded PEM), read only for a
    /// certificate-bound token.
    pub certificate: Option<&'a str>,
}

impl<'a> Asked<'a> {
    /// The request's parts, or INVALID_ARGUMENT when Envoy sent no HTTP
    /// request attributes.
    pub fn read(request: &'a CheckRequest) -> Result<Self, Status> {
        let attributes = request.attributes.as_ref();
        let http = attributes
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref())
            .ok_or_else(|| Status::invalid_argument("the check request has no HTTP request attributes"))?;
        let route = attributes.and_then(|a| a.context_extensions.get(ROUTE_EXTENSION)).map(String::as_str);
        // With `encode_raw_headers`, Envoy sends every header line on its
        // own (`header_map`), so two `authorization` lines are seen as two;
        // otherwise `headers` joins them with commas into one value, which
        // is then no token.
        let (token, content_type) = match &http.header_map {
            Some(map) => {
                let mut values = map.headers.iter().filter(|h| h.key.eq_ignore_ascii_case("authorization"));
                let token = match (values.next(), values.next()) {
                    (None, _) => Ok(None),
                    (Some(_), Some(_)) => Err(AuthError::DuplicateAuthorization),
                    (Some(one), None) => bearer_value(header_bytes(one)).map(Some),
                };
                let content_type = map.headers.iter().find(|h| h.key.eq_ignore_ascii_case("content-type"));
                (token, content_type.map(header_bytes).unwrap_or_default())
            }
            None => {
                let token = http.headers.get("authorization").map(|v| bearer_value(v.as_bytes())).transpose();
                (token, http.headers.get("content-type").map(|v| v.as_bytes()).unwrap_or_default())
            }
        };
        let certificate =
            attributes.and_then(|a| a.source.as_ref()).map(|peer| peer.certificate.as_str()).filter(|c| !c.is_empty());
        Ok(Self {
            route,
            method: &http.method,
            path: &http.path,
            token,
            grpc: content_type.starts_with(b"application/grpc"),
            certificate,
        })
    }
}

/// The SHA-256 of the DER certificate in `pem` as Envoy forwards a peer's
/// certificate (URL-encoded PEM); `None` when it does not parse, which a
/// bound token then fails.
fn thumbprint(pem: &str) -> Option<[u8; 32]> {
    use rustls_pki_types::{CertificateDer, pem::PemObject as _};
    let pem = percent_encoding::percent_decode_str(pem).collect::<Vec<u8>>();
    let der = CertificateDer::from_pem_slice(&pem).ok()?;
    Some(authpair_claims::layer::certificate_thumbprint(der.as_ref()))
}

fn header_bytes(header: &authpair_proto::envoy_api::envoy::config::core::v3::HeaderValue) -> &[u8] {
    if header.raw_value.is_empty() { header.value.as_bytes() } else { &header.raw_value }
}

/// The Check service: the routes, the token core, the quotas, and how
/// answers are written.
#[derive(Debug, Clone)]
pub struct Gate {
    routes: Arc<Routes>,
    verifier: Arc<Verifier>,
    denylist: Arc<Denylist>,
    quotas: Arc<dyn QuotaLimiter>,
    answers: Answers,
    /// The allowed-checks counter of each route name and of the default,
    /// registered once rather than looked up by its labels on every call.
    allowed: Arc<HashMap<String, Counter>>,
}

/// The route label of a check that names none.
const DEFAULT_ROUTE: &str = "(default)";

impl Gate {
    pub fn new(
        routes: Arc<Routes>,
        verifier: Arc<Verifier>,
        denylist: Arc<Denylist>,
        quotas: Arc<dyn QuotaLimiter>,
        answers: Answers,
    ) -> Self {
        let allowed = routes
            .names()
            .into_iter()
            .chain([DEFAULT_ROUTE])
            .map(|route| {
                let counter =
                    metrics::counter!(CHECKS, "route" => route.to_owned(), "outcome" => "allowed", "reason" => "");
                (route.to_owned(), counter)
            })
            .collect();
        Self { routes, verifier, denylist, quotas, answers, allowed: Arc::new(allowed) }
    }

    /// The decision for `asked`: the verified caller, if any, or why not.
    pub async fn decide(&self, asked: &Asked<'_>) -> Result<Option<Arc<Claims>>, AuthError> {
        let Some(route) = self.routes.route(asked.route) else {
            // Envoy names a route this gate does not have: a configuration
            // mistake, so nothing is allowed through it.
            tracing::warn!(route = asked.route.unwrap_or(DEFAULT_ROUTE), "no such route in the routes file; denied");
            return Err(AuthError::NoPolicy);
        };
        let rule = route.rule(asked.method, asked.path);
        // A certificate-bound token (RFC 8705) only with the client
        // certificate Envoy verified and forwarded.
        let forwarded = || asked.certificate.and_then(thumbprint);
        let caller = authenticate(&self.verifier, &self.denylist, asked.token.clone()?, forwarded)?;
        let rule = rule.ok_or(AuthError::NoPolicy)?;
        rule.authorize_for(caller.as_deref(), |claims| claims.is_for(&route.audience))?;
        if let Some(quota) = &rule.quota {
            // A public rule cannot name a quota, so a caller is there.
            let caller = caller.as_deref().ok_or(AuthError::TokenMissing)?;
            self.quotas.check(quota, caller.subject(), caller.plan()).await?;
        }
        Ok(caller)
    }

    /// Counts and logs a decision.
    fn record(&self, asked: &Asked<'_>, decided: &Result<Option<Arc<Claims>>, AuthError>) {
        let route = asked.route.unwrap_or(DEFAULT_ROUTE);
        match decided {
            // An allowed check names a route the gate has (or none).
            Ok(_) => {
                if let Some(counter) = self.allowed.get(route) {
                    counter.increment(1);
                }
            }
            Err(err) => {
                metrics::counter!(CHECKS, "route" => route.to_owned(), "outcome" => "denied", "reason" => err.reason())
                    .increment(1);
                // The path without its query string, which may carry secrets.
                let path = asked.path.split(['?', '#']).next().unwrap_or_default();
                tracing::info!(
                    target: "authpair::audit",
                    event = "request_denied",
                    route,
                    method = asked.method,
                    path,
                    reason = err.reason(),
                    code = ?err.code(),
                );
            }
        }
    }
}

#[tonic::async_trait]
impl authorization_server::Authorization for Gate {
    async fn check(&self, request: Request<CheckRequest>) -> Result<Response<CheckResponse>, Status> {
        let request = request.into_inner();
        let asked = Asked::read(&request)?;
        let decided = self.decide(&asked).await;
        self.record(&asked, &decided);
        let answer = match decided {
            Ok(caller) => self.answers.allow(caller.as_deref()),
            Err(err) => self.answers.deny(&err, asked.grpc),
        };
        Ok(Response::new(answer))
    }
}
