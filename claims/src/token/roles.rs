//! The deployment's roles and plans, as data.
//!
//! [`RoleScopes`] is the role table (`--role-scopes`): it defines which
//! roles exist and the scopes each grants to user tokens. Its text form is
//! `role=scope,scope;role=scope`, for example
//! `viewer=profile,documents:read;support=profile,orders:refund`. A new role
//! or scope needs no code: name it here and in a method's policy.
//!
//! [`Plans`] lists the plan tiers (`--plans`, the first is a new user's).
//!
//! [`Vocabulary`] is what a deployment's table and plans define, the names a
//! method policy may use; [`SERVICE_ONLY_SCOPES`] are the scopes no role may
//! grant.

use std::collections::BTreeSet;

use super::claims::ADMIN_ROLE;

/// The scope a service needs to exchange users' tokens (token exchange).
pub const EXCHANGE_SCOPE: &str = "tokens:exchange";

/// Scopes only a service account may hold: the revocation feed, token
/// introspection and token exchange.
pub const SERVICE_ONLY_SCOPES: &[&str] = &["revocations:watch", "tokens:introspect", EXCHANGE_SCOPE];

/// The roles, scopes and quotas a deployment defines: what a policy may name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vocabulary {
    /// The roles of the role table.
    pub roles: BTreeSet<String>,
    /// The scopes any role or account may hold.
    pub scopes: BTreeSet<String>,
    /// The quotas the plans set.
    pub quotas: BTreeSet<String>,
}

/// authpair's own role table, the default of `--role-scopes`.
pub const DEFAULT_ROLE_SCOPES: &str = "viewer=profile,documents:read;\
    editor=profile,documents:read,documents:write;\
    admin=profile,documents:read,documents:write,admin";

/// authpair's own plans, the default of `--plans`: `free` for new users.
pub const DEFAULT_PLANS: &str = "free,pro";

/// A role, scope or plan name: 1 to 64 ASCII letters, digits and `:._-/`,
/// so names read the same in a token's space-separated `scope`, in flags,
/// in logs and in the stored role list.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b":._-/".contains(&b))
}

fn checked_name<'a>(kind: &str, name: &'a str) -> Result<&'a str, String> {
    if valid_name(name) {
        Ok(name)
    } else {
        Err(format!("{kind} {:?} must be 1 to 64 ASCII letters, digits and ':._-/'", trimmed(name)))
    }
}

/// At most 64 characters of what a caller sent, for an error message.
fn trimmed(name: &str) -> String {
    name.chars().take(64).collect()
}

/// Scopes each role grants to user tokens; the roles that exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleScopes(Vec<(String, Vec<String>)>);

impl Default for RoleScopes {
    fn default() -> Self {
        // The default is a constant this module's tests parse.
        Self::parse(DEFAULT_ROLE_SCOPES).unwrap_or(Self(Vec::new()))
    }
}

impl RoleScopes {
    /// `role=scope,scope;role=...`: each role once, valid names, never a
    /// scope reserved for service accounts, and the `admin` role present
    /// (the admin API requires it).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut table = Vec::new();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (role, scopes) = entry.split_once('=').ok_or_else(|| format!("expected role=scopes in {entry:?}"))?;
            let scopes = scopes.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
            table.push((role.trim().to_owned(), scopes));
        }
        Self::from_table(table)
    }

    /// The table from its rows, with the checks of [`Self::parse`]: how a
    /// verifier reads the table the auth service announces.
    pub fn from_table(rows: Vec<(String, Vec<String>)>) -> Result<Self, String> {
        let mut table: Vec<(String, Vec<String>)> = Vec::with_capacity(rows.len());
        for (role, scopes) in rows {
            checked_name("role", &role)?;
            if table.iter().any(|(r, _)| *r == role) {
                return Err(format!("role {role:?} is listed twice"));
            }
            for scope in &scopes {
                checked_name("scope", scope)?;
                if SERVICE_ONLY_SCOPES.contains(&scope.as_str()) {
                    return Err(format!("scope {scope:?} is for service accounts only"));
                }
            }
            table.push((role, scopes));
        }
        if !table.iter().any(|(r, _)| r == ADMIN_ROLE) {
            return Err(format!("the role table must define {ADMIN_ROLE:?}"));
        }
        Ok(Self(table))
    }

    /// Every row: a role and the scopes it grants, in table order.
    pub fn rows(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(r, s)| (r.as_str(), s.as_slice()))
    }

    /// Whether `role` exists.
    pub fn has_role(&self, role: &str) -> bool {
        self.0.iter().any(|(r, _)| r == role)
    }

    /// Every role, in table order.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(r, _)| r.as_str())
    }

    /// The sorted union of the scopes `roles` grant.
    pub fn scopes_for(&self, roles: &[String]) -> Vec<String> {
        let mut scopes: Vec<String> =
            self.0.iter().filter(|(role, _)| roles.contains(role)).flat_map(|(_, s)| s.iter().cloned()).collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// Every scope that exists: those the roles grant, and the ones
    /// reserved for service accounts.
    pub fn scopes(&self) -> BTreeSet<String> {
        let granted = self.0.iter().flat_map(|(_, s)| s.iter().cloned());
        granted.chain(SERVICE_ONLY_SCOPES.iter().map(|s| (*s).to_owned())).collect()
    }

    /// The roles and scopes a method policy may name, with `quotas`.
    pub fn vocabulary<'a>(&self, quotas: impl IntoIterator<Item = &'a str>) -> Vocabulary {
        Vocabulary {
            roles: self.roles().map(str::to_owned).collect(),
            scopes: self.scopes(),
            quotas: quotas.into_iter().map(str::to_owned).collect(),
        }
    }

    /// `names` as a sorted, deduplicated list of roles that exist, or why not.
    pub fn parse_roles(&self, names: &[String]) -> Result<Vec<String>, String> {
        let mut roles = Vec::with_capacity(names.len());
        for name in names {
            if !self.has_role(name) {
                return Err(format!("unknown role {:?}", trimmed(name)));
            }
            roles.push(name.clone());
        }
        roles.sort();
        roles.dedup();
        Ok(roles)
    }
}

