//! The method policy: what every RPC requires of its caller.
//!
//! Declared in the .proto files as a `(authpair.policy.v1.policy)` option on
//! each method (read at build time into `authpair_proto::policy::POLICY`; a
//! method without one fails the build), plus public entries for the standard
//! health and reflection services. [`Policy::standard`] parses that table into
//! typed rules at startup, refusing unknown role, scope or quota names.
//!
//! [`Policy::authorize`] checks, in order: public or authenticated, the kind
//! of principal, the roles, the scopes. Ownership is checked by handlers with
//! [`authorize_owner`]; quotas by the quota gate (`crate::quota`).

use std::collections::HashMap;

pub use authpair_proto::policy::{Access, Principal};

use crate::{
    claims::{Claims, Role},
    error::AuthError,
};

/// Every scope authpair knows. User tokens get theirs from their roles;
/// service accounts are granted theirs explicitly.
pub const SCOPES: &[&str] = &["profile", "documents:read", "documents:write", "admin", "revocations:watch"];
/// Scopes only a service account may hold.
pub const SERVICE_ONLY_SCOPES: &[&str] = &["revocations:watch"];
/// The per-plan quotas methods may name.
pub const QUOTAS: &[&str] = &["search"];

/// The standard methods both servers expose besides their own: public, so
/// probes and grpcurl work without a token.
pub const STANDARD_METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// One method's requirements, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub access: Access,
    pub principal: Principal,
    pub any_role: Vec<Role>,
    pub scopes: Vec<&'static str>,
    pub owner_checked: bool,
    pub quota: Option<&'static str>,
}

impl Rule {
    const PUBLIC: Rule = Rule {
        access: Access::Public,
        principal: Principal::Any,
        any_role: Vec::new(),
        scopes: Vec::new(),
        owner_checked: false,
        quota: None,
    };
}

