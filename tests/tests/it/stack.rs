//! `authpair-stack`, the real binary, as a new user starts it: both
//! services in one process, configured by environment variables only.

use std::{path::Path, process::Command};

use authpair_tests::{Process, ServingStatus, TestResult, binary_path, wait_for_health};

/// The stack on ephemeral ports with its data under `dir`, no metrics and
/// no HTTP listener, plus `extra`.
fn env<'a>(dir: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("AUTH_LISTEN", "127.0.0.1:0"),
        ("RESOURCE_LISTEN", "127.0.0.1:0"),
        ("AUTH_HTTP_LISTEN", "off"),
        ("AUTH_METRICS_LISTEN", "off"),
        ("AUTH_DATA_DIR", dir),
        ("RUST_BACKTRACE", "0"),
        ("RUST_LIB_BACKTRACE", "0"),
    ];
    env.extend_from_slice(extra);
    env
}

/// Runs the stack to its exit (a start that fails) and returns its stderr.
fn run_to_failure(dir: &Path, extra: &[(&str, &str)]) -> TestResult<String> {
    let auth_dir = dir.join("data/auth").to_string_lossy().into_owned();
    let resource_dir = dir.join("data/resource").to_string_lossy().into_owned();
    let mut vars = env(&auth_dir, extra);
    vars.push(("RESOURCE_DATA_DIR", &resource_dir));
    let output = Command::new(binary_path("authpair-stack")?).envs(vars).current_dir(dir).output()?;
    assert!(!output.status.success(), "the stack started: {}", String::from_utf8_lossy(&output.stderr));
    Ok(String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn the_stacks_resource_service_follows_the_stacks_own_auth_service_wherever_auth_listen_puts_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let auth_dir = dir.path().join("data/auth").to_string_lossy().into_owned();
    let resource_dir = dir.path().join("data/resource").to_string_lossy().into_owned();
    let mut vars = env(&auth_dir, &[]);
    vars.push(("RESOURCE_DATA_DIR", &resource_dir));
    // AUTH_LISTEN is port 0, never 50051: a resource service following the
    // default URL would find no auth service and never turn SERVING.
    let stack = Process::spawn_until("authpair-stack", "resource-service listening", &[], &vars).await?;
    wait_for_health(stack.addr, ServingStatus::Serving).await?;
    Ok(())
}

#[tokio::test]
async fn a_bad_environment_value_is_reported_once_under_the_variables_name_and_leaves_no_master_key() -> TestResult {
    let dir = tempfile::tempdir()?;
    let stderr = run_to_failure(dir.path(), &[("AUTH_ACCESS_TOKEN_TTL_SECS", "15m")])?;
    assert!(stderr.contains("AUTH_ACCESS_TOKEN_TTL_SECS=\"15m\" is not valid for --access-token-ttl-secs"), "{stderr}");
    assert!(stderr.contains("expected whole seconds"), "{stderr}");
    assert_eq!(stderr.matches("15m").count(), 1, "said once: {stderr}");
    assert!(!stderr.contains("error: error") && !stderr.contains("Caused by"), "{stderr}");
    assert!(!dir.path().join("data/master.key").exists(), "a master key was made before the refusal");
    Ok(())
}

#[tokio::test]
async fn a_value_refused_after_parsing_leaves_no_master_key_either() -> TestResult {
    let dir = tempfile::tempdir()?;
    let stderr = run_to_failure(dir.path(), &[("AUTH_DEFAULT_ROLE", "nobody")])?;
    assert!(stderr.contains("--default-role \"nobody\" is not a role of --role-scopes"), "{stderr}");
    assert!(!dir.path().join("data/master.key").exists(), "a master key was made before the refusal");
    Ok(())
}

#[tokio::test]
async fn a_taken_metrics_address_is_reported_under_the_variable_the_stack_reads() -> TestResult {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?.to_string();
    let dir = tempfile::tempdir()?;
    let stderr = run_to_failure(dir.path(), &[("AUTH_METRICS_LISTEN", &addr)])?;
    assert!(stderr.contains(&format!("serving metrics on {addr} (AUTH_METRICS_LISTEN)")), "{stderr}");
    assert!(!stderr.contains("--metrics-listen"), "{stderr}");
    Ok(())
}

#[tokio::test]
async fn a_service_binary_names_the_environment_variable_that_held_a_bad_value() -> TestResult {
    let output = Command::new(binary_path("resource-service")?).env("RESOURCE_LEEWAY_SECS", "thirty").output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("RESOURCE_LEEWAY_SECS=\"thirty\" is not valid for --leeway-secs"), "{stderr}");
    // Typed on the command line, the flag is what is named.
    let output = Command::new(binary_path("resource-service")?).args(["--leeway-secs", "thirty"]).output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid value 'thirty' for '--leeway-secs <LEEWAY>'"), "{stderr}");
    Ok(())
}
