//! Strict access-token verification. The order of checks:
//!
//! 1. size cap and compact shape (three base64url segments), before any JSON;
//! 2. our own header parse: only `alg`, `typ` and `kid` are allowed, so `crit`,
//!    `jwk`, `jku`, `x5u` and `x5c` are refused and nothing is ever fetched
//!    from a URL in a token; `alg` must be EdDSA (one algorithm per key),
//!    `typ` must be at+jwt (jsonwebtoken never checks `typ`);
//! 3. `kid` is only a lookup into the keys we were given;
//! 4. the signature over `header.payload`, checked with that key as
//!    ed25519-dalek's `verify_strict` does, by the backend the configuration
//!    names ([`crate::token::ed25519::Ed25519Backend`]; each trusted key is prepared
//!    for it when the keys are set, so nothing process-wide decides which code
//!    runs);
//! 5. the payload: every member of `WireClaims` with its JSON type, each
//!    required but `nbf` and `preferred_username` (so `exp`, `iss`, `aud`
//!    and `sub` are required), then the checks jsonwebtoken's `Validation`
//!    makes, in its order: `exp` and, when present, `nbf` with leeway,
//!    `iss` among the accepted issuers (an earlier issuer's token is then
//!    read as the current one's), then `aud` among the service's audiences;
//! 6. our own checks: `aud` names one audience (unless configured
//!    otherwise), `iat` not in the future, lifetime within the maximum,
//!    non-empty `sub` and `jti`, every role one the deployment defines
//!    (`UNKNOWN_ROLE` otherwise, logged with the role); and whether `aud`
//!    named the service's own audience rather than only one of its public
//!    ones, which the policy requires of every method that needs
//!    authentication (TF-11 d).
//!
//! The accepted issuers and roles come from the configuration or, for a
//! service following the auth service, from the [`Deployment`] it
//! announces; a change empties the cache.
//!
//! A token that passed all of that is offered to a bounded cache keyed by the
//! exact token string (`token_cache`), which keeps it from its second
//! verification on, so a client reusing its token costs a hash lookup instead
//! of a signature check. A hit still checks expiry with leeway; the denylist
//! and the policy run on every call after this, hit or miss. Only verified
//! tokens are cached, the cache is bounded in bytes, and it is emptied
//! whenever the trusted keys change.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;

use super::{
    claims::{Claims, MAX_ACTORS, SERVICE_SUBJECT_PREFIX, WireClaims, is_service_account_name},
    deployment::Deployment,
    ed25519::{Ed25519Backend, TrustedKey},
    keys::{ALGORITHM, KeyError, PublicJwk},
    roles::valid_name,
    token_cache::TokenCache,
};
use crate::error::AuthError;

/// Tokens longer than this are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default bound of the verified-token cache: about 13,000 typical tokens.
pub const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;
const MAX_KID_BYTES: usize = 128;

/// What a verifier accepts.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The `iss` a token must carry. `Some`: that issuer alone, for good
    /// (the auth service's own verifier, or a service whose operator pins
    /// it). `None`: the issuer the auth service announces and its previous
    /// ones ([`Verifier::set_deployment`]); until an announcement arrives
    /// every token is refused as `KEYS_UNAVAILABLE`.
    pub issuer: Option<String>,
    /// This service's own audience. A token must name it to call any method
    /// that needs authentication.
    pub audience: String,
    /// Other audiences of the deployment, accepted on public methods only:
    /// the auth service takes the resource services' tokens there (the one a
    /// Logout carries, to revoke it). Empty on a resource service.
    pub public_audiences: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// The longest `exp - iat` accepted: the issuer's maximum token lifetime.
    pub max_lifetime: Duration,
    /// Bound of the verified-token cache in bytes; 0 disables it.
    pub cache_bytes: u64,
    /// Which code checks token signatures; the verdict is the same either way.
    pub ed25519: Ed25519Backend,
    /// The roles the deployment defines, when known from the start (the
    /// auth service's own table); a verifier that follows the feed learns
    /// them from the announced [`Deployment`]. A token naming any other role
    /// is refused as `UNKNOWN_ROLE`. `None` until known: any well-formed name.
    pub roles: Option<BTreeSet<String>>,
    /// Whether a token whose `aud` is an array of more than one audience is
    /// accepted. authpair signs exactly one audience per token, so by
    /// default such a token is refused as `TOKEN_INVALID` (audience
    /// confusion: one token good at two services).
    pub multiple_audiences: bool,
}

impl VerifierConfig {
    /// The given issuer, audience, leeway and maximum lifetime, with the
    /// default cache and the default (prepared) Ed25519 backend.
    pub fn new(issuer: String, audience: String, leeway: Duration, max_lifetime: Duration) -> Self {
        Self {
            issuer: Some(issuer),
            audience,
            public_audiences: Vec::new(),
            leeway,
            max_lifetime,
            cache_bytes: DEFAULT_CACHE_BYTES,
            ed25519: Ed25519Backend::default(),
            roles: None,
            multiple_audiences: false,
        }
    }

    /// As [`Self::new`], for a service that follows the auth service: the
    /// issuer and roles are the ones it announces.
    pub fn following(audience: String, leeway: Duration, max_lifetime: Duration) -> Self {
        Self { issuer: None, ..Self::new(String::new(), audience, leeway, max_lifetime) }
    }
}

