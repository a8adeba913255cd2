//! `authpair-stack`: both services in one process, on their embedded
//! defaults, for trying authpair on one machine. Each service reads its own
//! environment variables (AUTH_*, RESOURCE_*) exactly as its own binary does;
//! production runs the two binaries separately.
//!
//! Unless given one (AUTH_MASTER_KEY_FILE), the stack seals the signing keys
//! with a master key of its own, `master.key` beside the auth data dir
//! (./data/master.key), created owner-only at the first start.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
};

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
    // A bad value is reported as the services' own binaries report it
    // (naming the variable), before anything is written.
    let mut auth = auth_service::Config::load_from(["auth-service"]).unwrap_or_else(|e| e.exit());
    let mut resource = resource_service::Config::load_from(["resource-service"]).unwrap_or_else(|e| e.exit());
    auth.check().map_err(anyhow::Error::msg)?;
    resource.check().map_err(anyhow::Error::msg)?;
    // The resource service follows the revocation feed as its own service
    // account; in one process its secret can simply be made up at start,
    // unless one was given.
    let secret = match &resource.follow.client_secret {
        Some(secret) => secret.clone(),
        None => random_secret()?,
    };
    if auth.bootstrap_service_account.is_none() {
        auth.bootstrap_service_account =
            Some(auth_service::BootstrapServiceAccount::new(&resource.client_id, secret.expose_secret()));
    }
    resource.follow.client_secret = Some(secret);
    // The feed's token is for the auth service's own audience: in one
    // process, the one it was given, unless the resource side names one.
    if std::env::var_os("RESOURCE_AUTH_AUDIENCE").is_none() {
        resource.follow.auth_audience = auth.admin_audience.clone();
    }
    init_tracing(&auth.shared.serving.log, auth.shared.serving.log_json);
    // One process has one metrics recorder: installed here, on the auth
    // service's address, before either service starts, so where it is does
    // not depend on which service starts first.
    exporter::serve_metrics(auth.shared.serving.metrics_listen, "AUTH_METRICS_LISTEN").map_err(anyhow::Error::msg)?;
    resource.shared.serving.metrics_listen = auth.shared.serving.metrics_listen;

    let auth_listener = bind(auth.shared.serving.listen, "AUTH_LISTEN").await?;
    let resource_listener = bind(resource.shared.serving.listen, "RESOURCE_LISTEN").await?;
    // The resource service follows this process's auth service, wherever
    // AUTH_LISTEN put it, unless RESOURCE_AUTH_URL names another.
    if std::env::var_os("RESOURCE_AUTH_URL").is_none() {
        resource.follow.auth_urls =
            vec![own_auth_url(auth_listener.local_addr()?, auth.shared.serving.tls_cert.is_some())];
    }
    if auth.master_key_file.is_none() && !auth.allow_plaintext_keys {
        let path = master_key_path(&auth.shared.data_dir);
        ensure_master_key(&path)?;
        auth.master_key_file = Some(path);
    }

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

/// The URL of the auth service bound at `addr`, as a client on this
/// machine reaches it: an unspecified address (0.0.0.0, ::) is reached at
/// loopback.
fn own_auth_url(addr: SocketAddr, tls: bool) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}

/// Binds `addr`, naming it and the variable that sets it on failure.
async fn bind(addr: SocketAddr, variable: &str) -> anyhow::Result<TcpListener> {
    use anyhow::Context as _;
    TcpListener::bind(addr).await.with_context(|| format!("listening on {addr} ({variable})"))
}

/// Where the stack keeps its master key: `master.key` in the directory that
/// holds the auth data dir (./data for data/auth), else in the data dir.
fn master_key_path(auth_data_dir: &Path) -> PathBuf {
    match auth_data_dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.join("master.key"),
        _ => auth_data_dir.join("master.key"),
    }
}

/// Creates the master key at `path` unless it exists, readable by its owner
/// only from the first byte; logs where it is, never the key.
fn ensure_master_key(path: &Path) -> anyhow::Result<()> {
    if auth_service::keys::sealing::create_master_key_file(path)? {
        tracing::info!(path = %path.display(), "created a master key for the signing keys; back it up apart from the database");
    } else {
        tracing::info!(path = %path.display(), "sealing the signing keys with the master key");
    }
    Ok(())
}

fn random_secret() -> anyhow::Result<SecretString> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_reaches_its_own_auth_service_at_loopback_when_it_listens_on_every_address() {
        let at = |addr: &str| addr.parse().map(|a| own_auth_url(a, false)).ok();
        assert_eq!(at("0.0.0.0:50061").as_deref(), Some("http://127.0.0.1:50061"));
        assert_eq!(at("[::]:50061").as_deref(), Some("http://[::1]:50061"));
        assert_eq!(at("127.0.0.2:7").as_deref(), Some("http://127.0.0.2:7"));
        assert_eq!(own_auth_url(SocketAddr::from(([127, 0, 0, 1], 1)), true), "https://127.0.0.1:1");
    }

    #[test]
    fn the_stack_keeps_its_master_key_beside_the_auth_data_dir() {
        assert_eq!(master_key_path(Path::new("data/auth")), Path::new("data/master.key"));
        assert_eq!(master_key_path(Path::new("auth")), Path::new("auth/master.key"));
    }

    #[test]
    fn the_stack_creates_its_master_key_owner_only_and_keeps_it_across_starts() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = master_key_path(&dir.path().join("data/auth"));
        ensure_master_key(&path)?;
        assert_eq!(path, dir.path().join("data/master.key"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        }
        let first = std::fs::read(&path)?;
        let key = auth_service::keys::sealing::MasterKey::read_file(&path)?;
        ensure_master_key(&path)?;
        assert_eq!(std::fs::read(&path)?, first, "a second start keeps the key");
        assert_eq!(auth_service::keys::sealing::MasterKey::read_file(&path)?.check_value(), key.check_value());
        Ok(())
    }
}
