//! The method policy authpair's own services run with (built from
//! `authpair_proto::FILE_DESCRIPTOR_SET`), on arbitrary paths and callers.
//! `Policy::rule` has a rule for exactly the methods the descriptors
//! declare for those services plus the standard health and reflection
//! methods (listed here from the descriptor pool itself, not from the
//! policy), and none for any other path, however close. `Rule::authorize`
//! never panics and decides as documented: public passes; otherwise a
//! caller is needed, whose token names this service, of the right kind,
//! holding one of the roles and all of the scopes.
#![no_main]

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, OnceLock},
};

use authpair_claims::{Access, AuthError, Claims, Policy, Principal, Rule, policy::STANDARD_METHODS};
use authpair_fuzz::{AUDIENCE, PUBLIC_AUDIENCE, fixture, good_claims, now, signed};
use authpair_proto::{AUTH_SERVICES, FILE_DESCRIPTOR_SET, RESOURCE_SERVICES};
use libfuzzer_sys::{arbitrary, fuzz_target};
use prost_reflect::DescriptorPool;

struct Served {
    policy: Policy,
    /// Every path that must have a rule, sorted.
    methods: Vec<String>,
}

struct World {
    served: [Served; 2],
    /// Every role and scope any rule names, plus names none does.
    roles: Vec<String>,
    scopes: Vec<String>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET).unwrap_or_else(|e| panic!("descriptors: {e}"));
        let served = [AUTH_SERVICES, RESOURCE_SERVICES].map(|services| {
            let policy = Policy::from_descriptors(FILE_DESCRIPTOR_SET, services).unwrap_or_else(|e| panic!("{e}"));
            let mut methods: BTreeSet<String> = STANDARD_METHODS.iter().map(|m| (*m).to_owned()).collect();
            for name in services {
                let service = pool.get_service_by_name(name).unwrap_or_else(|| panic!("{name}"));
                methods.extend(service.methods().map(|m| format!("/{}/{}", service.full_name(), m.name())));
            }
            Served { policy, methods: methods.into_iter().collect() }
        });
        let mut roles = BTreeSet::from(["admin".to_owned(), "nobody".to_owned()]);
        let mut scopes = BTreeSet::from(["nothing:granted".to_owned()]);
        for served in &served {
            for (_, rule) in served.policy.rules() {
                roles.extend(rule.any_role.iter().cloned());
                scopes.extend(rule.scopes.iter().cloned());
            }
        }
        World { served, roles: roles.into_iter().collect(), scopes: scopes.into_iter().collect() }
    })
}

#[derive(Debug, arbitrary::Arbitrary)]
enum Path {
    /// A served method, maybe changed a little.
    Known(u8, Change),
    Any(String),
}

#[derive(Debug, arbitrary::Arbitrary)]
enum Change {
    None,
    Upper(u8),
    Drop(u8),
    Append(String),
    Prefix(String),
}

/// A caller's shape; the target makes it a real verified token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, arbitrary::Arbitrary)]
struct Shape {
    /// Which of the vocabulary's roles and scopes the caller holds.
    roles: u32,
    scopes: u32,
    service: bool,
    /// `aud` names this service (else only another of the deployment's).
    own_audience: bool,
}

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    resource: bool,
    path: Path,
    caller: Option<Shape>,
}

fn pick(names: &[String], mask: u32) -> Vec<String> {
    names.iter().enumerate().filter(|(i, _)| mask >> (i % 32) & 1 == 1).map(|(_, n)| n.clone()).collect()
}

/// A verified caller of that shape, signed and verified once per shape.
fn caller(shape: Shape) -> Arc<Claims> {
    static CALLERS: OnceLock<Mutex<HashMap<Shape, Arc<Claims>>>> = OnceLock::new();
    let mut callers = CALLERS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if callers.len() > 4096 {
        callers.clear();
    }
    Arc::clone(callers.entry(shape).or_insert_with(|| {
        let world = world();
        let mut claims = good_claims(now());
        claims["sub"] = if shape.service { "svc:orders" } else { "user-1" }.into();
        claims["aud"] = if shape.own_audience { AUDIENCE } else { PUBLIC_AUDIENCE }.into();
        claims["roles"] = pick(&world.roles, shape.roles).into();
        claims["scope"] = pick(&world.scopes, shape.scopes).join(" ").into();
        let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": fixture().key.kid()}).to_string();
        let token = signed(header.as_bytes(), claims.to_string().as_bytes());
        fixture().verifier.verify(&token).unwrap_or_else(|e| panic!("caller {shape:?}: {e}"))
    }))
}

/// The documented order of `Rule::authorize`'s checks.
fn expected(rule: &Rule, caller: Option<&Claims>) -> Result<(), AuthError> {
    if rule.access == Access::Public {
        return Ok(());
    }
    let caller = caller.ok_or(AuthError::TokenMissing)?;
    if !caller.is_for_this_service() {
        return Err(AuthError::WrongAudience);
    }
    match (rule.principal, caller.subject().starts_with("svc:")) {
        (Principal::User, true) => return Err(AuthError::UserRequired),
        (Principal::Service, false) => return Err(AuthError::ServiceRequired),
        _ => {}
    }
    if !rule.any_role.is_empty() && !rule.any_role.iter().any(|r| caller.roles().contains(r)) {
        return Err(AuthError::RoleRequired(rule.any_role[0].clone()));
    }
    match rule.scopes.iter().find(|s| !caller.scopes().contains(s)) {
        Some(missing) => Err(AuthError::ScopeRequired(missing.clone())),
        None => Ok(()),
    }
}

fuzz_target!(|input: Input| {
    let world = world();
    let served = &world.served[usize::from(input.resource)];
    let path = match input.path {
        Path::Any(path) => path,
        Path::Known(i, change) => {
            let mut path = served.methods[usize::from(i) % served.methods.len()].clone();
            match change {
                Change::None => {}
                Change::Upper(at) => {
                    let at = usize::from(at) % path.len();
                    path = format!("{}{}", &path[..at], path[at..].to_ascii_uppercase());
                }
                Change::Drop(at) => {
                    path.remove(usize::from(at) % path.len());
                }
                Change::Append(tail) => path.push_str(&tail),
                Change::Prefix(head) => path.insert_str(0, &head),
            }
            path
        }
    };
    let known = served.methods.binary_search(&path).is_ok();
    let Some(rule) = served.policy.rule(&path) else {
        assert!(!known, "no rule for served method {path:?}");
        return;
    };
    assert!(known, "a rule for {path:?}, which is not a served method");
    let caller = input.caller.map(caller);
    assert_eq!(rule.authorize(caller.as_deref()), expected(rule, caller.as_deref()), "{path} {:?}", input.caller);
});
