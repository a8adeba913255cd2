//! The resource service's one typed configuration: flags with environment
//! fallbacks, parsed once in `main`. Tests build it with [`Config::new`].

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use authpair_server::config::{parse_listen, parse_positive_secs, parse_secret, parse_secs};
use clap::Parser;
use secrecy::SecretString;

#[derive(Debug, Clone, Parser)]
#[command(name = "resource-service", version, about = "authpair resource service: serves data to proven callers")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "RESOURCE_LISTEN", default_value = "127.0.0.1:50052")]
    pub listen: SocketAddr,

    /// The auth service, for its public signing keys and the revocation
    /// feed: one URL, or several comma-separated instances sharing one
    /// database; calls go to those that answer, so one can fail.
    #[arg(
        long = "auth-url",
        env = "RESOURCE_AUTH_URL",
        default_value = "http://127.0.0.1:50051",
        value_delimiter = ','
    )]
    pub auth_urls: Vec<String>,

    /// Directory for the service's own data.
    #[arg(long, env = "RESOURCE_DATA_DIR", default_value = "data/resource")]
    pub data_dir: PathBuf,

    /// The `iss` tokens must carry.
    #[arg(long, env = "RESOURCE_ISSUER", default_value = "authpair")]
    pub issuer: String,

    /// The `aud` tokens must carry: this service's name at the auth service
    /// (its `--audience`, or one of its `--audiences`).
    #[arg(long, env = "RESOURCE_AUDIENCE", default_value = "authpair")]
    pub audience: String,

    /// The auth service's own audience (its `--admin-audience`), which the
    /// revocation feed's token is asked for. Must differ from `--audience`,
    /// or tokens for the admin API would work here (TF-11 d).
    #[arg(long, env = "RESOURCE_AUTH_AUDIENCE", default_value = "authpair-admin")]
    pub auth_audience: String,

    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    #[arg(long = "leeway-secs", env = "RESOURCE_LEEWAY_SECS", default_value = "30", value_parser = parse_secs)]
    pub leeway: Duration,

    /// Longest access-token lifetime (`exp - iat`) accepted, in seconds.
    /// Must be at least the auth service's access-token TTL.
    #[arg(long = "max-token-lifetime-secs", env = "RESOURCE_MAX_TOKEN_LIFETIME_SECS", default_value = "3600", value_parser = parse_secs)]
    pub max_token_lifetime: Duration,

    /// Bound of the verified-token cache, in bytes of token text plus a
    /// fixed overhead per entry (about 1.1 KiB for a typical token); 0
    /// turns it off, and every call then checks a signature.
    #[arg(long, env = "RESOURCE_TOKEN_CACHE_BYTES", default_value_t = authpair_claims::verifier::DEFAULT_CACHE_BYTES)]
    pub token_cache_bytes: u64,

    /// Seconds after which a connection is closed gracefully (GOAWAY); its
    /// calls in flight may finish.
    #[arg(long = "max-connection-age-secs", env = "RESOURCE_MAX_CONNECTION_AGE_SECS", default_value = "1800", value_parser = parse_positive_secs)]
    pub max_connection_age: Duration,

    /// Seconds past its age a connection may stay open for its calls in
    /// flight; then it is closed whatever is in flight (a peer may keep a
    /// response's flow-control window shut for ever). Also bounds, with the
    /// 30 s request timeout, how long a graceful shutdown waits for calls.
    #[arg(long = "max-connection-age-grace-secs", env = "RESOURCE_MAX_CONNECTION_AGE_GRACE_SECS", default_value = "300", value_parser = parse_secs)]
    pub max_connection_age_grace: Duration,

    /// Which code checks token signatures: `prepared` (fixed-base tables
    /// built once per key, the default) or `stock` (ed25519-dalek's
    /// `verify_strict`). The verdict is the same; only the cost differs.
    #[arg(long, env = "RESOURCE_ED25519", default_value = "prepared")]
    pub ed25519: authpair_claims::Ed25519Backend,

    /// Connections open at once; past it, new ones wait in the kernel's
    /// accept backlog until one closes.
    #[arg(long, env = "RESOURCE_MAX_CONNECTIONS", default_value_t = authpair_server::serving::DEFAULT_MAX_CONNECTIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,

    /// This service's own service account on the auth service (scope
    /// revocations:watch), used to follow the revocation feed.
    #[arg(long, env = "RESOURCE_CLIENT_ID", default_value = "resource-service")]
    pub client_id: String,

    #[arg(long, env = "RESOURCE_CLIENT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub client_secret: Option<SecretString>,

    /// `postgres://user:password@host/db` to share one database between
    /// instances (or a `sqlite:` URL); unset: SQLite in the data dir.
    #[arg(long, env = "RESOURCE_DATABASE_URL", hide_env_values = true, value_parser = parse_secret)]
    pub database_url: Option<SecretString>,

    /// Redis for quotas shared by all instances; unset: each instance
    /// counts on its own.
    /// A secret: it may hold a password.
    #[arg(long, env = "RESOURCE_REDIS_URL", hide_env_values = true, value_parser = parse_secret)]
    pub redis_url: Option<SecretString>,

    /// Prefix of every Redis key this service writes.
    #[arg(long, env = "RESOURCE_REDIS_PREFIX", default_value = "authpair:")]
    pub redis_prefix: String,

    /// Calls per window each plan gets, for each quota a method names, as
    /// `plan=calls,plan=calls`. A caller whose plan is not listed is refused
    /// (UNAVAILABLE) on quota-bound methods.
    #[arg(long, env = "RESOURCE_PLAN_QUOTAS", default_value = crate::quota::DEFAULT_PLAN_QUOTAS, value_parser = crate::quota::PlanQuotas::parse)]
    pub plan_quotas: crate::quota::PlanQuotas,

    /// The roles that exist and the scopes each grants, as the auth
    /// service's `--role-scopes`: the method policies may name only these.
    #[arg(long, env = "RESOURCE_ROLE_SCOPES", default_value = authpair_claims::roles::DEFAULT_ROLE_SCOPES, value_parser = authpair_claims::RoleScopes::parse)]
    pub role_scopes: authpair_claims::RoleScopes,

    /// The quota window, in seconds.
    #[arg(long = "quota-window-secs", env = "RESOURCE_QUOTA_WINDOW_SECS", default_value = "60", value_parser = parse_secs)]
    pub quota_window: Duration,

    /// Longest the revocation feed may be silent, in seconds; after that,
    /// authenticated calls fail closed with UNAVAILABLE.
    #[arg(long = "max-revocation-staleness-secs", env = "RESOURCE_MAX_REVOCATION_STALENESS_SECS", default_value = "60", value_parser = parse_secs)]
    pub max_revocation_staleness: Duration,

    /// A token with an unknown kid makes the service re-read the keys at most
    /// this often, in seconds, however many such tokens arrive.
    #[arg(long = "unknown-kid-refetch-secs", env = "RESOURCE_UNKNOWN_KID_REFETCH_SECS", default_value = "30", value_parser = parse_secs)]
    pub unknown_kid_refetch: Duration,

    /// TLS: the server's certificate chain (PEM). With --tls-key, the
    /// service accepts only TLS connections.
    #[arg(long, env = "RESOURCE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS: the server's private key (PEM).
    #[arg(long, env = "RESOURCE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// mTLS: a CA whose client certificates are verified when presented.
    #[arg(long, env = "RESOURCE_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// The CA that signed the auth service's certificate, for an https
    /// --auth-url.
    #[arg(long, env = "RESOURCE_AUTH_CA")]
    pub auth_ca: Option<PathBuf>,

    /// mTLS to the auth service: this service's client certificate and key.
    #[arg(long, env = "RESOURCE_CLIENT_CERT", requires_all = ["auth_ca", "client_key"])]
    pub client_cert: Option<PathBuf>,

    #[arg(long, env = "RESOURCE_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,

    /// Log filter, in tracing's EnvFilter syntax.
    #[arg(long, env = "RESOURCE_LOG", default_value = "info")]
    pub log: String,

    /// Where to serve Prometheus metrics (`/metrics`); "off" for none.
    #[arg(long, env = "RESOURCE_METRICS_LISTEN", default_value = "127.0.0.1:9452", value_parser = parse_listen)]
    // Spelled out so clap takes the parser's Option as the value (no flag = default).
    pub metrics_listen: std::option::Option<SocketAddr>,

    /// Log one JSON object per line instead of text.
    #[arg(long, env = "RESOURCE_LOG_JSON")]
    pub log_json: bool,
}