/// Verifies access tokens against a replaceable set of public keys.
#[derive(Debug)]
pub struct Verifier {
    config: VerifierConfig,
    keys: RwLock<Arc<HashMap<String, Arc<TrustedKey>>>>,
    /// The issuers and roles accepted now: from the configuration, then from
    /// each announced [`Deployment`].
    trust: RwLock<Arc<Trust>>,
    unknown_kid: tokio::sync::Notify,
    cache: Option<TokenCache>,
}

/// The issuers (the canonical one first; empty: none known yet) and the
/// roles a verifier accepts now, and the deployment they came from.
#[derive(Debug, PartialEq, Eq)]
struct Trust {
    issuers: Vec<String>,
    roles: Option<BTreeSet<String>>,
    deployment: Option<Deployment>,
}

/// The only header members we accept.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoseHeader {
    alg: String,
    typ: String,
    kid: String,
}

impl Verifier {
    /// A verifier with no keys yet (every token is refused with
    /// `KEYS_UNAVAILABLE` until [`Self::set_keys`]).
    pub fn new(config: VerifierConfig) -> Self {
        let cache = TokenCache::new(config.cache_bytes);
        let trust =
            Trust { issuers: config.issuer.iter().cloned().collect(), roles: config.roles.clone(), deployment: None };
        Self {
            config,
            keys: RwLock::new(Arc::new(HashMap::new())),
            trust: RwLock::new(Arc::new(trust)),
            unknown_kid: tokio::sync::Notify::new(),
            cache,
        }
    }

    /// Takes what the auth service announced: its role table always, its
    /// issuers unless the configuration pins one. Returns whether anything
    /// changed (then the verified-token cache is emptied, as a cached token
    /// was judged by the old rules). A pinned issuer the auth service does
    /// not announce is logged: every token is then refused as
    /// `TOKEN_INVALID` until the two agree.
    pub fn set_deployment(&self, deployment: &Deployment) -> bool {
        if let Some(pinned) = &self.config.issuer
            && !deployment.issuers().any(|issuer| issuer == pinned)
        {
            tracing::error!(
                pinned = %pinned,
                announced = %deployment.issuer,
                "the auth service announces another issuer than the one configured here; tokens are refused"
            );
        }
        let issuers = match &self.config.issuer {
            Some(pinned) => vec![pinned.clone()],
            None => deployment.issuers().map(str::to_owned).collect(),
        };
        let roles = Some(deployment.role_scopes.roles().map(str::to_owned).collect());
        let next = Trust { issuers, roles, deployment: Some(deployment.clone()) };
        {
            let mut trust = self.trust.write().unwrap_or_else(|poison| poison.into_inner());
            if **trust == next {
                return false;
            }
            *trust = Arc::new(next);
        }
        if let Some(cache) = &self.cache {
            cache.clear();
        }
        true
    }

    /// The deployment the auth service last announced, if any.
    pub fn deployment(&self) -> Option<Deployment> {
        self.current_trust().deployment.clone()
    }

    fn current_trust(&self) -> Arc<Trust> {
        // As with the keys: a writer only ever swaps an Arc.
        self.trust.read().unwrap_or_else(|poison| poison.into_inner()).clone()
    }

    /// What this verifier accepts.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Replaces the trusted keys. A key already trusted under the same kid
    /// is kept as it is rather than prepared again.
    pub fn set_keys(&self, keys: &[PublicJwk]) -> Result<(), KeyError> {
        let current = self.current_keys();
        let mut map = HashMap::with_capacity(keys.len());
        for key in keys {
            let bytes = key.public_key_bytes()?;
            let trusted = match current.get(&key.kid) {
                Some(known) if *known.bytes() == bytes => Arc::clone(known),
                _ => Arc::new(
                    TrustedKey::new(&bytes, self.config.ed25519)
                        .ok_or(KeyError::InvalidJwk("x is not a curve point"))?,
                ),
            };
            map.insert(key.kid.clone(), trusted);
        }
        *self.keys.write().unwrap_or_else(|poison| poison.into_inner()) = Arc::new(map);
        // A cached token may have been verified with a key no longer trusted.
        if let Some(cache) = &self.cache {
            cache.clear();
        }
        Ok(())
    }

    /// Woken when a token names a kid we do not have. Whoever loads keys
    /// decides, rate-limited, whether to re-read them; verification itself
    /// never fetches anything.
    pub fn unknown_kid_seen(&self) -> &tokio::sync::Notify {
        &self.unknown_kid
    }

    /// How many keys are trusted now.
    pub fn key_count(&self) -> usize {
        self.current_keys().len()
    }

    fn current_keys(&self) -> Arc<HashMap<String, Arc<TrustedKey>>> {
        // A poisoned lock only means a writer panicked mid-swap of an Arc,
        // which cannot leave the map half-written; keep serving.
        self.keys.read().unwrap_or_else(|poison| poison.into_inner()).clone()
    }

