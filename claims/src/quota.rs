//! Per-plan quotas, enforced for every method whose policy names one.
//!
//! A small async gate (tower's `AsyncFilter`) runs after the auth
//! interceptor, so it sees the verified caller, and asks a [`QuotaLimiter`]
//! with the caller's verified subject and plan, never anything the client
//! chose. It is async because a shared limiter (Redis) needs I/O, which a
//! tonic interceptor cannot do. Over the limit: RESOURCE_EXHAUSTED with
//! RetryInfo.

use std::{future::Future, pin::Pin, sync::Arc};

use tonic::{Status, body::Body};
use tower::filter::{AsyncFilterLayer, AsyncPredicate};

use crate::{claims::Plan, error::AuthError, interceptor::AuthContext, policy::Policy};

pub type QuotaFuture<'a> = Pin<Box<dyn Future<Output = Result<(), AuthError>> + Send + 'a>>;

/// Decides whether `subject` (on `plan`) may make one more call under
/// `quota`. Errs with `QuotaExceeded` (and when to retry), or
/// `QuotaUnavailable` if it cannot decide: never a silent pass.
pub trait QuotaLimiter: Send + Sync + std::fmt::Debug + 'static {
    fn check<'a>(&'a self, quota: &'static str, subject: &'a str, plan: Plan) -> QuotaFuture<'a>;
}

/// The gate; see the module docs.
#[derive(Debug, Clone)]
pub struct QuotaGate {
    policy: Arc<Policy>,
    limiter: Option<Arc<dyn QuotaLimiter>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl QuotaGate {
    /// Without a limiter, every quota-bound method fails closed.
    pub fn layer(policy: Arc<Policy>, limiter: Option<Arc<dyn QuotaLimiter>>) -> AsyncFilterLayer<Self> {
        AsyncFilterLayer::new(Self { policy, limiter })
    }
}

impl AsyncPredicate<http::Request<Body>> for QuotaGate {
    type Future = Pin<Box<dyn Future<Output = Result<http::Request<Body>, BoxError>> + Send>>;
    type Request = http::Request<Body>;

    fn check(&mut self, request: http::Request<Body>) -> Self::Future {
        let context = request.extensions().get::<AuthContext>();
        let quota = context.and_then(|c| self.policy.rule(c.path())).and_then(|rule| rule.quota);
        let Some(quota) = quota else {
            return Box::pin(std::future::ready(Ok(request)));
        };
        let caller = context.and_then(AuthContext::caller).cloned();
        let limiter = self.limiter.clone();
        Box::pin(async move {
            // The interceptor already required a token for any method with a
            // quota (a public method cannot have one); fail closed regardless.
            let caller = caller.ok_or(AuthError::TokenMissing).map_err(to_box)?;
            let limiter = limiter.ok_or(AuthError::QuotaUnavailable).map_err(to_box)?;
            if let Err(err) = limiter.check(quota, caller.subject(), caller.plan()).await {
                metrics::counter!(crate::telemetry::THROTTLED, "kind" => quota, "reason" => err.reason()).increment(1);
                tracing::info!(
                    target: "authpair::audit",
                    event = "call_throttled",
                    quota,
                    subject = caller.subject(),
                    reason = err.reason(),
                );
                return Err(to_box(err));
            }
            Ok(request)
        })
    }
}

/// tonic turns a `Status` returned as a layer error into the gRPC response.
fn to_box(err: AuthError) -> BoxError {
    Box::new(Status::from(err))
}
