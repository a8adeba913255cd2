//! A deployment's defaults that several binaries share, each named once:
//! where the auth and resource services listen, the audiences, and the
//! issuer its tokens carry when nothing else is configured.

/// The auth service's gRPC address.
pub const AUTH_LISTEN: &str = "127.0.0.1:50051";
/// The same, as the URL its clients (the resource service, the CLI, the
/// example, the load tool) are pointed at.
pub const AUTH_URL: &str = "http://127.0.0.1:50051";
/// The auth service's HTTP listener (JWKS, metadata, token endpoint).
pub const AUTH_HTTP_LISTEN: &str = "127.0.0.1:50061";
/// The issuer of a deployment with no `--issuer` and no `--public-url`: the
/// HTTP listener's URL.
pub const ISSUER: &str = "http://127.0.0.1:50061";
/// The resource service's gRPC address.
pub const RESOURCE_LISTEN: &str = "127.0.0.1:50052";
/// The same, as the URL its clients (the load tool, the example's second
/// hop) are pointed at.
pub const RESOURCE_URL: &str = "http://127.0.0.1:50052";
/// The auth service's own audience: its admin API and revocation feed.
pub const ADMIN_AUDIENCE: &str = "authpair-admin";
/// The resource services' default audience.
pub const AUDIENCE: &str = "authpair";
