//! The HTTP listener's limits, each a flag (`--http-…`, environment
//! `<PREFIX>_HTTP_…`, e.g. `AUTH_HTTP_…`): connections in all and per source, how long an idle or
//! header-less connection and a request in progress may take, and how long
//! any connection may live. `docs/operations.md` explains how they combine.

use std::time::Duration;

use crate::config::parse_positive_secs;
use clap::builder::RangedU64ValueParser;

/// The HTTP listener's bounds; every number is a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct HttpLimits {
    /// HTTP listener: connections open at once. The last quarter of them is
    /// kept for sources holding fewer than 4 connections; a connection past
    /// a limit is closed (TCP reset) as soon as it is accepted.
    #[arg(id = "http_max_connections", value_name = "HTTP_MAX_CONNECTIONS", long = "http-max-connections", default_value = "1024", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,

    /// HTTP listener: connections open at once from one source address (an
    /// IPv6 source counts by its /64). A reverse proxy in front is one source.
    #[arg(id = "http_max_connections_per_source", value_name = "HTTP_MAX_CONNECTIONS_PER_SOURCE", long = "http-max-connections-per-source", default_value = "64", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections_per_source: usize,

    /// HTTP listener: seconds a connection may wait for a request head to
    /// arrive in full, after it opens (TLS handshake included) and after each
    /// response; then it is closed. Short, so idle sockets free their slots.
    #[arg(id = "http_idle_timeout_secs", value_name = "HTTP_IDLE_TIMEOUT_SECS", long = "http-idle-timeout-secs", default_value = "3", value_parser = parse_positive_secs)]
    pub idle_timeout: Duration,

    /// HTTP listener: seconds a request whose head has arrived (its body
    /// included) has to be answered; then it gets 503.
    #[arg(id = "http_request_timeout_secs", value_name = "HTTP_REQUEST_TIMEOUT_SECS", long = "http-request-timeout-secs", default_value = "10", value_parser = parse_positive_secs)]
    pub request_timeout: Duration,

    /// HTTP listener: seconds after which a connection is asked to close
    /// after its current request; it is cut 5 s later whatever it is doing.
    #[arg(id = "http_max_connection_age_secs", value_name = "HTTP_MAX_CONNECTION_AGE_SECS", long = "http-max-connection-age-secs", default_value = "120", value_parser = parse_positive_secs)]
    pub max_connection_age: Duration,
}

impl Default for HttpLimits {
    /// The flags' defaults.
    fn default() -> Self {
        match crate::config::defaults_of() {
            Ok(limits) => limits,
            // Every flag here has a default; a test parses them.
            Err(e) => panic!("the HTTP listener's flags do not parse with their defaults: {e}"),
        }
    }
}
