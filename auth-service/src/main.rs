//! The `auth-service` binary: parse the config once, bind, serve until
//! SIGINT or SIGTERM.

use anyhow::Context as _;
use auth_service::Config;
use authpair_server::{
    config::ServiceConfig as _,
    serving::{init_tracing, shutdown_signal},
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    auth_service::config::refuse_retired_env(|name| std::env::var_os(name)).map_err(anyhow::Error::msg)?;
    let config = Config::load();
    if config.shared.serving.health_check {
        std::process::exit(authpair_server::health_check::check(&config.shared.serving).await);
    }
    init_tracing(&config.shared.serving.log, config.shared.serving.log_json);
    let listen = config.shared.serving.listen;
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen} (--listen)"))?;
    auth_service::serve(listener, config, shutdown_signal()).await
}