    /// Verifies `token`, from the cache when it was verified before.
    pub fn verify(&self, token: &str) -> Result<Arc<Claims>, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TokenTooLarge);
        }
        let Some(cache) = &self.cache else {
            return self.verify_uncached(token).map(Arc::new);
        };
        if let Some(claims) = cache.get(token) {
            // Everything but the clock was settled when it went in.
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| AuthError::Malformed)?.as_secs();
            if claims.expires_at().saturating_add(self.config.leeway.as_secs()) < now {
                return Err(AuthError::Expired);
            }
            return Ok(claims);
        }
        let claims = Arc::new(self.verify_uncached(token)?);
        cache.offer(token, &claims);
        Ok(claims)
    }

    /// The full check, no cache: what every cache miss runs.
    pub fn verify_uncached(&self, token: &str) -> Result<Claims, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TokenTooLarge);
        }
        // Before any decoding: a JWS in compact form is base64url and dots.
        // This is also the only character check a bearer token gets (see
        // `bearer`), so it must stay first.
        if !is_compact_jws(token.as_bytes()) {
            return Err(AuthError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        // What was signed: the header and payload segments and the dot
        // between them, exactly as they appear in the token.
        let signing_input = &token[..header.len() + 1 + payload.len()];
        let header = URL_SAFE_NO_PAD.decode(header).map_err(|_| AuthError::Malformed)?;
        if !is_json_object(&header) {
            return Err(AuthError::Malformed);
        }
        let header: JoseHeader = serde_json::from_slice(&header).map_err(|_| AuthError::Malformed)?;
        if header.alg != ALGORITHM {
            return Err(AuthError::WrongAlgorithm);
        }
        if !is_access_token_type(&header.typ) {
            return Err(AuthError::WrongType);
        }
        if header.kid.len() > MAX_KID_BYTES {
            return Err(AuthError::UnknownKey);
        }
        let keys = self.current_keys();
        if keys.is_empty() {
            return Err(AuthError::KeysUnavailable);
        }
        let Some(key) = keys.get(&header.kid) else {
            self.unknown_kid.notify_one();
            return Err(AuthError::UnknownKey);
        };

        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| AuthError::Malformed)?;
        key.verify(signing_input.as_bytes(), &signature).map_err(|_| AuthError::BadSignature)?;

        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| AuthError::Malformed)?;
        if !is_json_object(&payload) {
            return Err(AuthError::Malformed);
        }
        let mut wire: WireClaims = serde_json::from_slice(&payload).map_err(|e| map_json_error(&e))?;
        let trust = self.current_trust();

        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| AuthError::Malformed)?.as_secs();
        let leeway = self.config.leeway.as_secs();
        // What jsonwebtoken's `Validation` checked, in its order.
        if wire.exp < now.saturating_sub(leeway) {
            return Err(AuthError::Expired);
        }
        if wire.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(AuthError::NotYetValid);
        }
        // An earlier issuer's token is read as the current issuer's, so its
        // revocations (logged under the current one) reach it.
        match trust.issuers.iter().position(|issuer| *issuer == wire.iss) {
            Some(0) => {}
            Some(_) => wire.iss.clone_from(&trust.issuers[0]),
            None if trust.issuers.is_empty() => return Err(AuthError::KeysUnavailable),
            None => return Err(AuthError::WrongIssuer),
        }
        // Any of the service's audiences passes here; `Claims::is_for_this_service`
        // tells the policy whether it was the service's own.
        let mut audiences = std::iter::once(&self.config.audience).chain(&self.config.public_audiences);
        if !audiences.any(|audience| wire.aud.names(audience)) {
            return Err(AuthError::WrongAudience);
        }
        if wire.aud.len() > 1 && !self.config.multiple_audiences {
            return Err(AuthError::WrongAudience);
        }
        if wire.iat > now.saturating_add(leeway) {
            return Err(AuthError::IssuedInFuture);
        }
        if wire.exp.saturating_sub(wire.iat) > self.config.max_lifetime.as_secs() {
            return Err(AuthError::LifetimeTooLong);
        }
        if wire.sub.is_empty() {
            return Err(AuthError::MissingClaim("sub"));
        }
        if wire.jti.is_empty() {
            return Err(AuthError::MissingClaim("jti"));
        }
        if !wire.roles.iter().all(|role| valid_name(role)) {
            return Err(AuthError::Malformed);
        }
        if let Some(roles) = &trust.roles
            && let Some(unknown) = wire.roles.iter().find(|role| !roles.contains(*role))
        {
            // Signed by the auth service, so the deployment once defined it:
            // the role was since removed, or this service was told another
            // table. Say which, for the operator.
            tracing::warn!(role = %unknown, subject = %wire.sub, "a token names a role the deployment does not define");
            return Err(AuthError::UnknownRole(unknown.clone()));
        }
        // A bound token's thumbprint: exactly a SHA-256, base64url.
        let certificate = match &wire.cnf {
            None => None,
            Some(cnf) => Some(
                URL_SAFE_NO_PAD
                    .decode(&cnf.x5t_s256)
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or(AuthError::Malformed)?,
            ),
        };
        let mut claims = wire.into_claims(&self.config.audience);
        // An actor chain: services only, and not longer than MAX_ACTORS.
        let actors = claims.actors();
        if actors.len() > MAX_ACTORS
            || !actors.iter().all(|a| a.strip_prefix(SERVICE_SUBJECT_PREFIX).is_some_and(is_service_account_name))
        {
            return Err(AuthError::Malformed);
        }
        claims.certificate = certificate;
        Ok(claims)
    }
}

