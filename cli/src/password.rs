//! Reading a password: prompted on the terminal without echo, or the first
//! line of stdin. It is held as a `SecretString` and never printed.

use std::io::BufRead as _;

use secrecy::{ExposeSecret as _, SecretString};

use crate::error::CliError;

/// The first line of stdin, without its line ending.
pub fn from_stdin() -> Result<SecretString, CliError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| CliError::other(format!("reading stdin: {e}")))?;
    let password = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line).to_owned();
    if password.is_empty() {
        return Err(CliError::other("no password on stdin"));
    }
    Ok(SecretString::from(password))
}

/// Prompts on the terminal, without echo.
pub fn prompt(prompt: &str) -> Result<SecretString, CliError> {
    rpassword::prompt_password(prompt)
        .map(SecretString::from)
        .map_err(|e| CliError::other(format!("cannot prompt for a password ({e}); use --password-stdin")))
}

/// A new password: prompted twice (they must match), or from stdin.
pub fn new_password(stdin: bool) -> Result<SecretString, CliError> {
    if stdin {
        return from_stdin();
    }
    let first = prompt("New user's password: ")?;
    let again = prompt("Repeat it: ")?;
    if first.expose_secret() != again.expose_secret() {
        return Err(CliError::other("the passwords differ"));
    }
    Ok(first)
}

/// The password to log in with.
pub fn login_password(username: &str, stdin: bool) -> Result<SecretString, CliError> {
    if stdin { from_stdin() } else { prompt(&format!("Password for {username}: ")) }
}
