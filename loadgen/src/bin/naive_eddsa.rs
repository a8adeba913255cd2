//! `authpair-naive-eddsa`: the naive EdDSA interceptor server that is the
//! baseline of the fresh-token ratio (see `authpair_load::naive`). Not a
//! product; `scripts/bench-ratios.sh` runs it.

use std::net::SocketAddr;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "authpair-naive-eddsa", version, about = "A naive EdDSA interceptor server: a benchmark baseline")]
struct Options {
    #[arg(long, default_value = "127.0.0.1:50053")]
    listen: SocketAddr,
    /// The auth service whose first signing key is trusted.
    #[arg(long, default_value = authpair_claims::defaults::AUTH_URL)]
    auth: String,
    /// The `iss` of the auth service's tokens: by default its public URL,
    /// which is its HTTP listener's default address.
    #[arg(long, default_value = authpair_claims::defaults::ISSUER)]
    issuer: String,
    #[arg(long, default_value = authpair_claims::defaults::AUDIENCE)]
    audience: String,
    /// No auth at all: GetStatus on bare tonic, with no interceptor and no
    /// auth service (the yardstick for the auth layer's cost). `--auth`,
    /// `--issuer` and `--audience` are not used.
    #[arg(long)]
    no_auth: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    // Ctrl-C or SIGTERM: a graceful stop (callgrind, in
    // scripts/bench-instructions.sh, writes its counts when the process exits).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    if options.no_auth {
        return authpair_load::naive::serve_without_auth(listener, shutdown).await;
    }
    authpair_load::naive::serve(listener, &options.auth, &options.issuer, &options.audience, shutdown).await
}
