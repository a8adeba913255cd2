//! The method policy as declared in the .proto files, read at build time
//! from each method's `(authpair.policy.v1.policy)` option. The claims crate
//! turns it into typed rules and enforces it.

/// Who may call at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Authenticated,
}

/// Which kind of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Any,
    User,
    Service,
}

/// One method's policy, as written in its .proto option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodPolicy {
    /// `/package.Service/Method`.
    pub path: &'static str,
    pub access: Access,
    pub principal: Principal,
    /// At least one of these roles (empty: none needed).
    pub any_role: &'static [&'static str],
    /// Every one of these scopes.
    pub scopes: &'static [&'static str],
    /// The handler checks ownership (role admin overrides).
    pub owner_checked: bool,
    /// The name of the per-plan quota that applies.
    pub quota: Option<&'static str>,
}

include!(concat!(env!("OUT_DIR"), "/policy.rs"));
