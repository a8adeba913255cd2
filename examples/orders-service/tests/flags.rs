//! The binary's own flags. (The end-to-end test, with a real auth service,
//! is in the workspace's `tests/` crate: `orders_example`.)

#[test]
fn help_names_every_flag_with_its_environment_variable() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orders-service")).arg("--help").output()?;
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout)?;
    for (flag, env) in [
        ("--listen", "ORDERS_LISTEN"),
        ("--auth-url", "ORDERS_AUTH_URL"),
        ("--client-id", "ORDERS_CLIENT_ID"),
        ("--client-secret", "ORDERS_CLIENT_SECRET"),
        ("--audience", "ORDERS_AUDIENCE"),
    ] {
        assert!(help.contains(flag) && help.contains(env), "{flag} / {env} missing from:\n{help}");
    }
    Ok(())
}

#[test]
fn without_a_client_secret_it_refuses_to_start_and_says_why() -> Result<(), Box<dyn std::error::Error>> {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_orders-service")).env_remove("ORDERS_CLIENT_SECRET").output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)?.contains("--client-secret"));
    Ok(())
}
