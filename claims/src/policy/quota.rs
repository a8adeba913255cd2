//! Per-plan quotas: what the auth layer asks after authorization, for every
//! method whose rule names a quota (see `crate::layer`, step 4).
//!
//! A [`QuotaLimiter`] is asked with the caller's verified subject and plan,
//! never anything the client chose. It is async because a shared limiter
//! (Redis) needs I/O. Over the limit: `QuotaExceeded`, which the layer turns
//! into RESOURCE_EXHAUSTED with RetryInfo.

use std::{future::Future, pin::Pin};

use crate::error::AuthError;

/// What a [`QuotaLimiter`] answers: `Ok` to allow the call, or why not.
pub type QuotaFuture<'a> = Pin<Box<dyn Future<Output = Result<(), AuthError>> + Send + 'a>>;

/// Decides whether `subject` (on `plan`) may make one more call under
/// `quota`. Errs with `QuotaExceeded` (and when to retry), or
/// `QuotaUnavailable` if it cannot decide: never a silent pass.
pub trait QuotaLimiter: Send + Sync + std::fmt::Debug + 'static {
    /// Spends one call of `subject`'s allowance under `quota`, whose limit
    /// `plan` sets; errs when there is none left or it cannot tell.
    fn check<'a>(&'a self, quota: &'a str, subject: &'a str, plan: &'a str) -> QuotaFuture<'a>;
}
