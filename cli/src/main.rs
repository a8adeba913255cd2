//! The `authpair` binary; everything is in the library.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    authpair_cli::run(authpair_cli::args::Cli::parse())
}
