//! The flags every server takes to serve ([`ServingFlags`]) and those the
//! stateful services add ([`ServiceFlags`]), each defined once and
//! flattened into a server's configuration; how a server parses them
//! ([`parse`]: every flag gets its `<PREFIX>_<FLAG>` environment fallback),
//! and the value parsers, so flags read the same way everywhere.
//! [`HttpLimits`] (`http_limits`): the HTTP listener's flags.
//! [`TokenFlags`], [`FollowerFlags`] (`follower`): how a server checks
//! tokens, and follows the auth service to do so.
//! `secret_files`: every secret flag also reads `<VARIABLE>_FILE`.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use secrecy::SecretString;

mod follower;
mod http_limits;
mod secret_files;

pub use follower::{FollowerFlags, TokenFlags};
pub use http_limits::HttpLimits;

use crate::serving::{ConnectionLimits, DEFAULT_MAX_CONNECTIONS};

/// Whole seconds, as in `--leeway-secs 30`.
pub fn parse_secs(value: &str) -> Result<Duration, String> {
    value.parse::<u64>().map(Duration::from_secs).map_err(|e| format!("expected whole seconds: {e}"))
}

/// Whole seconds, at least one.
pub fn parse_positive_secs(value: &str) -> Result<Duration, String> {
    match parse_secs(value)? {
        Duration::ZERO => Err("expected at least 1 second".into()),
        secs => Ok(secs),
    }
}

/// An optional socket address: "off" (or empty) for none.
pub fn parse_listen(value: &str) -> Result<Option<std::net::SocketAddr>, String> {
    match value {
        "" | "off" => Ok(None),
        _ => value.parse().map(Some).map_err(|e| format!("expected host:port or \"off\": {e}")),
    }
}

/// A secret, kept out of Debug output from the moment it is parsed.
pub fn parse_secret(value: &str) -> Result<SecretString, String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretString::from(value))
}

/// What differs between the servers in the flags they share: the prefix of
/// their environment variables and three defaults.
#[derive(Debug, Clone, Copy)]
pub struct ServiceDefaults {
    /// `AUTH`, `RESOURCE`, `ORDERS`: a flag `--max-connections` reads
    /// `AUTH_MAX_CONNECTIONS` when it is not given.
    pub env_prefix: &'static str,
    /// `--listen`.
    pub listen: &'static str,
    /// `--data-dir`, for a server with [`ServiceFlags`]; None for one with
    /// only [`ServingFlags`].
    pub data_dir: Option<&'static str>,
    /// `--metrics-listen` ("off" for none).
    pub metrics_listen: &'static str,
}

/// The flags every server takes to serve: its listener, connection
/// bounds, TLS, logging and metrics. Defined once; flattened into
/// [`ServiceFlags`], and on its own into a server that keeps no state.
#[derive(Debug, Clone, clap::Args)]
pub struct ServingFlags {
    /// Address to listen on.
    #[arg(long)]
    pub listen: SocketAddr,

    /// Seconds after which a connection is closed gracefully (GOAWAY); its
    /// calls in flight may finish.
    #[arg(long = "max-connection-age-secs", default_value = "1800", value_parser = parse_positive_secs)]
    pub max_connection_age: Duration,

    /// Seconds past its age a connection may stay open for its calls in
    /// flight; then it is closed whatever is in flight (a peer may keep a
    /// response's flow-control window shut for ever). Also bounds, with the
    /// 30 s request timeout, how long a graceful shutdown waits for calls.
    #[arg(long = "max-connection-age-grace-secs", default_value = "300", value_parser = parse_secs)]
    pub max_connection_age_grace: Duration,

    /// Connections open at once; past it, new ones wait in the kernel's
    /// accept backlog until one closes.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,

    /// TLS: the server's certificate chain (PEM). With --tls-key, the
    /// service accepts only TLS connections.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS: the server's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// mTLS: a CA whose client certificates are verified when presented.
    #[arg(long, requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// With --tls-client-ca: accept service tokens only on connections whose
    /// client presented a verified certificate; without one, a service
    /// token's call is PERMISSION_DENIED (user tokens are unaffected).
    #[arg(long, requires = "tls_client_ca")]
    pub require_client_cert_for_services: bool,