impl Config {
    /// The connection age, its grace and the connection cap, as the server
    /// takes them.
    pub fn connection_limits(&self) -> authpair_server::serving::ConnectionLimits {
        authpair_server::serving::ConnectionLimits {
            max_age: self.max_connection_age,
            grace: self.max_connection_age_grace,
            max_connections: self.max_connections,
        }
    }

    /// The defaults, pointed at `auth_url`, with an ephemeral listen address.
    pub fn new(auth_url: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            auth_urls: vec![auth_url.into()],
            data_dir: data_dir.into(),
            issuer: "authpair".into(),
            audience: "authpair".into(),
            auth_audience: "authpair-admin".into(),
            leeway: Duration::from_secs(30),
            max_token_lifetime: Duration::from_secs(3600),
            token_cache_bytes: authpair_claims::verifier::DEFAULT_CACHE_BYTES,
            max_connection_age: authpair_server::serving::DEFAULT_MAX_CONNECTION_AGE,
            max_connection_age_grace: authpair_server::serving::DEFAULT_MAX_CONNECTION_AGE_GRACE,
            max_connections: authpair_server::serving::DEFAULT_MAX_CONNECTIONS,
            ed25519: authpair_claims::Ed25519Backend::default(),
            client_id: "resource-service".into(),
            client_secret: None,
            database_url: None,
            redis_url: None,
            redis_prefix: "authpair:".into(),
            plan_quotas: crate::quota::PlanQuotas::default(),
            role_scopes: authpair_claims::RoleScopes::default(),
            quota_window: Duration::from_secs(60),
            max_revocation_staleness: Duration::from_secs(60),
            unknown_kid_refetch: Duration::from_secs(30),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            auth_ca: None,
            client_cert: None,
            client_key: None,
            log: "info".into(),
            log_json: false,
            metrics_listen: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R-10, do not trust defaults: the security-relevant settings a
    /// deployment gets with no flags, written out.
    #[test]
    fn r_10_without_flags_the_settings_are_the_recommended_ones() {
        let c = match Config::try_parse_from(["resource-service"]) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(c.leeway, Duration::from_secs(30), "leeway: 30-60 s");
        assert_eq!(c.max_revocation_staleness, Duration::from_secs(60), "fail closed after a minute without the feed");
        assert_eq!(c.unknown_kid_refetch, Duration::from_secs(30), "an unknown kid refetches keys at most every 30 s");
        assert_eq!(c.max_token_lifetime, Duration::from_secs(3600), "no token lives longer than an hour");
        assert_eq!(c.max_connection_age, Duration::from_secs(30 * 60), "no connection lives for ever");
        assert_eq!(c.max_connection_age_grace, Duration::from_secs(5 * 60), "nor past its age, with a call held open");
        assert_eq!(c.max_connections, 10_000, "the process never runs out of descriptors for connections");
        assert_eq!(c.plan_quotas.iter().collect::<Vec<_>>(), [("free", 10), ("pro", 100)]);
        assert_eq!(c.quota_window, Duration::from_secs(60));
    }

    #[test]
    fn a_connection_age_is_whole_seconds_and_never_zero() {
        let parse = |secs: &str| {
            Config::try_parse_from(["resource-service", "--max-connection-age-secs", secs])
                .map(|c| c.max_connection_age)
        };
        assert_eq!(parse("60").ok(), Some(Duration::from_secs(60)));
        // Zero would close every connection as it opens.
        for refused in ["0", "-1", "1.5", ""] {
            assert!(parse(refused).is_err(), "{refused:?} accepted");
        }
    }

    #[test]
    fn flags_parse_to_the_same_defaults_as_new() {
        let parsed = Config::try_parse_from(["resource-service", "--listen", "127.0.0.1:0", "--data-dir", "d"]);
        let parsed = parsed.map(|c| {
            let limits = (c.leeway, c.max_token_lifetime, c.token_cache_bytes, c.connection_limits());
            (c.listen, c.auth_urls, c.issuer, c.audience, limits)
        });
        let b = Config::new("http://127.0.0.1:50051", "d");
        let limits = (b.leeway, b.max_token_lifetime, b.token_cache_bytes, b.connection_limits());
        let built = (b.listen, b.auth_urls, b.issuer, b.audience, limits);
        assert_eq!(parsed.ok(), Some(built));
    }

    #[test]
    fn the_token_cache_can_be_sized_or_turned_off() {
        let parse = |bytes: &str| {
            Config::try_parse_from(["resource-service", "--token-cache-bytes", bytes]).map(|c| c.token_cache_bytes).ok()
        };
        assert_eq!((parse("0"), parse("1048576"), parse("-1"), parse("16MiB")), (Some(0), Some(1 << 20), None, None));
    }
}
