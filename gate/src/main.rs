//! The `authpair-gate` binary: parse the config once, bind, serve until
//! SIGINT or SIGTERM.

use anyhow::Context as _;
use authpair_gate::Config;
use authpair_server::{
    config::ServiceConfig as _,
    serving::{init_tracing, shutdown_signal},
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load();
    if config.serving.health_check {
        std::process::exit(authpair_server::health_check::check(&config.serving).await);
    }
    init_tracing(&config.serving.log, config.serving.log_json);
    let listen = config.serving.listen;
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen} (--listen)"))?;
    authpair_gate::serve(listener, config, shutdown_signal()).await
}