    /// Log filter, in tracing's EnvFilter syntax.
    #[arg(long, default_value = "info")]
    pub log: String,

    /// Where to serve Prometheus metrics (`/metrics`); "off" for none.
    #[arg(long, value_parser = parse_listen)]
    // Spelled out so clap takes the parser's Option as the value (no flag = default).
    pub metrics_listen: std::option::Option<SocketAddr>,

    /// Log one JSON object per line instead of text.
    #[arg(long)]
    pub log_json: bool,

    /// Do not serve: ask the server already running with this
    /// configuration (at --listen, on loopback if it listens on every
    /// address) for its health, and exit 0 if it is SERVING, 1 if not. For
    /// a container's health check; plaintext gRPC only.
    #[arg(long)]
    pub health_check: bool,
}

impl ServingFlags {
    /// The connection age, its grace and the connection cap, as the server
    /// takes them.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_age: self.max_connection_age,
            grace: self.max_connection_age_grace,
            max_connections: self.max_connections,
        }
    }

    /// The server's TLS, from `--tls-cert`, `--tls-key` and `--tls-client-ca`.
    pub fn tls(&self) -> std::io::Result<Option<crate::tls::ServerTls>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => crate::tls::server_tls(cert, key, self.tls_client_ca.as_deref()).map(Some),
            _ => Ok(None),
        }
    }
}

/// The flags both stateful services take, defined once; each service
/// flattens them into its own configuration (`#[command(flatten)]`) and
/// parses with [`parse`] or [`try_parse_from`], which give every flag of
/// the service its environment fallback (`<PREFIX>_<FLAG>`) and the
/// service's defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceFlags {
    /// Listener, connection bounds, TLS, logging, metrics.
    #[command(flatten)]
    pub serving: ServingFlags,

    /// Directory for the service's own data (its SQLite database, unless
    /// --database-url is set).
    #[arg(long)]
    pub data_dir: PathBuf,

    /// `postgres://user:password@host/db` to share one database between
    /// instances (or a `sqlite:` URL); unset: SQLite in the data dir.
    #[arg(long, hide_env_values = true, value_parser = parse_secret)]
    pub database_url: Option<SecretString>,

    /// Leeway and signature backend.
    #[command(flatten)]
    pub tokens: TokenFlags,

    /// Redis, for counts shared between instances.
    #[command(flatten)]
    pub redis: RedisFlags,
}

/// Redis, to share counts between a server's instances: the auth service's
/// login throttle, quotas. Defined once; flattened into [`ServiceFlags`] and
/// into the gate.
#[derive(Debug, Clone, clap::Args)]
pub struct RedisFlags {
    /// Redis, to share counts between instances (the auth service's login
    /// throttle, the resource service's and the gate's quotas); unset: each
    /// instance counts on its own. A secret: it may hold a password.
    #[arg(id = "redis_url", long = "redis-url", hide_env_values = true, value_parser = parse_secret)]
    pub url: Option<SecretString>,

    /// Prefix of every Redis key this service writes.
    #[arg(id = "redis_prefix", long = "redis-prefix", default_value = "authpair:")]
    pub prefix: String,
}

/// `command` with the service's defaults and, with `env`, every flag's
/// environment fallback `<PREFIX>_<FLAG>` (unless the flag names its own).
fn with_defaults(command: clap::Command, defaults: &ServiceDefaults, env: bool) -> clap::Command {
    let command = command
        .mut_arg("listen", |a| a.default_value(defaults.listen).required(false))
        .mut_arg("metrics_listen", |a| a.default_value(defaults.metrics_listen).required(false));
    let command = match defaults.data_dir {
        Some(dir) => command.mut_arg("data_dir", |a| a.default_value(dir).required(false)),
        None => command,
    };
    if !env {
        return command;
    }
    command.mut_args(|arg| match arg.get_long() {
        Some(long) if arg.get_env().is_none() && !matches!(long, "help" | "version") => {
            let name = format!("{}_{}", defaults.env_prefix, long.to_uppercase().replace('-', "_"));
            arg.env(name)
        }
        _ => arg,
    })
}

