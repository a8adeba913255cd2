//! The layer itself: [`AuthLayer`] and the service it wraps around a
//! server's routes ([`Authorized`]), which decides every call in the order
//! the module docs of `layer` give, and counts decisions ([`DecisionStats`]).

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Instant,
};

use metrics::{Counter, Histogram};
use tonic::{Status, body::Body};
use tower::{Layer, Service};

use super::{caller::Caller, metrics::CallMetrics, peer::peer_certificate};
use crate::{
    error::AuthError,
    policy::{
        Policy, Rule,
        quota::{QuotaFuture, QuotaLimiter},
    },
    revocation::Denylist,
    token::{bearer::bearer_token, claims::Claims, verifier::Verifier},
};

/// Counts of auth decisions since start.
#[derive(Debug, Default)]
pub struct DecisionStats {
    allowed: AtomicU64,
    denied: AtomicU64,
}

impl DecisionStats {
    /// Calls let through to their handler, past the quota where there is one.
    pub fn allowed(&self) -> u64 {
        self.allowed.load(Ordering::Relaxed)
    }
    /// Calls refused by authentication or authorization (a quota refusal is
    /// not counted here).
    pub fn denied(&self) -> u64 {
        self.denied.load(Ordering::Relaxed)
    }
}

/// What every call's decision needs, shared by all connections.
#[derive(Debug, Clone)]
struct Shared {
    /// Metric handles, labelled with the service's name.
    metrics: CallMetrics,
    verifier: Arc<Verifier>,
    denylist: Arc<Denylist>,
    policy: Arc<Policy>,
    quotas: Option<Arc<dyn QuotaLimiter>>,
    stats: Arc<DecisionStats>,
    service_cert_required: bool,
}

/// The layer; see the module docs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

impl AuthLayer {
    /// The layer for the service named `service` (a metric label), checking
    /// tokens with `verifier` and `denylist` against `policy`. Without
    /// [`Self::with_quotas`], every method whose rule names a quota fails
    /// closed (UNAVAILABLE `QUOTA_UNAVAILABLE`).
    pub fn new(service: &'static str, verifier: Arc<Verifier>, denylist: Arc<Denylist>, policy: Arc<Policy>) -> Self {
        let metrics = CallMetrics::register(service, policy.methods());
        let shared = Shared {
            metrics,
            verifier,
            denylist,
            policy,
            quotas: None,
            stats: Arc::default(),
            service_cert_required: false,
        };
        Self { shared: Arc::new(shared) }
    }

    /// The limiter that decides quota-bound methods.
    pub fn with_quotas(self, limiter: Arc<dyn QuotaLimiter>) -> Self {
        self.edit(|shared| shared.quotas = Some(limiter))
    }

    /// With mTLS: a service token is accepted only on a connection whose
    /// client presented a certificate the server verified, so a stolen
    /// service token alone is not enough.
    pub fn require_client_cert_for_services(self, required: bool) -> Self {
        self.edit(|shared| shared.service_cert_required = required)
    }

