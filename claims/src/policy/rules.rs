//! The method policy's rules: a [`Rule`] per method, read from the
//! `(authpair.policy.v1.policy)` options of a service's descriptors into a
//! [`Policy`], and checked against a caller ([`Rule::authorize`]) and
//! against the deployment's names ([`Policy::check_names`]).

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use authpair_proto::authpair::policy::v1 as pb;
use prost_reflect::{DescriptorPool, DynamicMessage, ExtensionDescriptor, Value};

use crate::{
    error::AuthError,
    token::{
        claims::{ADMIN_ROLE, Claims, SERVICE_SUBJECT_PREFIX, is_service_account_name as is_account_name},
        roles::Vocabulary,
    },
};

/// The policy option's definition, for services that import it from their
/// own .proto files (`import "authpair/policy/v1/policy.proto";`).
pub const POLICY_PROTO: &str = authpair_proto::POLICY_PROTO;

/// The option's full name.
pub const POLICY_EXTENSION: &str = "authpair.policy.v1.policy";

/// The standard methods every server exposes besides its own: public, so
/// probes and grpcurl work without a token.
pub const STANDARD_METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Who may call at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed; a token that is sent must still be valid.
    Public,
    /// A valid token for this service's own audience.
    Authenticated,
}

/// Which kind of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// A user's or a service account's.
    Any,
    /// A user's only.
    User,
    /// A service account's only (`sub` `svc:<name>`).
    Service,
}

/// One method's requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Whether a token is needed.
    pub access: Access,
    /// Which kind of caller may call.
    pub principal: Principal,
    /// At least one of these roles (empty: none needed).
    pub any_role: Vec<String>,
    /// Every one of these scopes.
    pub scopes: Vec<String>,
    /// The handler checks ownership (role admin overrides).
    pub owner_checked: bool,
    /// The per-plan quota that applies.
    pub quota: Option<Arc<str>>,
    /// Refuse a service acting on a user's behalf (a token with `act`).
    pub direct_only: bool,
    /// The services (account names) that may act on a user's behalf here;
    /// empty: any the token exchange allowed.
    pub actors: Vec<String>,
}

impl Rule {
    /// A public method: no token needed (one that is sent must be valid).
    pub fn public() -> Self {
        Rule {
            access: Access::Public,
            principal: Principal::Any,
            any_role: Vec::new(),
            scopes: Vec::new(),
            owner_checked: false,
            quota: None,
            direct_only: false,
            actors: Vec::new(),
        }
    }

    /// Authorization proper, on the result of authentication.
    pub fn authorize(&self, caller: Option<&Claims>) -> Result<(), AuthError> {
        self.authorize_for(caller, Claims::is_for_this_service)
    }

    /// [`Self::authorize`], where `for_us` says whether a token names the
    /// audience this call is for: a server deciding for several services
    /// (the gate) asks for the audience of the call's route.
    pub fn authorize_for(&self, caller: Option<&Claims>, for_us: impl Fn(&Claims) -> bool) -> Result<(), AuthError> {
        if self.access == Access::Public {
            return Ok(());
        }
        let caller = caller.ok_or(AuthError::TokenMissing)?;
        // Authentication's last step: a token meant only for another service
        // of the deployment (accepted on public methods, such as the one a
        // Logout carries) proves nothing here.
        if !for_us(caller) {
            return Err(AuthError::WrongAudience);
        }
        match self.principal {
            Principal::User if caller.is_service() => return Err(AuthError::UserRequired),
            Principal::Service if !caller.is_service() => return Err(AuthError::ServiceRequired),
            _ => {}
        }
        if let Some(actor) = caller.actors().first() {
            if self.direct_only {
                return Err(AuthError::DelegationForbidden);
            }
            let listed = || self.actors.iter().any(|a| actor.strip_prefix(SERVICE_SUBJECT_PREFIX) == Some(a.as_str()));
            if !self.actors.is_empty() && !listed() {
                return Err(AuthError::ActorNotAllowed(actor.clone()));
            }
        }
        if let Some(first) = self.any_role.first()
            && !self.any_role.iter().any(|r| caller.has_role(r))
        {
            return Err(AuthError::RoleRequired(first.clone()));
        }
        if let Some(missing) = self.scopes.iter().find(|s| !caller.has_scope(s)) {
            return Err(AuthError::ScopeRequired(missing.clone()));
        }
        Ok(())
    }
}