/// A service's configuration: it flattens [`ServiceFlags`] and names its
/// [`ServiceDefaults`]. Parse it with these, never with clap's own `parse`
/// (which would know neither the defaults nor the environment fallbacks).
pub trait ServiceConfig: clap::Parser {
    const DEFAULTS: ServiceDefaults;

    /// From the process's flags and environment (`<PREFIX>_<FLAG>` for every
    /// flag); prints help or an error and exits as clap does.
    fn load() -> Self {
        parse(&Self::DEFAULTS)
    }

    /// [`Self::load`] on `args`, returning the error.
    fn load_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        try_parse_from(&Self::DEFAULTS, args)
    }

    /// The flags' own defaults (never the environment) with `flags` set on
    /// top, and an ephemeral listen address with no metrics endpoint unless
    /// `flags` say otherwise: what tests build a configuration from, so no
    /// default is written a second time.
    fn for_tests<I, T>(flags: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString>,
    {
        let mut args: Vec<std::ffi::OsString> =
            ["test", "--listen", "127.0.0.1:0", "--metrics-listen", "off"].map(Into::into).into();
        args.extend(flags.into_iter().map(Into::into));
        match Self::from_flags(args) {
            Ok(config) => config,
            // Tests only; every binary's empty command line is parsed by a
            // test of its own, so a definition that cannot parse fails there.
            Err(e) => panic!("a test configuration does not parse: {e}"),
        }
    }

    /// `args` (the binary's name first) over the flags' own defaults, never
    /// the environment: what the binary takes in an empty environment.
    fn from_flags<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString>,
    {
        let mut command = with_defaults(Self::command(), &Self::DEFAULTS, false);
        command.try_get_matches_from_mut(args.into_iter().map(Into::into)).and_then(|m| Self::from_arg_matches(&m))
    }
}

/// A group of flags (`#[derive(clap::Args)]`, flattened into a service's
/// configuration) at the values its definitions give when no flag is set:
/// the one source of its `Default`.
pub fn defaults_of<A: clap::Args + clap::FromArgMatches>() -> Result<A, clap::Error> {
    let command = A::augment_args(clap::Command::new("defaults").no_binary_name(true));
    A::from_arg_matches(&command.try_get_matches_from(std::iter::empty::<std::ffi::OsString>())?)
}

/// Parses the process's arguments (and environment) into a service's
/// configuration `C`, which flattens [`ServiceFlags`]; on an error or
/// `--help`, prints and exits as clap does.
pub fn parse<C: clap::Parser>(defaults: &ServiceDefaults) -> C {
    match try_parse_from(defaults, std::env::args_os()) {
        Ok(config) => config,
        Err(e) => e.exit(),
    }
}

/// [`parse`] on the given arguments, returning the error.
pub fn try_parse_from<C, I, T>(defaults: &ServiceDefaults, args: I) -> Result<C, clap::Error>
where
    C: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let typed: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let mut command = with_defaults(C::command(), defaults, true);
    // Secrets may come from files (`<VARIABLE>_FILE`): see `secret_files`.
    let (from_files, origins) = secret_files::read(&command, &typed, |name| std::env::var_os(name))?;
    let args: Vec<std::ffi::OsString> = typed.iter().cloned().chain(from_files).collect();
    let matches = command
        .try_get_matches_from_mut(&args)
        .map_err(|e| secret_files::name_the_file(e, &origins))
        .map_err(|e| name_the_variable(e, &command, &typed))?;
    C::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