/// Only base64url characters (without padding, RFC 7515 §2) and the dots of
/// the compact serialization (RFC 7515 §7.1). Folds over every byte rather than stopping early, so the loop
/// has no branch and vectorizes.
fn is_compact_jws(token: &[u8]) -> bool {
    token.iter().fold(true, |ok, &b| ok & (b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_') | (b == b'.')))
}

/// Whether `json` starts, after JSON whitespace, as an object. The JOSE
/// header and the claims set are JSON objects (RFC 7515 §4, RFC 7519 §7.2),
/// but a derived `Deserialize` also reads a struct from an array of its
/// members' values in order, which serde_json offers it: `["EdDSA","at+jwt",
/// kid]` would pass as a header. Anything but an object is refused first.
fn is_json_object(json: &[u8]) -> bool {
    json.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) == Some(&b'{')
}

/// RFC 9068 §4: `typ` is "at+jwt" or "application/at+jwt", case-insensitive
/// (a media type, RFC 7515 §4.1.9), the prefix included.
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// A payload that does not read as [`WireClaims`]: a missing member is named
/// (when it is one we know), anything else is malformed.
fn map_json_error(err: &serde_json::Error) -> AuthError {
    match missing_field(&err.to_string()) {
        Some(claim) => AuthError::MissingClaim(claim),
        None => AuthError::Malformed,
    }
}

/// Maps a claim name onto a static string, so the message can name it
/// without echoing anything the client sent.
fn claim_name(claim: &str) -> &'static str {
    CLAIM_NAMES.into_iter().find(|k| *k == claim).unwrap_or("unknown")
}

/// Every claim of an access token, in `WireClaims`' order.
const CLAIM_NAMES: [&str; 13] = [
    "iss",
    "aud",
    "sub",
    "exp",
    "nbf",
    "iat",
    "jti",
    "gen",
    "client_id",
    "preferred_username",
    "roles",
    "scope",
    "plan",
];

