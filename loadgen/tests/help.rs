//! Both binaries of the load tool answer `--help`. Having an integration
//! test also makes `cargo test --workspace` build them, which the tests
//! crate's `configuration_docs` check (it compares docs/configuration.md with
//! every binary's help) relies on.

use std::process::Command;

#[test]
fn both_binaries_answer_help() -> std::io::Result<()> {
    for binary in [env!("CARGO_BIN_EXE_authpair-load"), env!("CARGO_BIN_EXE_authpair-naive-eddsa")] {
        let output = Command::new(binary).arg("--help").env_clear().output()?;
        assert!(output.status.success(), "{binary} --help: {output:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("Usage:"), "{binary} --help: {output:?}");
    }
    Ok(())
}
