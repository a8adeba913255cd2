//! The auth service's one typed configuration: command-line flags with
//! environment fallbacks, parsed once in `main` and passed down. Tests build
//! it with [`Config::new`] and struct update syntax, never through the
//! environment. `delegation`: the token exchange's table
//! ([`Delegations`]), one of its values.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use authpair_claims::{Deployment, RoleScopes, token::roles::DEFAULT_ROLE_SCOPES};

mod delegation;

use authpair_server::config::{ServiceConfig, ServiceDefaults, ServiceFlags, parse_listen, parse_secs};
use clap::Parser;
pub use delegation::Delegations;

use crate::identity::trusted_issuers::Federation;
use secrecy::{ExposeSecret, SecretString};

pub use authpair_server::config::HttpLimits;

/// The auth service's environment prefix and defaults for the shared flags.
const DEFAULTS: ServiceDefaults = ServiceDefaults {
    env_prefix: "AUTH",
    listen: authpair_claims::defaults::AUTH_LISTEN,
    data_dir: Some("data/auth"),
    metrics_listen: "127.0.0.1:9451",
};

#[derive(Debug, Clone, Parser)]
#[command(name = "auth-service", version, about = "authpair auth service: proves who a caller is")]
pub struct Config {
    #[command(flatten)]
    pub shared: ServiceFlags,

    /// The `iss` of the tokens this service issues, announced to every
    /// verifier on the revocation feed. Unset: the public URL (--public-url,
    /// else the HTTP listener's URL, else the gRPC port's), as RFC 8414
    /// wants an issuer to be. Instances sharing a database must agree on
    /// it, so with --database-url set --public-url or --issuer.
    #[arg(long)]
    pub issuer: Option<String>,

    /// Earlier issuers whose unexpired tokens stay valid (read as the
    /// current issuer's), comma separated. After changing the issuer, keep
    /// the old one here for one access-token lifetime.
    #[arg(long, value_delimiter = ',')]
    pub previous_issuers: Vec<String>,

    /// The roles that exist and the scopes each grants to user tokens, as
    /// `role=scope,scope;role=...` (must define `admin`). Defined here only:
    /// the auth service announces it to every verifier, which refuses a
    /// token naming a role it does not define (`UNKNOWN_ROLE`). A new role
    /// or scope needs no code.
    #[arg(long, default_value = DEFAULT_ROLE_SCOPES, value_parser = RoleScopes::parse)]
    pub role_scopes: RoleScopes,

    /// `username:password` for the first admin, used only when the database
    /// has no admin. Unset with no admin: a strong password is generated and
    /// printed once.
    #[arg(long, hide_env_values = true, value_parser = BootstrapAdmin::parse)]
    pub bootstrap_admin: Option<BootstrapAdmin>,

    /// Which services may act on a user's behalf (token exchange), at which
    /// audience, with which scopes at most: `service@audience=scope,scope;...`
    /// (service account names; the admin audience is never one). Unset: no
    /// service may.
    #[arg(long, value_parser = Delegations::parse)]
    pub delegations: Option<Delegations>,

    /// A TOML file of trusted external issuers (a Kubernetes cluster's
    /// service-account issuer, a SPIFFE trust domain): each one's `issuer`,
    /// `jwks_url` (with `ca_file` for https) or `jwks_file`, and optional
    /// `audience` and `max_token_lifetime_secs`. A workload then asks
    /// IssueServiceToken with its platform's token as a client assertion,
    /// as the service account its issuer and subject are mapped to
    /// (AddFederatedIdentity). Unset: none is trusted.
    #[arg(long, value_parser = Federation::read)]
    pub federation: Option<Federation>,

    /// `aud` of access tokens whose caller names no audience: the resource
    /// services started with this `--audience` accept them.
    #[arg(long, default_value = authpair_claims::defaults::AUDIENCE)]
    pub audience: String,

    /// Further audiences a caller may name at Login or IssueServiceToken,
    /// comma separated: one per resource service that must refuse the
    /// others' tokens.
    #[arg(long, value_delimiter = ',')]
    pub audiences: Vec<String>,

    /// The auth service's own audience, the only one its admin API and its
    /// revocation feed accept. It must differ from every resource audience,
    /// so a token for a resource service is refused here, and a token for
    /// here is refused by every resource service (TF-11 d).
    #[arg(long, default_value = authpair_claims::defaults::ADMIN_AUDIENCE)]
    pub admin_audience: String,

