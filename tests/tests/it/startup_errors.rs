//! A start that cannot succeed says why, naming the address, flag or
//! directory at fault.

use authpair_tests::{AuthConfig, Process, TestResult, start_auth};

/// No backtrace under the error, so the message is what the process prints last.
const PLAIN_ERRORS: &[(&str, &str)] = &[("RUST_BACKTRACE", "0"), ("RUST_LIB_BACKTRACE", "0")];

/// The arguments that start the real auth binary on `listen` in `data_dir`
/// (with its master key there) with nothing else bound.
fn args<'a>(listen: &'a str, data_dir: &'a str, master_key: &'a str, metrics: &'a str) -> Vec<&'a str> {
    let mut args = vec!["--listen", listen, "--data-dir", data_dir, "--metrics-listen", metrics];
    args.extend(["--http-listen", "off", "--master-key-file", master_key]);
    args
}

#[tokio::test]
async fn a_listen_address_in_use_stops_the_start_naming_the_address_and_its_flag() -> TestResult {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?.to_string();
    let dir = tempfile::tempdir()?;
    let data = dir.path().to_string_lossy().into_owned();
    let key = authpair_tests::master_key_file(dir.path())?.to_string_lossy().into_owned();
    let failed = Process::spawn("auth-service", &args(&addr, &data, &key, "off"), PLAIN_ERRORS).await;
    let message = failed.err().ok_or("started on a taken address")?.to_string();
    assert!(message.contains(&format!("listening on {addr} (--listen)")), "{message}");
    Ok(())
}

#[tokio::test]
async fn a_metrics_address_in_use_stops_the_start_naming_the_address_and_its_flag() -> TestResult {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?.to_string();
    let dir = tempfile::tempdir()?;
    let data = dir.path().to_string_lossy().into_owned();
    let key = authpair_tests::master_key_file(dir.path())?.to_string_lossy().into_owned();
    let failed = Process::spawn("auth-service", &args("127.0.0.1:0", &data, &key, &addr), PLAIN_ERRORS).await;
    let message = failed.err().ok_or("started with its metrics address taken")?.to_string();
    assert!(message.contains(&format!("serving metrics on {addr} (--metrics-listen)")), "{message}");
    Ok(())
}

#[tokio::test]
async fn a_second_instance_on_the_same_sqlite_data_dir_refuses_to_start_and_says_what_to_do() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = AuthConfig::new(dir.path().join("auth"));
    let _first = start_auth(config.clone()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let second = auth_service::serve(listener, config, std::future::pending()).await;
    let message = second.err().ok_or("a second instance shared the data dir")?.to_string();
    assert!(message.contains("is in use by another auth-service"), "{message}");
    assert!(message.contains("--data-dir of its own"), "{message}");
    Ok(())
}
