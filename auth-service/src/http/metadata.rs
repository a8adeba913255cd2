//! The authorization server metadata (RFC 8414 §2), served at
//! `/.well-known/oauth-authorization-server` and, the same document, at
//! `/.well-known/openid-configuration`. Only what authpair does: it issues
//! access tokens at a token endpoint and no ID token, so the document is
//! OAuth metadata, not an OpenID Provider's.

use serde_json::{Value, json};

use super::routes::{INTROSPECTION_PATH, JWKS_PATH, TOKEN_PATH};
use crate::{config::Config, http::token::GRANT_TYPES};

/// The `issuer` the document names: the one place the HTTP listener reads it.
pub fn issuer(config: &Config) -> &str {
    &config.shared.issuer
}

/// The document. `public_url` is what its URLs start with.
///
/// - `response_types_supported`: RFC 8414 §2 requires the member, and its
///   values are the `response_type`s of an authorization endpoint. There is
///   none: the three grants served need no response type (RFC 7591 §2.1), so
///   the list is empty. RFC 8414 §3.2 asks for zero-element members to be
///   omitted; the member is kept because §2 requires it and clients that
///   parse the document look for it.
/// - `token_endpoint_auth_methods_supported`: client_credentials takes the
///   client's secret by HTTP Basic or in the form; password and
///   refresh_token take no client authentication (`none`).
/// - `introspection_endpoint_auth_methods_supported`: a service token as an
///   RFC 6750 bearer token (the value `Bearer` is from the OAuth Access Token
///   Types registry, which RFC 8414 §2 allows here).
/// - `token_types_supported` is authpair's own: the `typ` of its tokens.
pub fn document(config: &Config, public_url: &str) -> Value {
    json!({
        "issuer": issuer(config),
        "token_endpoint": format!("{public_url}{TOKEN_PATH}"),
        "jwks_uri": format!("{public_url}{JWKS_PATH}"),
        "introspection_endpoint": format!("{public_url}{INTROSPECTION_PATH}"),
        "response_types_supported": [],
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["Bearer"],
        "scopes_supported": config.shared.role_scopes.scopes(),
        "token_types_supported": ["at+jwt"],
    })
}
