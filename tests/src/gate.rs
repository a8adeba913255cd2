//! authpair-gate beside a [`TestApp`]: its own service account
//! (`revocations:watch`), a routes file in a temp dir with the resource
//! service's descriptor set, served in-process ([`start_gate`]); and
//! Envoy's Check asked by a client nobody here wrote ([`check`]: PyPI's
//! xds-protos over grpcio, `tests/gate/check.py`).

use std::{net::SocketAddr, path::PathBuf};

use serde::Serialize;
use serde_json::Value;
use tempfile::TempDir;

use crate::{ADMIN_AUDIENCE, Server, TestApp, any_port, repo_root};

pub use authpair_gate::Config as GateConfig;

/// A running gate and the directory of its routes file.
#[derive(Debug)]
pub struct Gate {
    pub server: Server,
    pub dir: TempDir,
}

/// Writes `routes` (TOML) beside `resource.binpb`, the resource service's
/// descriptor set, and starts a gate following `app`'s auth service as a
/// service account of its own; `configure` changes its flags. Returns once
/// it is SERVING (keys and feed in place).
pub async fn start_gate(app: &TestApp, routes: &str, configure: impl FnOnce(&mut GateConfig)) -> anyhow::Result<Gate> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("resource.binpb"), authpair_proto::FILE_DESCRIPTOR_SET)?;
    let file = dir.path().join("routes.toml");
    std::fs::write(&file, routes)?;
    let (client_id, secret) =
        app.service_account_for("authpair-gate", &["revocations:watch"], &[ADMIN_AUDIENCE]).await?;
    let mut config = GateConfig::new(app.auth_server.url(), file);
    config.client_id = client_id;
    config.follow.client_secret = Some(secret.into());
    configure(&mut config);
    let server = Server::start(any_port(), |listener, stopped| async move {
        authpair_gate::serve(listener, config, async move {
            let _ = stopped.await;
        })
        .await
    })
    .await?;
    // The whole chain of causes, not only the outermost.
    let server = server.wait_until_serving().await.map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok(Gate { server, dir })
}

/// One request to ask the gate about, as Envoy describes it.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// The `authpair_route` context extension; `None` for the default route.
    pub route: Option<String>,
    pub method: String,
    pub path: String,
    /// Envoy's `headers` map (lower-case names).
    pub headers: std::collections::BTreeMap<String, String>,
    /// Envoy's `header_map` (with `encode_raw_headers`), one entry per line.
    pub raw_headers: Option<Vec<(String, String)>>,
    /// Ask again every 20 ms until the answer's status code is this one
    /// (at most 5 s); the answer then has `elapsed_ms`.
    pub until_code: Option<i32>,
    /// The client certificate (PEM) Envoy verified and forwards.
    pub certificate: Option<String>,
}

impl Case {
    pub fn new(route: &str, method: &str, path: &str) -> Self {
        Self {
            route: Some(route.to_owned()),
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Default::default(),
            raw_headers: None,
            until_code: None,
            certificate: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn until_code(mut self, code: tonic::Code) -> Self {
        self.until_code = Some(code as i32);
        self
    }
}

/// Whether xds-protos and grpcio are installed; under `CI=true` their
/// absence is an error, elsewhere the test says it skipped.
pub fn xds_or_skip(test: &str) -> anyhow::Result<bool> {
    let found = std::process::Command::new("python3")
        .args(["-c", "import grpc, envoy.service.auth.v3.external_auth_pb2_grpc"])
        .output()
        .is_ok_and(|o| o.status.success());
    match found {
        true => Ok(true),
        false if std::env::var("CI").is_ok_and(|v| v == "true") => {
            anyhow::bail!("xds-protos or grpcio is missing; .ci/run installs tests/gate/requirements.txt")
        }
        false => {
            crate::say_skipped(test, "pip install -r tests/gate/requirements.txt");
            Ok(false)
        }
    }
}

/// Asks the gate at `addr` about each case with Envoy's own client stubs;
/// one answer each (see `tests/gate/check.py`).
pub async fn check(addr: SocketAddr, cases: &[Case]) -> anyhow::Result<Vec<Value>> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), serde_json::to_string(cases)?)?;
    let script: PathBuf = repo_root().join("tests/gate/check.py");
    let path = file.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3").arg(script).arg(addr.to_string()).arg(path).output()
    })
    .await??;
    anyhow::ensure!(output.status.success(), "check.py failed: {}", String::from_utf8_lossy(&output.stderr));
    let answers: Vec<Value> =
        String::from_utf8(output.stdout)?.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    anyhow::ensure!(answers.len() == cases.len(), "{} answers to {} cases", answers.len(), cases.len());
    Ok(answers)
}
