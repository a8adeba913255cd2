//! The delegation table: which services may act on a user's behalf (token
//! exchange, RFC 8693), for which audience, with which scopes at most. It
//! is configuration (`--delegations`), read once and checked at start
//! against the audiences and the role table; a pair it does not list may
//! not exchange at all.

use std::collections::BTreeMap;

use authpair_claims::{RoleScopes, token::claims::is_service_account_name};

/// `service@audience=scope,scope;...`, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delegations {
    /// (service account name, audience) → the scopes it may carry there.
    allowed: BTreeMap<(String, String), Vec<String>>,
}

impl Delegations {
    /// Parses `service@audience=scope,scope;...`; an empty string is the
    /// empty table. A pair listed twice, a malformed entry or a bad name is
    /// refused, naming it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut allowed = BTreeMap::new();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let shape = || format!("{entry:?} is not service@audience=scope,scope");
            let (pair, scopes) = entry.split_once('=').ok_or_else(shape)?;
            let (service, audience) = pair.trim().split_once('@').ok_or_else(shape)?;
            let (service, audience) = (service.trim(), audience.trim());
            if !is_service_account_name(service) {
                return Err(format!("{service:?} is not a service account name (1 to 64 of a-z, 0-9 and '-')"));
            }
            if audience.is_empty() {
                return Err(shape());
            }
            let scopes: Vec<String> =
                scopes.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
            if scopes.is_empty() {
                return Err(format!("{entry:?} names no scope"));
            }
            if allowed.insert((service.to_owned(), audience.to_owned()), scopes).is_some() {
                return Err(format!("{service}@{audience} is listed twice"));
            }
        }
        Ok(Self { allowed })
    }

    /// What the flag cannot check alone: every audience is one the
    /// deployment issues for and not `admin_audience` (a delegated token
    /// never reaches the admin API), and every scope is one the role table
    /// gives users.
    pub fn check<'a>(
        &self,
        audiences: impl IntoIterator<Item = &'a str>,
        admin_audience: &str,
        table: &RoleScopes,
    ) -> Result<(), String> {
        let audiences: Vec<&str> = audiences.into_iter().collect();
        let scopes = table.scopes_for(&table.roles().map(str::to_owned).collect::<Vec<_>>());
        for ((service, audience), granted) in &self.allowed {
            if audience == admin_audience {
                return Err(format!("--delegations {service}@{audience}: the admin API takes no delegated token"));
            }
            if !audiences.contains(&audience.as_str()) {
                return Err(format!("--delegations {service}@{audience}: not an audience this deployment issues for"));
            }
            if let Some(unknown) = granted.iter().find(|s| !scopes.contains(s)) {
                return Err(format!("--delegations {service}@{audience}: scope {unknown:?} is no role's scope"));
            }
        }
        Ok(())
    }

    /// The scopes `service` may carry for a user at `audience`; `None` if
    /// it may not act for users there at all.
    pub fn allowed(&self, service: &str, audience: &str) -> Option<&[String]> {
        self.allowed.get(&(service.to_owned(), audience.to_owned())).map(Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RoleScopes {
        RoleScopes::parse("admin=documents:read,documents:write;viewer=documents:read")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_table_lists_scopes_per_service_and_audience_and_nothing_else_is_allowed() -> Result<(), String> {
        let table =
            Delegations::parse("orders@resource=documents:read; orders@archive=documents:read,documents:write")?;
        assert_eq!(table.allowed("orders", "resource"), Some(&["documents:read".to_owned()][..]));
        assert_eq!(table.allowed("orders", "archive").map(<[String]>::len), Some(2));
        assert_eq!(table.allowed("billing", "resource"), None);
        assert_eq!(table.allowed("orders", "other"), None);
        assert!(Delegations::parse("")?.is_empty());
        Ok(())
    }

    #[test]
    fn a_malformed_entry_a_repeated_pair_or_a_bad_name_is_refused_naming_it() {
        for (text, says) in [
            ("orders=documents:read", "is not service@audience"),
            ("orders@resource", "is not service@audience"),
            ("orders@=documents:read", "is not service@audience"),
            ("Orders@resource=documents:read", "is not a service account name"),
            ("orders@resource=", "names no scope"),
            ("orders@resource=a;orders@resource=b", "listed twice"),
        ] {
            let refused = Delegations::parse(text).err().unwrap_or_default();
            assert!(refused.contains(says), "{text}: {refused}");
        }
    }

    #[test]
    fn an_unknown_audience_the_admin_audience_or_a_scope_no_role_gives_is_refused_at_start() -> Result<(), String> {
        let audiences = ["authpair-admin", "resource"];
        let check = |text: &str| Delegations::parse(text)?.check(audiences.iter().copied(), "authpair-admin", &table());
        check("orders@resource=documents:read")?;
        for (text, says) in [
            ("orders@authpair-admin=documents:read", "takes no delegated token"),
            ("orders@nowhere=documents:read", "not an audience"),
            ("orders@resource=tokens:introspect", "no role's scope"),
        ] {
            let refused = check(text).err().unwrap_or_default();
            assert!(refused.contains(says), "{text}: {refused}");
        }
        Ok(())
    }
}