    /// Access-token lifetime, in seconds.
    #[arg(long = "access-token-ttl-secs", default_value = "900", value_parser = parse_secs)]
    pub access_token_ttl: Duration,

    /// Refresh-token absolute lifetime (a whole login session), in seconds.
    #[arg(long = "refresh-token-ttl-secs", default_value = "2592000", value_parser = parse_secs)]
    pub refresh_token_ttl: Duration,

    /// Refresh-token idle lifetime: unused this long, it expires. Seconds.
    #[arg(long = "refresh-token-idle-secs", default_value = "604800", value_parser = parse_secs)]
    pub refresh_token_idle: Duration,

    /// Seconds after a refresh during which a retry with the same refresh
    /// token gets the same successor back instead of revoking the session.
    #[arg(long = "refresh-grace-secs", default_value = "0", value_parser = parse_secs)]
    pub refresh_grace: Duration,

    /// What SetUserRoles ends besides changing the roles. `tokens`: every
    /// access token issued before the change is revoked at once, so a
    /// demoted user loses rights at once; sessions stay, and the next
    /// refresh issues a token with the new roles. `sessions`: the user's
    /// sessions end too (as RevokeUserSessions) and they must log in again.
    #[arg(long, value_enum, default_value = "tokens")]
    pub on_role_change: OnRoleChange,

    /// `name:secret` of a service account to create (or update) at start,
    /// with scope revocations:watch: how a resource service gets onto the
    /// revocation feed without a manual step.
    #[arg(long, hide_env_values = true, value_parser = BootstrapServiceAccount::parse)]
    pub bootstrap_service_account: Option<BootstrapServiceAccount>,

    /// The role a user created without roles gets; one the role table defines.
    #[arg(long, default_value = "viewer")]
    pub default_role: String,

    /// The plan tiers that exist, comma-separated; the first is a new
    /// account's. Quotas per plan are the resource side's (`--plan-quotas`).
    #[arg(long, default_value = authpair_claims::token::roles::DEFAULT_PLANS, value_parser = authpair_claims::Plans::parse)]
    pub plans: authpair_claims::Plans,

    /// Heartbeat interval of the revocation feed, in seconds.
    #[arg(long = "feed-heartbeat-secs", default_value = "5", value_parser = parse_secs)]
    pub feed_heartbeat: Duration,

    /// Seconds a rotated-in key is published before it signs.
    #[arg(long = "key-publish-delay-secs", default_value = "60", value_parser = parse_secs)]
    pub key_publish_delay: Duration,

    /// Rotate the signing key automatically at this age, in seconds; 0: never.
    #[arg(long = "key-rotation-secs", default_value = "0", value_parser = parse_secs)]
    pub key_rotation: Duration,

    #[command(flatten)]
    pub throttle: crate::identity::throttle::ThrottleConfig,

    /// Addresses of reverse proxies whose `x-forwarded-for` is believed, comma
    /// separated. Empty: the header is ignored and the TCP peer is the source.
    #[arg(long, value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Password hashes computed at once (each takes 19 MiB); 0 means one per core.
    #[arg(long, default_value = "0")]
    pub hash_concurrency: usize,

    /// Logins (and other password checks) that may wait for a hashing
    /// worker; past that they are refused at once as UNAVAILABLE (load
    /// shedding). Size it so that a full queue drains within the clients'
    /// deadline: queue × one hash's time ÷ workers. `auto`: as many as the
    /// workers clear in half the request timeout, at one hash's time
    /// measured at start (16 to 4,096).
    #[arg(long, default_value = "auto", value_parser = parse_hash_queue)]
    // Spelled out so clap takes the parser's Option as the value.
    pub hash_queue: std::option::Option<std::num::NonZeroUsize>,

    /// Where to serve the JWK set, the authorization server metadata, the
    /// OAuth token endpoint and token introspection over HTTP/1.1; TLS with
    /// --tls-cert; "off" for none.
    #[arg(long, default_value = authpair_claims::defaults::AUTH_HTTP_LISTEN, value_parser = parse_listen)]
    // Spelled out so clap takes the parser's Option as the value (no flag = default).
    pub http_listen: std::option::Option<SocketAddr>,

    #[command(flatten)]
    pub http_limits: HttpLimits,