/// A bad value that came from an environment variable, not from `args`,
/// is reported under the variable's name (clap names the flag, which the
/// user never typed), once, with the reason the value was refused.
fn name_the_variable(error: clap::Error, command: &clap::Command, args: &[std::ffi::OsString]) -> clap::Error {
    let Some((long, why)) = refused_value(&error) else { return error };
    let Some(arg) = command.get_arguments().find(|a| a.get_long() == Some(long.as_str())) else { return error };
    let Some(variable) = arg.get_env().and_then(|v| v.to_str()) else { return error };
    if typed(args, &long) || std::env::var_os(variable).is_none() {
        return error;
    }
    let value = std::env::var(variable).unwrap_or_default();
    // A secret's variable hides its value in --help; it is hidden here too.
    let shown = if arg.is_hide_env_values_set() { "(hidden)".to_owned() } else { format!("{value:?}") };
    clap::Error::raw(error.kind(), format!("{variable}={shown} is not valid for --{long}: {why}\n"))
}

/// If clap refused a flag's value: the flag's long name, and why (the
/// value parser's reason, or the values it accepts).
fn refused_value(error: &clap::Error) -> Option<(String, String)> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(error.kind(), ErrorKind::ValueValidation | ErrorKind::InvalidValue) {
        return None;
    }
    let Some(ContextValue::String(flag)) = error.get(ContextKind::InvalidArg) else { return None };
    let long = flag.strip_prefix("--")?.split([' ', '=']).next()?.to_owned();
    let why = match (error.get(ContextKind::ValidValue), std::error::Error::source(error)) {
        (_, Some(cause)) => cause.to_string(),
        (Some(ContextValue::Strings(valid)), None) => format!("expected one of {}", valid.join(", ")),
        _ => "not a valid value".to_owned(),
    };
    Some((long, why))
}

/// Whether `args` set `--long` themselves (`--long value` or `--long=value`).
fn typed(args: &[std::ffi::OsString], long: &str) -> bool {
    args.iter().any(|a| a.to_str().is_some_and(|a| a == format!("--{long}") || a.starts_with(&format!("--{long}="))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: ServiceDefaults = ServiceDefaults {
        env_prefix: "SHARED_FLAGS_TEST",
        listen: "127.0.0.1:50099",
        data_dir: Some("data/test"),
        metrics_listen: "127.0.0.1:9459",
    };

    #[derive(Debug, clap::Parser)]
    struct Config {
        #[command(flatten)]
        shared: ServiceFlags,
        /// A flag of the service's own.
        #[arg(long, default_value = "x")]
        own: String,
    }

    #[test]
    fn every_flag_gets_the_services_environment_fallback_and_defaults() -> Result<(), clap::Error> {
        let help = with_defaults(<Config as clap::CommandFactory>::command(), &DEFAULTS, true).render_long_help();
        let help = help.to_string();
        for env in ["SHARED_FLAGS_TEST_LISTEN", "SHARED_FLAGS_TEST_MAX_CONNECTION_AGE_SECS", "SHARED_FLAGS_TEST_OWN"] {
            assert!(help.contains(env), "{env} missing from:\n{help}");
        }
        let parsed: Config = try_parse_from(&DEFAULTS, ["test"])?;
        assert_eq!(parsed.shared.serving.listen, SocketAddr::from(([127, 0, 0, 1], 50099)));
        assert_eq!(parsed.shared.serving.metrics_listen, Some(SocketAddr::from(([127, 0, 0, 1], 9459))));
        assert_eq!(parsed.shared.data_dir, PathBuf::from("data/test"));
        let off: Config = try_parse_from(&DEFAULTS, ["test", "--metrics-listen", "off"])?;
        assert_eq!(off.shared.serving.metrics_listen, None);
        Ok(())
    }

    impl ServiceConfig for Config {
        const DEFAULTS: ServiceDefaults = DEFAULTS;
    }

    #[test]
    fn the_test_defaults_are_the_flags_own_with_an_ephemeral_port_and_no_metrics() {
        let config = Config::for_tests(["--data-dir", "d"]);
        assert_eq!(config.shared.serving.listen.port(), 0);
        assert_eq!((config.shared.serving.metrics_listen, config.shared.data_dir), (None, PathBuf::from("d")));
        let (leeway, age) = (config.shared.tokens.leeway, config.shared.serving.max_connection_age);
        assert_eq!((leeway, age, config.own.as_str()), (Duration::from_secs(30), Duration::from_secs(1800), "x"));
    }
}
