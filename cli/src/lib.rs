//! `authpair`, the admin CLI: what an operator would otherwise do with
//! grpcurl and hand-written JSON.
//!
//! - [`args`]: the command line (clap derive); every command's `--help`.
//! - [`session`]: the stored sessions, one per auth service URL and
//!   audience, in a 0600 file in the config dir, and the lock that
//!   serializes their renewal; [`file_mode`]: that file and its directory
//!   are the owner's alone.
//! - [`auth_url`]: the auth service's URL, checked (http or https) and in
//!   normal form, the key a session is found by.
//! - [`context`]: the global options, the store, and calls with a fresh
//!   access token (renewed with `Refresh` near expiry, and once more if the
//!   service says TOKEN_EXPIRED).
//! - [`connect`]: the channel to the auth service, with TLS and mTLS;
//!   [`tls_probe`]: whether a server behind an http URL speaks TLS.
//! - [`password`]: a password prompted without echo, or read from stdin.
//! - [`commands`]: login, logout, token, users, service-accounts, keys;
//!   [`username`]: whether a new username is taken, before the prompt.
//! - [`views`]: the results as printed; [`output`]: tables, JSON, times.
//! - [`error`]: failures, reported on stderr with the gRPC code, message
//!   and `ErrorInfo` reason; exit code 1 (clap's usage errors: 2).
//!
//! Neither the password nor the refresh token is ever printed or logged:
//! both are `SecretString`s, and `Session`'s Debug leaves out its tokens.

pub mod args;
pub mod auth_url;
pub mod commands;
pub mod connect;
pub mod context;
pub mod error;
pub mod file_mode;
pub mod output;
pub mod password;
pub mod session;
pub mod tls_probe;
pub mod username;
pub mod views;

use std::process::ExitCode;

use args::Cli;
use context::Context;
use error::CliError;

/// Runs the parsed command line; the process's exit code.
pub fn run(cli: Cli) -> ExitCode {
    let json = cli.global.json;
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::other(format!("cannot start the runtime: {e}")))
        .and_then(|runtime| {
            runtime.block_on(async {
                let ctx = Context::new(cli.global)?;
                commands::run(&ctx, cli.command).await
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error.report(json);
            ExitCode::FAILURE
        }
    }
}
