//! podman as the container tests run it: with this repository's settings
//! (`deploy/podman/containers.conf`: runc, cgroupfs, ulimits this machine
//! kind allows), the Containerfile's images built from this test build's
//! binaries on a runtime base made from the machine's own files (no image
//! can be pulled), and everything a test made removed when it ends.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use crate::{binary_path, repo_root, wait_until_serving};

/// podman with this repository's settings; its output, or an error with it.
pub fn podman(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("podman")
        .args(args)
        .env("CONTAINERS_CONF", repo_root().join("deploy/podman/containers.conf"))
        .output()
        .map_err(|e| anyhow::anyhow!("running podman {}: {e}", args.first().unwrap_or(&"")))?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    anyhow::ensure!(
        output.status.success(),
        "podman {args:?} failed: {}{}",
        text,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(text)
}

pub async fn podman_async(args: &[&str]) -> anyhow::Result<String> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || podman(&args.iter().map(String::as_str).collect::<Vec<_>>())).await?
}

/// podman, or `None` after saying the test skipped; under `CI=true` a
/// missing podman is an error.
pub fn podman_or_skip(test: &str) -> anyhow::Result<bool> {
    match Command::new("podman").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(true),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            anyhow::bail!("podman is not installed; .ci/run must install it")
        }
        _ => {
            crate::say_skipped(test, "podman not found (apt-get install podman runc)");
            Ok(false)
        }
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Containers, volumes and images this test made, removed when dropped.
#[derive(Debug, Default)]
pub struct Made {
    /// `podman kube play` files, taken down first (their pods and containers).
    pub kube_files: Vec<PathBuf>,
    /// Pods, removed after the files are taken down (podman 4.3 leaves a
    /// pod's infra container behind).
    pub pods: Vec<String>,
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub secrets: Vec<String>,
    pub images: Vec<String>,
}

impl Drop for Made {
    fn drop(&mut self) {
        for file in &self.kube_files {
            let _ = podman(&["kube", "down", &file.to_string_lossy()]);
        }
        for name in &self.pods {
            let _ = podman(&["pod", "rm", "--force", name]);
        }
        for name in &self.containers {
            // With the anonymous volume of the image's `VOLUME /data`.
            let _ = podman(&["rm", "--force", "--volumes", "--time", "0", name]);
        }
        for name in &self.volumes {
            let _ = podman(&["volume", "rm", "--force", name]);
        }
        for name in &self.secrets {
            let _ = podman(&["secret", "rm", name]);
        }
        for name in &self.images {
            let _ = podman(&["rmi", "--force", name]);
        }
    }
}

/// The images `build_images` made, by server.
#[derive(Debug)]
pub struct Images {
    pub auth: String,
    pub resource: String,
    pub gate: String,
}

/// Builds each server's target of the Containerfile from this build's
/// binaries on a runtime base made from the machine's files.
pub fn build_images(made: &mut Made, tag: &str) -> anyhow::Result<Images> {
    let context = tempfile::tempdir()?;
    std::fs::create_dir_all(context.path().join("bin"))?;
    std::fs::create_dir_all(context.path().join("data"))?;
    let binaries = ["auth-service", "resource-service", "authpair-gate", "authpair"];
    let mut paths = Vec::new();
    for name in binaries {
        let path = binary_path(name)?;
        std::fs::copy(&path, context.path().join("bin").join(name))?;
        paths.push(path);
    }
    let runtime = format!("localhost/authpair-test-runtime:{tag}");
    let mut script = Command::new(repo_root().join("deploy/image/runtime-from-host.sh"));
    script.arg(&runtime).args(&paths).env("CONTAINERS_CONF", repo_root().join("deploy/podman/containers.conf"));
    let output = script.output()?;
    anyhow::ensure!(output.status.success(), "runtime-from-host.sh failed: {output:?}");
    made.images.push(runtime.clone());
    let containerfile = repo_root().join("Containerfile");
    let mut images = Vec::new();
    for target in ["auth-service", "resource-service", "authpair-gate"] {
        let image = format!("localhost/authpair-test-{target}:{tag}");
        podman(&[
            "build",
            "--quiet",
            "--file",
            &containerfile.to_string_lossy(),
            "--target",
            target,
            // HEALTHCHECK is kept only in the Docker image format.
            "--format",
            "docker",
            "--build-arg",
            &format!("RUNTIME={runtime}"),
            "--build-arg",
            "BINARIES=prebuilt",
            "--tag",
            &image,
            &context.path().to_string_lossy(),
        ])?;
        made.images.push(image.clone());
        images.push(image);
    }
    let [auth, resource, gate] = <[String; 3]>::try_from(images).map_err(|_| anyhow::anyhow!("three images"))?;
    Ok(Images { auth, resource, gate })
}

/// `podman run` of `image` on the host network with a read-only root and
/// `env`, detached; its name.
pub fn run(made: &mut Made, name: &str, image: &str, mounts: &[String], env: &[(&str, String)]) -> anyhow::Result<()> {
    let mut args: Vec<String> =
        ["run", "--detach", "--name", name, "--network", "host", "--read-only"].map(String::from).into();
    for mount in mounts {
        args.extend(["--volume".into(), mount.clone()]);
    }
    for (key, value) in env {
        args.extend(["--env".into(), format!("{key}={value}")]);
    }
    args.push(image.into());
    podman(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
    if !made.containers.iter().any(|c| c == name) {
        made.containers.push(name.into());
    }
    Ok(())
}

/// Stops `name` with SIGTERM (the image's STOPSIGNAL) and returns how long
/// it took and its exit code.
pub async fn stop(name: &str) -> anyhow::Result<(Duration, String)> {
    let started = Instant::now();
    podman_async(&["stop", "--time", "60", name]).await?;
    let took = started.elapsed();
    Ok((took, podman_async(&["inspect", "--format", "{{.State.ExitCode}}", name]).await?))
}

/// Waits until the container `name` accepts connections on `addr` (its
/// port is not open until the service has started), then until its health
/// is SERVING; on failure, the error carries its state and last log lines.
pub async fn serving(name: &str, addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = async {
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            let state = podman_async(&["inspect", "--format", "{{.State.Status}}", name]).await?;
            if state != "running" {
                let why =
                    podman_async(&["inspect", "--format", "exit {{.State.ExitCode}} {{.State.Error}}", name]).await?;
                anyhow::bail!("the container is {state} ({why})");
            }
            anyhow::ensure!(Instant::now() < deadline, "its port was not open within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        wait_until_serving(addr).await
    };
    match ready.await {
        Ok(()) => Ok(()),
        Err(e) => {
            let logs = podman_async(&["logs", "--tail", "30", name]).await.unwrap_or_else(|e| e.to_string());
            Err(anyhow::anyhow!("{name} is not serving at {addr}: {e}; its log:\n{logs}"))
        }
    }
}
