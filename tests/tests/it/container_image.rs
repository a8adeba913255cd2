//! The Containerfile's images, built with podman and run as a user would:
//! the auth and resource containers on the machine's PostgreSQL and Redis,
//! reached only at 127.0.0.1 (host network), a login through grpcurl from
//! the host, a call to the resource container, health from the images' own
//! HEALTHCHECK, a restart of the auth container that keeps users and keys,
//! secrets read from mounted files (`<VARIABLE>_FILE`),
//! SIGTERM stopping each within the drain, non-root on a read-only root.
//!
//! No image can be pulled here: the runtime base is made from this
//! machine's own files (`deploy/image/runtime-from-host.sh`) and the
//! Containerfile is fed the binaries this test build made
//! (`BINARIES=prebuilt`); everything else is the file users build. CI
//! installs podman and runc (`.ci/run`); podman reads
//! `deploy/podman/containers.conf`.

use std::{
    net::SocketAddr,
    process::Command,
    time::{Duration, Instant},
};

use authpair_proto::{
    auth::v1::{LoginRequest, auth_service_client::AuthServiceClient},
    resource::v1::{GetMyProfileRequest, resource_service_client::ResourceServiceClient},
};
use authpair_tests::{
    PgSchema, RedisPrefix, TestResult, bearer, binary_path, channel,
    grpcurl::{field, grpcurl_or_skip},
    repo_root, wait_until_serving,
};
use secrecy::ExposeSecret as _;

const ADMIN: &str = "root";
const ADMIN_PASSWORD: &str = "container-admin-password";
const FEED_SECRET: &str = "container-feed-secret-0123456789";
/// The services' default drain is 30 s; a stop must not need podman's kill.
const STOP_WITHIN: Duration = Duration::from_secs(20);

/// podman with this repository's settings; its output, or an error with it.
fn podman(args: &[&str]) -> anyhow::Result<String> {
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

async fn podman_async(args: &[&str]) -> anyhow::Result<String> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || podman(&args.iter().map(String::as_str).collect::<Vec<_>>())).await?
}

