//! The gate's one typed configuration: the shared serving, token, follower,
//! Redis and quota flags (defined once in `authpair_server::config` and
//! `authpair_server::quota`), and its own: the routes file and the identity
//! headers. Every flag also reads `GATE_<FLAG>`.

use std::path::PathBuf;

use authpair_server::{
    config::{FollowerFlags, RedisFlags, ServiceConfig, ServiceDefaults, ServingFlags, TokenFlags},
    quota::QuotaFlags,
};
use clap::Parser;

const DEFAULTS: ServiceDefaults =
    ServiceDefaults { env_prefix: "GATE", listen: "127.0.0.1:50053", data_dir: None, metrics_listen: "127.0.0.1:9453" };

#[derive(Debug, Clone, Parser)]
#[command(
    name = "authpair-gate",
    version,
    about = "authpair's external authorization server: Envoy's and Istio's ext_authz Check, decided with authpair's tokens, revocations and policy"
)]
pub struct Config {
    #[command(flatten)]
    pub serving: ServingFlags,

    #[command(flatten)]
    pub tokens: TokenFlags,

    /// The auth service to follow, and what is accepted from it.
    #[command(flatten)]
    pub follow: FollowerFlags,

    /// Redis, for quotas shared by every instance of the gate.
    #[command(flatten)]
    pub redis: RedisFlags,

    /// Per-plan quotas for the rules that name one.
    #[command(flatten)]
    pub quotas: QuotaFlags,

    /// The routes file (TOML): each route's audience and policy (a gRPC
    /// upstream's descriptor sets, or HTTP rules); see docs/gate.md.
    #[arg(long, default_value = "routes.toml")]
    pub routes: PathBuf,

    /// The gate's own service account on the auth service (scope
    /// revocations:watch), used to follow the revocation feed.
    #[arg(long, default_value = "authpair-gate")]
    pub client_id: String,

    /// Prefix of the headers an allowed request carries upstream: subject,
    /// principal, roles, scopes, plan, token-id. The same names sent by a
    /// client are removed or overwritten, so the upstream can trust them.
    #[arg(long, default_value = "x-authpair-", value_parser = parse_header_prefix)]
    pub identity_header_prefix: String,

    /// Remove the `authorization` header from allowed requests, so the
    /// upstream never sees the token (it gets the identity headers).
    #[arg(long)]
    pub strip_authorization: bool,
}

impl ServiceConfig for Config {
    const DEFAULTS: ServiceDefaults = DEFAULTS;
}

/// A header name prefix: lower-case letters, digits and `-`.
fn parse_header_prefix(value: &str) -> Result<String, String> {
    let valid = !value.is_empty() && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid { Ok(value.to_owned()) } else { Err("expected lower-case letters, digits and -".into()) }
}

impl Config {
    /// The defaults (the flags' own) with `routes`, pointed at `auth_url`:
    /// what tests start a gate with.
    pub fn new(auth_url: impl Into<String>, routes: impl Into<PathBuf>) -> Self {
        let (auth_url, routes): (String, PathBuf) = (auth_url.into(), routes.into());
        let flags: [&std::ffi::OsStr; 4] =
            ["--auth-url".as_ref(), auth_url.as_ref(), "--routes".as_ref(), routes.as_os_str()];
        <Self as ServiceConfig>::for_tests(flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_flags_the_gate_follows_the_local_auth_service_with_the_default_prefix() -> Result<(), clap::Error> {
        let c = Config::load_from(["authpair-gate"])?;
        assert_eq!(c.serving.listen.to_string(), "127.0.0.1:50053");
        assert_eq!(c.follow.auth_urls, [authpair_claims::defaults::AUTH_URL]);
        assert_eq!((c.identity_header_prefix.as_str(), c.strip_authorization), ("x-authpair-", false));
        assert_eq!(c.client_id, "authpair-gate");
        for refused in ["X-Authpair-", "x_authpair", ""] {
            assert!(Config::load_from(["authpair-gate", "--identity-header-prefix", refused]).is_err(), "{refused:?}");
        }
        Ok(())
    }
}
