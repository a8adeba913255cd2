//! The resource service's one typed configuration: flags with environment
//! fallbacks, parsed once in `main`. Tests build it with [`Config::new`].

use std::path::PathBuf;

use authpair_server::{
    config::{FollowerFlags, ServiceConfig, ServiceDefaults, ServiceFlags},
    quota::QuotaFlags,
};
use clap::Parser;

/// The resource service's environment prefix and defaults for the shared flags.
const DEFAULTS: ServiceDefaults = ServiceDefaults {
    env_prefix: "RESOURCE",
    listen: authpair_claims::defaults::RESOURCE_LISTEN,
    data_dir: Some("data/resource"),
    metrics_listen: "127.0.0.1:9452",
};

#[derive(Debug, Clone, Parser)]
#[command(name = "resource-service", version, about = "authpair resource service: serves data to proven callers")]
pub struct Config {
    #[command(flatten)]
    pub shared: ServiceFlags,

    /// The auth service to follow, and what is accepted from it.
    #[command(flatten)]
    pub follow: FollowerFlags,

    /// The `aud` tokens must carry: this service's name at the auth service
    /// (its `--audience`, or one of its `--audiences`).
    #[arg(long, default_value = authpair_claims::defaults::AUDIENCE)]
    pub audience: String,

    /// This service's own service account on the auth service (scope
    /// revocations:watch), used to follow the revocation feed.
    #[arg(long, default_value = "resource-service")]
    pub client_id: String,

    /// Per-plan quotas for the methods that name one.
    #[command(flatten)]
    pub quotas: QuotaFlags,
}

/// Environment variables this service no longer reads, with what replaced
/// them. Ignoring one weakens nothing (the auth service's table rules), so
/// a start with one set is warned about, not refused.
const RETIRED_ENV: &[(&str, &str)] =
    &[("RESOURCE_ROLE_SCOPES", "the role table is the auth service's (AUTH_ROLE_SCOPES), announced to every verifier")];

/// A warning for each retired variable set in `env`.
pub fn retired_env_warnings(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Vec<String> {
    RETIRED_ENV
        .iter()
        .filter(|(name, _)| env(name).is_some())
        .map(|(name, instead)| format!("{name} is no longer read: {instead}"))
        .collect()
}

impl ServiceConfig for Config {
    const DEFAULTS: ServiceDefaults = DEFAULTS;
}

impl Config {
    /// What the flags cannot check alone, run before anything is written:
    /// this service's audience must not be the auth service's own.
    pub fn check(&self) -> Result<(), String> {
        if self.audience == self.follow.auth_audience {
            return Err(format!(
                "--audience {:?} is the auth service's own (--auth-audience): tokens for its admin API would work here",
                self.audience
            ));
        }
        Ok(())
    }

    /// The defaults (the flags' own), pointed at `auth_url`, with state in
    /// `data_dir`, an ephemeral port and no metrics endpoint.
    pub fn new(auth_url: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        let data_dir: PathBuf = data_dir.into();
        let auth_url: String = auth_url.into();
        let flags: [&std::ffi::OsStr; 4] =
            ["--data-dir".as_ref(), data_dir.as_os_str(), "--auth-url".as_ref(), auth_url.as_ref()];
        <Self as ServiceConfig>::for_tests(flags)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// R-10, do not trust defaults: the security-relevant settings a
    /// deployment gets with no flags, written out.
    #[test]
    fn r_10_without_flags_the_settings_are_the_recommended_ones() {
        let c = match Config::load_from(["resource-service"]) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(c.shared.tokens.leeway, Duration::from_secs(30), "leeway: 30-60 s");
        assert_eq!(
            c.follow.max_revocation_staleness,
            Duration::from_secs(60),
            "fail closed after a minute without the feed"
        );
        assert_eq!(
            c.follow.unknown_kid_refetch,
            Duration::from_secs(30),
            "an unknown kid refetches keys at most every 30 s"
        );
        assert_eq!(c.follow.max_token_lifetime, Duration::from_secs(3600), "no token lives longer than an hour");
        assert_eq!(c.shared.serving.max_connection_age, Duration::from_secs(30 * 60), "no connection lives for ever");
        assert_eq!(
            c.shared.serving.max_connection_age_grace,
            Duration::from_secs(5 * 60),
            "nor past its age, with a call held open"
        );
        assert_eq!(
            c.shared.serving.max_connections, 10_000,
            "the process never runs out of descriptors for connections"
        );
        assert_eq!(c.quotas.plan_quotas.iter().collect::<Vec<_>>(), [("free", 10), ("pro", 100)]);
        assert_eq!(c.quotas.quota_window, Duration::from_secs(60));
    }

    #[test]
    fn a_connection_age_is_whole_seconds_and_never_zero() {
        let parse = |secs: &str| {
            Config::load_from(["resource-service", "--max-connection-age-secs", secs])
                .map(|c| c.shared.serving.max_connection_age)
        };
        assert_eq!(parse("60").ok(), Some(Duration::from_secs(60)));
        // Zero would close every connection as it opens.
        for refused in ["0", "-1", "1.5", ""] {
            assert!(parse(refused).is_err(), "{refused:?} accepted");
        }
    }

    #[test]
    fn flags_parse_to_the_same_defaults_as_new() {
        let parsed = Config::load_from(["resource-service", "--listen", "127.0.0.1:0", "--data-dir", "d"]);
        let parsed = parsed.map(|c| {
            let limits = (
                c.shared.tokens.leeway,
                c.follow.max_token_lifetime,
                c.follow.token_cache_bytes,
                c.shared.serving.connection_limits(),
            );
            (c.shared.serving.listen, c.follow.auth_urls, c.follow.issuer, c.audience, limits)
        });
        let b = Config::new("http://127.0.0.1:50051", "d");
        let limits = (
            b.shared.tokens.leeway,
            b.follow.max_token_lifetime,
            b.follow.token_cache_bytes,
            b.shared.serving.connection_limits(),
        );
        let built = (b.shared.serving.listen, b.follow.auth_urls, b.follow.issuer, b.audience, limits);
        assert_eq!(parsed.ok(), Some(built));
    }

    #[test]
    fn a_role_table_still_set_in_the_environment_is_warned_about_as_the_auth_services() {
        let set = |name: &str| (name == "RESOURCE_ROLE_SCOPES").then(|| "admin=admin".into());
        let warnings = retired_env_warnings(set);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("RESOURCE_ROLE_SCOPES is no longer read"), "{warnings:?}");
        assert!(retired_env_warnings(|_| None).is_empty());
    }

    #[test]
    fn the_token_cache_can_be_sized_or_turned_off() {
        let parse = |bytes: &str| {
            Config::load_from(["resource-service", "--token-cache-bytes", bytes])
                .map(|c| c.follow.token_cache_bytes)
                .ok()
        };
        assert_eq!((parse("0"), parse("1048576"), parse("-1"), parse("16MiB")), (Some(0), Some(1 << 20), None, None));
    }
}
