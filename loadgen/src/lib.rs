//! `authpair-load`: drives authpair at a set concurrency and reports calls
//! per second, latency percentiles and a count per status code.
//!
//! - [`Options`]: what to run (mode, concurrency, duration or count).
//! - `setup`: logs in or prepares tokens for a mode before the clock starts,
//!   or reads them from `--tokens-file`.
//! - `drive`: what one call does, and the workers that make calls back to
//!   back.
//! - `run`: each mode's measurement; `compare`: the alternating one.
//! - [`naive`]: the naive EdDSA interceptor server, `compare-fresh`'s
//!   baseline (binary `authpair-naive-eddsa`).
//! - `cpu`: CPU time of the load tool and, with `--server-pid`, of the
//!   server, over the timed window.
//! - [`Report`]: the result, as text or JSON; [`Report::unexpected`] lists
//!   the calls whose status the mode does not expect (the binary exits
//!   non-zero on any).
//!
//! Modes:
//! - `public`: GetStatus with no token (the baseline).
//! - `reuse`: one user's token reused for every GetMyProfile.
//! - `users`: N distinct users, their tokens round-robin.
//! - `fresh`: a never-seen token on every call (service tokens prepared in
//!   advance). A run that uses up its pool goes round it again and says so:
//!   a token seen before may hit the server's cache, so such a run is not a
//!   fresh-token figure.
//! - `login`: concurrent logins, with Refresh and GetJwks timed alongside.
//! - `mixed`: calls with one reused token while side traffic (`mixed`)
//!   logs in and calls with fresh tokens, refreshes, ends sessions (Logout
//!   and the admin's RevokeUserSessions) and measures how long until the
//!   resource service rejects each revoked token (over 1 s fails the run),
//!   and searches past a `free` plan's quota. What `scripts/soak.sh`
//!   drives.
//! - `compare`: public GetStatus and GetMyProfile with one reused token in
//!   alternating slices (`--slice-ms`), so both see the same machine; gives
//!   the reused-token throughput and p99 latency ratios from one run.
//! - `compare-floor`: `compare`'s two calls and, in turn with them, public
//!   GetStatus carrying the reused token's `authorization` value in a header
//!   the server never reads (`cookie`), which h2 sends exactly as it sends
//!   `authorization`: what the token's bytes alone cost, the ceiling of
//!   `compare`'s ratio for any server behind this client, and what
//!   authpair's auth costs on top of it.
//! - `compare-fresh`: GetMyProfile with a fresh token every call, in
//!   alternating slices against the naive EdDSA interceptor server at
//!   `--baseline` (the `authpair-naive-eddsa` binary) and the resource
//!   service: the fresh-token ratio from one run.
//! - `enumeration`: one login at a time, alternating an unknown username and
//!   a known one with a wrong password (`--requests` pairs, default 300), and
//!   compares their medians: the timing side channel of EN-02.

mod compare;
mod cpu;
mod drive;
mod mixed;
pub mod naive;
mod report;
mod run;
mod setup;

use std::time::Duration;

use secrecy::SecretString;

pub use compare::{Ceiling, Comparison, Side};
pub use cpu::CpuUse;
pub use drive::FreshTokens;
pub use report::{LatencySummary, Report};
pub use run::run;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Public,
    Reuse,
    Users,
    Fresh,
    Login,
    Mixed,
    Enumeration,
    Compare,
    CompareFloor,
    CompareFresh,
}

impl std::fmt::Display for Mode {
    /// The name `--mode` takes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match clap::ValueEnum::to_possible_value(self) {
            Some(value) => f.write_str(value.get_name()),
            None => write!(f, "{self:?}"),
        }
    }
}

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "authpair-load", version, about = "Load tool for authpair")]
pub struct Options {
    /// What to drive; see the crate docs.
    #[arg(long, value_enum, default_value = "reuse")]
    pub mode: Mode,
    #[arg(long, default_value = authpair_claims::defaults::AUTH_URL)]
    pub auth: String,
    #[arg(long, default_value = authpair_claims::defaults::RESOURCE_URL)]
    pub resource: String,
    /// An admin's `username:password`, to create the users and service
    /// account a mode needs. Not needed by `public`, nor by the modes that
    /// take their tokens from --tokens-file.
    #[arg(long, env = "AUTHPAIR_LOAD_ADMIN", hide_env_values = true, value_parser = secret)]
    pub admin: Option<SecretString>,
    /// The auth service's own audience (its `--admin-audience`): the admin's
    /// token is asked for it, since it goes to the admin API.
    #[arg(long, default_value = authpair_claims::defaults::ADMIN_AUDIENCE)]
    pub admin_audience: String,
    /// Access tokens to call with instead of preparing them, one per line
    /// (`-` reads standard input, which keeps them out of the process list):
    /// `reuse`, `compare` and `compare-floor` use the first, `users`, `fresh` and
    /// `compare-fresh` all of them in turn.
    #[arg(long)]
    pub tokens_file: Option<std::path::PathBuf>,
    /// HTTP/2 connections.
    #[arg(long, default_value = "64")]
    pub connections: usize,
    /// Concurrent streams per connection.
    #[arg(long, default_value = "10")]
    pub streams: usize,
    /// How long to run, in seconds (ignored when --requests is set).
    #[arg(long, default_value = "10")]
    pub duration_secs: u64,
    /// Stop after this many calls instead.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Calls per second across all workers, each worker paced evenly: a
    /// steady load (what a soak wants) instead of calls back to back.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,
    /// Users for `users` mode.
    #[arg(long, default_value = "100")]
    pub users: usize,
    /// Tokens prepared for `fresh` and `compare-fresh`: more than the run
    /// will call with, or some calls reuse one (reported).
    #[arg(long, default_value = "50000")]
    pub fresh_tokens: usize,
    /// `compare-fresh` mode: the naive EdDSA interceptor server's URL.
    #[arg(long)]
    pub baseline: Option<String>,
    /// `compare-fresh` mode: the naive server's process id, as
    /// `--server-pid` is the resource service's.
    #[arg(long)]
    pub baseline_pid: Option<u32>,
    /// `compare` modes: the length of each slice, in milliseconds.
    #[arg(long, default_value = "1000")]
    pub slice_ms: u64,
    /// Wait up to this many seconds for both services to report SERVING
    /// before starting.
    #[arg(long, default_value = "0")]
    pub wait_secs: u64,
    /// The server's process id, on this machine: report its CPU time per
    /// call over the timed window (Linux; read from /proc).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Write the report as JSON to this file too.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

impl Options {
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_secs)
    }
}
