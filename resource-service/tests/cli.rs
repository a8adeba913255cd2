//! The real binary's start-up checks. (Building this test also builds the
//! binary, which the workspace's multi-process test runs.)

use std::process::Command;

#[test]
fn an_unsupported_database_url_stops_the_binary_with_a_clear_error() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let output = Command::new(env!("CARGO_BIN_EXE_resource-service"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off", "--client-secret", "unused-secret"])
        .arg("--data-dir")
        .arg(dir.path())
        .env("RESOURCE_DATABASE_URL", "mysql://user:hunter2@db/resource")
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the database URL must start with postgres://, postgresql:// or sqlite:"), "{stderr}");
    // The URL's password never reaches the output.
    assert!(!stderr.contains("hunter2"), "{stderr}");
    Ok(())
}
