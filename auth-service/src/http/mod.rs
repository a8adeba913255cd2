//! The auth service's HTTP/1.1 documents and endpoints, served on
//! `--http-listen` by the shared HTTP listener
//! (`authpair_server::listen::http`, which bounds every connection): the
//! documents standard JWT and OAuth libraries fetch
//! (`/.well-known/jwks.json`, the RFC 8414 metadata at
//! `/.well-known/oauth-authorization-server` and
//! `/.well-known/openid-configuration`), the RFC 6749 token endpoint
//! (`POST /oauth2/token`) and RFC 7662 introspection
//! (`POST /oauth2/introspect`). Nothing else.
//!
//! - `routes`: the router and the per-request timeout;
//! - `documents`: what the handlers share;
//! - `paths`: the paths, named once;
//! - `metadata`: the authorization server metadata;
//! - `token`: the token endpoint, on the gRPC API's logic;
//! - `client_auth`: the token endpoint's client credentials;
//! - `oauth_error`: the token endpoint's RFC 6749 errors;
//! - `form`: the POST endpoints' body type;
//! - `introspect`: the introspection endpoint;
//! - `host`: 400 for a request without exactly one valid `Host`.

mod client_auth;
mod documents;
mod form;
mod host;
mod introspect;
mod metadata;
mod oauth_error;
pub(crate) mod paths;
mod routes;
mod token;

pub use documents::{Access, Documents};
pub use routes::router;
