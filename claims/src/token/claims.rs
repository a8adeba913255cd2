//! What a verified access token says about its caller.
//!
//! [`Claims`] has no public constructor and no `Deserialize`: the only way to
//! get one is [`crate::Verifier::verify`]. Handlers read it from the request
//! through [`crate::caller`], never from the token string.

use serde::{Deserialize, Serialize};

/// The `sub` prefix of service-account tokens.
pub const SERVICE_SUBJECT_PREFIX: &str = "svc:";

/// Whether `name` is a service account's name (its client id, the rest of
/// its `sub`): 1 to 64 of a-z, 0-9 and '-'.
pub fn is_service_account_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The most services a token's `act` chain may name (RFC 8693 §4.1): a
/// token exchanged that many times is not exchanged again, and a longer
/// chain is not a valid token.
pub const MAX_ACTORS: usize = 4;

/// The role that may act on any object of an owner-checked method (see
/// [`crate::authorize_owner`]) and that the admin API requires. Every other
/// role is whatever the deployment defines.
pub const ADMIN_ROLE: &str = "admin";

/// The verified identity and grants of a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub(crate) subject: String,
    pub(crate) username: String,
    pub(crate) client_id: String,
    pub(crate) roles: Vec<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) plan: String,
    pub(crate) token_id: String,
    pub(crate) generation: u64,
    pub(crate) issuer: String,
    pub(crate) issued_at: u64,
    pub(crate) expires_at: u64,
    /// `aud`, as a list (RFC 7519 allows one string or an array).
    pub(crate) audiences: Vec<String>,
    /// Whether `aud` names the verifying service's own audience.
    pub(crate) for_this_service: bool,
    /// `cnf.x5t#S256` (RFC 8705 §3.1): the SHA-256 of the DER client
    /// certificate the token is bound to, if it is bound.
    pub(crate) certificate: Option<[u8; 32]>,
    /// `act` (RFC 8693 §4.1) flattened: the services acting for the
    /// subject, the current one first; empty for a caller acting as itself.
    pub(crate) actors: Vec<String>,
}

impl Claims {
    /// The stable user id (`sub`); never the username.
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// The login name (`preferred_username`), for display; [`Self::subject`]
    /// is the id to key on.
    pub fn username(&self) -> &str {
        &self.username
    }
    /// `client_id`: the client the token was issued to (RFC 9068).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// `roles`: the roles granted to the caller.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }
    /// Whether `roles` holds `role` exactly.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
    /// The scopes granted: `scope` split on spaces.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
    /// Whether the granted scopes hold `scope` exactly.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
    /// The caller's plan tier, which quotas are set by.
    pub fn plan(&self) -> &str {
        &self.plan
    }
    /// Service tokens have `sub` `svc:<name>`; user ids are UUIDs, so the
    /// two can never be confused.
    pub fn is_service(&self) -> bool {
        self.subject.starts_with(SERVICE_SUBJECT_PREFIX)
    }
    /// The token's `jti`: what a revocation names.
    pub fn token_id(&self) -> &str {
        &self.token_id
    }
    /// `gen`: the revocation-log head when the token was issued. A subject
    /// revocation logged at sequence S revokes that subject's tokens with
    /// `gen` below S, which are exactly those issued before it.
    pub fn generation(&self) -> u64 {
        self.generation
    }
    /// `iss`: the issuer that signed the token.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// `iat`, seconds since the Unix epoch.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }
    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
    /// `aud`: the services the token is for. What the policy checks is
    /// [`Self::is_for_this_service`]; this is for reporting (introspection).
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }
    /// Whether the token's `aud` names this service. A token meant only for
    /// another service of the deployment is accepted on public methods (the
    /// one a Logout carries to the auth service) and nowhere else.
    pub fn is_for_this_service(&self) -> bool {
        self.for_this_service
    }
    /// Whether the token's `aud` names `audience`: for a server that decides
    /// for several services (the gate), each with an audience of its own.
    pub fn is_for(&self, audience: &str) -> bool {
        self.audiences.iter().any(|a| a == audience)
    }
    /// The SHA-256 thumbprint of the client certificate the token is bound
    /// to (`cnf.x5t#S256`, RFC 8705): the auth layer accepts a bound token
    /// only on a connection whose verified client certificate has it.
    pub fn bound_certificate(&self) -> Option<&[u8; 32]> {
        self.certificate.as_ref()
    }
    /// The services acting on the subject's behalf, the one calling now
    /// first (`act.sub`, then `act.act.sub`, ...: RFC 8693 §4.1), each as
    /// its `sub` (`svc:<name>`); empty when the caller acts as itself.
    pub fn actors(&self) -> &[String] {
        &self.actors
    }
    /// Whether a service is acting on the subject's behalf (a token from
    /// token exchange).
    pub fn is_delegated(&self) -> bool {
        !self.actors.is_empty()
    }
}

