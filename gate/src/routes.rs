//! The routes file (`--routes`, TOML): the services the gate decides for.
//! Each route names the audience its tokens must carry and its policy:
//! for a gRPC upstream, the `(authpair.policy.v1.policy)` options of its
//! own descriptor set files, exactly as a service linked with
//! `authpair-claims` reads them; for an HTTP upstream, rules of method and
//! path pattern ([`crate::http_rules`]). An Envoy route picks its route by
//! name with the `authpair_route` context extension; without one, the
//! `default_route` decides.
//!
//! Everything is checked when the gate starts, as a service's proto policy
//! is: a route without a policy, a rule that contradicts itself, a default
//! that names no route, a descriptor set without the policy option all
//! refuse the start, naming what is wrong.

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
};

use authpair_claims::{Access, Policy, Principal, Rule};
use serde::Deserialize;

use crate::http_rules::{HttpRule, HttpRules, PathPattern};

/// The context extension an Envoy route sets to pick a route by name.
pub const ROUTE_EXTENSION: &str = "authpair_route";

/// A routes file that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("route {route:?}: {problem}")]
    Route { route: String, problem: String },
    #[error("{0}")]
    File(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutesFile {
    default_route: Option<String>,
    #[serde(default)]
    route: Vec<RouteFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    name: String,
    audience: String,
    #[serde(default)]
    descriptor_sets: Vec<PathBuf>,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    rule: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    method: String,
    path: String,
    access: AccessFile,
    #[serde(default)]
    principal: PrincipalFile,
    #[serde(default)]
    any_role: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    quota: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum AccessFile {
    Public,
    Authenticated,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum PrincipalFile {
    #[default]
    Any,
    User,
    Service,
}

/// What a route checks requests against.
#[derive(Debug)]
pub enum RoutePolicy {
    /// A gRPC upstream: its methods' proto policy, by `/package.Service/Method`.
    Grpc(Policy),
    /// An HTTP upstream: the first rule whose method and path match.
    Http(HttpRules),
}

/// One upstream the gate decides for.
#[derive(Debug)]
pub struct Route {
    /// Its name, as `authpair_route` names it.
    pub name: String,
    /// The `aud` its tokens must carry.
    pub audience: String,
    /// Its policy.
    pub policy: RoutePolicy,
}

impl Route {
    /// The rule for a request with `method` to `path` (no query string), if
    /// one applies.
    pub fn rule(&self, method: &str, path: &str) -> Option<&Rule> {
        match &self.policy {
            RoutePolicy::Grpc(policy) => policy.rule(path),
            RoutePolicy::Http(rules) => rules.rule(method, path),
        }
    }

    fn rules(&self) -> Vec<&Rule> {
        match &self.policy {
            RoutePolicy::Grpc(policy) => policy.rules().map(|(_, rule)| rule).collect(),
            RoutePolicy::Http(rules) => rules.rules().collect(),
        }
    }
}

/// Every route, by name, and the default.
#[derive(Debug)]
pub struct Routes {
    routes: HashMap<String, Route>,
    default: Option<String>,
}

impl Routes {
    /// Reads and checks the routes file at `path`; descriptor set paths in
    /// it are relative to the file's directory.
    pub fn load(path: &Path) -> Result<Self, RoutesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RoutesError::Read { path: path.into(), source })?;
        let file: RoutesFile =
            toml::from_str(&text).map_err(|source| RoutesError::Parse { path: path.into(), source })?;
        Self::from_file(file, path.parent().unwrap_or(Path::new(".")))
    }

    /// The routes file's text, with descriptor set paths relative to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, RoutesError> {
        let file: RoutesFile =
            toml::from_str(text).map_err(|source| RoutesError::Parse { path: "the routes file".into(), source })?;
        Self::from_file(file, base)
    }

    fn from_file(file: RoutesFile, base: &Path) -> Result<Self, RoutesError> {
        if file.route.is_empty() {
            return Err(RoutesError::File("no [[route]]: the gate would deny every request".into()));
        }
        let mut routes = HashMap::new();
        for route in file.route {
            let route = build_route(route, base)?;
            if routes.contains_key(&route.name) {
                return Err(RoutesError::Route { route: route.name, problem: "is defined twice".into() });
            }
            routes.insert(route.name.clone(), route);
        }
        let default = match file.default_route {
            Some(name) if !routes.contains_key(&name) => {
                return Err(RoutesError::File(format!("default_route {name:?} names no route")));
            }
            Some(name) => Some(name),
            // One route is the default of every request.
            None if routes.len() == 1 => routes.keys().next().cloned(),
            None => None,
        };
        Ok(Self { routes, default })
    }

    /// The route `name` picks (the `authpair_route` extension), or the
    /// default when there is no name.
    pub fn route(&self, name: Option<&str>) -> Option<&Route> {
        match name {
            Some(name) => self.routes.get(name),
            None => self.default.as_ref().and_then(|name| self.routes.get(name)),
        }
    }

    /// Every route's audience, each once, in name order.
    pub fn audiences(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.routes.values().map(|r| r.audience.as_str()).collect();
        set.into_iter().map(str::to_owned).collect()
    }

    /// The routes' audiences, none of them `auth_audience` (the auth
    /// service's own: tokens for its admin API would pass here).
    pub fn audiences_besides(&self, auth_audience: &str) -> anyhow::Result<Vec<String>> {
        let audiences = self.audiences();
        if audiences.iter().any(|a| a == auth_audience) {
            anyhow::bail!(
                "a route's audience is the auth service's own ({auth_audience:?}, --auth-audience): tokens for its admin API would pass"
            );
        }
        Ok(audiences)
    }

    /// Every quota any rule names.
    pub fn quotas(&self) -> BTreeSet<String> {
        self.routes
            .values()
            .flat_map(Route::rules)
            .filter_map(|rule| rule.quota.as_deref().map(str::to_owned))
            .collect()
    }

    /// Every rule of every route, named `route METHOD pattern` (HTTP) or
    /// `route /package.Service/Method` (gRPC): what the follower checks
    /// against the roles, scopes and quotas the auth service announces, so
    /// a rule naming one the deployment does not define is logged as an
    /// error (it would deny every caller).
    pub fn naming_policy(&self) -> Policy {
        let named = self.routes.values().flat_map(|route| {
            let rules: Vec<(String, Rule)> = match &route.policy {
                RoutePolicy::Grpc(policy) => {
                    policy.rules().map(|(method, rule)| (format!("{} {method}", route.name), rule.clone())).collect()
                }
                RoutePolicy::Http(rules) => {
                    rules.named().map(|(name, rule)| (format!("{} {name}", route.name), rule.clone())).collect()
                }
            };
            rules
        });
        Policy::named(named)
    }

    /// The routes' names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.routes.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

fn build_route(route: RouteFile, base: &Path) -> Result<Route, RoutesError> {
    let problem = |problem: String| RoutesError::Route { route: route.name.clone(), problem };
    if route.name.is_empty() || !route.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(problem("a route's name is letters, digits, - and _".into()));
    }
    if route.audience.trim().is_empty() {
        return Err(problem("audience must not be empty".into()));
    }
    let grpc = !route.descriptor_sets.is_empty() || !route.services.is_empty();
    let policy = match (grpc, route.rule.is_empty()) {
        (true, false) => return Err(problem("has both gRPC services and HTTP rules; give one or the other".into())),
        (false, true) => {
            return Err(problem("has no policy: give descriptor_sets and services, or [[route.rule]]".into()));
        }
        (true, true) => RoutePolicy::Grpc(grpc_policy(&route, base).map_err(problem)?),
        (false, false) => {
            let rules = route.rule.iter().enumerate().map(|(i, rule)| {
                http_rule(rule).map_err(|e| format!("rule {} ({} {}): {e}", i + 1, rule.method, rule.path))
            });
            RoutePolicy::Http(HttpRules::new(rules.collect::<Result<_, _>>().map_err(problem)?))
        }
    };
    Ok(Route { name: route.name, audience: route.audience, policy })
}

