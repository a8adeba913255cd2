//! The `resource-service` binary: parse the config once, bind, serve until
//! SIGINT or SIGTERM.

use authpair_server::serving::{init_tracing, shutdown_signal};
use clap::Parser;
use resource_service::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_tracing(&config.log, config.log_json);
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    resource_service::serve(listener, config, shutdown_signal()).await
}
