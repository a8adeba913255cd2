//! Server-side auth for every call, in this order:
//!
//! 1. [`method_layer`] (a tower layer, outermost) copies the RPC path into the
//!    request extensions, as an [`AuthContext`], because a tonic interceptor
//!    cannot see the URI (tonic issue 772).
//! 2. [`AuthInterceptor`] authenticates: no token is "anonymous", a present
//!    token must verify and must not be on the [`Denylist`], or the call ends
//!    UNAUTHENTICATED.
//! 3. It then authorizes against the [`Policy`] with the path from step 1,
//!    and puts the verified [`Claims`] into the same [`AuthContext`], for
//!    [`caller`].
//!
//! Both services install the same two layers around their whole router, so
//! health and reflection go through the same policy (as public entries)
//! instead of around it.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tonic::{Request, Status, body::Body, service::Interceptor};
use tower::util::MapRequestLayer;

use crate::{
    bearer::bearer_token, claims::Claims, error::AuthError, policy::Policy, revocation::Denylist,
    telemetry::CallMetrics, verifier::Verifier,
};

/// What the auth layers know of a call, in its request extensions: the RPC
/// path (`/package.Service/Method`), set by [`method_layer`], and once the
/// interceptor has authenticated the call, its verified caller.
///
/// One entry for both because http keeps extensions in a map that starts
/// with room for three, and a served call already has three: tonic's
/// connection info, the router's URL parameters and this. A fourth entry
/// for the caller grew the map on every authenticated call (a second
/// allocation and a rehash, about 500 instructions under callgrind).
#[derive(Debug, Clone)]
pub struct AuthContext {
    uri: http::Uri,
    caller: Option<Arc<Claims>>,
}

impl AuthContext {
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The verified caller, if the call was authenticated.
    pub fn caller(&self) -> Option<&Arc<Claims>> {
        self.caller.as_ref()
    }

    /// This context with `claims` as its caller: what the interceptor
    /// records, and a test's way to make an authenticated request (a
    /// [`Claims`] only comes out of verification).
    pub fn with_caller(mut self, claims: Arc<Claims>) -> Self {
        self.caller = Some(claims);
        self
    }
}

impl From<http::Uri> for AuthContext {
    fn from(uri: http::Uri) -> Self {
        Self { uri, caller: None }
    }
}

type Capture = fn(http::Request<Body>) -> http::Request<Body>;

/// The layer that hands the RPC path to the interceptor. Install it outside
/// (before) the [`AuthInterceptor`] layer.
pub fn method_layer() -> MapRequestLayer<Capture> {
    fn capture(mut req: http::Request<Body>) -> http::Request<Body> {
        let uri = req.uri().clone();
        req.extensions_mut().insert(AuthContext::from(uri));
        req
    }
    MapRequestLayer::new(capture as Capture)
}

/// Counts of auth decisions since start.
#[derive(Debug, Default)]
pub struct DecisionStats {
    allowed: AtomicU64,
    denied: AtomicU64,
}

impl DecisionStats {
    pub fn allowed(&self) -> u64 {
        self.allowed.load(Ordering::Relaxed)
    }
    pub fn denied(&self) -> u64 {
        self.denied.load(Ordering::Relaxed)
    }
}

/// Authentication, then authorization, for every call.
#[derive(Debug, Clone)]
pub struct AuthInterceptor {
    /// Metric handles, labelled "auth-service" or "resource-service".
    metrics: CallMetrics,
    verifier: Arc<Verifier>,
    denylist: Arc<Denylist>,
    policy: Arc<Policy>,
    stats: Arc<DecisionStats>,
    service_cert_required: bool,
}

impl AuthInterceptor {
    pub fn new(service: &'static str, verifier: Arc<Verifier>, denylist: Arc<Denylist>, policy: Arc<Policy>) -> Self {
        let metrics = CallMetrics::register(service);
        Self { metrics, verifier, denylist, policy, stats: Arc::default(), service_cert_required: false }
    }

    /// With mTLS: a service token is accepted only on a connection whose
    /// client presented a certificate the server verified, so a stolen
    /// service token alone is not enough.
    pub fn require_client_cert_for_services(mut self, required: bool) -> Self {
        self.service_cert_required = required;
        self
    }

    pub fn service(&self) -> &'static str {
        self.metrics.service()
    }

    /// The handles this interceptor records to; the timing layer shares them.
    pub fn metrics(&self) -> CallMetrics {
        self.metrics.clone()
    }

    pub fn stats(&self) -> Arc<DecisionStats> {
        self.stats.clone()
    }

    fn authenticate(&self, request: &Request<()>) -> Result<Option<Arc<Claims>>, AuthError> {
        let Some(token) = bearer_token(request.metadata())? else {
            return Ok(None);
        };
        let claims = self.verifier.verify(token)?;
        self.denylist.check(&claims)?;
        Ok(Some(claims))
    }

    fn deny(&self, method: Option<&str>, subject: Option<&str>, err: AuthError) -> Status {
        self.stats.denied.fetch_add(1, Ordering::Relaxed);
        let method_label = self.metrics.label(method);
        metrics::counter!(
            crate::telemetry::DECISIONS,
            "service" => self.metrics.service(),
            "method" => method_label,
            "code" => format!("{:?}", err.code()),
            "reason" => err.reason(),
        )
        .increment(1);
        tracing::info!(
            target: "authpair::audit",
            event = "call_denied",
            method = method.unwrap_or("-"),
            subject = subject.unwrap_or("-"),
            reason = err.reason(),
            code = ?err.code(),
        );
        err.into()
    }
}

impl Interceptor for AuthInterceptor {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let started = std::time::Instant::now();
        let result = self.decide(request);
        self.metrics.interceptor_seconds().record(started.elapsed());
        result
    }
}

impl AuthInterceptor {
    fn decide(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let caller = self.check(&request)?;
        if let Some(claims) = caller {
            // check() found no policy for a call without a context, so
            // an allowed caller always has one to go into.
            let context = request.extensions_mut().get_mut::<AuthContext>().ok_or(AuthError::NoPolicy)?;
            context.caller = Some(claims);
        }
        Ok(request)
    }

    /// Authentication, then authorization: the verified caller, if any.
    fn check(&self, request: &Request<()>) -> Result<Option<Arc<Claims>>, Status> {
        let method = request.extensions().get::<AuthContext>().map(AuthContext::path);
        let caller = self.authenticate(request).map_err(|e| self.deny(method, None, e))?;
        self.policy
            .authorize(method, caller.as_deref())
            .map_err(|e| self.deny(method, caller.as_deref().map(Claims::subject), e))?;
        if self.service_cert_required
            && caller.as_deref().is_some_and(Claims::is_service)
            && request.peer_certs().is_none_or(|certs| certs.is_empty())
        {
            let subject = caller.as_deref().map(Claims::subject);
            return Err(self.deny(method, subject, AuthError::ClientCertRequired));
        }
        self.stats.allowed.fetch_add(1, Ordering::Relaxed);
        self.metrics.method(method).allowed.increment(1);
        Ok(caller)
    }
}

/// The verified caller of a request: the one way handlers read claims.
/// Fails with UNAUTHENTICATED if the call was anonymous.
pub fn caller<T>(request: &Request<T>) -> Result<&Claims, Status> {
    optional_caller(request).ok_or_else(|| AuthError::TokenMissing.into())
}

/// The verified caller of a public method, if it sent a token.
pub fn optional_caller<T>(request: &Request<T>) -> Option<&Claims> {
    request.extensions().get::<AuthContext>().and_then(AuthContext::caller).map(Arc::as_ref)
}
