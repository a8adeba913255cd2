//! The HTTP listener's paths, named once for the router and the metadata
//! that points at them.

pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// RFC 8414 §3's well-known path for the metadata.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// OpenID Discovery's path, where the same metadata is served for the
/// libraries that look there.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const TOKEN_PATH: &str = "/oauth2/token";
pub const INTROSPECTION_PATH: &str = "/oauth2/introspect";
