//! `deploy/compose.yaml`, read by a parser nobody here wrote:
//! podman-compose's `config` (PyPI; CI installs it from
//! `tests/helm/requirements.txt`), which resolves the anchors, the
//! environment and the references and prints the result.

use std::process::Command;

use authpair_tests::{TestResult, repo_root};

/// `podman-compose config` with `feed_secret` as AUTHPAIR_FEED_SECRET (or
/// none): success, and what it printed.
fn config(feed_secret: Option<&str>) -> anyhow::Result<(bool, String)> {
    let mut command = Command::new("python3");
    command
        .args(["-m", "podman_compose", "-f"])
        .arg(repo_root().join("deploy/compose.yaml"))
        .arg("config")
        .env("CONTAINERS_CONF", repo_root().join("deploy/podman/containers.conf"))
        .env_remove("AUTHPAIR_FEED_SECRET");
    if let Some(secret) = feed_secret {
        command.env("AUTHPAIR_FEED_SECRET", secret);
    }
    let output = command.output()?;
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Ok((output.status.success(), said))
}

#[test]
fn the_compose_file_runs_postgres_redis_and_two_of_each_service_sharing_one_feed_secret() -> TestResult {
    let installed = Command::new("python3").args(["-c", "import podman_compose"]).output()?.status.success();
    if !installed {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            return Err("podman-compose is missing; .ci/run installs tests/helm/requirements.txt".into());
        }
        authpair_tests::say_skipped("compose_file", "pip install -r tests/helm/requirements.txt");
        return Ok(());
    }
    let (ok, resolved) = config(Some("feed-secret-from-the-environment"))?;
    assert!(ok, "podman-compose config failed:\n{resolved}");
    // The services: the keys two spaces in under `services:`.
    let section: Vec<&str> =
        resolved.split("\nservices:\n").nth(1).unwrap_or_default().lines().take_while(|l| l.starts_with(' ')).collect();
    let names: Vec<&str> =
        section.iter().copied().filter(|l| l.starts_with("  ") && !l.starts_with("   ")).map(str::trim).collect();
    assert_eq!(names, ["auth-1:", "auth-2:", "postgres:", "redis:", "resource-1:", "resource-2:"]);
    // Both sides of the feed account get the one secret; no service runs writable.
    let services = section.join("\n");
    assert_eq!(
        services.matches("AUTH_BOOTSTRAP_SERVICE_ACCOUNT: resource-service:feed-secret-from-the-environment").count(),
        2
    );
    assert_eq!(services.matches("RESOURCE_CLIENT_SECRET: feed-secret-from-the-environment").count(), 2);
    assert_eq!(services.matches("read_only: true").count(), 4);

    // Without the secret it refuses, naming what to do.
    let (ok, said) = config(None)?;
    assert!(!ok, "the compose file resolved without AUTHPAIR_FEED_SECRET:\n{said}");
    assert!(said.contains("export AUTHPAIR_FEED_SECRET first"), "{said}");
    Ok(())
}