    fn edit(self, change: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.shared);
        change(&mut shared);
        Self { shared: Arc::new(shared) }
    }

    /// The service name the layer labels its metrics with.
    pub fn service(&self) -> &'static str {
        self.shared.metrics.service()
    }

    /// The layer's decision counts, shared with every clone.
    pub fn stats(&self) -> Arc<DecisionStats> {
        self.shared.stats.clone()
    }

    /// Steps 1 to 3 of the module docs for a call to `path` with `headers`,
    /// on a connection whose verified client certificate (mTLS) has the
    /// SHA-256 thumbprint `peer_certificate` returns, if it has one: the
    /// rule and the verified caller, if any. Public for benchmarks and
    /// tests; the layer's service calls it on every request.
    pub fn decide<'a>(
        &'a self,
        path: &str,
        headers: &http::HeaderMap,
        peer_certificate: impl Fn() -> Option<[u8; 32]>,
    ) -> Result<(&'a Rule, Option<Arc<Claims>>), Status> {
        self.decide_from(Instant::now(), path, headers, peer_certificate)
    }

    /// [`Self::decide`], its time since `started` recorded in
    /// `authpair_interceptor_duration_seconds` when the call carried a
    /// token. An anonymous call's decision is one table lookup: a clock read
    /// and a histogram sample would cost more than the decision itself.
    fn decide_from<'a>(
        &'a self,
        started: Instant,
        path: &str,
        headers: &http::HeaderMap,
        peer_certificate: impl Fn() -> Option<[u8; 32]>,
    ) -> Result<(&'a Rule, Option<Arc<Claims>>), Status> {
        // Hashed at most once a call, and only when a decision needs it.
        let peer = std::cell::OnceCell::new();
        let peer_certificate = || *peer.get_or_init(&peer_certificate);
        let authenticated = self.authenticate(headers, peer_certificate);
        let timed = !matches!(authenticated, Ok(None));
        let decided = self.check(path, authenticated, peer_certificate);
        if timed {
            self.shared.metrics.interceptor_seconds().record(started.elapsed());
        }
        decided
    }

    /// Steps 1 and 3 for a call whose authentication (step 2) came out as
    /// `authenticated`.
    fn check<'a>(
        &'a self,
        path: &str,
        authenticated: Result<Option<Arc<Claims>>, AuthError>,
        peer_certificate: impl Fn() -> Option<[u8; 32]>,
    ) -> Result<(&'a Rule, Option<Arc<Claims>>), Status> {
        let shared = &*self.shared;
        let rule = shared.policy.rule(path);
        let caller = authenticated.map_err(|e| self.deny(path, None, e))?;
        let subject = || caller.as_deref().map(Claims::subject);
        let rule = rule.ok_or(AuthError::NoPolicy).map_err(|e| self.deny(path, subject(), e))?;
        rule.authorize(caller.as_deref()).map_err(|e| self.deny(path, subject(), e))?;
        if shared.service_cert_required
            && caller.as_deref().is_some_and(Claims::is_service)
            && peer_certificate().is_none()
        {
            return Err(self.deny(path, subject(), AuthError::ClientCertRequired));
        }
        Ok((rule, caller))
    }

    fn authenticate(
        &self,
        headers: &http::HeaderMap,
        peer_certificate: impl FnOnce() -> Option<[u8; 32]>,
    ) -> Result<Option<Arc<Claims>>, AuthError> {
        authenticate(&self.shared.verifier, &self.shared.denylist, bearer_token(headers)?, peer_certificate)
    }

    /// Counts an allowed call on `allowed`, its method's counter (looked up
    /// once per call, with its timer).
    fn allowed(&self, allowed: &Counter) {
        self.shared.stats.allowed.fetch_add(1, Ordering::Relaxed);
        allowed.increment(1);
    }

    fn deny(&self, path: &str, subject: Option<&str>, err: AuthError) -> Status {
        let shared = &*self.shared;
        shared.stats.denied.fetch_add(1, Ordering::Relaxed);
        let method = shared.metrics.label(Some(path));
        metrics::counter!(
            crate::telemetry::DECISIONS,
            "service" => shared.metrics.service(),
            "method" => method.clone(),
            "code" => format!("{:?}", err.code()),
            "reason" => err.reason(),
        )
        .increment(1);
        tracing::info!(
            target: "authpair::audit",
            event = "call_denied",
            method = method.as_str(),
            subject = subject.unwrap_or("-"),
            reason = err.reason(),
            code = ?err.code(),
        );
        err.into()
    }

    /// Step 4: the quota check for `caller` under `quota`.
    fn quota_check(&self, quota: Arc<str>, caller: Option<Arc<Claims>>) -> QuotaFuture<'static> {
        let this = self.clone();
        Box::pin(async move {
            // A public method cannot name a quota, so a caller is always
            // there; fail closed regardless.
            let caller = caller.ok_or(AuthError::TokenMissing)?;
            let limiter = this.shared.quotas.clone().ok_or(AuthError::QuotaUnavailable)?;
            let checked = limiter.check(&quota, caller.subject(), caller.plan()).await;
            if let Err(err) = &checked {
                metrics::counter!(crate::telemetry::THROTTLED, "kind" => quota.to_string(), "reason" => err.reason())
                    .increment(1);
                tracing::info!(
                    target: "authpair::audit",
                    event = "call_throttled",
                    quota = &*quota,
                    subject = caller.subject(),
                    reason = err.reason(),
                );
            }
            checked
        })
    }
}

/// Step 2 of the module docs, for the bearer token of a call if it has one:
/// none is anonymous (`Ok(None)`); one must verify and not be revoked, and
/// one bound to a client certificate (RFC 8705) must come with that
/// certificate, whose SHA-256 thumbprint `peer_certificate` gives (asked
/// only for a bound token). The layer runs it on every call; a server that
/// decides for others (the gate) runs it on the token of the request it is
/// asked about.
pub fn authenticate(
    verifier: &Verifier,
    denylist: &Denylist,
    token: Option<&str>,
    peer_certificate: impl FnOnce() -> Option<[u8; 32]>,
) -> Result<Option<Arc<Claims>>, AuthError> {
    let Some(token) = token else {
        return Ok(None);
    };
    let claims = verifier.verify(token)?;
    denylist.check(&claims)?;
    if let Some(bound) = claims.bound_certificate()
        && peer_certificate().as_ref() != Some(bound)
    {
        return Err(AuthError::CertificateMismatch);
    }
    Ok(Some(claims))
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authorized<S>;
    fn layer(&self, inner: S) -> Authorized<S> {
        Authorized { inner, auth: self.clone() }
    }
}

