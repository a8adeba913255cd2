//! Strict access-token verification. The order of checks:
//!
//! 1. size cap and compact shape (three base64url segments), before any JSON;
//! 2. our own header parse: only `alg`, `typ` and `kid` are allowed, so `crit`,
//!    `jwk`, `jku`, `x5u` and `x5c` are refused and nothing is ever fetched
//!    from a URL in a token; `alg` must be EdDSA (one algorithm per key),
//!    `typ` must be at+jwt (jsonwebtoken never checks `typ`);
//! 3. `kid` is only a lookup into the keys we were given;
//! 4. jsonwebtoken checks the signature (through [`crate::jwt_crypto`]),
//!    `exp`, `nbf` (off by default there, on here), `iss` and `aud`, with
//!    `exp`, `nbf`, `iss`, `aud` and `sub` required (it accepts tokens
//!    without them otherwise);
//! 5. our own checks: `iat` not in the future, lifetime within the maximum,
//!    non-empty `sub` and `jti`; and whether `aud` named the service's own
//!    audience rather than only one of its public ones, which the policy
//!    requires of every method that needs authentication (TF-11 d).
//!
//! A token that passed all of that is offered to a bounded cache keyed by the
//! exact token string (`token_cache`), which keeps it from its second
//! verification on, so a client reusing its token costs a hash lookup instead
//! of a signature check. A hit still checks expiry with leeway; the denylist
//! and the policy run on every call after this, hit or miss. Only verified
//! tokens are cached, the cache is bounded in bytes, and it is emptied
//! whenever the trusted keys change.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;

use crate::{
    claims::{Claims, WireClaims},
    error::AuthError,
    keys::{ALGORITHM, KeyError, PublicJwk},
    token_cache::TokenCache,
};

/// Tokens longer than this are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default bound of the verified-token cache: about 13,000 typical tokens.
pub const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;
const MAX_KID_BYTES: usize = 128;

/// What a verifier accepts.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    pub issuer: String,
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
}

impl VerifierConfig {
    /// The given issuer, audience, leeway and maximum lifetime, with the
    /// default cache.
    pub fn new(issuer: String, audience: String, leeway: Duration, max_lifetime: Duration) -> Self {
        Self { issuer, audience, public_audiences: Vec::new(), leeway, max_lifetime, cache_bytes: DEFAULT_CACHE_BYTES }
    }
}

/// Verifies access tokens against a replaceable set of public keys.
#[derive(Debug)]
pub struct Verifier {
    config: VerifierConfig,
    validation: Validation,
    keys: RwLock<Arc<HashMap<String, DecodingKey>>>,
    unknown_kid: tokio::sync::Notify,
    cache: Option<TokenCache>,
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
    pub fn new(config: VerifierConfig) -> Self {
        // Before this process's first jsonwebtoken call, or it is too late:
        // Ed25519 keys are then decompressed once, not on every verify.
        crate::jwt_crypto::install();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&config.issuer]);
        // Any of them passes here; `Claims::is_for_this_service` tells the
        // policy whether it was the service's own.
        let audiences: Vec<&str> = std::iter::once(config.audience.as_str())
            .chain(config.public_audiences.iter().map(String::as_str))
            .collect();
        validation.set_audience(&audiences);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = config.leeway.as_secs();
        validation.reject_tokens_expiring_in_less_than = 0;
        let cache = TokenCache::new(config.cache_bytes);
        Self {
            config,
            validation,
            keys: RwLock::new(Arc::new(HashMap::new())),
            unknown_kid: tokio::sync::Notify::new(),
            cache,
        }
    }

    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Replaces the trusted keys.
    pub fn set_keys(&self, keys: &[PublicJwk]) -> Result<(), KeyError> {
        let mut map = HashMap::with_capacity(keys.len());
        for key in keys {
            map.insert(key.kid.clone(), key.decoding_key()?);
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

    pub fn key_count(&self) -> usize {
        self.current_keys().len()
    }

    fn current_keys(&self) -> Arc<HashMap<String, DecodingKey>> {
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
        let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(AuthError::Malformed);
        };
        let header = URL_SAFE_NO_PAD.decode(header).map_err(|_| AuthError::Malformed)?;
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

        let data = jsonwebtoken::decode::<WireClaims>(token, key, &self.validation).map_err(map_jwt_error)?;
        let wire = data.claims;

        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| AuthError::Malformed)?.as_secs();
        let leeway = self.config.leeway.as_secs();
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
        Ok(wire.into_claims(&self.config.audience))
    }
}

/// Only base64url characters (without padding, RFC 7515 §2) and the dots of
/// the compact serialization (RFC 7515 §7.1). Folds over every byte rather than stopping early, so the loop
/// has no branch and vectorizes.
fn is_compact_jws(token: &[u8]) -> bool {
    token.iter().fold(true, |ok, &b| ok & (b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_') | (b == b'.')))
}

/// RFC 9068 §4: `typ` is "at+jwt" or "application/at+jwt", case-insensitive.
fn is_access_token_type(typ: &str) -> bool {
    let typ = typ.strip_prefix("application/").unwrap_or(typ);
    typ.eq_ignore_ascii_case("at+jwt")
}

fn map_jwt_error(err: jsonwebtoken::errors::Error) -> AuthError {
    match err.kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::InvalidAlgorithm => AuthError::WrongAlgorithm,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim_name(claim)),
        ErrorKind::Json(e) => match missing_field(&e.to_string()) {
            Some(claim) => AuthError::MissingClaim(claim),
            None => AuthError::Malformed,
        },
        _ => AuthError::Malformed,
    }
}

/// Maps a claim name onto a static string, so the message can name it
/// without echoing anything the client sent.
fn claim_name(claim: &str) -> &'static str {
    const KNOWN: [&str; 13] = [
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
    KNOWN.into_iter().find(|k| *k == claim).unwrap_or("unknown")
}

fn missing_field(message: &str) -> Option<&'static str> {
    let rest = message.strip_prefix("missing field `")?;
    Some(claim_name(rest.split('`').next()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
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
        }
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

    #[test]
    fn the_access_token_type_is_matched_as_a_media_type() {
        for ok in ["at+jwt", "AT+JWT", "application/at+jwt"] {
            assert!(is_access_token_type(ok), "{ok}");
        }
        for bad in ["JWT", "refresh+jwt", "", "application/jwt", "at+jwt "] {
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
