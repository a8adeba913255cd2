//! What a user's roles grant: the scopes in their access tokens.

use authpair_claims::{Grant, Role};

use crate::store::UserRow;

/// The `client_id` of tokens from first-party username/password login.
pub const LOGIN_CLIENT_ID: &str = "authpair-login";

/// Scopes each role grants. A user gets the union over their roles.
pub const ROLE_SCOPES: &[(Role, &[&str])] = &[
    (Role::Viewer, &["profile", "documents:read"]),
    (Role::Editor, &["profile", "documents:read", "documents:write"]),
    (Role::Admin, &["profile", "documents:read", "documents:write", "admin"]),
];

pub fn scopes_for(roles: &[Role]) -> Vec<String> {
    let mut scopes: Vec<String> = ROLE_SCOPES
        .iter()
        .filter(|(role, _)| roles.contains(role))
        .flat_map(|(_, scopes)| scopes.iter().map(|s| s.to_string()))
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

/// The grant for a user, read fresh from the database at every issue.
pub fn for_user(user: &UserRow) -> Grant {
    Grant {
        subject: user.id.clone(),
        username: user.username.clone(),
        client_id: LOGIN_CLIENT_ID.to_owned(),
        roles: user.roles.clone(),
        scopes: scopes_for(&user.roles),
        plan: user.plan,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_the_sorted_union_of_the_roles_scopes() {
        assert_eq!(scopes_for(&[Role::Viewer]), ["documents:read", "profile"]);
        assert_eq!(scopes_for(&[Role::Viewer, Role::Admin]), ["admin", "documents:read", "documents:write", "profile"]);
        assert!(scopes_for(&[]).is_empty());
    }
}
