//! Value parsers both services' configurations use, so flags read the same
//! way everywhere.

use std::time::Duration;

use secrecy::SecretString;

/// Whole seconds, as in `--leeway-secs 30`.
pub fn parse_secs(value: &str) -> Result<Duration, String> {
    value.parse::<u64>().map(Duration::from_secs).map_err(|e| format!("expected whole seconds: {e}"))
}

/// Whole seconds, at least one.
pub fn parse_positive_secs(value: &str) -> Result<Duration, String> {
    match parse_secs(value)? {
        Duration::ZERO => Err("expected at least 1 second".into()),
        secs => Ok(secs),
    }
}

/// An optional socket address: "off" (or empty) for none.
pub fn parse_listen(value: &str) -> Result<Option<std::net::SocketAddr>, String> {
    match value {
        "" | "off" => Ok(None),
        _ => value.parse().map(Some).map_err(|e| format!("expected host:port or \"off\": {e}")),
    }
}

/// A secret, kept out of Debug output from the moment it is parsed.
pub fn parse_secret(value: &str) -> Result<SecretString, String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretString::from(value))
}
