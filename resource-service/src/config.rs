//! The resource service's one typed configuration: flags with environment
//! fallbacks, parsed once in `main`. Tests build it with [`Config::new`].

use std::{path::PathBuf, time::Duration};

use authpair_server::config::{ServiceConfig, ServiceDefaults, ServiceFlags, parse_secret, parse_secs};
use clap::Parser;
use secrecy::SecretString;

/// The resource service's environment prefix and defaults for the shared flags.
const DEFAULTS: ServiceDefaults = ServiceDefaults {
    env_prefix: "RESOURCE",
    listen: "127.0.0.1:50052",
    data_dir: Some("data/resource"),
    metrics_listen: "127.0.0.1:9452",
};

#[derive(Debug, Clone, Parser)]
#[command(name = "resource-service", version, about = "authpair resource service: serves data to proven callers")]
pub struct Config {
    #[command(flatten)]
    pub shared: ServiceFlags,

    /// The auth service, for its public signing keys and the revocation
    /// feed: one URL, or several comma-separated instances sharing one
    /// database; calls go to those that answer, so one can fail.
    #[arg(
        long = "auth-url",
        default_value = authpair_claims::defaults::AUTH_URL,
        value_delimiter = ','
    )]
    pub auth_urls: Vec<String>,

    /// Pins the `iss` tokens must carry. Unset: the issuer the auth service
    /// announces on its feed, with the earlier ones it still honours; set,
    /// only this one, and an auth service announcing another is logged as
    /// an error.
    #[arg(long)]
    pub issuer: Option<String>,

    /// The `aud` tokens must carry: this service's name at the auth service
    /// (its `--audience`, or one of its `--audiences`).
    #[arg(long, default_value = authpair_claims::defaults::AUDIENCE)]
    pub audience: String,

    /// The auth service's own audience (its `--admin-audience`), which the
    /// revocation feed's token is asked for. Must differ from `--audience`,
    /// or tokens for the admin API would work here (TF-11 d).
    #[arg(long, default_value = authpair_claims::defaults::ADMIN_AUDIENCE)]
    pub auth_audience: String,

    /// Longest access-token lifetime (`exp - iat`) accepted, in seconds.
    /// Must be at least the auth service's access-token TTL.
    #[arg(long = "max-token-lifetime-secs", default_value = "3600", value_parser = parse_secs)]
    pub max_token_lifetime: Duration,

    /// Bound of the verified-token cache, in bytes of token text plus a
    /// fixed overhead per entry (about 1.1 KiB for a typical token); 0
    /// turns it off, and every call then checks a signature.
    #[arg(long, default_value_t = authpair_claims::token::verifier::DEFAULT_CACHE_BYTES)]
    pub token_cache_bytes: u64,

    /// This service's own service account on the auth service (scope
    /// revocations:watch), used to follow the revocation feed.
    #[arg(long, default_value = "resource-service")]
    pub client_id: String,

    #[arg(long, hide_env_values = true, value_parser = parse_secret)]
    pub client_secret: Option<SecretString>,

    /// Calls per window each plan gets, for each quota a method names, as
    /// `plan=calls,plan=calls`. A caller whose plan is not listed is refused
    /// (UNAVAILABLE) on quota-bound methods.
    #[arg(long, default_value = crate::quota::DEFAULT_PLAN_QUOTAS, value_parser = crate::quota::PlanQuotas::parse)]
    pub plan_quotas: crate::quota::PlanQuotas,

    /// The quota window, in seconds.
    #[arg(long = "quota-window-secs", default_value = "60", value_parser = parse_secs)]
    pub quota_window: Duration,

    /// Longest the revocation feed may be silent, in seconds; after that,
    /// authenticated calls fail closed with UNAVAILABLE.
    #[arg(long = "max-revocation-staleness-secs", default_value = "60", value_parser = parse_secs)]
    pub max_revocation_staleness: Duration,

    /// A token with an unknown kid makes the service re-read the keys at most
    /// this often, in seconds, however many such tokens arrive.
    #[arg(long = "unknown-kid-refetch-secs", default_value = "30", value_parser = parse_secs)]
    pub unknown_kid_refetch: Duration,

    /// The CA that signed the auth service's certificate, for an https
    /// --auth-url.
    #[arg(long)]
    pub auth_ca: Option<PathBuf>,

    /// mTLS to the auth service: this service's client certificate and key.
    #[arg(long, requires_all = ["auth_ca", "client_key"])]
    pub client_cert: Option<PathBuf>,

    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
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
        if self.audience == self.auth_audience {
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
    use super::*;

    /// R-10, do not trust defaults: the security-relevant settings a
    /// deployment gets with no flags, written out.
    #[test]
    fn r_10_without_flags_the_settings_are_the_recommended_ones() {
        let c = match Config::load_from(["resource-service"]) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(c.shared.leeway, Duration::from_secs(30), "leeway: 30-60 s");
        assert_eq!(c.max_revocation_staleness, Duration::from_secs(60), "fail closed after a minute without the feed");
        assert_eq!(c.unknown_kid_refetch, Duration::from_secs(30), "an unknown kid refetches keys at most every 30 s");
        assert_eq!(c.max_token_lifetime, Duration::from_secs(3600), "no token lives longer than an hour");
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
        assert_eq!(c.plan_quotas.iter().collect::<Vec<_>>(), [("free", 10), ("pro", 100)]);
        assert_eq!(c.quota_window, Duration::from_secs(60));
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
            let limits =
                (c.shared.leeway, c.max_token_lifetime, c.token_cache_bytes, c.shared.serving.connection_limits());
            (c.shared.serving.listen, c.auth_urls, c.issuer, c.audience, limits)
        });
        let b = Config::new("http://127.0.0.1:50051", "d");
        let limits = (b.shared.leeway, b.max_token_lifetime, b.token_cache_bytes, b.shared.serving.connection_limits());
        let built = (b.shared.serving.listen, b.auth_urls, b.issuer, b.audience, limits);
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
            Config::load_from(["resource-service", "--token-cache-bytes", bytes]).map(|c| c.token_cache_bytes).ok()
        };
        assert_eq!((parse("0"), parse("1048576"), parse("-1"), parse("16MiB")), (Some(0), Some(1 << 20), None, None));
    }
}
