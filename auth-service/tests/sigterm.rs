//! SIGTERM during load, against the real binary: the logins in flight
//! finish, the process exits cleanly, and new connections are refused.
//! Readiness comes from the binary's own "listening" log line: no sleeps.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Command, Stdio},
};

use authpair_proto::auth::v1::{LoginRequest, auth_service_client::AuthServiceClient};
use tonic::transport::Endpoint;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[tokio::test]
async fn sigterm_during_load_finishes_calls_in_flight_then_refuses_new_ones() -> TestResult {
    let dir = tempfile::tempdir()?;
    let master_key = dir.path().join("master.key");
    auth_service::keys::sealing::create_master_key_file(&master_key)?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off", "--http-listen", "off", "--hash-concurrency", "1"])
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--master-key-file")
        .arg(&master_key)
        .env("AUTH_BOOTSTRAP_ADMIN", "root:root-password-for-sigterm")
        .env("AUTH_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (found, listening) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("auth-service listening") {
                let addr = line.split("addr=").nth(1).and_then(|rest| rest.split_whitespace().next());
                let _ = found.send(addr.unwrap_or_default().to_owned());
            }
        }
    });
    let addr: SocketAddr = tokio::task::spawn_blocking(move || listening.recv()).await??.parse()?;

    let channel = Endpoint::from_shared(format!("http://{addr}"))?.connect().await?;
    let login = || {
        let mut client = AuthServiceClient::new(channel.clone());
        let request = LoginRequest {
            username: "root".into(),
            password: "root-password-for-sigterm".into(),
            ..Default::default()
        };
        tokio::spawn(async move { client.login(request).await })
    };
    // One argon2 worker: these queue up and take a while to drain.
    let mut calls: Vec<_> = (0..12).map(|_| login()).collect();
    let first = calls.remove(0).await?;
    assert!(first.is_ok(), "{first:?}");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    assert!(killed.success());

    for call in calls {
        let result = call.await?;
        assert!(result.is_ok(), "a call in flight failed during shutdown: {result:?}");
    }
    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    assert!(status.success(), "exit status {status}");
    let after = Endpoint::from_shared(format!("http://{addr}"))?.connect().await;
    assert!(after.is_err(), "a new connection was accepted after shutdown");
    Ok(())
}
