//! `authpair-stack --help` explains itself instead of starting the stack.

use std::time::Duration;

#[test]
fn help_prints_what_the_stack_starts_and_exits_without_starting_it() -> Result<(), Box<dyn std::error::Error>> {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_authpair-stack"))
        .arg("--help")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // A stack that started would run until stopped; help ends at once.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill()?;
            return Err("authpair-stack --help did not exit: it started the stack".into());
        }
        std::thread::park_timeout(Duration::from_millis(20));
    };
    let out = child.wait_with_output()?;
    assert!(status.success());
    let help = String::from_utf8(out.stdout)?;
    assert!(help.contains("AUTH_BOOTSTRAP_ADMIN") && help.contains("127.0.0.1:9451"), "{help}");
    Ok(())
}

#[test]
fn an_unknown_flag_is_refused_with_a_usage_error() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authpair-stack")).arg("--nope").output()?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)?.contains("--nope"));
    Ok(())
}