/// The policy table does not parse or does not match the methods served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{method}: {problem}")]
    Invalid { method: &'static str, problem: String },
    #[error("method policy mismatch: no entry for {missing:?}; entries for unknown methods {unknown:?}")]
    Mismatch { missing: Vec<String>, unknown: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct Policy {
    rules: HashMap<&'static str, Rule>,
}

fn parse(entry: &authpair_proto::policy::MethodPolicy) -> Result<Rule, PolicyError> {
    let invalid = |problem: String| PolicyError::Invalid { method: entry.path, problem };
    let any_role = entry
        .any_role
        .iter()
        .map(|r| r.parse::<Role>().map_err(|e| invalid(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(scope) = entry.scopes.iter().find(|s| !SCOPES.contains(s)) {
        return Err(invalid(format!("unknown scope {scope:?}")));
    }
    if let Some(quota) = entry.quota.filter(|q| !QUOTAS.contains(q)) {
        return Err(invalid(format!("unknown quota {quota:?}")));
    }
    let restricts = !any_role.is_empty() || !entry.scopes.is_empty() || entry.principal != Principal::Any;
    if entry.access == Access::Public && (restricts || entry.owner_checked || entry.quota.is_some()) {
        return Err(invalid("a public method cannot require roles, scopes, ownership or a quota".into()));
    }
    Ok(Rule {
        access: entry.access,
        principal: entry.principal,
        any_role,
        scopes: entry.scopes.to_vec(),
        owner_checked: entry.owner_checked,
        quota: entry.quota,
    })
}

impl Policy {
    /// The policy declared in the .proto files plus the standard services.
    pub fn standard() -> Result<Self, PolicyError> {
        let mut rules = HashMap::new();
        for entry in authpair_proto::policy::POLICY {
            rules.insert(entry.path, parse(entry)?);
        }
        for method in STANDARD_METHODS {
            rules.insert(*method, Rule::PUBLIC);
        }
        Ok(Self { rules })
    }

    pub fn rule(&self, method: &str) -> Option<&Rule> {
        self.rules.get(method)
    }

    /// Every method declared in the .proto files plus the standard ones.
    pub fn all_methods() -> impl Iterator<Item = &'static str> {
        authpair_proto::methods().chain(STANDARD_METHODS.iter().copied())
    }

    /// Every method with its rule, for documentation and tests.
    pub fn rules(&self) -> impl Iterator<Item = (&'static str, &Rule)> {
        self.rules.iter().map(|(m, r)| (*m, r))
    }

    /// Proves the table covers exactly `methods`: no method without an entry,
    /// no entry without a method.
    pub fn check_covers<'a>(&self, methods: impl IntoIterator<Item = &'a str>) -> Result<(), PolicyError> {
        let methods: std::collections::BTreeSet<&str> = methods.into_iter().collect();
        let missing: Vec<String> =
            methods.iter().filter(|m| !self.rules.contains_key(*m)).map(|m| m.to_string()).collect();
        let mut unknown: Vec<String> =
            self.rules.keys().filter(|m| !methods.contains(*m)).map(|m| m.to_string()).collect();
        unknown.sort();
        if missing.is_empty() && unknown.is_empty() { Ok(()) } else { Err(PolicyError::Mismatch { missing, unknown }) }
    }

    /// Authorization proper. Runs only after authentication, on its result.
    pub fn authorize(&self, method: Option<&str>, caller: Option<&Claims>) -> Result<&Rule, AuthError> {
        let rule = method.and_then(|m| self.rule(m)).ok_or(AuthError::NoPolicy)?;
        if rule.access == Access::Public {
            return Ok(rule);
        }
        let caller = caller.ok_or(AuthError::TokenMissing)?;
        // Authentication's last step: a token meant only for another service
        // of the deployment (accepted on public methods, such as the one a
        // Logout carries) proves nothing here (TF-11 d).
        if !caller.is_for_this_service() {
            return Err(AuthError::WrongAudience);
        }
        match rule.principal {
            Principal::User if caller.is_service() => return Err(AuthError::UserRequired),
            Principal::Service if !caller.is_service() => return Err(AuthError::ServiceRequired),
            _ => {}
        }
        if let Some(first) = rule.any_role.first()
            && !rule.any_role.iter().any(|r| caller.has_role(*r))
        {
            return Err(AuthError::RoleRequired(*first));
        }
        if let Some(missing) = rule.scopes.iter().find(|s| !caller.has_scope(s)) {
            return Err(AuthError::ScopeRequired(missing));
        }
        Ok(rule)
    }
}

/// For owner-checked methods: the caller may act on an object owned by
/// `owner` if it is the owner or has role admin.
pub fn authorize_owner(caller: &Claims, owner: &str) -> Result<(), AuthError> {
    if caller.subject() == owner || caller.has_role(Role::Admin) { Ok(()) } else { Err(AuthError::NotOwner) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_in_the_proto_files_has_exactly_one_valid_policy_entry() -> Result<(), PolicyError> {
        let policy = Policy::standard()?;
        assert_eq!(policy.check_covers(Policy::all_methods()), Ok(()));
        assert_eq!(policy.rules.len(), authpair_proto::policy::POLICY.len() + STANDARD_METHODS.len());
        Ok(())
    }

    #[test]
    fn a_method_missing_from_the_table_or_an_entry_for_no_method_is_reported() -> Result<(), PolicyError> {
        let policy = Policy::standard()?;
        let Err(PolicyError::Mismatch { missing, unknown }) = policy.check_covers(["/x.v1.New/Method"]) else {
            panic!("mismatch not reported");
        };
        assert_eq!(missing, ["/x.v1.New/Method"]);
        assert_eq!(unknown.len(), policy.rules.len());
        Ok(())
    }

    #[test]
    fn unknown_names_in_a_policy_option_are_refused_at_startup() {
        use authpair_proto::policy::MethodPolicy;
        let base = MethodPolicy {
            path: "/x.v1.S/M",
            access: Access::Authenticated,
            principal: Principal::Any,
            any_role: &[],
            scopes: &[],
            owner_checked: false,
            quota: None,
        };
        assert!(parse(&MethodPolicy { any_role: &["root"], ..base }).is_err());
        assert!(parse(&MethodPolicy { scopes: &["documents:delete"], ..base }).is_err());
        assert!(parse(&MethodPolicy { quota: Some("nope"), ..base }).is_err());
        assert!(parse(&MethodPolicy { access: Access::Public, any_role: &["admin"], ..base }).is_err());
        assert!(parse(&base).is_ok());
    }

    #[test]
    fn a_method_with_no_entry_is_denied_even_to_anonymous_callers() -> Result<(), PolicyError> {
        let policy = Policy::standard()?;
        assert_eq!(policy.authorize(Some("/x.v1.New/Method"), None).err(), Some(AuthError::NoPolicy));
        assert_eq!(policy.authorize(None, None).err(), Some(AuthError::NoPolicy));
        Ok(())
    }
}
