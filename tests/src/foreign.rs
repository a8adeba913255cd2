//! JWT verifiers authpair did not write, run as the relying parties that
//! use them would: Node's `jose` (`tests/jose/verify.mjs`) and Python's
//! PyJWT (`tests/pyjwt/verify.py`). `.ci/run` installs both from their
//! registries. Without them, outside CI, a test says SKIPPED and passes;
//! under CI=true it fails.

use std::{path::PathBuf, process::Command};

/// One of the two verifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verifier {
    Jose,
    PyJwt,
}

fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Verifier {
    /// Why it cannot run here, if it cannot.
    fn missing(self) -> Option<String> {
        let (probe, install) = match self {
            Verifier::Jose => {
                let module = tests_dir().join("jose/node_modules/jose/package.json");
                if !module.exists() {
                    return Some(format!("no {} (npm ci --prefix tests/jose)", module.display()));
                }
                (Command::new("node").arg("--version").output(), "Node.js")
            }
            Verifier::PyJwt => (
                Command::new("python3").args(["-c", "import jwt, cryptography"]).output(),
                "PyJWT with cryptography (python3 -m pip install -r tests/pyjwt/requirements.txt)",
            ),
        };
        match probe {
            Ok(output) if output.status.success() => None,
            _ => Some(format!("no {install}")),
        }
    }

    /// Whether it can run. Under CI=true a missing verifier is an error;
    /// elsewhere the caller skips, saying so on stderr.
    pub fn available_or_skip(self, test: &str) -> anyhow::Result<bool> {
        let Some(missing) = self.missing() else { return Ok(true) };
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            anyhow::bail!("{test}: {missing}; CI installs it (.ci/run)");
        }
        crate::say_skipped(test, &missing);
        Ok(false)
    }

    /// Verifies `token` for `issuer` and `audience`, with the keys behind
    /// `url`: the JWK set URL for jose, the discovery document's for PyJWT
    /// (which reads `jwks_uri` from it). Returns the one line it printed.
    pub async fn verify(self, url: &str, issuer: &str, audience: &str, token: &str) -> anyhow::Result<String> {
        let (program, script) = match self {
            Verifier::Jose => ("node", tests_dir().join("jose/verify.mjs")),
            Verifier::PyJwt => ("python3", tests_dir().join("pyjwt/verify.py")),
        };
        let args = [url, issuer, audience, token].map(str::to_owned);
        // A blocking wait on its own thread: the child ends by itself (each
        // script bounds its fetches with a timeout).
        let output =
            tokio::task::spawn_blocking(move || Command::new(program).arg(script).args(args).output()).await??;
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        anyhow::ensure!(
            output.status.success(),
            "{self:?} failed ({}): {stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(stdout)
    }
}