/// The policy cannot be built, names something unknown, or does not match
/// the methods served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The descriptor set does not decode, or lacks the policy extension.
    #[error("the descriptor set does not decode: {0}")]
    Descriptors(String),
    /// A service named is not in the descriptor set.
    #[error("service {0} is not in the descriptor set")]
    UnknownService(String),
    /// A method's policy is missing, contradictory or names something
    /// undefined.
    #[error("{method}: {problem}")]
    Invalid {
        /// The method's path, `/package.Service/Method`.
        method: String,
        /// What is wrong with its policy.
        problem: String,
    },
    /// The policy and the methods served differ.
    #[error("method policy mismatch: no entry for {missing:?}; entries for unknown methods {unknown:?}")]
    Mismatch {
        /// Methods served with no policy entry.
        missing: Vec<String>,
        /// Policy entries for methods not served.
        unknown: Vec<String>,
    },
}

/// Every method a server serves, with its rule.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: MethodTable<Rule>,
}

/// A table keyed by method path, looked up on every call. Hashed with
/// foldhash rather than SipHash: a call spent more on hashing its path twice
/// with SipHash (~500 instructions) than on the lookups themselves. Flooding
/// is no concern: the table is filled once at start from the server's own
/// descriptors, and a client's path is only ever looked up, never inserted.
pub(crate) type MethodTable<V> = HashMap<String, V, foldhash::fast::RandomState>;

impl Policy {
    /// The policy of `services` (full names, such as `orders.v1.OrdersService`)
    /// as declared in `descriptor_set` (an encoded `FileDescriptorSet` that
    /// includes authpair's policy.proto), plus the standard methods as public.
    /// A method without the option, or with one that makes no sense (a public
    /// method that requires roles, say), is an error.
    pub fn from_descriptors(descriptor_set: &[u8], services: &[&str]) -> Result<Self, PolicyError> {
        let pool = DescriptorPool::decode(descriptor_set).map_err(|e| PolicyError::Descriptors(e.to_string()))?;
        let extension = pool.get_extension_by_name(POLICY_EXTENSION).ok_or_else(|| {
            PolicyError::Descriptors(format!(
                "{POLICY_EXTENSION} is not defined: import authpair/policy/v1/policy.proto"
            ))
        })?;
        let mut rules: MethodTable<Rule> = STANDARD_METHODS.iter().map(|m| ((*m).to_owned(), Rule::public())).collect();
        for name in services {
            let service = pool.get_service_by_name(name).ok_or_else(|| PolicyError::UnknownService((*name).into()))?;
            for method in service.methods() {
                let path = format!("/{}/{}", service.full_name(), method.name());
                let rule = rule_of(&method.options(), &extension)
                    .map_err(|problem| PolicyError::Invalid { method: path.clone(), problem })?;
                rules.insert(path, rule);
            }
        }
        Ok(Self { rules })
    }

    /// The standard methods and `methods` (paths), all public: a server
    /// whose own methods need no token, such as the gate (Envoy calls it
    /// with the request to decide inside the message, not as its caller).
    pub fn public(methods: &[&str]) -> Self {
        let rules = STANDARD_METHODS.iter().chain(methods).map(|m| ((*m).to_owned(), Rule::public())).collect();
        Self { rules }
    }

    /// Rules under names of the caller's choosing, for checking their
    /// roles and scopes against the deployment ([`Self::check_names`]): a
    /// server whose rules are not one method table (the gate's routes)
    /// names each `route METHOD pattern`.
    pub fn named(rules: impl IntoIterator<Item = (String, Rule)>) -> Self {
        Self { rules: rules.into_iter().collect() }
    }

    /// The rule for `method` (`/package.Service/Method`), if it has one.
    pub fn rule(&self, method: &str) -> Option<&Rule> {
        self.rules.get(method)
    }

