//! The `auth-service` binary: parse the config once, bind, serve until
//! SIGINT or SIGTERM.

use auth_service::Config;
use authpair_server::serving::{init_tracing, shutdown_signal};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_tracing(&config.log, config.log_json);
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    auth_service::serve(listener, config, shutdown_signal()).await
}
