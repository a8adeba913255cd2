//! The method policy: every RPC of every service, and what it requires.
//!
//! One table, read top to bottom. A method with no entry is denied (fail
//! closed), and [`Policy::check_covers`] proves at startup and in tests that
//! the table names exactly the methods the servers expose.

use std::collections::{BTreeSet, HashMap};

use crate::{
    claims::{Claims, Role},
    error::AuthError,
};

/// What a method requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, with no token. A token that is present must still be valid.
    Public,
    /// Any caller with a valid token.
    Authenticated,
    /// A valid token holding at least one of these roles.
    AnyRole(&'static [Role]),
    /// The revocation feed's shared credential (`x-authpair-feed-credential`),
    /// checked in constant time by the interceptor. Never a user token.
    FeedCredential,
}

const ADMIN: Access = Access::AnyRole(&[Role::Admin]);

/// The policy for every method authpair serves.
pub const POLICY: &[(&str, Access)] = &[
    // auth.v1.AuthService: how callers get tokens, so public.
    ("/auth.v1.AuthService/Login", Access::Public),
    ("/auth.v1.AuthService/Refresh", Access::Public),
    ("/auth.v1.AuthService/GetJwks", Access::Public),
    // Logout's credential is the refresh token in the request; an access
    // token sent with it must be valid and is revoked too.
    ("/auth.v1.AuthService/Logout", Access::Public),
    ("/auth.v1.AuthService/WatchRevocations", Access::FeedCredential),
    // auth.v1.AdminService
    ("/auth.v1.AdminService/CreateUser", ADMIN),
    ("/auth.v1.AdminService/SetUserRoles", ADMIN),
    ("/auth.v1.AdminService/ListUsers", ADMIN),
    ("/auth.v1.AdminService/DisableUser", ADMIN),
    ("/auth.v1.AdminService/EnableUser", ADMIN),
    ("/auth.v1.AdminService/RevokeUserSessions", ADMIN),
    ("/auth.v1.AdminService/RotateSigningKey", ADMIN),
    // resource.v1.ResourceService
    ("/resource.v1.ResourceService/GetStatus", Access::Public),
    ("/resource.v1.ResourceService/GetMyProfile", Access::Authenticated),
    ("/resource.v1.ResourceService/GetAdminDashboard", ADMIN),
    // Standard services, so probes and grpcurl work without a token.
    ("/grpc.health.v1.Health/Check", Access::Public),
    ("/grpc.health.v1.Health/Watch", Access::Public),
    ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", Access::Public),
    ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", Access::Public),
];

/// The standard methods both servers expose besides their own.
pub const STANDARD_METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The policy table does not match the methods served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("method policy mismatch: no entry for {missing:?}; entries for unknown methods {unknown:?}")]
pub struct PolicyError {
    pub missing: Vec<String>,
    pub unknown: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    rules: HashMap<&'static str, Access>,
}

impl Policy {
    /// The compiled-in table.
    pub fn standard() -> Self {
        Self { rules: POLICY.iter().copied().collect() }
    }

    pub fn access(&self, method: &str) -> Option<Access> {
        self.rules.get(method).copied()
    }

    /// Every method declared in the .proto files plus the standard ones.
    pub fn all_methods() -> impl Iterator<Item = &'static str> {
        authpair_proto::METHODS.iter().chain(STANDARD_METHODS).copied()
    }

    /// Proves the table covers exactly `methods`: no method without an entry,
    /// no entry without a method.
    pub fn check_covers<'a>(&self, methods: impl IntoIterator<Item = &'a str>) -> Result<(), PolicyError> {
        let methods: BTreeSet<&str> = methods.into_iter().collect();
        let missing: Vec<String> =
            methods.iter().filter(|m| !self.rules.contains_key(*m)).map(|m| m.to_string()).collect();
        let mut unknown: Vec<String> =
            self.rules.keys().filter(|m| !methods.contains(*m)).map(|m| m.to_string()).collect();
        unknown.sort();
        if missing.is_empty() && unknown.is_empty() { Ok(()) } else { Err(PolicyError { missing, unknown }) }
    }

    /// Authorization proper. Runs only after authentication, on its result.
    pub fn authorize(&self, method: Option<&str>, caller: Option<&Claims>) -> Result<(), AuthError> {
        let access = method.and_then(|m| self.access(m)).ok_or(AuthError::NoPolicy)?;
        match access {
            Access::Public => Ok(()),
            // Checked by the interceptor, which has the metadata; a policy
            // evaluated without it must not pass.
            Access::FeedCredential => Err(AuthError::FeedCredentialInvalid),
            Access::Authenticated => caller.map(drop).ok_or(AuthError::TokenMissing),
            Access::AnyRole(roles) => {
                let caller = caller.ok_or(AuthError::TokenMissing)?;
                if roles.iter().any(|r| caller.has_role(*r)) {
                    Ok(())
                } else {
                    // Every AnyRole list in the table is non-empty (tested).
                    Err(AuthError::RoleRequired(roles.first().copied().unwrap_or(Role::Admin)))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_in_the_proto_files_has_exactly_one_policy_entry() {
        let policy = Policy::standard();
        assert_eq!(policy.check_covers(Policy::all_methods()), Ok(()));
        assert_eq!(policy.rules.len(), POLICY.len(), "a method is listed twice");
        assert!(POLICY.iter().all(|(_, a)| !matches!(a, Access::AnyRole([]))));
    }

    #[test]
    fn a_method_missing_from_the_table_or_an_entry_for_no_method_is_reported() {
        let policy = Policy::standard();
        let err = policy.check_covers(["/x.v1.New/Method"]).err();
        let err = err.map(|e| (e.missing, e.unknown.len()));
        assert_eq!(err, Some((vec!["/x.v1.New/Method".to_string()], POLICY.len())));
    }

    #[test]
    fn a_method_with_no_entry_is_denied_even_to_anonymous_callers() {
        let policy = Policy::standard();
        assert_eq!(policy.authorize(Some("/x.v1.New/Method"), None), Err(AuthError::NoPolicy));
        assert_eq!(policy.authorize(None, None), Err(AuthError::NoPolicy));
    }
}
