//! `authpair-stack`: both services in one process, on their embedded
//! defaults, for trying authpair on one machine. Each service reads its own
//! environment variables (AUTH_*, RESOURCE_*) exactly as its own binary does;
//! production runs the two binaries separately.

use authpair_server::{
    config::ServiceConfig as _,
    exporter,
    serving::{init_tracing, shutdown_signal},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use clap::Parser;
use secrecy::{ExposeSecret, SecretString};
use tokio::{net::TcpListener, sync::watch};

/// Starts the auth service (127.0.0.1:50051) and the resource service
/// (127.0.0.1:50052) in one process, on embedded SQLite under ./data.
///
/// It takes no flags of its own: each service reads its environment
/// variables exactly as its own binary does (see `auth-service --help` and
/// `resource-service --help`), e.g. AUTH_BOOTSTRAP_ADMIN=admin:change-me-now.
/// Both services' metrics are served together at AUTH_METRICS_LISTEN
/// (127.0.0.1:9451).
#[derive(Debug, Parser)]
#[command(name = "authpair-stack", version)]
struct Flags {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Flags::parse();
    let mut auth = auth_service::Config::load_from(["auth-service"])?;
    let mut resource = resource_service::Config::load_from(["resource-service"])?;
    // The resource service follows the revocation feed as its own service
    // account; in one process its secret can simply be made up at start,
    // unless one was given.
    let secret = match &resource.client_secret {
        Some(secret) => secret.clone(),
        None => random_secret()?,
    };
    if auth.bootstrap_service_account.is_none() {
        auth.bootstrap_service_account =
            Some(auth_service::BootstrapServiceAccount::new(&resource.client_id, secret.expose_secret()));
    }
    resource.client_secret = Some(secret);
    // The feed's token is for the auth service's own audience: in one
    // process, the one it was given, unless the resource side names one.
    if std::env::var_os("RESOURCE_AUTH_AUDIENCE").is_none() {
        resource.auth_audience = auth.admin_audience.clone();
    }
    init_tracing(&auth.shared.log, auth.shared.log_json);
    // One process has one metrics recorder: installed here, on the auth
    // service's address, before either service starts, so where it is does
    // not depend on which service starts first.
    exporter::serve_metrics(auth.shared.metrics_listen).map_err(anyhow::Error::msg)?;
    resource.shared.metrics_listen = auth.shared.metrics_listen;

    let auth_listener = bind(auth.shared.listen, "AUTH_LISTEN").await?;
    let resource_listener = bind(resource.shared.listen, "RESOURCE_LISTEN").await?;

    // One signal stops both; each then finishes its calls in flight.
    let (stop, stopped) = watch::channel(());
    let on_stop = |mut rx: watch::Receiver<()>| async move {
        let _ = rx.changed().await;
    };
    let mut auth_task = tokio::spawn(auth_service::serve(auth_listener, auth, on_stop(stopped.clone())));
    let mut resource_task = tokio::spawn(resource_service::serve(resource_listener, resource, on_stop(stopped)));
    let early_exit = tokio::select! {
        _ = shutdown_signal() => None,
        result = &mut auth_task => Some(("auth-service", result)),
        result = &mut resource_task => Some(("resource-service", result)),
    };
    stop.send_replace(());
    if let Some((name, result)) = early_exit {
        // A service ended on its own: report why; exiting stops the other.
        result??;
        anyhow::bail!("{name} stopped unexpectedly");
    }
    let (auth_result, resource_result) = tokio::join!(auth_task, resource_task);
    auth_result??;
    resource_result??;
    Ok(())
}

/// Binds `addr`, naming it and the variable that sets it on failure.
async fn bind(addr: std::net::SocketAddr, variable: &str) -> anyhow::Result<TcpListener> {
    use anyhow::Context as _;
    TcpListener::bind(addr).await.with_context(|| format!("listening on {addr} ({variable})"))
}

fn random_secret() -> anyhow::Result<SecretString> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
}