    /// The URL clients reach the HTTP listener at (`https://auth.example`),
    /// which the metadata's URLs start with; unset: the scheme and
    /// address the listener is bound to.
    #[arg(long, value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// File holding the master key: 32 random bytes in base64, readable by
    /// its owner only. Signing keys are sealed with it in the database.
    #[arg(long)]
    pub master_key_file: Option<PathBuf>,

    /// The master key the signing keys were sealed with before
    /// --master-key-file: they are re-sealed with the new one at start.
    #[arg(long, requires = "master_key_file")]
    pub previous_master_key_file: Option<PathBuf>,

    /// Without --master-key-file, store signing keys unencrypted instead of
    /// refusing to start (a warning at every start).
    #[arg(long)]
    pub allow_plaintext_keys: bool,

    /// Not a flag: create --master-key-file (owner-only) if it does not
    /// exist. For tests; operators create their master key themselves.
    #[arg(skip)]
    pub create_master_key_file: bool,
}

/// What a role change revokes: see `--on-role-change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnRoleChange {
    /// Access tokens issued before the change; sessions refresh to the new roles.
    Tokens,
    /// Access tokens issued before the change and every session of the user.
    Sessions,
}

/// Environment variables of settings that were replaced. One still set
/// would be ignored without a word, and a deployment could get a weaker
/// setting than it asked for; the start is refused instead, naming the
/// replacement.
const RETIRED_ENV: &[(&str, &str)] =
    &[("AUTH_REVOKE_ON_ROLE_CHANGE", "AUTH_ON_ROLE_CHANGE (--on-role-change tokens|sessions)")];

/// Refuses to start while a retired setting is in `env`.
pub fn refuse_retired_env(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<(), String> {
    match RETIRED_ENV.iter().find(|(name, _)| env(name).is_some()) {
        Some((name, replacement)) => Err(format!("{name} is no longer read: set {replacement} instead")),
        None => Ok(()),
    }
}

/// An absolute http(s) URL without a trailing slash, query or fragment.
fn parse_public_url(value: &str) -> Result<String, String> {
    let url = value.trim_end_matches('/');
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(['?', '#', ' ']) => Ok(url.to_owned()),
        _ => Err("expected an http:// or https:// URL without query or fragment".into()),
    }
}

/// `auto`, or a number of waiting password checks, at least one.
fn parse_hash_queue(value: &str) -> Result<Option<std::num::NonZeroUsize>, String> {
    match value {
        "auto" => Ok(None),
        _ => value.parse().map(Some).map_err(|e| format!("expected \"auto\" or a count of at least 1: {e}")),
    }
}

impl ServiceConfig for Config {
    const DEFAULTS: ServiceDefaults = DEFAULTS;
}

impl Config {
    /// The audience a token gets when its caller asks for `requested`: the
    /// default for "", else the name itself if this deployment issues for it.
    pub fn resolve_audience<'a>(&'a self, requested: &'a str) -> Option<&'a str> {
        if requested.is_empty() {
            return Some(&self.audience);
        }
        self.all_audiences().find(|a| *a == requested)
    }