/// podman, or `None` after saying the test skipped; under `CI=true` a
/// missing podman is an error.
fn podman_or_skip(test: &str) -> anyhow::Result<bool> {
    match Command::new("podman").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(true),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            anyhow::bail!("podman is not installed; .ci/run must install it")
        }
        _ => {
            authpair_tests::say_skipped(test, "podman not found (apt-get install podman runc)");
            Ok(false)
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Containers, volumes and images this test made, removed when dropped.
#[derive(Default)]
struct Made {
    containers: Vec<String>,
    volumes: Vec<String>,
    images: Vec<String>,
}

impl Drop for Made {
    fn drop(&mut self) {
        for name in &self.containers {
            let _ = podman(&["rm", "--force", "--time", "0", name]);
        }
        for name in &self.volumes {
            let _ = podman(&["volume", "rm", "--force", name]);
        }
        for name in &self.images {
            let _ = podman(&["rmi", "--force", name]);
        }
    }
}

/// Builds `target` of the Containerfile from this build's binaries on a
/// runtime base made from the machine's files.
fn build_images(made: &mut Made, tag: &str) -> anyhow::Result<(String, String)> {
    let context = tempfile::tempdir()?;
    std::fs::create_dir_all(context.path().join("bin"))?;
    std::fs::create_dir_all(context.path().join("data"))?;
    let binaries = ["auth-service", "resource-service", "authpair"];
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
    for target in ["auth-service", "resource-service"] {
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
    Ok((images.remove(0), images.remove(0)))
}

/// `podman run` of `image` on the host network with a read-only root and
/// `env`, detached; its name.
fn run(made: &mut Made, name: &str, image: &str, mounts: &[String], env: &[(&str, String)]) -> anyhow::Result<()> {
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
async fn stop(name: &str) -> anyhow::Result<(Duration, String)> {
    let started = Instant::now();
    podman_async(&["stop", "--time", "60", name]).await?;
    let took = started.elapsed();
    Ok((took, podman_async(&["inspect", "--format", "{{.State.ExitCode}}", name]).await?))
}

/// Waits until the container `name` accepts connections on `addr` (its
/// port is not open until the service has started), then until its health
/// is SERVING; on failure, the error carries its state and last log lines.
async fn serving(name: &str, addr: SocketAddr) -> anyhow::Result<()> {
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

async fn login(addr: SocketAddr) -> anyhow::Result<String> {
    let mut auth = AuthServiceClient::new(channel(addr)?);
    let request = LoginRequest { username: ADMIN.into(), password: ADMIN_PASSWORD.into(), audience: String::new() };
    Ok(auth.login(request).await?.into_inner().access_token)
}

#[tokio::test]
async fn the_images_run_non_root_on_a_read_only_root_and_serve_login_calls_health_restart_and_sigterm() -> TestResult {
    const TEST: &str = "container_image";
    if !podman_or_skip(TEST)? || !authpair_tests::postgres_or_skip(TEST).await? {
        return Ok(());
    }
    let tag = format!("t{}", std::process::id());
    let mut made = Made::default();
    let (auth_image, resource_image) = build_images(&mut made, &tag)?;

    let (auth_schema, resource_schema) = (PgSchema::create("image_auth").await?, PgSchema::create("image_res").await?);
    let redis = RedisPrefix::new();
    let (grpc, http, resource_port) = (free_port()?, free_port()?, free_port()?);
    let auth_addr = SocketAddr::from(([127, 0, 0, 1], grpc));
    let resource_addr = SocketAddr::from(([127, 0, 0, 1], resource_port));

    // The master key, mounted read-only as Kubernetes mounts a secret for a
    // pod with fsGroup 65532: root's file, readable by that group only.
    let secrets = tempfile::tempdir()?;
    let key_file = secrets.path().join("master.key");
    std::fs::write(&key_file, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")?;
    // The auth database's URL and the feed secret as files too, read
    // through `<VARIABLE>_FILE`, as secrets are mounted.
    let url_file = secrets.path().join("auth-database-url");
    std::fs::write(&url_file, format!("{}\n", auth_schema.url().expose_secret()))?;
    let feed_file = secrets.path().join("feed-secret");
    std::fs::write(&feed_file, format!("{FEED_SECRET}\n"))?;
    for file in [&key_file, &url_file, &feed_file] {
        std::os::unix::fs::chown(file, Some(0), Some(65532))?;
        std::fs::set_permissions(file, std::os::unix::fs::PermissionsExt::from_mode(0o440))?;
    }
    let auth_volume = format!("authpair-test-auth-{tag}");
    podman(&["volume", "create", &auth_volume])?;
    made.volumes.push(auth_volume.clone());

    let auth_name = format!("authpair-test-auth-{tag}");
    let auth_env = vec![
        ("AUTH_LISTEN", format!("127.0.0.1:{grpc}")),
        ("AUTH_HTTP_LISTEN", format!("127.0.0.1:{http}")),
        ("AUTH_METRICS_LISTEN", "off".into()),
        ("AUTH_PUBLIC_URL", format!("http://127.0.0.1:{http}")),
        ("AUTH_DATABASE_URL_FILE", "/run/secrets/auth-database-url".into()),
        ("AUTH_REDIS_URL", "redis://127.0.0.1:6379".into()),
        ("AUTH_REDIS_PREFIX", redis.0.clone()),
        ("AUTH_MASTER_KEY_FILE", "/run/secrets/master.key".into()),
        ("AUTH_BOOTSTRAP_ADMIN", format!("{ADMIN}:{ADMIN_PASSWORD}")),
        ("AUTH_BOOTSTRAP_SERVICE_ACCOUNT", format!("resource-service:{FEED_SECRET}")),
    ];
    let auth_mounts = vec![
        format!("{auth_volume}:/data"),
        format!("{}:/run/secrets/master.key:ro", key_file.display()),
        format!("{}:/run/secrets/auth-database-url:ro", url_file.display()),
    ];
    run(&mut made, &auth_name, &auth_image, &auth_mounts, &auth_env)?;
    serving(&auth_name, auth_addr).await?;

    let resource_name = format!("authpair-test-resource-{tag}");
    let resource_env = vec![
        ("RESOURCE_LISTEN", format!("127.0.0.1:{resource_port}")),
        ("RESOURCE_METRICS_LISTEN", "off".into()),
        ("RESOURCE_AUTH_URL", format!("http://{auth_addr}")),
        ("RESOURCE_CLIENT_SECRET_FILE", "/run/secrets/feed-secret".into()),
        ("RESOURCE_DATABASE_URL", resource_schema.url().expose_secret().to_owned()),
        ("RESOURCE_REDIS_URL", "redis://127.0.0.1:6379".into()),
        ("RESOURCE_REDIS_PREFIX", redis.0.clone()),
    ];
    let resource_mounts = vec![format!("{}:/run/secrets/feed-secret:ro", feed_file.display())];
    run(&mut made, &resource_name, &resource_image, &resource_mounts, &resource_env)?;
    serving(&resource_name, resource_addr).await?;

    // Non-root, read-only root filesystem, as configured and as running.
    for name in [&auth_name, &resource_name] {
        assert_eq!(podman(&["inspect", "--format", "{{.Config.User}}", name])?, "65532:65532", "{name}'s user");
        assert_eq!(podman(&["inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", name])?, "true");
        let users = podman(&["top", name, "user", "huser"])?;
        // USER as the container names it, HUSER as the host does.
        let rows: Vec<Vec<&str>> = users.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
        assert!(!rows.is_empty(), "no process in {name}");
        assert!(rows.iter().all(|r| r[..] == ["nonroot", "65532"]), "{name} runs as:\n{users}");
        // The image's HEALTHCHECK: the service's own binary, no shell.
        podman(&["healthcheck", "run", name]).map_err(|e| anyhow::anyhow!("{name} is not healthy: {e}"))?;
    }

    // A login through the real grpcurl from the host, then a call to the
    // resource container with its token.
    let token = match grpcurl_or_skip(TEST)? {
        Some(grpcurl) => {
            let body = format!(r#"{{"username":"{ADMIN}","password":"{ADMIN_PASSWORD}"}}"#);
            let out = grpcurl.run(auth_addr, &["-d", &body, "auth.v1.AuthService/Login"]).await?;
            assert!(out.ok, "grpcurl login failed: {}", out.text);
            field(&out.text, "accessToken").ok_or("no accessToken in grpcurl's answer")?
        }
        None => login(auth_addr).await?,
    };
    let mut resource = ResourceServiceClient::new(channel(resource_addr)?);
    let profile = resource.get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?.into_inner();
    assert_eq!(profile.username, ADMIN);

    // SIGTERM stops the auth container within the drain, cleanly; started
    // again on the same volume and database, its users and keys are kept:
    // the token issued before still passes, and the admin logs in again.
    let (took, code) = stop(&auth_name).await?;
    assert!(took < STOP_WITHIN, "the auth container took {took:?} to stop on SIGTERM");
    assert_eq!(code, "0", "the auth container's exit code after SIGTERM");
    podman_async(&["start", &auth_name]).await?;
    serving(&auth_name, auth_addr).await?;
    login(auth_addr).await?;
    let again = resource.get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?.into_inner();
    assert_eq!(again.username, ADMIN, "the token signed before the restart still verifies");

    let (took, code) = stop(&resource_name).await?;
    assert!(took < STOP_WITHIN, "the resource container took {took:?} to stop on SIGTERM");
    assert_eq!(code, "0", "the resource container's exit code after SIGTERM");
    Ok(())
}