fn missing_field(message: &str) -> Option<&'static str> {
    let rest = message.strip_prefix("missing field `")?;
    Some(claim_name(rest.split('`').next()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{
        claims::Grant,
        keys::SigningKey,
        signer::{SignError, TokenSigner},
    };
    use secrecy::ExposeSecret;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn verifier() -> Verifier {
        Verifier::new(VerifierConfig::new("i".into(), "a".into(), Duration::from_secs(30), Duration::from_secs(900)))
    }

    fn grant() -> Grant {
        Grant {
            subject: "s".into(),
            username: "u".into(),
            client_id: "c".into(),
            roles: vec![],
            scopes: vec![],
            plan: "free".into(),
            generation: 0,
            audience: "a".into(),
            certificate: None,
            actors: Vec::new(),
            not_after: None,
        }
    }

    fn deployment(issuer: &str, previous: &[&str], roles: &str) -> Result<Deployment, String> {
        Ok(Deployment {
            issuer: issuer.into(),
            previous_issuers: previous.iter().map(|p| (*p).to_owned()).collect(),
            role_scopes: crate::RoleScopes::parse(roles)?,
            plans: crate::Plans::default(),
        })
    }

    fn issued(key: &SigningKey, issuer: &str, roles: &[&str]) -> Result<String, SignError> {
        let grant = Grant { roles: roles.iter().map(|r| (*r).to_owned()).collect(), ..grant() };
        let token = TokenSigner::new(issuer.into(), Duration::from_secs(900)).issue(key, &grant)?;
        Ok(token.token.expose_secret().to_owned())
    }

    #[test]
    fn a_following_verifier_refuses_every_token_until_the_deployment_is_announced_then_reads_earlier_issuers_as_the_current()
    -> TestResult {
        let key = SigningKey::generate()?;
        let verifier =
            Verifier::new(VerifierConfig::following("a".into(), Duration::from_secs(30), Duration::from_secs(900)));
        verifier.set_keys(&[key.public_jwk().clone()])?;
        let old = issued(&key, "authpair", &[])?;
        assert_eq!(verifier.verify(&old).err(), Some(AuthError::KeysUnavailable), "no issuer known yet");

        assert!(verifier.set_deployment(&deployment("https://auth.example", &["authpair"], "admin=admin")?));
        assert!(
            !verifier.set_deployment(&deployment("https://auth.example", &["authpair"], "admin=admin")?),
            "unchanged"
        );
        let claims = verifier.verify(&old)?;
        assert_eq!(claims.issuer(), "https://auth.example", "one authority under its current name");
        assert_eq!(verifier.verify(&issued(&key, "https://auth.example", &[])?)?.issuer(), "https://auth.example");

        // Dropped from the announcement: refused, even from the cache.
        assert!(verifier.set_deployment(&deployment("https://auth.example", &[], "admin=admin")?));
        assert_eq!(verifier.verify(&old).err(), Some(AuthError::WrongIssuer));
        Ok(())
    }

    #[test]
    fn a_pinned_issuer_stays_the_only_one_whatever_the_auth_service_announces() -> TestResult {
        let key = SigningKey::generate()?;
        let verifier = verifier();
        verifier.set_keys(&[key.public_jwk().clone()])?;
        verifier.set_deployment(&deployment("https://elsewhere", &["i"], "admin=admin")?);
        assert_eq!(verifier.verify(&issued(&key, "i", &[])?)?.issuer(), "i");
        assert_eq!(verifier.verify(&issued(&key, "https://elsewhere", &[])?).err(), Some(AuthError::WrongIssuer));
        Ok(())
    }

    #[test]
    fn a_role_the_announced_table_does_not_define_is_unknown_role_naming_it_even_once_cached() -> TestResult {
        let key = SigningKey::generate()?;
        let verifier = verifier();
        verifier.set_keys(&[key.public_jwk().clone()])?;
        let support = issued(&key, "i", &["support"])?;
        verifier.set_deployment(&deployment("i", &[], "admin=admin;support=profile")?);
        assert_eq!(verifier.verify(&support)?.roles(), ["support"]);
        assert_eq!(verifier.verify(&support)?.roles(), ["support"], "cached");
        verifier.set_deployment(&deployment("i", &[], "admin=admin")?);
        assert_eq!(verifier.verify(&support).err(), Some(AuthError::UnknownRole("support".into())));
        Ok(())
    }

    #[test]
    fn a_token_for_two_audiences_is_refused_unless_the_configuration_accepts_them() -> TestResult {
        let key = SigningKey::generate()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let mut claims = claims_at(now);
        claims["aud"] = serde_json::json!(["a", "b"]);
        let token = signed(&key, key.kid(), &claims)?;
        let strict = verifier();
        strict.set_keys(&[key.public_jwk().clone()])?;
        assert_eq!(strict.verify(&token).err(), Some(AuthError::WrongAudience));
        let config = VerifierConfig { multiple_audiences: true, ..strict.config().clone() };
        let lenient = Verifier::new(config);
        lenient.set_keys(&[key.public_jwk().clone()])?;
        assert_eq!(lenient.verify(&token)?.audiences(), ["a", "b"]);
        Ok(())
    }

    #[test]
    fn tm_02_a_token_that_is_not_base64url_and_dots_is_malformed_cached_or_not() -> TestResult {
        let key = SigningKey::generate()?;
        let verifier = verifier();
        verifier.set_keys(&[key.public_jwk().clone()])?;
        let token = TokenSigner::new("i".into(), Duration::from_secs(900)).issue(&key, &grant())?;
        let token = token.token.expose_secret();
        assert_eq!(verifier.verify(token)?.subject(), "s", "the token itself verifies");
        assert_eq!(verifier.verify(token)?.subject(), "s", "and again, and is now cached");
        assert!(verifier.cache.as_ref().is_some_and(|c| c.get(token).is_some()));
        let variants = [
            format!(" {token}"),
            format!("{token} "),
            format!("{token}, Bearer {token}"),
            format!("{token}="),
            token.replacen('.', "\t.", 1),
            token.replacen('.', "+.", 1),
            token.replacen('.', "/.", 1),
            token.replacen('.', "~.", 1),
            token.replacen('.', "\u{e9}.", 1),
        ];
        for bad in variants {
            assert_eq!(verifier.verify(&bad).err(), Some(AuthError::Malformed), "{bad:?}");
        }
        Ok(())
    }

    /// TF-11 d: the auth service takes the resource services' tokens on its
    /// public methods, and says they are not its own; a token for an
    /// audience it was not given is refused outright. Twice each, so the
    /// second answer comes from the cache.
    #[test]
    fn tf_11_d_a_token_for_another_audience_of_the_deployment_verifies_but_is_not_for_this_service() -> TestResult {
        let key = SigningKey::generate()?;
        let verifier = Verifier::new(VerifierConfig {
            public_audiences: vec!["orders".into()],
            ..VerifierConfig::new("i".into(), "admin".into(), Duration::from_secs(30), Duration::from_secs(900))
        });
        verifier.set_keys(&[key.public_jwk().clone()])?;
        let signer = TokenSigner::new("i".into(), Duration::from_secs(900));
        let token_for = |audience: &str| -> Result<String, SignError> {
            let grant = Grant { audience: audience.into(), ..grant() };
            Ok(signer.issue(&key, &grant)?.token.expose_secret().to_owned())
        };
        let (own, other, unknown) = (token_for("admin")?, token_for("orders")?, token_for("billing")?);
        for _ in 0..2 {
            assert!(verifier.verify(&own)?.is_for_this_service());
            assert!(!verifier.verify(&other)?.is_for_this_service());
            assert_eq!(verifier.verify(&unknown).err(), Some(AuthError::WrongAudience));
        }
        Ok(())
    }

    #[test]
    fn a_cached_token_stops_verifying_once_its_key_is_no_longer_trusted() -> TestResult {
        let (key, other) = (SigningKey::generate()?, SigningKey::generate()?);
        let verifier = verifier();
        verifier.set_keys(&[key.public_jwk().clone()])?;
        let token = TokenSigner::new("i".into(), Duration::from_secs(900)).issue(&key, &grant())?;
        let token = token.token.expose_secret();
        assert_eq!(verifier.verify(token)?.subject(), "s");
        assert_eq!(verifier.verify(token)?.subject(), "s", "verified again, and cached");
        assert_eq!(verifier.verify(token)?.subject(), "s", "from the cache");
        verifier.set_keys(&[other.public_jwk().clone()])?;
        assert_eq!(verifier.verify(token).err(), Some(AuthError::UnknownKey));
        Ok(())
    }

    #[test]
    fn a_cache_hit_still_checks_expiry_with_leeway() -> TestResult {
        let verifier = verifier();
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let cache = verifier.cache.as_ref().ok_or("no cache")?;
        cache.insert("old.token.x", Claims::for_test("s", now - 31));
        cache.insert("fresh.token.x", Claims::for_test("s", now - 29));
        assert_eq!(verifier.verify("old.token.x").err(), Some(AuthError::Expired));
        assert_eq!(verifier.verify("fresh.token.x")?.subject(), "s", "inside the 30 s leeway");
        Ok(())
    }

    #[test]
    fn failed_tokens_are_never_cached() -> TestResult {
        let verifier = verifier();
        verifier.set_keys(&[SigningKey::generate()?.public_jwk().clone()])?;
        for _ in 0..3 {
            assert!(verifier.verify("a.b.c").is_err());
        }
        assert_eq!(verifier.cache.as_ref().map(|c| c.len()), Some(0));
        Ok(())
    }

    fn verifier_with(backend: Ed25519Backend) -> Verifier {
        let mut config = VerifierConfig::new("i".into(), "a".into(), Duration::from_secs(30), Duration::from_secs(900));
        config.cache_bytes = 0;
        config.ed25519 = backend;
        Verifier::new(config)
    }

    /// `claims` signed by `key` as an access token naming `kid`.
    fn signed(key: &SigningKey, kid: &str, claims: &serde_json::Value) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, key.encoding_key())
    }

    fn claims_at(now: u64) -> serde_json::Value {
        serde_json::json!({
            "iss": "i", "aud": "a", "sub": "s", "exp": now + 600, "nbf": now, "iat": now, "jti": "j", "gen": 0,
            "client_id": "c", "preferred_username": "u", "roles": [], "scope": "", "plan": "free",
        })
    }

    #[test]
    fn a_certificate_bound_token_carries_its_thumbprint_and_any_other_confirmation_is_refused() -> TestResult {
        let key = SigningKey::generate()?;
        let verifier = verifier_with(Ed25519Backend::default());
        verifier.set_keys(&[key.public_jwk().clone()])?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let thumbprint = [7u8; 32];
        let with = |cnf: serde_json::Value| -> Result<String, jsonwebtoken::errors::Error> {
            let mut claims = claims_at(now);
            claims["cnf"] = cnf;
            signed(&key, key.kid(), &claims)
        };
        let bound = with(serde_json::json!({"x5t#S256": URL_SAFE_NO_PAD.encode(thumbprint)}))?;
        assert_eq!(verifier.verify(&bound)?.bound_certificate(), Some(&thumbprint));
        assert_eq!(verifier.verify(&signed(&key, key.kid(), &claims_at(now))?)?.bound_certificate(), None);
        for refused in [
            serde_json::json!({"x5t#S256": URL_SAFE_NO_PAD.encode([7u8; 20])}),
            serde_json::json!({"x5t#S256": "not base64url!"}),
            serde_json::json!({"x5t#S256": URL_SAFE_NO_PAD.encode(thumbprint), "jkt": "dpop-key"}),
            serde_json::json!({"jkt": "dpop-key"}),
            serde_json::json!(null),
            serde_json::json!("x5t"),
        ] {
            assert_eq!(verifier.verify(&with(refused.clone())?).err(), Some(AuthError::Malformed), "cnf {refused}");
        }
        Ok(())
    }

    #[test]
    fn an_act_chain_of_up_to_four_services_is_reported_in_order_and_anything_else_is_refused() -> TestResult {
        let key = SigningKey::generate()?;
        let verifier = verifier_with(Ed25519Backend::default());
        verifier.set_keys(&[key.public_jwk().clone()])?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let with = |act: serde_json::Value| -> Result<String, jsonwebtoken::errors::Error> {
            let mut claims = claims_at(now);
            claims["act"] = act;
            signed(&key, key.kid(), &claims)
        };
        let chain = |names: &[&str]| {
            names.iter().rev().fold(serde_json::Value::Null, |inner, name| {
                let mut level = serde_json::json!({ "sub": format!("svc:{name}") });
                if !inner.is_null() {
                    level["act"] = inner;
                }
                level
            })
        };
        let four = ["orders", "gate", "billing", "mail"];
        let verified = verifier.verify(&with(chain(&four))?)?;
        assert_eq!(verified.actors(), ["svc:orders", "svc:gate", "svc:billing", "svc:mail"]);
        assert!(verified.is_delegated());
        let direct = verifier.verify(&signed(&key, key.kid(), &claims_at(now))?)?;
        assert!(!direct.is_delegated());
        // The signer writes what the verifier reads.
        let grant = Grant { actors: vec!["svc:orders".into(), "svc:gate".into()], ..grant() };
        let issued = TokenSigner::new("i".into(), Duration::from_secs(900)).issue(&key, &grant)?;
        assert_eq!(verifier.verify(issued.token.expose_secret())?.actors(), ["svc:orders", "svc:gate"]);
        for refused in [
            chain(&["orders", "gate", "billing", "mail", "five"]),
            serde_json::json!({"sub": "user-1"}),
            serde_json::json!({"sub": "svc:"}),
            serde_json::json!({"sub": "svc:orders", "iss": "elsewhere"}),
            serde_json::json!({"sub": "svc:orders", "act": null}),
            serde_json::json!({}),
            serde_json::json!(null),
            serde_json::json!("svc:orders"),
        ] {
            assert_eq!(verifier.verify(&with(refused.clone())?).err(), Some(AuthError::Malformed), "act {refused}");
        }
        Ok(())
    }

    #[test]
    fn each_backend_verifies_a_real_token_and_refuses_a_tampered_one() -> TestResult {
        let key = SigningKey::generate()?;
        let token = TokenSigner::new("i".into(), Duration::from_secs(900)).issue(&key, &grant())?;
        let token = token.token.expose_secret();
        let (signed_part, signature) = token.rsplit_once('.').ok_or("three segments")?;
        let (header, _) = signed_part.split_once('.').ok_or("three segments")?;
        // One character of the signature changed (not the last, whose low
        // bits base64url does not carry).
        let mut forged = signature.as_bytes().to_vec();
        forged[10] = if forged[10] == b'A' { b'B' } else { b'A' };
        let forged = format!("{signed_part}.{}", String::from_utf8(forged)?);
        // Another payload under the original signature.
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let mut other = claims_at(now);
        other["sub"] = "mallory".into();
        let swapped = format!("{header}.{}.{signature}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other)?));
        for backend in Ed25519Backend::ALL {
            let verifier = verifier_with(backend);
            verifier.set_keys(&[key.public_jwk().clone()])?;
            assert_eq!(verifier.verify(token)?.subject(), "s", "{backend}");
            assert_eq!(verifier.verify(&forged).err(), Some(AuthError::BadSignature), "{backend}");
            assert_eq!(verifier.verify(&swapped).err(), Some(AuthError::BadSignature), "{backend}");
        }
        Ok(())
    }

    #[test]
    fn each_backend_refuses_a_token_signed_by_another_trusted_key_under_this_keys_kid() -> TestResult {
        let keys = (0..3).map(|_| SigningKey::generate()).collect::<Result<Vec<_>, _>>()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        for backend in Ed25519Backend::ALL {
            let verifier = verifier_with(backend);
            verifier.set_keys(&keys.iter().map(|k| k.public_jwk().clone()).collect::<Vec<_>>())?;
            for (i, key) in keys.iter().enumerate() {
                let next = &keys[(i + 1) % keys.len()];
                assert_eq!(verifier.verify(&signed(key, key.kid(), &claims_at(now))?)?.subject(), "s", "{backend}");
                let forged = signed(key, next.kid(), &claims_at(now))?;
                assert_eq!(verifier.verify(&forged).err(), Some(AuthError::BadSignature), "{backend}, key {i}");
            }
        }
        Ok(())
    }

    #[test]
    fn the_registered_claims_are_checked_after_the_signature_with_the_same_errors_on_each_backend() -> TestResult {
        let key = SigningKey::generate()?;
        // The cases sit one second either side of the leeway, so they are
        // judged within the second they were written in: a run that crosses
        // into the next second is done again.
        loop {
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            let verdicts = registered_claims_cases(&key, now)?;
            if SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() != now {
                continue;
            }
            for (what, verdict, expected) in verdicts {
                assert_eq!(verdict, expected, "{what}");
            }
            return Ok(());
        }
    }

    /// Each case of the test above, verified by each backend: (what, the
    /// verdict, the one expected).
    #[allow(clippy::type_complexity)]
    fn registered_claims_cases(
        key: &SigningKey,
        now: u64,
    ) -> Result<Vec<(String, Option<AuthError>, Option<AuthError>)>, Box<dyn std::error::Error>> {
        let with = |member: &str, value: serde_json::Value| {
            let mut claims = claims_at(now);
            claims[member] = value;
            claims
        };
        let without = |member: &str| {
            let mut claims = claims_at(now);
            claims.as_object_mut().map(|c| c.remove(member));
            claims
        };
        let cases = [
            (with("exp", (now - 31).into()), Some(AuthError::Expired)),
            (with("exp", (now - 29).into()), None),
            (with("nbf", (now + 31).into()), Some(AuthError::NotYetValid)),
            (with("nbf", (now + 29).into()), None),
            (with("iss", "other".into()), Some(AuthError::WrongIssuer)),
            (with("iss", serde_json::json!(["i"])), Some(AuthError::Malformed)),
            (with("aud", "other".into()), Some(AuthError::WrongAudience)),
            (with("aud", serde_json::json!(["other", "a"])), Some(AuthError::WrongAudience)),
            (with("aud", serde_json::json!(["a"])), None),
            (with("aud", serde_json::json!([])), Some(AuthError::WrongAudience)),
            (with("exp", (now as f64 + 600.0).into()), Some(AuthError::Malformed)),
            // An expired token that also names another issuer: expiry first, as in jsonwebtoken.
            (
                {
                    let mut claims = with("exp", (now - 100).into());
                    claims["iss"] = "other".into();
                    claims
                },
                Some(AuthError::Expired),
            ),
            (without("exp"), Some(AuthError::MissingClaim("exp"))),
            (without("nbf"), None),
            (with("nbf", serde_json::Value::Null), Some(AuthError::Malformed)),
            (with("nbf", "0".into()), Some(AuthError::Malformed)),
            (without("preferred_username"), None),
            (with("preferred_username", serde_json::Value::Null), Some(AuthError::Malformed)),
            (without("jti"), Some(AuthError::MissingClaim("jti"))),
            (without("iat"), Some(AuthError::MissingClaim("iat"))),
            (without("client_id"), Some(AuthError::MissingClaim("client_id"))),
            (without("aud"), Some(AuthError::MissingClaim("aud"))),
            (without("sub"), Some(AuthError::MissingClaim("sub"))),
            (with("iat", (now + 31).into()), Some(AuthError::IssuedInFuture)),
        ];
        let mut verdicts = Vec::new();
        for backend in Ed25519Backend::ALL {
            let verifier = verifier_with(backend);
            verifier.set_keys(&[key.public_jwk().clone()])?;
            for (claims, expected) in &cases {
                let verdict = verifier.verify(&signed(key, key.kid(), claims)?);
                verdicts.push((format!("{backend}: {claims}"), verdict.err(), expected.clone()));
            }
        }
        Ok(verdicts)
    }

    #[test]
    fn keys_set_again_are_kept_and_a_key_that_is_not_a_curve_point_is_refused() -> TestResult {
        let key = SigningKey::generate()?;
        let verifier = verifier();
        verifier.set_keys(&[key.public_jwk().clone()])?;
        let before = verifier.current_keys().get(key.kid()).cloned().ok_or("the key")?;
        verifier.set_keys(&[key.public_jwk().clone()])?;
        let after = verifier.current_keys().get(key.kid()).cloned().ok_or("the key")?;
        assert!(Arc::ptr_eq(&before, &after), "not prepared again");
        assert_eq!(after.backend(), Ed25519Backend::Prepared, "the default backend");
        // The first small y with no x on the curve.
        let off_curve = (2u8..=255)
            .map(|y| {
                let mut b = [0u8; 32];
                b[0] = y;
                b
            })
            .find(|b| ed25519_dalek::VerifyingKey::from_bytes(b).is_err())
            .ok_or("some small y is off the curve")?;
        let jwk = PublicJwk { kid: "k".into(), x: URL_SAFE_NO_PAD.encode(off_curve) };
        for backend in Ed25519Backend::ALL {
            assert!(verifier_with(backend).set_keys(std::slice::from_ref(&jwk)).is_err(), "{backend}");
        }
        let short = PublicJwk { kid: "k".into(), x: URL_SAFE_NO_PAD.encode([9u8; 31]) };
        assert!(verifier.set_keys(&[short]).is_err());
        assert_eq!(verifier.key_count(), 1, "a refused set leaves the keys as they were");
        Ok(())
    }

    /// `header` and `payload` as written, signed by `key`.
    fn signed_raw(key: &SigningKey, header: &str, payload: &str) -> Result<String, jsonwebtoken::errors::Error> {
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), key.encoding_key(), jsonwebtoken::Algorithm::EdDSA)?;
        Ok(format!("{input}.{signature}"))
    }

    /// serde's derived `Deserialize` reads a struct from a JSON array of its
    /// members' values, so without the object check a header
    /// `["EdDSA","at+jwt",kid]` and a claims set written as an array in
    /// `WireClaims`' order would verify. Neither is a JOSE header or a claims
    /// set: both are Malformed, on each backend (the jwt_header and
    /// verify_token fuzz targets check this too).
    #[test]
    fn a_header_or_claims_set_that_is_a_json_array_is_malformed() -> TestResult {
        let key = SigningKey::generate()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let object_header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid()}).to_string();
        let array_header = serde_json::json!(["EdDSA", "at+jwt", key.kid()]).to_string();
        let object_claims = claims_at(now);
        let array_claims =
            serde_json::Value::from(CLAIM_NAMES.iter().map(|n| object_claims[n].clone()).collect::<Vec<_>>());
        let (object_claims, array_claims) = (object_claims.to_string(), array_claims.to_string());
        for backend in Ed25519Backend::ALL {
            let verifier = verifier_with(backend);
            verifier.set_keys(&[key.public_jwk().clone()])?;
            assert_eq!(
                verifier.verify(&signed_raw(&key, &object_header, &object_claims)?)?.subject(),
                "s",
                "{backend}"
            );
            for (header, claims) in [(&array_header, &object_claims), (&object_header, &array_claims)] {
                let verdict = verifier.verify(&signed_raw(&key, header, claims)?);
                assert_eq!(verdict.err(), Some(AuthError::Malformed), "{backend}: {header} {claims}");
            }
            // JSON whitespace before the object is still an object.
            let spaced = format!(" \t\r\n{object_header}");
            assert_eq!(verifier.verify(&signed_raw(&key, &spaced, &object_claims)?)?.subject(), "s", "{backend}");
        }
        Ok(())
    }

    /// Found by fuzzing, where the targets' oracles had the order wrong: a
    /// token over the size limit is refused for its size before anything
    /// in it is decoded, a malformed header or a good signature included.
    #[test]
    fn a_token_over_the_size_limit_is_refused_for_its_size_whatever_it_holds() -> TestResult {
        let key = SigningKey::generate()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid()}).to_string();
        let mut claims = claims_at(now);
        claims["pad"] = "p".repeat(MAX_TOKEN_BYTES).into();
        let array_header = serde_json::json!(["EdDSA", "at+jwt", key.kid(), "p".repeat(MAX_TOKEN_BYTES)]).to_string();
        for backend in Ed25519Backend::ALL {
            let verifier = verifier_with(backend);
            verifier.set_keys(&[key.public_jwk().clone()])?;
            for (header, claims) in [(&header, claims.to_string()), (&array_header, claims_at(now).to_string())] {
                let token = signed_raw(&key, header, &claims)?;
                assert!(token.len() > MAX_TOKEN_BYTES);
                assert_eq!(verifier.verify(&token).err(), Some(AuthError::TokenTooLarge), "{backend}");
            }
        }
        Ok(())
    }

    #[test]
    fn the_access_token_type_is_matched_as_a_media_type() {
        // The "application/" prefix is part of the media type, so its case
        // does not matter either (the jwt_header fuzz target checks this too).
        for ok in ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT", "APPLICATION/at+jwt"] {
            assert!(is_access_token_type(ok), "{ok}");
        }
        for bad in
            ["JWT", "refresh+jwt", "", "application/jwt", "at+jwt ", "application/application/at+jwt", "text/at+jwt"]
        {
            assert!(!is_access_token_type(bad), "{bad}");
        }
    }

    #[test]
    fn a_missing_field_message_names_only_known_claims() {
        assert_eq!(missing_field("missing field `jti` at line 1 column 5"), Some("jti"));
        assert_eq!(missing_field("missing field `evil` at line 1"), Some("unknown"));
        assert_eq!(missing_field("invalid type"), None);
    }
}
