//! The auth layer: one tower layer around a gRPC server's routes that decides
//! every call before any handler runs. Its order, and why:
//!
//! 1. **Find the rule** for the request path (`/package.Service/Method`) in
//!    the [`Policy`], once. A path with no rule is denied (PERMISSION_DENIED
//!    `METHOD_NOT_ALLOWED`) after step 2: nothing is served by accident.
//! 2. **Authenticate.** No `authorization` header is "anonymous"; a header
//!    that is there must hold a token that verifies ([`Verifier`]) and is not
//!    revoked ([`Denylist`]), or the call ends UNAUTHENTICATED, even on a
//!    public method: a bad token is never silently ignored. A token bound to
//!    a client certificate (`cnf.x5t#S256`, RFC 8705) must also arrive on a
//!    connection whose verified client certificate is that one.
//! 3. **Authorize** the verified caller against the rule
//!    ([`Rule::authorize`]): audience, kind of principal, roles, scopes
//!    (PERMISSION_DENIED). With mTLS, a service token may be required to
//!    arrive over a connection with a verified client certificate.
//! 4. **Quota**: a rule that names one asks the [`QuotaLimiter`] with the
//!    verified subject and plan, never anything the client chose
//!    (RESOURCE_EXHAUSTED with RetryInfo, or UNAVAILABLE when it cannot
//!    decide). It runs last because it spends the caller's allowance, which
//!    an unauthorized call must not do, and it is the only asynchronous step
//!    (a shared limiter needs I/O).
//!
//! Authentication comes before authorization so that a caller is told
//! UNAUTHENTICATED (who are you?) before PERMISSION_DENIED (you may not):
//! a forged token never learns what the method requires.
//!
//! A request body that does not decode is answered INVALID_ARGUMENT, not
//! tonic's INTERNAL: the client's mistake, not the server's fault.
//!
//! An allowed call carries its caller to the handler as a [`Caller`] in the
//! request extensions; handlers read it with [`caller`]. A denied call gets
//! its `Status` here, through the one `From<AuthError> for Status`.
//!
//! It sees the path because it is a tower layer over HTTP requests, not a
//! tonic interceptor (which cannot see the URI). Install it with
//! `Server::builder().layer(auth_layer)`, around every service the server
//! adds, health and reflection included (the policy lists them as public).
//!
//! - `service`: [`AuthLayer`] and its service, which decide each call in
//!   that order, [`DecisionStats`], and step 2 on its own ([`authenticate`])
//!   for a server that decides for others in the same order (the gate).
//! - `caller`: [`Caller`], [`caller`] and [`optional_caller`], how handlers
//!   read the verified caller.
//! - `metrics`: [`CallMetrics`], the per-method metric handles every allowed
//!   call records.
//! - `peer`: the connection's client certificate as a bound token names it
//!   ([`peer_certificate`], [`certificate_thumbprint`]), for the layer and
//!   for an issuer that binds tokens to it.
//!
//! [`Policy`]: crate::Policy
//! [`Verifier`]: crate::Verifier
//! [`Denylist`]: crate::Denylist
//! [`Rule::authorize`]: crate::Rule::authorize
//! [`QuotaLimiter`]: crate::QuotaLimiter

mod caller;
mod metrics;
mod peer;
mod service;

pub use caller::{Caller, caller, optional_caller};
pub use metrics::{CallMetrics, MethodMetrics};
pub use peer::{ClientCertificate, certificate_thumbprint, peer_certificate};
pub use service::{AuthFuture, AuthLayer, Authorized, DecisionStats, authenticate};