/// The plan tiers that exist; the first is a new account's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plans(Vec<String>);

impl Default for Plans {
    fn default() -> Self {
        Self::parse(DEFAULT_PLANS).unwrap_or(Self(vec!["free".into()]))
    }
}

impl Plans {
    /// `plan,plan,...`: at least one, each once, valid names.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::from_list(text.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect())
    }

    /// The plans from a list, with the checks of [`Self::parse`]: how a
    /// verifier reads the plans the auth service announces.
    pub fn from_list(list: Vec<String>) -> Result<Self, String> {
        let mut plans: Vec<String> = Vec::with_capacity(list.len());
        for plan in list {
            checked_name("plan", &plan)?;
            if plans.contains(&plan) {
                return Err(format!("plan {plan:?} is listed twice"));
            }
            plans.push(plan);
        }
        if plans.is_empty() {
            return Err("at least one plan is required".into());
        }
        Ok(Self(plans))
    }

    /// Every plan, the default first.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// A new account's plan.
    pub fn default_plan(&self) -> &str {
        self.0.first().map_or("free", String::as_str)
    }

    /// `name` if it exists; empty means the default plan.
    pub fn parse_plan(&self, name: &str) -> Result<String, String> {
        if name.is_empty() {
            return Ok(self.default_plan().to_owned());
        }
        match self.0.iter().find(|p| *p == name) {
            Some(plan) => Ok(plan.clone()),
            None => Err(format!("unknown plan {:?}", trimmed(name))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn user_scopes_are_the_sorted_union_of_the_roles_scopes() {
        let table = RoleScopes::default();
        assert_eq!(table.scopes_for(&roles(&["viewer"])), ["documents:read", "profile"]);
        assert_eq!(
            table.scopes_for(&roles(&["viewer", "admin"])),
            ["admin", "documents:read", "documents:write", "profile"]
        );
        assert!(table.scopes_for(&[]).is_empty());
    }

    #[test]
    fn a_deployment_defines_a_new_role_with_a_new_scope_in_the_table_alone() -> Result<(), String> {
        let table = RoleScopes::parse(&format!("{DEFAULT_ROLE_SCOPES};support=profile,orders:refund"))?;
        assert!(table.has_role("support"));
        assert_eq!(table.scopes_for(&roles(&["support"])), ["orders:refund", "profile"]);
        assert!(table.scopes().contains("orders:refund"));
        assert_eq!(table.parse_roles(&roles(&["support", "viewer", "support"])), Ok(roles(&["support", "viewer"])));
        assert_eq!(table.parse_roles(&roles(&["root"])), Err("unknown role \"root\"".into()));
        Ok(())
    }

    #[test]
    fn the_role_table_refuses_bad_names_service_scopes_repeats_and_a_missing_admin() {
        assert!(RoleScopes::parse(DEFAULT_ROLE_SCOPES).is_ok());
        assert!(RoleScopes::parse("admin=revocations:watch").is_err());
        assert!(RoleScopes::parse("admin=tokens:introspect").is_err());
        assert!(RoleScopes::parse("admin=admin;admin=profile").is_err());
        assert!(RoleScopes::parse("viewer=profile").is_err(), "no admin role");
        assert!(RoleScopes::parse("admin=admin;bad role=profile").is_err());
        assert!(RoleScopes::parse("admin=admin;viewer=pro file").is_err());
        assert!(RoleScopes::parse("admin=admin;=profile").is_err());
        let custom = RoleScopes::parse("admin=admin;viewer=profile").map(|t| t.scopes_for(&roles(&["viewer"])));
        assert_eq!(custom, Ok(vec!["profile".to_owned()]));
    }

    #[test]
    fn plans_are_a_list_whose_first_is_the_default() -> Result<(), String> {
        let plans = Plans::default();
        assert_eq!(plans.parse_plan(""), Ok("free".into()));
        assert_eq!(plans.parse_plan("pro"), Ok("pro".into()));
        assert_eq!(plans.parse_plan("gold"), Err("unknown plan \"gold\"".into()));
        let custom = Plans::parse("basic, team ,enterprise")?;
        assert_eq!(custom.default_plan(), "basic");
        assert!(Plans::parse("").is_err());
        assert!(Plans::parse("a,a").is_err());
        Ok(())
    }
}
