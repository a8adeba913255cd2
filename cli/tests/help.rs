//! The real binary's command line: every command and subcommand has help,
//! and usage errors exit 2 before anything is read or sent.

use std::process::{Command, Output};

fn authpair(args: &[&str]) -> Output {
    let dir = std::env::temp_dir().join("authpair-cli-help-test-unused");
    match Command::new(env!("CARGO_BIN_EXE_authpair")).args(args).env("AUTHPAIR_CONFIG_DIR", dir).output() {
        Ok(output) => output,
        Err(e) => panic!("cannot run authpair: {e}"),
    }
}

const COMMANDS: &[&[&str]] = &[
    &[],
    &["login"],
    &["logout"],
    &["token"],
    &["users"],
    &["users", "list"],
    &["users", "create"],
    &["users", "set-roles"],
    &["users", "disable"],
    &["users", "enable"],
    &["users", "revoke-sessions"],
    &["service-accounts"],
    &["service-accounts", "create"],
    &["service-accounts", "list"],
    &["service-accounts", "delete"],
    &["keys"],
    &["keys", "rotate"],
];

#[test]
fn every_command_and_subcommand_has_help() {
    for command in COMMANDS {
        let output = authpair(&[command, &["--help"][..]].concat());
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{command:?} --help: {output:?}");
        assert!(stdout.contains("Usage: authpair"), "{command:?} --help:\n{stdout}");
        assert!(stdout.contains("--auth-url"), "{command:?} --help has no global options:\n{stdout}");
    }
}

#[test]
fn service_account_create_help_says_the_secret_is_printed_once() {
    let output = authpair(&["service-accounts", "create", "--help"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("The client secret is printed this once and never again"), "{stdout}");
}

#[test]
fn a_usage_error_exits_2() {
    for args in [&["users", "set-roles", "alice"][..], &["no-such-command"], &["users"]] {
        let output = authpair(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    }
}

#[test]
fn a_client_certificate_without_a_ca_is_a_usage_error() {
    let output = authpair(&["--client-cert", "c.pem", "--client-key", "k.pem", "users", "list"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--auth-ca"), "{output:?}");
}
