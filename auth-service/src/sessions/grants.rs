//! What callers are granted: the scopes in user tokens (from their roles, by
//! a configurable table) and in service tokens (exactly what the account was
//! granted, narrowed to what was asked for).

use authpair_claims::{Grant, RoleScopes, token::claims::SERVICE_SUBJECT_PREFIX};

use crate::store::{CertificateBinding, ServiceAccountRow, UserRow};

/// The `client_id` of tokens from first-party username/password login.
pub const LOGIN_CLIENT_ID: &str = "login";

/// The grant for a user, read fresh from the database at every issue.
pub fn for_user(user: &UserRow, table: &RoleScopes, generation: u64, audience: &str) -> Grant {
    Grant {
        subject: user.id.clone(),
        username: user.username.clone(),
        client_id: LOGIN_CLIENT_ID.to_owned(),
        roles: user.roles.clone(),
        scopes: table.scopes_for(&user.roles),
        plan: user.plan.clone(),
        generation,
        audience: audience.to_owned(),
        certificate: None,
        actors: Vec::new(),
        not_after: None,
    }
}

/// The longest `scope` a service-token request may carry.
pub const MAX_REQUESTED_SCOPE_BYTES: usize = 1024;

/// The scopes a service token gets: all granted when none are asked for,
/// else exactly those asked for, each of which must have been granted. An
/// error echoes at most 64 characters of what was asked, so it always fits
/// in a status message.
pub fn narrow(granted: &[String], requested: &str) -> Result<Vec<String>, String> {
    if requested.len() > MAX_REQUESTED_SCOPE_BYTES {
        return Err(format!("scope must be at most {MAX_REQUESTED_SCOPE_BYTES} bytes"));
    }
    let requested: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    if requested.is_empty() {
        return Ok(granted.to_vec());
    }
    if let Some(extra) = requested.iter().find(|r| !granted.iter().any(|g| g == *r)) {
        let extra: String = extra.chars().take(64).collect();
        return Err(format!("scope {extra:?} was not granted to this client"));
    }
    let mut scopes: Vec<String> = requested.into_iter().map(str::to_owned).collect();
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// Whether a service account may have a token for `audience` (already
/// resolved): one it was granted, or, with none listed, the deployment's
/// `default` alone. The error, like [`narrow`]'s, fits a status message.
pub fn audience_granted(account: &ServiceAccountRow, audience: &str, default: &str) -> Result<(), String> {
    let granted = if account.audiences.is_empty() {
        audience == default
    } else {
        account.audiences.iter().any(|a| a == audience)
    };
    if granted { Ok(()) } else { Err(format!("audience {audience:?} was not granted to this client")) }
}

/// The certificate a service account's token is bound to, given the
/// thumbprint of the client certificate it was asked for with (mTLS):
/// `Some(None)` for a bearer token, `None` if the account requires a
/// certificate and none came.
pub fn bound_to(account: &ServiceAccountRow, presented: Option<[u8; 32]>) -> Option<Option<[u8; 32]>> {
    match account.certificate_binding {
        CertificateBinding::Optional => Some(presented),
        CertificateBinding::Required => presented.map(Some),
        CertificateBinding::Off => Some(None),
    }
}

/// The grant for a service account: no roles, `sub` `svc:<name>`, bound to
/// `certificate` if given.
pub fn for_service(
    account: &ServiceAccountRow,
    scopes: Vec<String>,
    generation: u64,
    audience: &str,
    certificate: Option<[u8; 32]>,
) -> Grant {
    let subject = format!("{SERVICE_SUBJECT_PREFIX}{}", account.name);
    Grant {
        username: subject.clone(),
        subject,
        client_id: account.name.clone(),
        roles: Vec::new(),
        scopes,
        plan: account.plan.clone(),
        generation,
        audience: audience.to_owned(),
        certificate,
        actors: Vec::new(),
        not_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_scopes_are_narrowed_to_the_request_and_never_widened() {
        let granted = vec!["documents:read".to_owned(), "revocations:watch".to_owned()];
        assert_eq!(narrow(&granted, ""), Ok(granted.clone()));
        assert_eq!(narrow(&granted, "documents:read"), Ok(vec!["documents:read".to_owned()]));
        assert!(narrow(&granted, "documents:read admin").is_err());
    }

    #[test]
    fn an_oversized_scope_request_is_refused_and_never_echoed_whole() {
        let granted = vec!["documents:read".to_owned()];
        let long = "x".repeat(1000);
        assert_eq!(narrow(&granted, &long), Err(format!("scope {:?} was not granted to this client", &long[..64])));
        assert_eq!(narrow(&granted, &"x".repeat(1025)), Err("scope must be at most 1024 bytes".to_owned()));
        let padded = format!("{}documents:read", " ".repeat(1000));
        assert_eq!(narrow(&granted, &padded), Ok(granted.clone()), "1,014 bytes are under the cap");
    }
}
