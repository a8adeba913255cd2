//! The real binary and its master key: without one it refuses to start and
//! says how to make one; with `--allow-plaintext-keys` it starts, warning.
//! Readiness comes from the binary's own log lines: no sleeps.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The binary on a fresh data dir with `flags`; stderr comes line by line.
fn auth_service(
    dir: &std::path::Path,
    flags: &[&str],
) -> std::io::Result<(std::process::Child, mpsc::Receiver<String>)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off", "--http-listen", "off"])
        .arg("--data-dir")
        .arg(dir)
        .args(flags)
        .env("AUTH_LOG", "info")
        .env_remove("AUTH_MASTER_KEY_FILE")
        .env_remove("AUTH_ALLOW_PLAINTEXT_KEYS")
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or_else(|| std::io::Error::other("no stderr"))?;
    let (line, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for text in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.send(text).is_err() {
                break;
            }
        }
    });
    Ok((child, lines))
}

#[test]
fn without_a_master_key_the_binary_refuses_to_start_and_says_how_to_create_one() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (mut child, lines) = auth_service(dir.path(), &[])?;
    // Its stderr closes when it exits; a binary that started would keep it
    // open, and the test fails after 30 s instead of hanging.
    let mut stderr = Vec::new();
    loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => stderr.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                child.kill()?;
                return Err("auth-service started without a master key".into());
            }
        }
    }
    assert!(!child.wait()?.success());
    let stderr = stderr.join("\n");
    assert!(
        stderr.contains(
            "no master key to seal the signing keys with: pass --master-key-file (AUTH_MASTER_KEY_FILE), a file of \
             32 random bytes in base64, or --allow-plaintext-keys to store them unencrypted (create one with: \
             head -c 32 /dev/urandom | base64 > master.key; chmod 600 master.key)"
        ),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn with_allow_plaintext_keys_the_binary_starts_and_warns_that_keys_are_unencrypted() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (mut child, lines) = auth_service(dir.path(), &["--allow-plaintext-keys"])?;
    let mut warned = false;
    loop {
        let line = match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(e) => {
                child.kill()?;
                return Err(format!("no listening line: {e}").into());
            }
        };
        warned |= line.contains("WARN")
            && line.contains(
                "--allow-plaintext-keys: signing keys are stored unencrypted; a copy of the database can forge tokens",
            );
        if line.contains("auth-service listening") {
            break;
        }
    }
    child.kill()?;
    child.wait()?;
    assert!(warned, "no warning before listening");
    Ok(())
}
