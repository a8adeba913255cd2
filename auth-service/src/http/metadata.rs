//! The authorization server metadata (RFC 8414 §2), served at
//! `/.well-known/oauth-authorization-server` and, the same document, at
//! `/.well-known/openid-configuration`. Only what authpair does: it issues
//! access tokens at a token endpoint and no ID token, so the document is
//! OAuth metadata, not an OpenID Provider's.

use serde_json::{Value, json};

use super::paths::{INTROSPECTION_PATH, JWKS_PATH, TOKEN_PATH};
use crate::{http::token::GRANT_TYPES, state::AuthState};

/// The document. `public_url` is what its URLs start with.
///
/// - `issuer`: the deployment's, the `iss` of every token (by default the
///   public URL, as RFC 8414 §2 wants).
/// - `response_types_supported`: RFC 8414 §2 requires the member, non-empty
///   for validators (Authlib refuses an empty list), and its values are the
///   `response_type`s of an authorization endpoint. There is none, so no
///   code or token is ever returned through one: `none` (OAuth 2.0 Multiple
///   Response Type Encoding Practices §4) is the one true value.
/// - `token_endpoint_auth_methods_supported`: client_credentials takes the
///   client's secret by HTTP Basic or in the form, or a JWT signed with one
///   of its registered keys (`private_key_jwt`, RFC 7523, with the
///   algorithms of `token_endpoint_auth_signing_alg_values_supported`);
///   password and refresh_token take no client authentication (`none`).
/// - `introspection_endpoint_auth_methods_supported`: a service token as an
///   RFC 6750 bearer token (the value `Bearer` is from the OAuth Access Token
///   Types registry, which RFC 8414 §2 allows here).
/// - `token_types_supported` is authpair's own: the `typ` of its tokens.
pub fn document(state: &AuthState, public_url: &str) -> Value {
    let config = &state.config;
    json!({
        "issuer": state.deployment.issuer,
        "token_endpoint": format!("{public_url}{TOKEN_PATH}"),
        "jwks_uri": format!("{public_url}{JWKS_PATH}"),
        "introspection_endpoint": format!("{public_url}{INTROSPECTION_PATH}"),
        "response_types_supported": ["none"],
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": crate::identity::assertion::ALGORITHMS,
        "introspection_endpoint_auth_methods_supported": ["Bearer"],
        "scopes_supported": config.role_scopes.scopes(),
        "token_types_supported": ["at+jwt"],
    })
}