    /// Every method with a rule, in no particular order.
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        self.rules.keys().map(String::as_str)
    }

    /// Every method with its rule, for documentation and tests.
    pub fn rules(&self) -> impl Iterator<Item = (&str, &Rule)> {
        self.rules.iter().map(|(m, r)| (m.as_str(), r))
    }

    /// Proves the table covers exactly `methods`: no method without an entry,
    /// no entry without a method.
    pub fn check_covers<'a>(&self, methods: impl IntoIterator<Item = &'a str>) -> Result<(), PolicyError> {
        let methods: BTreeSet<&str> = methods.into_iter().collect();
        let missing: Vec<String> =
            methods.iter().filter(|m| !self.rules.contains_key(**m)).map(|m| m.to_string()).collect();
        let mut unknown: Vec<String> =
            self.rules.keys().filter(|m| !methods.contains(m.as_str())).map(|m| m.to_string()).collect();
        unknown.sort();
        if missing.is_empty() && unknown.is_empty() { Ok(()) } else { Err(PolicyError::Mismatch { missing, unknown }) }
    }

    /// Every quota the policy names.
    pub fn quotas(&self) -> BTreeSet<String> {
        self.rules.values().filter_map(|rule| rule.quota.as_deref().map(str::to_owned)).collect()
    }

    /// Refuses a policy that names a quota the service does not define.
    pub fn check_quotas<'a>(&self, quotas: impl IntoIterator<Item = &'a str>) -> Result<(), PolicyError> {
        let known: BTreeSet<&str> = quotas.into_iter().collect();
        let mut rules: Vec<_> = self.rules.iter().collect();
        rules.sort_by(|a, b| a.0.cmp(b.0));
        match rules.into_iter().find_map(|(m, r)| r.quota.as_deref().filter(|q| !known.contains(q)).map(|q| (m, q))) {
            Some((method, quota)) => {
                Err(PolicyError::Invalid { method: method.clone(), problem: format!("unknown quota {quota:?}") })
            }
            None => Ok(()),
        }
    }

    /// Refuses a policy that names a role, scope or quota the deployment
    /// does not define: a typo would otherwise deny every caller for ever.
    pub fn check_names(&self, known: &Vocabulary) -> Result<(), PolicyError> {
        let mut rules: Vec<_> = self.rules.iter().collect();
        rules.sort_by(|a, b| a.0.cmp(b.0));
        for (method, rule) in rules {
            let invalid = |problem: String| PolicyError::Invalid { method: method.clone(), problem };
            if let Some(role) = rule.any_role.iter().find(|r| !known.roles.contains(*r)) {
                return Err(invalid(format!("unknown role {role:?}")));
            }
            if let Some(scope) = rule.scopes.iter().find(|s| !known.scopes.contains(*s)) {
                return Err(invalid(format!("unknown scope {scope:?}")));
            }
            if let Some(quota) = rule.quota.as_deref().filter(|q| !known.quotas.contains(*q)) {
                return Err(invalid(format!("unknown quota {quota:?}")));
            }
        }
        Ok(())
    }
}

/// One method's option as a rule, or why it cannot be one.
fn rule_of(options: &DynamicMessage, extension: &ExtensionDescriptor) -> Result<Rule, String> {
    if !options.has_extension(extension) {
        return Err(format!("has no ({POLICY_EXTENSION}) option"));
    }
    let value = options.get_extension(extension);
    let Value::Message(policy) = value.as_ref() else { return Err("the option is not a MethodPolicy".into()) };
    let int = |name: &str| policy.get_field_by_name(name).and_then(|v| v.as_enum_number()).unwrap_or(0);
    let strings = |name: &str| -> Vec<String> {
        policy
            .get_field_by_name(name)
            .and_then(|v| v.as_list().map(|l| l.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()))
            .unwrap_or_default()
    };
    let access = match pb::Access::try_from(int("access")) {
        Ok(pb::Access::Public) => Access::Public,
        Ok(pb::Access::Authenticated) => Access::Authenticated,
        _ => return Err("access must be ACCESS_PUBLIC or ACCESS_AUTHENTICATED".into()),
    };
    // PRINCIPAL_UNSPECIFIED, the zero value, restricts nothing.
    let principal = match pb::Principal::try_from(int("principal")) {
        Ok(pb::Principal::User) => Principal::User,
        Ok(pb::Principal::Service) => Principal::Service,
        _ => Principal::Any,
    };
    let owner_checked = policy.get_field_by_name("owner_checked").and_then(|v| v.as_bool()).unwrap_or(false);
    let quota = policy.get_field_by_name("quota").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let direct_only = policy.get_field_by_name("direct_only").and_then(|v| v.as_bool()).unwrap_or(false);
    let rule = Rule {
        access,
        principal,
        any_role: strings("any_role"),
        scopes: strings("scopes"),
        owner_checked,
        quota: (!quota.is_empty()).then(|| Arc::from(quota)),
        direct_only,
        actors: strings("actors"),
    };
    let restricts = !rule.any_role.is_empty() || !rule.scopes.is_empty() || rule.principal != Principal::Any;
    if rule.access == Access::Public && (restricts || rule.owner_checked || rule.quota.is_some()) {
        return Err("a public method cannot require roles, scopes, ownership or a quota".into());
    }
    if (rule.direct_only || !rule.actors.is_empty())
        && (rule.access == Access::Public || rule.principal == Principal::Service)
    {
        return Err("only a method users call can restrict who acts on their behalf".into());
    }
    if rule.direct_only && !rule.actors.is_empty() {
        return Err("direct_only and actors contradict each other".into());
    }
    if let Some(bad) = rule.actors.iter().find(|a| !is_account_name(a)) {
        return Err(format!("actor {bad:?} is not a service account name"));
    }
    if let Some(blank) = rule.any_role.iter().chain(&rule.scopes).find(|n| n.trim().is_empty() || n.contains(' ')) {
        return Err(format!("{blank:?} is not a role or scope name"));
    }
    Ok(rule)
}