/// The proto policy of the route's services, from its descriptor set files
/// (each as `protoc --include_imports --descriptor_set_out` writes it, or
/// the bytes a tonic service hands reflection).
fn grpc_policy(route: &RouteFile, base: &Path) -> Result<Policy, String> {
    if route.descriptor_sets.is_empty() || route.services.is_empty() {
        return Err("a gRPC route needs both descriptor_sets and services".into());
    }
    // Encoded descriptor sets concatenate into one (their `file` lists
    // join); decoding them into prost's types instead would drop the
    // policy option, an extension those types do not know.
    let mut set = Vec::new();
    for path in &route.descriptor_sets {
        let path = base.join(path);
        set.extend(std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?);
    }
    let services: Vec<&str> = route.services.iter().map(String::as_str).collect();
    Policy::from_descriptors(&set, &services).map_err(|e| e.to_string())
}

fn http_rule(rule: &RuleFile) -> Result<HttpRule, String> {
    let method = rule.method.trim();
    if method != "*" && (method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase())) {
        return Err("method is an HTTP method in capitals, or *".into());
    }
    let access = match rule.access {
        AccessFile::Public => Access::Public,
        AccessFile::Authenticated => Access::Authenticated,
    };
    let principal = match rule.principal {
        PrincipalFile::Any => Principal::Any,
        PrincipalFile::User => Principal::User,
        PrincipalFile::Service => Principal::Service,
    };
    let quota = rule.quota.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let restricts = !rule.any_role.is_empty() || !rule.scopes.is_empty() || principal != Principal::Any;
    if access == Access::Public && (restricts || quota.is_some()) {
        return Err("a public rule cannot require roles, scopes, a kind of principal or a quota".into());
    }
    if let Some(blank) = rule.any_role.iter().chain(&rule.scopes).find(|n| n.trim().is_empty() || n.contains(' ')) {
        return Err(format!("{blank:?} is not a role or scope name"));
    }
    if let Some(quota) = quota.filter(|q| q.contains(' ')) {
        return Err(format!("{quota:?} is not a quota name"));
    }
    let rule_of = Rule {
        access,
        principal,
        any_role: rule.any_role.clone(),
        scopes: rule.scopes.clone(),
        owner_checked: false,
        quota: quota.map(std::sync::Arc::from),
        ..Rule::public()
    };
    Ok(HttpRule {
        method: (method != "*").then(|| method.to_owned()),
        path: PathPattern::parse(&rule.path)?,
        rule: rule_of,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        match Routes::parse(text, Path::new(".")) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    const RULE: &str = "[[route.rule]]\nmethod = \"GET\"\npath = \"/x\"\naccess = \"authenticated\"\n";

    #[test]
    fn a_routes_file_that_would_deny_or_allow_by_accident_refuses_the_start_naming_the_problem() {
        let cases = [
            ("", "no [[route]]"),
            ("[[route]]\nname = \"a\"\naudience = \"x\"\n", "has no policy"),
            (&format!("[[route]]\nname = \"a b\"\naudience = \"x\"\n{RULE}"), "a route's name is"),
            (&format!("[[route]]\nname = \"a\"\naudience = \" \"\n{RULE}"), "audience must not be empty"),
            (
                &format!("[[route]]\nname = \"a\"\naudience = \"x\"\nservices = [\"s.v1.S\"]\n{RULE}"),
                "has both gRPC services and HTTP rules",
            ),
            (
                "[[route]]\nname = \"a\"\naudience = \"x\"\nservices = [\"s.v1.S\"]\n",
                "needs both descriptor_sets and services",
            ),
            (
                "[[route]]\nname = \"a\"\naudience = \"x\"\ndescriptor_sets = [\"missing.binpb\"]\nservices = [\"s.v1.S\"]\n",
                "reading ./missing.binpb: No such file",
            ),
            (
                &format!(
                    "[[route]]\nname = \"a\"\naudience = \"x\"\n{RULE}[[route]]\nname = \"a\"\naudience = \"y\"\n{RULE}"
                ),
                "is defined twice",
            ),
            (
                &format!("default_route = \"b\"\n[[route]]\nname = \"a\"\naudience = \"x\"\n{RULE}"),
                "default_route \"b\" names no route",
            ),
            (
                "[[route]]\nname = \"a\"\naudience = \"x\"\n[[route.rule]]\nmethod = \"GET\"\npath = \"/x\"\naccess = \"public\"\nany_role = [\"admin\"]\n",
                "a public rule cannot require",
            ),
            (
                "[[route]]\nname = \"a\"\naudience = \"x\"\n[[route.rule]]\nmethod = \"get\"\npath = \"/x\"\naccess = \"public\"\n",
                "method is an HTTP method in capitals",
            ),
            (
                "[[route]]\nname = \"a\"\naudience = \"x\"\n[[route.rule]]\nmethod = \"GET\"\npath = \"/x/../y\"\naccess = \"public\"\n",
                "is not a segment of a normal path",
            ),
            (
                "[[route]]\nname = \"a\"\naudience = \"x\"\n[[route.rule]]\nmethod = \"GET\"\npath = \"/x\"\naccess = \"authenticated\"\nscopes = [\"a b\"]\n",
                "is not a role or scope name",
            ),
            (&format!("[[route]]\nname = \"a\"\naudience = \"x\"\nlimit = 3\n{RULE}"), "unknown field `limit`"),
        ];
        for (text, expected) in cases {
            let error = refused(text);
            assert!(error.contains(expected), "{text}\nsaid {error:?}, expected {expected:?}");
        }
    }

    #[test]
    fn a_rule_naming_a_role_or_scope_the_deployment_lacks_is_found_by_route_method_and_pattern()
    -> Result<(), RoutesError> {
        let text = "[[route]]\nname = \"web\"\naudience = \"x\"\n[[route.rule]]\nmethod = \"GET\"\npath = \"/v1/*/x\"\naccess = \"authenticated\"\nany_role = [\"auditor\"]\n";
        let routes = Routes::parse(text, Path::new("."))?;
        let table = authpair_claims::RoleScopes::parse(authpair_claims::token::roles::DEFAULT_ROLE_SCOPES)
            .map_err(RoutesError::File)?;
        let error = routes.naming_policy().check_names(&table.vocabulary([])).err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("web GET /v1/*/x: unknown role \"auditor\""));
        Ok(())
    }

    #[test]
    fn a_grpc_route_reads_its_services_policy_from_its_descriptor_set_file() -> Result<(), RoutesError> {
        let dir = tempfile::tempdir().map_err(|e| RoutesError::File(e.to_string()))?;
        std::fs::write(dir.path().join("resource.binpb"), authpair_proto::FILE_DESCRIPTOR_SET)
            .map_err(|e| RoutesError::File(e.to_string()))?;
        let text = "[[route]]\nname = \"r\"\naudience = \"authpair\"\ndescriptor_sets = [\"resource.binpb\"]\nservices = [\"resource.v1.ResourceService\"]\n";
        let routes = Routes::parse(text, dir.path())?;
        let route = routes.route(None).ok_or_else(|| RoutesError::File("one route is the default".into()))?;
        let rule = route.rule("POST", "/resource.v1.ResourceService/GetAdminDashboard");
        assert_eq!(rule.map(|r| r.any_role.clone()), Some(vec!["admin".to_owned()]));
        assert_eq!(route.rule("POST", "/resource.v1.ResourceService/Nope"), None);
        assert_eq!(routes.quotas().into_iter().collect::<Vec<_>>(), ["search"]);
        let unknown = "[[route]]\nname = \"r\"\naudience = \"authpair\"\ndescriptor_sets = [\"resource.binpb\"]\nservices = [\"nope.v1.Nope\"]\n";
        let error = Routes::parse(unknown, dir.path()).err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("route \"r\": service nope.v1.Nope is not in the descriptor set"));
        Ok(())
    }
}