    /// The resource services' audiences: the default one, then the others.
    pub fn resource_audiences(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.audience.as_str()).chain(self.audiences.iter().map(String::as_str))
    }

    /// Every audience this service issues tokens for, its own first.
    pub fn all_audiences(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.admin_audience.as_str()).chain(self.resource_audiences())
    }

    /// What the flags cannot check alone: the audiences (below) and that the
    /// default role is one the role table defines. Run before anything is
    /// written, so a bad value leaves no trace.
    pub fn check(&self) -> Result<(), String> {
        self.check_audiences()?;
        if let Some(delegations) = &self.delegations {
            delegations.check(self.all_audiences(), &self.admin_audience, &self.role_scopes)?;
        }
        if !self.role_scopes.has_role(&self.default_role) {
            return Err(format!("--default-role {:?} is not a role of --role-scopes", self.default_role));
        }
        let mut issuers = self.issuer.iter().chain(&self.previous_issuers);
        if let Some(bad) = issuers.find(|i| i.is_empty() || i.chars().any(char::is_whitespace)) {
            return Err(format!("issuer {bad:?} must be non-empty, without spaces"));
        }
        if self.shared.database_url.is_some() && self.issuer.is_none() && self.public_url.is_none() {
            return Err("with --database-url, set --public-url or --issuer: instances sharing a database \
                 must agree on the issuer their tokens carry"
                .into());
        }
        Ok(())
    }

    /// What this deployment's tokens mean, as announced to every verifier:
    /// the issuer (`--issuer`, else `public_url`), the earlier issuers, the
    /// role table and the plans.
    pub fn deployment(&self, public_url: &str) -> Deployment {
        Deployment {
            issuer: self.issuer.clone().unwrap_or_else(|| public_url.to_owned()),
            previous_issuers: self.previous_issuers.clone(),
            role_scopes: self.role_scopes.clone(),
            plans: self.plans.clone(),
        }
    }

    /// Refuses audiences that would blur who a token is for: an empty one,
    /// or the admin audience shared with a resource service.
    pub fn check_audiences(&self) -> Result<(), String> {
        if self.all_audiences().any(str::is_empty) {
            return Err("an audience must not be empty".into());
        }
        if self.resource_audiences().any(|a| a == self.admin_audience) {
            return Err(format!(
                "--admin-audience {:?} is also a resource audience: tokens for resource services would work on the admin API",
                self.admin_audience
            ));
        }
        Ok(())
    }

    /// The defaults (the flags' own), with state in `data_dir`, ephemeral
    /// gRPC and HTTP ports and no metrics endpoint. Signing keys are sealed
    /// with `master.key` in the data dir, created at the first start.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir: PathBuf = data_dir.into();
        let master_key = data_dir.join("master.key");
        let flags: [&std::ffi::OsStr; 6] = [
            "--data-dir".as_ref(),
            data_dir.as_os_str(),
            "--http-listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--master-key-file".as_ref(),
            master_key.as_os_str(),
        ];
        // A master key of its own in the data dir, made at the first start:
        // tests seal their signing keys as deployments do.
        Self { create_master_key_file: true, ..<Self as ServiceConfig>::for_tests(flags) }
    }
}

/// The first admin's credentials. Debug shows the username only.
#[derive(Clone)]
pub struct BootstrapAdmin {
    pub username: String,
    pub password: SecretString,
}

impl std::fmt::Debug for BootstrapAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapAdmin").field("username", &self.username).finish_non_exhaustive()
    }
}

impl BootstrapAdmin {
    pub fn new(username: &str, password: &str) -> Self {
        Self { username: username.into(), password: SecretString::from(password) }
    }

    /// Parses `username:password` (the password may itself contain ':').
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.split_once(':') {
            Some((user, pass)) if !user.is_empty() && !pass.is_empty() => Ok(Self::new(user, pass)),
            _ => Err("expected username:password".into()),
        }
    }

    pub fn password(&self) -> &str {
        self.password.expose_secret()
    }
}

/// A service account to provision at start. Debug shows the name only.
#[derive(Clone)]
pub struct BootstrapServiceAccount {
    pub name: String,
    pub secret: SecretString,
}

impl std::fmt::Debug for BootstrapServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapServiceAccount").field("name", &self.name).finish_non_exhaustive()
    }
}

impl BootstrapServiceAccount {
    pub fn new(name: &str, secret: &str) -> Self {
        Self { name: name.into(), secret: SecretString::from(secret) }
    }