/// For owner-checked methods: the caller may act on an object owned by
/// `owner` if it is the owner or has role admin.
pub fn authorize_owner(caller: &Claims, owner: &str) -> Result<(), AuthError> {
    if caller.subject() == owner || caller.has_role(ADMIN_ROLE) { Ok(()) } else { Err(AuthError::NotOwner) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A descriptor set holding policy.proto and one service whose methods
    /// carry `options` (one method per entry, `M0`, `M1`, …).
    fn descriptors(options: &[&str]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let policy_dir = dir.path().join("authpair/policy/v1");
        std::fs::create_dir_all(&policy_dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(policy_dir.join("policy.proto"), POLICY_PROTO).unwrap_or_else(|e| panic!("{e}"));
        let mut proto = String::from(
            "syntax = \"proto3\";\npackage x.v1;\nimport \"authpair/policy/v1/policy.proto\";\n\
             message Empty {}\nservice S {\n",
        );
        for (i, option) in options.iter().enumerate() {
            proto.push_str(&format!("  rpc M{i}(Empty) returns (Empty) {{ {option} }}\n"));
        }
        proto.push_str("}\n");
        std::fs::write(dir.path().join("x.proto"), proto).unwrap_or_else(|e| panic!("{e}"));
        // The compiler's own encoding keeps the options' extension fields,
        // which a round trip through prost-types would drop.
        let mut compiler = protox::Compiler::new([dir.path()]).unwrap_or_else(|e| panic!("{e}"));
        compiler.include_imports(true).open_files(["x.proto"]).unwrap_or_else(|e| panic!("{e}"));
        compiler.encode_file_descriptor_set()
    }

    const PUBLIC: &str = "option (authpair.policy.v1.policy) = { access: ACCESS_PUBLIC };";
    const REFUND: &str = "option (authpair.policy.v1.policy) = { access: ACCESS_AUTHENTICATED any_role: \"support\" scopes: \"orders:refund\" quota: \"refunds\" };";

    #[test]
    fn a_policy_is_read_from_a_services_own_descriptors_with_the_standard_methods_public() -> Result<(), PolicyError> {
        let policy = Policy::from_descriptors(&descriptors(&[PUBLIC, REFUND]), &["x.v1.S"])?;
        assert_eq!(policy.rule("/x.v1.S/M0"), Some(&Rule::public()));
        let refund = policy.rule("/x.v1.S/M1").cloned();
        assert_eq!(refund.as_ref().map(|r| r.any_role.clone()), Some(vec!["support".to_owned()]));
        assert_eq!(refund.as_ref().map(|r| r.scopes.clone()), Some(vec!["orders:refund".to_owned()]));
        assert_eq!(refund.and_then(|r| r.quota).as_deref(), Some("refunds"));
        let served = STANDARD_METHODS.iter().copied().chain(["/x.v1.S/M0", "/x.v1.S/M1"]);
        assert_eq!(policy.check_covers(served), Ok(()));
        Ok(())
    }

    #[test]
    fn a_method_without_the_option_refuses_to_build_a_policy() {
        let err = Policy::from_descriptors(&descriptors(&[PUBLIC, ""]), &["x.v1.S"]).err();
        assert!(matches!(&err, Some(PolicyError::Invalid { method, .. }) if method == "/x.v1.S/M1"), "{err:?}");
        let unknown = Policy::from_descriptors(&descriptors(&[PUBLIC]), &["x.v1.Nope"]).err();
        assert_eq!(unknown, Some(PolicyError::UnknownService("x.v1.Nope".into())));
    }

    #[test]
    fn a_delegated_call_is_refused_where_direct_only_and_by_an_actor_not_listed() -> Result<(), PolicyError> {
        let option =
            |extra: &str| format!("option (authpair.policy.v1.policy) = {{ access: ACCESS_AUTHENTICATED {extra} }};");
        let methods = [option(""), option("direct_only: true"), option("actors: [\"orders\", \"billing\"]")];
        let methods: Vec<&str> = methods.iter().map(String::as_str).collect();
        let policy = Policy::from_descriptors(&descriptors(&methods), &["x.v1.S"])?;
        let rule = |i: usize| policy.rule(&format!("/x.v1.S/M{i}")).cloned().unwrap_or_else(Rule::public);
        let direct = Claims::for_test("user-1", u64::MAX);
        let by =
            |actors: &[&str]| Claims { actors: actors.iter().map(|a| (*a).to_owned()).collect(), ..direct.clone() };
        let for_us = |_: &Claims| true;
        for i in 0..3 {
            assert_eq!(rule(i).authorize_for(Some(&direct), for_us), Ok(()), "M{i}, directly");
        }
        assert_eq!(rule(0).authorize_for(Some(&by(&["svc:gate"])), for_us), Ok(()));
        assert_eq!(rule(1).authorize_for(Some(&by(&["svc:orders"])), for_us), Err(AuthError::DelegationForbidden));
        assert_eq!(rule(2).authorize_for(Some(&by(&["svc:billing", "svc:gate"])), for_us), Ok(()));
        // The service acting now decides, not one earlier in the chain.
        assert_eq!(
            rule(2).authorize_for(Some(&by(&["svc:gate", "svc:orders"])), for_us),
            Err(AuthError::ActorNotAllowed("svc:gate".into()))
        );
        // Contradictions, a public or service-only method, a bad name.
        for bad in [
            "option (authpair.policy.v1.policy) = { access: ACCESS_AUTHENTICATED direct_only: true actors: \"orders\" };",
            "option (authpair.policy.v1.policy) = { access: ACCESS_PUBLIC direct_only: true };",
            "option (authpair.policy.v1.policy) = { access: ACCESS_AUTHENTICATED principal: PRINCIPAL_SERVICE actors: \"orders\" };",
            "option (authpair.policy.v1.policy) = { access: ACCESS_AUTHENTICATED actors: \"svc:orders\" };",
        ] {
            assert!(Policy::from_descriptors(&descriptors(&[bad]), &["x.v1.S"]).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn a_public_method_that_requires_anything_is_refused() {
        let option = "option (authpair.policy.v1.policy) = { access: ACCESS_PUBLIC any_role: \"admin\" };";
        assert!(Policy::from_descriptors(&descriptors(&[option]), &["x.v1.S"]).is_err());
    }

    #[test]
    fn names_the_deployment_does_not_define_are_refused() -> Result<(), PolicyError> {
        let policy = Policy::from_descriptors(&descriptors(&[REFUND]), &["x.v1.S"])?;
        let set = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<BTreeSet<_>>();
        let known = Vocabulary { roles: set(&["support"]), scopes: set(&["orders:refund"]), quotas: set(&["refunds"]) };
        assert_eq!(policy.check_names(&known), Ok(()));
        for unknown in [
            Vocabulary { roles: set(&["viewer"]), ..known.clone() },
            Vocabulary { scopes: set(&["profile"]), ..known.clone() },
            Vocabulary { quotas: BTreeSet::new(), ..known.clone() },
        ] {
            assert!(policy.check_names(&unknown).is_err(), "{unknown:?}");
        }
        Ok(())
    }

    #[test]
    fn a_method_with_no_entry_has_no_rule() -> Result<(), PolicyError> {
        let policy = Policy::from_descriptors(&descriptors(&[PUBLIC]), &["x.v1.S"])?;
        assert_eq!(policy.rule("/x.v1.New/Method"), None);
        Ok(())
    }
}