/// `aud` may be one string or an array of strings (RFC 7519 §4.1.3); any
/// other JSON type fails deserialization and so verification.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The JSON payload of an access token, exactly as signed. A derived
/// `Deserialize` rejects duplicate keys and wrong JSON types, and `iss` is a
/// plain string so an array holding the right issuer next to a wrong one is
/// refused (jsonwebtoken alone would accept it).
///
/// Two members are optional, and never signed when they would repeat
/// another: `nbf` (a token is valid from `iat`), and `preferred_username`
/// (the username is `sub`, as in service tokens). A token that carries
/// either is read as before; when present each must have its JSON type
/// (`null` is not absent), and `nbf` is checked.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireClaims {
    pub iss: String,
    pub aud: Audience,
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub nbf: Option<u64>,
    pub iat: u64,
    pub jti: String,
    pub r#gen: u64,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub preferred_username: Option<String>,
    pub roles: Vec<String>,
    pub scope: String,
    pub plan: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub cnf: Option<Confirmation>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub act: Option<Actor>,
}

/// `act` (RFC 8693 §4.1): the party acting for the subject, and the one it
/// acts for in turn (nested, the current actor outermost). Only `sub` and
/// `act` are read; any other member is refused. A missing `sub` reads as
/// empty, which the verifier refuses as malformed (it is not the token's
/// own `sub` that is missing).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Actor {
    #[serde(default)]
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// The chain `actors` (the current one first) as nested `act`s.
    pub(crate) fn chain(actors: &[String]) -> Option<Actor> {
        actors.iter().rev().fold(None, |inner, sub| Some(Actor { sub: sub.clone(), act: inner.map(Box::new) }))
    }

    /// The chain flattened, the current actor first.
    pub(crate) fn flatten(&self) -> Vec<String> {
        std::iter::successors(Some(self), |a| a.act.as_deref()).map(|a| a.sub.clone()).collect()
    }
}

/// `cnf` (RFC 7800), with the one confirmation method authpair binds
/// tokens by: the client certificate's SHA-256 thumbprint (RFC 8705 §3.1),
/// base64url. Any other member is refused: a token bound by a method this
/// verifier cannot check must not pass as a bearer token.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Confirmation {
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

/// An optional member that, when present, must be a `T` (so `null` is
/// refused, where `Option`'s own `Deserialize` would read it as absent).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

impl Audience {
    /// How many audiences it names.
    pub(crate) fn len(&self) -> usize {
        match self {
            Audience::One(_) => 1,
            Audience::Many(many) => many.len(),
        }
    }

    pub(crate) fn names(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

impl WireClaims {
    /// The caller these claims describe, to a service whose own audience is
    /// `own_audience`.
    pub(crate) fn into_claims(self, own_audience: &str) -> Claims {
        Claims {
            for_this_service: self.aud.names(own_audience),
            audiences: match self.aud {
                Audience::One(one) => vec![one],
                Audience::Many(many) => many,
            },
            username: self.preferred_username.unwrap_or_else(|| self.sub.clone()),
            subject: self.sub,
            client_id: self.client_id,
            roles: self.roles,
            scopes: self.scope.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            plan: self.plan,
            token_id: self.jti,
            generation: self.r#gen,
            issuer: self.iss,
            issued_at: self.iat,
            expires_at: self.exp,
            certificate: None,
            actors: self.act.as_ref().map(Actor::flatten).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
impl Claims {
    /// What unit tests need of a verified caller: `sub`, expiring at `exp`
    /// after a 900 s lifetime; issuer "i", no roles, plan free.
    pub(crate) fn for_test(sub: &str, exp: u64) -> Self {
        WireClaims {
            iss: "i".into(),
            aud: Audience::One("a".into()),
            sub: sub.into(),
            exp,
            nbf: None,
            iat: exp.saturating_sub(900),
            jti: "j".into(),
            r#gen: 0,
            client_id: "c".into(),
            preferred_username: Some("u".into()),
            roles: vec![],
            scope: String::new(),
            plan: "free".into(),
            cnf: None,
            act: None,
        }
        .into_claims("a")
    }
}

/// What the auth service decided to grant; the input to signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `sub`: the user's stable id, or `svc:<name>` for a service account.
    pub subject: String,
    /// `preferred_username`: the login name.
    pub username: String,
    /// `client_id`: the client the token is issued to.
    pub client_id: String,
    /// `roles`: the roles granted.
    pub roles: Vec<String>,
    /// The scopes granted, signed as one space-separated `scope`.
    pub scopes: Vec<String>,
    /// `plan`: the plan tier that sets the caller's quotas.
    pub plan: String,
    /// The revocation-log head read before the caller was looked up.
    pub generation: u64,
    /// The `aud` to sign: the service the token is for. The caller asked
    /// for it, from the deployment's list, or took the default.
    pub audience: String,
    /// `cnf.x5t#S256` (RFC 8705): the SHA-256 of the DER client certificate
    /// the token is bound to, or `None` for a bearer token.
    pub certificate: Option<[u8; 32]>,
    /// `act`: the services acting for the subject, the current one first
    /// (token exchange); empty for a caller acting as itself.
    pub actors: Vec<String>,
    /// `exp` at most this (seconds since the Unix epoch), when earlier than
    /// the signer's lifetime gives: an exchanged token ends with its
    /// subject token.
    pub not_after: Option<u64>,
}
