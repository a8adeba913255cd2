//! Checks on client input, each failing with a clear INVALID_ARGUMENT.

use authpair_claims::{Plan, Role};

use crate::error::ApiError;

pub const MAX_USERNAME_BYTES: usize = 256;
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MIN_PASSWORD_CHARS: usize = 8;

/// A username as typed at login: present, not oversized, and without a NUL,
/// which no account's name can hold (see [`new_username`]) and PostgreSQL
/// cannot store; refused before the throttle or the database see it.
pub fn login_username(username: &str) -> Result<&str, ApiError> {
    if username.is_empty() {
        return Err(ApiError::invalid("username is required"));
    }
    if username.len() > MAX_USERNAME_BYTES {
        return Err(ApiError::invalid(format!("username must be at most {MAX_USERNAME_BYTES} bytes")));
    }
    ApiError::refuse_nul("username", username)?;
    Ok(username)
}

/// A new username: as at login, plus no control characters (NUL, newlines)
/// and no surrounding whitespace, so names print and compare unambiguously.
pub fn new_username(username: &str) -> Result<&str, ApiError> {
    login_username(username)?;
    if username.chars().any(char::is_control) {
        return Err(ApiError::invalid("username must not contain control characters"));
    }
    if username.trim() != username {
        return Err(ApiError::invalid("username must not start or end with whitespace"));
    }
    Ok(username)
}

pub fn login_password(password: &str) -> Result<&str, ApiError> {
    if password.is_empty() {
        return Err(ApiError::invalid("password is required"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid(format!("password must be at most {MAX_PASSWORD_BYTES} bytes")));
    }
    Ok(password)
}

/// A new password: 8 characters or more (ASVS 6.2.1), at most 1 KiB.
pub fn new_password(password: &str) -> Result<&str, ApiError> {
    login_password(password)?;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::invalid(format!("password must be at least {MIN_PASSWORD_CHARS} characters")));
    }
    Ok(password)
}

/// Role names to a sorted, de-duplicated set. Empty input gives `default`.
pub fn roles(names: &[String], default: Option<Role>) -> Result<Vec<Role>, ApiError> {
    if names.is_empty() {
        return default.map(|r| vec![r]).ok_or_else(|| ApiError::invalid("at least one role is required"));
    }
    let mut roles = names
        .iter()
        .map(|n| n.parse::<Role>().map_err(|e| ApiError::invalid(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// A service-account name: 1 to 64 of a-z, 0-9 and '-'.
pub fn service_name(name: &str) -> Result<&str, ApiError> {
    let valid = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid { Ok(name) } else { Err(ApiError::invalid("name must be 1 to 64 of a-z, 0-9 and '-'")) }
}

/// Scopes for a service account: at least one, each known.
pub fn service_scopes(scopes: &[String]) -> Result<Vec<String>, ApiError> {
    if scopes.is_empty() {
        return Err(ApiError::invalid("at least one scope is required"));
    }
    let mut scopes = scopes.to_vec();
    if let Some(bad) = scopes.iter().find(|s| !authpair_claims::policy::SCOPES.contains(&s.as_str())) {
        return Err(ApiError::invalid(format!("unknown scope {:?}", bad.chars().take(64).collect::<String>())));
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// A plan name; empty means free.
pub fn plan(name: &str) -> Result<Plan, ApiError> {
    if name.is_empty() {
        return Ok(Plan::Free);
    }
    name.parse().map_err(|e: authpair_claims::claims::UnknownName| ApiError::invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<T: std::fmt::Debug>(r: Result<T, ApiError>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn bad_usernames_and_passwords_are_refused_with_a_clear_reason() {
        assert_eq!(message(new_username("")), "username is required");
        assert_eq!(message(new_username(&"a".repeat(257))), "username must be at most 256 bytes");
        assert!(new_username(&"a".repeat(256)).is_ok());
        assert_eq!(message(new_username("bob\0")), "username must not contain NUL characters");
        assert_eq!(message(new_username("bob\n")), "username must not contain control characters");
        assert_eq!(message(login_username("bob\0")), "username must not contain NUL characters");
        assert!(login_username("bob\n").is_ok(), "at login, only a NUL is refused before the lookup");
        assert_eq!(message(new_username(" bob")), "username must not start or end with whitespace");
        assert!(new_username("bøb \"quoted\"").is_ok());
        assert_eq!(message(new_password("short")), "password must be at least 8 characters");
        assert_eq!(message(new_password(&"p".repeat(1025))), "password must be at most 1024 bytes");
        assert_eq!(message(login_password("")), "password is required");
    }

    #[test]
    fn roles_and_plans_are_parsed_strictly() {
        assert_eq!(roles(&[], Some(Role::Viewer)).ok(), Some(vec![Role::Viewer]));
        assert_eq!(message(roles(&[], None)), "at least one role is required");
        let parsed = roles(&["viewer".into(), "admin".into(), "admin".into()], None).ok();
        assert_eq!(parsed, Some(vec![Role::Admin, Role::Viewer]));
        assert_eq!(message(roles(&["root".into()], None)), "unknown role \"root\"");
        assert_eq!(plan("").ok(), Some(Plan::Free));
        assert_eq!(plan("pro").ok(), Some(Plan::Pro));
        assert_eq!(message(plan("gold")), "unknown plan \"gold\"");
    }
}
