//! Authlib's RFC 8414 metadata validator (`tests/authlib/validate_metadata.py`),
//! a checker authpair did not write. `.ci/run` installs it from its registry
//! (`tests/authlib/requirements.txt`). Without it, outside CI, a test says
//! SKIPPED and passes; under CI=true it fails.

use std::{collections::BTreeMap, path::PathBuf, process::Command};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("authlib/validate_metadata.py")
}

/// Whether Authlib can run. Under CI=true its absence is an error;
/// elsewhere the caller skips, saying so on stderr.
pub fn available_or_skip(test: &str) -> anyhow::Result<bool> {
    let probe = Command::new("python3").args(["-c", "import authlib.oauth2.rfc8414"]).output();
    if probe.is_ok_and(|output| output.status.success()) {
        return Ok(true);
    }
    let missing = "no Authlib (python3 -m pip install -r tests/authlib/requirements.txt)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        anyhow::bail!("{test}: {missing}; CI installs it (.ci/run)");
    }
    crate::say_skipped(test, missing);
    Ok(false)
}

/// The checks of the metadata at `url` that failed: each member's name and
/// Authlib's message (empty when all pass).
pub async fn metadata_failures(url: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let url = url.to_owned();
    // A blocking wait on its own thread: the script bounds its fetch.
    let output = tokio::task::spawn_blocking(move || Command::new("python3").arg(script()).arg(url).output()).await??;
    anyhow::ensure!(
        output.status.success(),
        "Authlib failed ({}): {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}
