//! How handlers read the verified caller of an allowed call: the layer
//! puts a [`Caller`] in the request extensions, and [`caller`] or
//! [`optional_caller`] reads it.

use std::sync::Arc;

use tonic::{Request, Status};

use crate::{error::AuthError, token::claims::Claims};

/// The verified caller of an allowed call, in its request extensions.
#[derive(Debug, Clone)]
pub struct Caller(pub(crate) Arc<Claims>);

impl Caller {
    /// A request extension for `claims`: what the layer inserts, and a
    /// test's way to make an authenticated request (a [`Claims`] only comes
    /// out of verification).
    pub fn new(claims: Arc<Claims>) -> Self {
        Self(claims)
    }

    /// The verified claims.
    pub fn claims(&self) -> &Arc<Claims> {
        &self.0
    }
}

/// The verified caller of a request: the one way handlers read claims.
/// Fails with UNAUTHENTICATED if the call was anonymous.
pub fn caller<T>(request: &Request<T>) -> Result<&Claims, Status> {
    optional_caller(request).ok_or_else(|| AuthError::TokenMissing.into())
}

/// The verified caller of a public method, if it sent a token.
pub fn optional_caller<T>(request: &Request<T>) -> Option<&Claims> {
    request.extensions().get::<Caller>().map(|c| c.0.as_ref())
}
