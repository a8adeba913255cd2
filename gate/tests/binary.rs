//! The `authpair-gate` binary refuses to start on a routes file it cannot
//! use, before it listens or calls the auth service, and says why.

use std::process::{Command, Output};

fn gate(args: &[&str]) -> std::io::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_authpair-gate"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"])
        .args(args)
        .env_clear()
        .output()
}

#[test]
fn a_missing_routes_file_or_a_route_for_the_auth_services_own_audience_refuses_the_start_naming_it()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing.toml");
    let refused = gate(&["--routes", &missing.to_string_lossy()])?;
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("missing.toml") && said.contains("No such file"), "{said}");

    let admin = dir.path().join("admin.toml");
    std::fs::write(
        &admin,
        "[[route]]\nname = \"a\"\naudience = \"authpair-admin\"\n[[route.rule]]\nmethod = \"GET\"\npath = \"/\"\naccess = \"public\"\n",
    )?;
    let refused = gate(&["--routes", &admin.to_string_lossy()])?;
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("the auth service's own (\"authpair-admin\""), "{said}");
    Ok(())
}
