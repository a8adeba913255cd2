//! What the HTTP handlers share: the auth service's state, the gRPC API's
//! logic (the token endpoint runs it), the metadata (fixed at start), the
//! documents' caching header and who may introspect.

use std::{sync::Arc, time::Duration};

use authpair_claims::Rule;
use axum::{body::Bytes, http::HeaderValue};

use super::metadata;
use crate::{api::auth::AuthApi, state::AuthState};

/// Who may introspect over HTTP.
#[derive(Debug, Clone)]
pub struct Access {
    /// The gRPC method's rule (service principal, scope tokens:introspect).
    pub rule: Rule,
    /// With --require-client-cert-for-services, a service caller needs a
    /// verified client certificate here too.
    pub client_cert_required: bool,
}

/// A cached JWK set may be this old at most, however long the publish delay.
const MAX_DOCUMENT_AGE: Duration = Duration::from_secs(3600);

/// What the handlers need: the state (keys, verifier, denylist), the gRPC
/// API's logic (for the token endpoint), the metadata (fixed at start) and
/// the caching header.
#[derive(Debug, Clone)]
pub struct Documents {
    state: Arc<AuthState>,
    api: AuthApi,
    metadata: Bytes,
    cache_control: HeaderValue,
    introspection: Access,
}

impl Documents {
    /// `public_url` is what the metadata's URLs start with;
    /// `introspection` is the policy rule the caller of the introspection
    /// endpoint must pass, as the gRPC method's.
    pub fn new(state: Arc<AuthState>, public_url: &str, introspection: Access) -> anyhow::Result<Self> {
        let metadata = serde_json::to_vec(&metadata::document(&state, public_url))?;
        // A cache must never hold the JWK set past the publish delay: a key
        // is published that long before it signs, so every verifier that
        // refetches on expiry has it before the first token it signs.
        let max_age = state.config.key_publish_delay.min(MAX_DOCUMENT_AGE).as_secs();
        let cache_control = HeaderValue::try_from(format!("public, max-age={max_age}"))?;
        let api = AuthApi::new(state.clone());
        Ok(Self { state, api, metadata: Bytes::from(metadata), cache_control, introspection })
    }

    pub(super) fn state(&self) -> &AuthState {
        &self.state
    }

    pub(super) fn api(&self) -> &AuthApi {
        &self.api
    }

    pub(super) fn introspection(&self) -> &Access {
        &self.introspection
    }

    /// The metadata document, as served.
    pub(super) fn metadata(&self) -> Bytes {
        self.metadata.clone()
    }

    /// The `Cache-Control` of the JWK set and the metadata.
    pub(super) fn cache_control(&self) -> HeaderValue {
        self.cache_control.clone()
    }
}
