//! The `resource-service` binary: parse the config once, bind, serve until
//! SIGINT or SIGTERM.

use anyhow::Context as _;
use authpair_server::{
    config::ServiceConfig as _,
    serving::{init_tracing, shutdown_signal},
};
use resource_service::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load();
    if config.shared.serving.health_check {
        std::process::exit(authpair_server::health_check::check(&config.shared.serving).await);
    }
    init_tracing(&config.shared.serving.log, config.shared.serving.log_json);
    for warning in resource_service::config::retired_env_warnings(|name| std::env::var_os(name)) {
        tracing::warn!("{warning}");
    }
    let listen = config.shared.serving.listen;
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen} (--listen)"))?;
    resource_service::serve(listener, config, shutdown_signal()).await
}