    pub fn parse(value: &str) -> Result<Self, String> {
        match value.split_once(':') {
            Some((name, secret)) if !name.is_empty() && secret.len() >= 16 => Ok(Self::new(name, secret)),
            _ => Err("expected name:secret, with a secret of at least 16 characters".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_to_the_same_defaults_as_new() {
        let parsed = Config::load_from(["auth-service", "--listen", "127.0.0.1:0", "--data-dir", "d"]);
        let parsed = parsed.map(|c| {
            (
                c.shared.serving.connection_limits(),
                c.shared.serving.listen,
                c.access_token_ttl,
                c.shared.tokens.leeway,
                c.issuer,
                c.audience,
                c.throttle,
            )
        });
        let b = Config::new("d");
        assert_eq!(
            parsed.ok(),
            Some((
                b.shared.serving.connection_limits(),
                b.shared.serving.listen,
                b.access_token_ttl,
                b.shared.tokens.leeway,
                b.issuer,
                b.audience,
                b.throttle
            ))
        );
        let queue = Config::load_from(["auth-service"]).map(|c| (c.hash_concurrency, c.hash_queue));
        assert_eq!(queue.ok(), Some((b.hash_concurrency, b.hash_queue)));
        let http = Config::load_from(["auth-service"]).map(|c| c.http_limits);
        assert_eq!(http.ok(), Some(b.http_limits));
    }

    #[test]
    fn instances_sharing_a_database_must_name_the_issuer_or_the_public_url_it_derives_from() {
        let shared = Config {
            shared: ServiceFlags { database_url: Some("postgres://db/auth".into()), ..Config::new("d").shared },
            ..Config::new("d")
        };
        let refused = shared.check().err().unwrap_or_default();
        assert!(refused.contains("set --public-url or --issuer"), "{refused}");
        let with_url = Config { public_url: Some("https://auth.example".into()), ..shared.clone() };
        assert_eq!(with_url.check(), Ok(()));
        assert_eq!(with_url.deployment("https://auth.example").issuer, "https://auth.example");
        let named = Config { issuer: Some("https://issuer.example".into()), ..shared };
        assert_eq!(named.deployment("https://auth.example").issuer, "https://issuer.example");
        let spaced = Config { previous_issuers: vec!["a b".into()], ..Config::new("d") };
        assert!(spaced.check().is_err());
    }

    #[test]
    fn signing_keys_are_never_stored_in_plaintext_unless_asked_for_and_a_previous_master_key_needs_a_current_one() {
        let c = Config::load_from(["auth-service"]).ok();
        let at_rest = c.map(|c| (c.master_key_file, c.allow_plaintext_keys, c.create_master_key_file));
        assert_eq!(at_rest, Some((None, false, false)));
        let flags = ["auth-service", "--master-key-file", "new.key", "--previous-master-key-file", "old.key"];
        let c = Config::load_from(flags).ok();
        let files = c.map(|c| (c.master_key_file, c.previous_master_key_file));
        assert_eq!(files, Some((Some("new.key".into()), Some("old.key".into()))));
        assert!(Config::load_from(["auth-service", "--previous-master-key-file", "old.key"]).is_err());
    }

    #[test]
    fn a_hashing_queue_of_zero_is_refused_because_it_would_shed_every_login() {
        let queue = |n: &str| Config::load_from(["auth-service", "--hash-queue", n]).map(|c| c.hash_queue);
        assert_eq!(queue("3").ok(), Some(std::num::NonZeroUsize::new(3)));
        assert_eq!(queue("auto").ok(), Some(None));
        assert!(queue("0").is_err());
        assert!(queue("-1").is_err());
    }

    /// R-10, do not trust defaults: what a deployment gets with no flags is
    /// the recommended configuration, written out here so that
    /// changing a default is a deliberate, reviewed act.
    #[test]
    fn r_10_without_flags_the_settings_are_the_recommended_ones() {
        const MIN: u64 = 60;
        let c = match Config::load_from(["auth-service"]) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let secs = Duration::from_secs;
        assert_eq!(c.access_token_ttl, secs(15 * MIN), "access tokens: 5-15 min");
        assert_eq!((c.refresh_token_ttl, c.refresh_token_idle), (secs(30 * 24 * 60 * MIN), secs(7 * 24 * 60 * MIN)));
        assert_eq!(c.refresh_grace, Duration::ZERO, "reuse of a rotated refresh token revokes the family");
        assert_eq!(c.shared.tokens.leeway, secs(30), "leeway: 30-60 s");
        assert_eq!(c.on_role_change, OnRoleChange::Tokens, "a role change revokes tokens carrying the old roles");
        assert_eq!(c.key_publish_delay, secs(60), "a new key is published before it signs");
        assert_eq!(c.shared.serving.max_connection_age, secs(30 * MIN), "no connection lives for ever");
        assert_eq!(
            c.shared.serving.max_connection_age_grace,
            secs(5 * MIN),
            "nor past its age, even with a call held open"
        );
        assert_eq!(
            c.shared.serving.max_connections, 10_000,
            "the process never runs out of descriptors for connections"
        );
        let http = (c.http_limits.max_connections_per_source, c.http_limits.idle_timeout);
        assert_eq!(http, (64, secs(3)), "one source's idle sockets cannot hold the HTTP listener");
        let expected = crate::identity::throttle::ThrottleConfig {
            free_failures: 5,
            base_delay: secs(1),
            max_delay: secs(15 * MIN),
            lock_after: 30,
            lock_for: secs(15 * MIN),
            failure_window: secs(12 * 60 * MIN),
            source_per_sec: 10,
            source_burst: 20,
        };
        assert_eq!(c.throttle, expected, "brute-force protection is on");
        assert!(c.trusted_proxies.is_empty(), "x-forwarded-for is ignored unless a proxy is trusted");
        assert_eq!(
            (c.audience.as_str(), c.admin_audience.as_str()),
            ("authpair", "authpair-admin"),
            "the admin API has an audience of its own (TF-11 d)"
        );
        assert_eq!(c.check_audiences(), Ok(()));
    }

    #[test]
    fn tf_11_an_admin_audience_shared_with_a_resource_service_or_an_empty_audience_is_refused_at_start() {
        let parse = |flags: &[&str]| {
            let c = Config::load_from(std::iter::once("auth-service").chain(flags.iter().copied()));
            c.map_err(|e| e.to_string()).and_then(|c| c.check_audiences())
        };
        assert_eq!(parse(&["--audiences", "orders,billing"]), Ok(()));
        assert!(parse(&["--admin-audience", "authpair"]).is_err_and(|e| e.contains("also a resource audience")));
        assert!(
            parse(&["--audiences", "orders,authpair-admin"]).is_err_and(|e| e.contains("also a resource audience"))
        );
        assert!(parse(&["--audiences", "orders,,billing"]).is_err_and(|e| e.contains("must not be empty")));
        assert!(parse(&["--admin-audience", ""]).is_err());
    }

    #[test]
    fn a_requested_audience_is_the_default_when_empty_and_otherwise_must_be_one_the_deployment_has() {
        let c = Config { audiences: vec!["orders".into()], ..Config::new("d") };
        assert_eq!(c.resolve_audience(""), Some("authpair"));
        assert_eq!(c.resolve_audience("orders"), Some("orders"));
        assert_eq!(c.resolve_audience("authpair-admin"), Some("authpair-admin"));
        assert_eq!(c.resolve_audience("billing"), None);
        assert_eq!(c.resolve_audience("Orders"), None, "compared exactly, as `aud` is");
    }

    #[test]
    fn the_http_listener_is_on_by_default_off_with_off_and_its_public_url_is_an_http_url() {
        let parse = |flags: &[&str]| {
            let c = Config::load_from(std::iter::once("auth-service").chain(flags.iter().copied()));
            c.map(|c| (c.http_listen.map(|a| a.to_string()), c.public_url)).map_err(|e| e.kind())
        };
        assert_eq!(parse(&[]), Ok((Some("127.0.0.1:50061".into()), None)));
        assert_eq!(parse(&["--http-listen", "off"]), Ok((None, None)));
        let url = parse(&["--public-url", "https://auth.example.com/"]);
        assert_eq!(url, Ok((Some("127.0.0.1:50061".into()), Some("https://auth.example.com".into()))));
        assert!(parse(&["--public-url", "auth.example.com"]).is_err());
        assert!(parse(&["--public-url", "https://auth.example.com/?x=1"]).is_err());
    }

    #[test]
    fn on_role_change_takes_tokens_or_sessions_and_the_retired_boolean_stops_the_start() {
        let parse =
            |value: &str| Config::load_from(["auth-service", "--on-role-change", value]).map(|c| c.on_role_change);
        assert_eq!(parse("tokens").ok(), Some(OnRoleChange::Tokens));
        assert_eq!(parse("sessions").ok(), Some(OnRoleChange::Sessions));
        assert!(parse("true").is_err());
        assert!(Config::load_from(["auth-service", "--revoke-on-role-change", "true"]).is_err());
        let retired = refuse_retired_env(|name| (name == "AUTH_REVOKE_ON_ROLE_CHANGE").then(|| "true".into()));
        assert!(retired.is_err_and(|e| e.contains("AUTH_ON_ROLE_CHANGE")));
        assert_eq!(refuse_retired_env(|_| None), Ok(()));
    }

    #[test]
    fn the_bootstrap_admin_is_split_at_the_first_colon_and_never_debug_printed() {
        let admin = BootstrapAdmin::parse("root:pa:ss");
        assert_eq!(admin.as_ref().map(|a| (a.username.as_str(), a.password())), Ok(("root", "pa:ss")));
        assert!(!format!("{admin:?}").contains("pa:ss"));
        assert!(BootstrapAdmin::parse("nopassword").is_err());
        assert!(BootstrapAdmin::parse(":x").is_err());
    }
}
