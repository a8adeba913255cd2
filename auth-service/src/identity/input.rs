//! Checks on client input, each failing with a clear INVALID_ARGUMENT.

use authpair_claims::{Plans, RoleScopes};

use authpair_claims::ApiError;

use crate::{identity::username, store::CertificateBinding};

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

/// A new username: as at login, plus no control characters (NUL, newlines),
/// no surrounding whitespace, and a canonical form under RFC 8265
/// ([`username::canonical`]), so names print and compare unambiguously.
/// Returns that canonical form, which decides whether the name is taken.
pub fn new_username(username: &str) -> Result<String, ApiError> {
    login_username(username)?;
    if username.chars().any(char::is_control) {
        return Err(ApiError::invalid("username must not contain control characters"));
    }
    if username.trim() != username {
        return Err(ApiError::invalid("username must not start or end with whitespace"));
    }
    username::canonical(username).map_err(|e| ApiError::invalid(e.to_string()))
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

/// Role names, each defined in `table`, to a sorted, de-duplicated set.
/// Empty input gives `default`.
pub fn roles(names: &[String], default: Option<&str>, table: &RoleScopes) -> Result<Vec<String>, ApiError> {
    if names.is_empty() {
        return default.map(|r| vec![r.to_owned()]).ok_or_else(|| ApiError::invalid("at least one role is required"));
    }
    table.parse_roles(names).map_err(ApiError::invalid)
}

/// A service-account name: 1 to 64 of a-z, 0-9 and '-'.
pub fn service_name(name: &str) -> Result<&str, ApiError> {
    if authpair_claims::token::claims::is_service_account_name(name) {
        Ok(name)
    } else {
        Err(ApiError::invalid("name must be 1 to 64 of a-z, 0-9 and '-'"))
    }
}

/// Scopes for a service account: at least one, each one that `table`
/// defines (or one reserved for services).
pub fn service_scopes(scopes: &[String], table: &RoleScopes) -> Result<Vec<String>, ApiError> {
    if scopes.is_empty() {
        return Err(ApiError::invalid("at least one scope is required"));
    }
    let mut scopes = scopes.to_vec();
    let known = table.scopes();
    if let Some(bad) = scopes.iter().find(|s| !known.contains(*s)) {
        return Err(ApiError::invalid(format!("unknown scope {:?}", bad.chars().take(64).collect::<String>())));
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// A plan name that `plans` defines; empty means the default plan.
pub fn plan(name: &str, plans: &Plans) -> Result<String, ApiError> {
    plans.parse_plan(name).map_err(ApiError::invalid)
}

/// A service account's certificate binding as asked for; UNSPECIFIED is
/// the default, OPTIONAL.
pub fn certificate_binding(asked: i32) -> Result<CertificateBinding, ApiError> {
    use authpair_proto::auth::v1::CertificateBinding as Asked;
    match Asked::try_from(asked) {
        Ok(Asked::Unspecified | Asked::Optional) => Ok(CertificateBinding::Optional),
        Ok(Asked::Required) => Ok(CertificateBinding::Required),
        Ok(Asked::Off) => Ok(CertificateBinding::Off),
        Err(_) => Err(ApiError::invalid(format!("unknown certificate_binding {asked}"))),
    }
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
        assert_eq!(new_username("Bøb \"quoted\"").ok().as_deref(), Some("bøb \"quoted\""));
        assert_eq!(
            message(new_username("\u{202E}nimda")),
            "username must not contain invisible or text-direction characters (found U+202E)"
        );
        assert_eq!(message(new_password("short")), "password must be at least 8 characters");
        assert_eq!(message(new_password(&"p".repeat(1025))), "password must be at most 1024 bytes");
        assert_eq!(message(login_password("")), "password is required");
    }

    #[test]
    fn roles_and_plans_are_parsed_strictly() {
        let (table, plans) = (RoleScopes::default(), Plans::default());
        assert_eq!(roles(&[], Some("viewer"), &table).ok(), Some(vec!["viewer".to_owned()]));
        assert_eq!(message(roles(&[], None, &table)), "at least one role is required");
        let parsed = roles(&["viewer".into(), "admin".into(), "admin".into()], None, &table).ok();
        assert_eq!(parsed, Some(vec!["admin".to_owned(), "viewer".to_owned()]));
        assert_eq!(message(roles(&["root".into()], None, &table)), "unknown role \"root\"");
        assert_eq!(plan("", &plans).ok(), Some("free".to_owned()));
        assert_eq!(plan("pro", &plans).ok(), Some("pro".to_owned()));
        assert_eq!(message(plan("gold", &plans)), "unknown plan \"gold\"");
        assert_eq!(message(service_scopes(&["documents:delete".into()], &table)), "unknown scope \"documents:delete\"");
        assert!(service_scopes(&["revocations:watch".into()], &table).is_ok());
        assert!(service_scopes(&["tokens:introspect".into()], &table).is_ok());
    }
}