/// A service whose every call passes the [`AuthLayer`] first.
#[derive(Debug, Clone)]
pub struct Authorized<S> {
    inner: S,
    auth: AuthLayer,
}

impl<S> Service<http::Request<Body>> for Authorized<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = AuthFuture<S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let started = Instant::now();
        let path = request.uri().path();
        let method = self.auth.shared.metrics.method(Some(path));
        let timer = method.call_seconds.clone();
        // `decide`, with the call's own start as the decision's.
        let decided =
            self.auth.decide_from(started, path, request.headers(), || peer_certificate(request.extensions()));
        let state = match decided {
            Err(status) => State::Done { response: Some(status.into_http()) },
            Ok((rule, caller)) => match rule.quota.clone() {
                None => {
                    self.auth.allowed(&method.allowed);
                    if let Some(caller) = caller {
                        request.extensions_mut().insert(Caller(caller));
                    }
                    State::Inner { call: self.inner.call(request) }
                }
                Some(quota) => {
                    // The service this call readied goes with the call; a
                    // clone takes its place for the next one.
                    let clone = self.inner.clone();
                    let inner = std::mem::replace(&mut self.inner, clone);
                    State::Quota {
                        check: self.auth.quota_check(quota, caller.clone()),
                        pending: Some((request, caller, inner, self.auth.clone(), method.allowed.clone())),
                    }
                }
            },
        };
        AuthFuture { state, timer, started }
    }
}

/// tonic answers a request body that is not a valid protobuf message with
/// INTERNAL ("failed to decode Protobuf message", from its prost codec,
/// before any handler runs). That is the client's mistake: INVALID_ARGUMENT,
/// so INTERNAL keeps meaning a fault of the server's own.
fn undecodable_is_invalid_argument(mut response: http::Response<Body>) -> http::Response<Body> {
    // grpc-message is percent-encoded on the wire.
    const UNDECODABLE: &[u8] = b"failed%20to%20decode%20Protobuf%20message";
    let headers = response.headers_mut();
    let internal = headers.get("grpc-status").is_some_and(|status| status.as_bytes() == b"13");
    if internal && headers.get("grpc-message").is_some_and(|m| m.as_bytes().starts_with(UNDECODABLE)) {
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
        headers
            .insert("grpc-message", http::HeaderValue::from_static("the%20request%20is%20not%20a%20valid%20message"));
        headers.remove("grpc-status-details-bin");
    }
    response
}

pin_project_lite::pin_project! {
    /// The future of one call through [`Authorized`]: an answer already
    /// decided, a quota check then the call, or the call itself. Timed as a
    /// whole, auth included.
    pub struct AuthFuture<S: Service<http::Request<Body>>> {
        #[pin]
        state: State<S>,
        timer: Histogram,
        started: Instant,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S: Service<http::Request<Body>>> {
        Done { response: Option<http::Response<Body>> },
        Quota {
            check: QuotaFuture<'static>,
            pending: Option<(http::Request<Body>, Option<Arc<Claims>>, S, AuthLayer, Counter)>,
        },
        Inner { #[pin] call: S::Future },
    }
}

impl<S> Future for AuthFuture<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
{
    type Output = Result<http::Response<Body>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let output = loop {
            match this.state.as_mut().project() {
                StateProj::Done { response } => break Ok(response.take().unwrap_or_default()),
                StateProj::Quota { check, pending } => {
                    let checked = std::task::ready!(check.as_mut().poll(cx));
                    let Some((mut request, caller, mut inner, auth, allowed)) = pending.take() else {
                        break Ok(http::Response::default());
                    };
                    match checked {
                        Err(err) => {
                            let subject = caller.as_deref().map(Claims::subject);
                            let status = auth.deny(request.uri().path(), subject, err);
                            this.state.set(State::Done { response: Some(status.into_http()) });
                        }
                        Ok(()) => {
                            auth.allowed(&allowed);
                            if let Some(caller) = caller {
                                request.extensions_mut().insert(Caller(caller));
                            }
                            this.state.set(State::Inner { call: inner.call(request) });
                        }
                    }
                }
                StateProj::Inner { call } => {
                    break std::task::ready!(call.poll(cx)).map(undecodable_is_invalid_argument);
                }
            }
        };
        this.timer.record(this.started.elapsed());
        Poll::Ready(output)
    }
}
