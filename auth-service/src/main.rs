//! The `auth-service` binary: parse the config once, bind, serve until
//! SIGINT or SIGTERM.

use auth_service::Config;
use authpair_server::{
    config::ServiceConfig as _,
    serving::{init_tracing, shutdown_signal},
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load();
    init_tracing(&config.shared.log, config.shared.log_json);
    let listener = tokio::net::TcpListener::bind(config.shared.listen).await?;
    auth_service::serve(listener, config, shutdown_signal()).await
}
