//! Keys instead of secrets (RFC 7523 `private_key_jwt`): a service account
//! registers public keys (JWK), and proves itself with a short JWT it signs
//! with one of them, a client assertion. Nothing secret is stored here.
//!
//! An assertion is taken only if: it is at most 8 KiB; its `alg` is one of
//! EdDSA, ES256, RS256, PS256 and the one its key is for (never `none` or an
//! HMAC: a public key is no shared secret); it verifies with a key the
//! account registered (the header's `kid`, or each of the account's keys
//! when it names none); `iss` and `sub` are both the client id; `aud` names
//! this auth service (its issuer, or its token endpoint's URL); `exp` is at
//! most [`MAX_ASSERTION_LIFETIME`] ahead (and after `iat`, if given), not
//! past (with the verifier's leeway); and its `jti` was never used before
//! by this client, which the shared database decides (`store`'s
//! `use_client_assertion`), so a replay fails on every instance.

use std::time::Duration;

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash},
};
use serde::Deserialize;

use crate::store::AccountKey;

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest an assertion may be good for, from now (and from its `iat`).
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);
/// Assertions longer than this are refused before any decoding.
pub const MAX_ASSERTION_BYTES: usize = 8 * 1024;
/// The most keys one account may register (key rotation needs two).
pub const MAX_KEYS_PER_ACCOUNT: usize = 5;
/// The signature algorithms an assertion may use, as the metadata lists
/// them (`token_endpoint_auth_signing_alg_values_supported`).
pub const ALGORITHMS: [&str; 4] = ["EdDSA", "ES256", "RS256", "PS256"];
/// The smallest RSA modulus taken, in bits.
const MIN_RSA_BITS: usize = 2048;
/// The longest `jti` kept.
const MAX_JTI_BYTES: usize = 256;

/// Reads a JWK to register: public, of a kind assertions may be signed
/// with, its id its own `kid` or else its RFC 7638 thumbprint. The error
/// says what is wrong, for INVALID_ARGUMENT.
pub fn public_key(json: &str) -> Result<AccountKey, String> {
    if json.len() > MAX_ASSERTION_BYTES {
        return Err(format!("a public key must be at most {MAX_ASSERTION_BYTES} bytes of JWK"));
    }
    let members: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|_| "a public key must be a JWK (a JSON object)".to_owned())?;
    // A private or shared key would be read as its public part and the
    // rest dropped: refuse it, it should never have left its owner.
    if let Some(private) = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"].iter().find(|m| members.contains_key(**m)) {
        return Err(format!("the JWK has member {private:?}: register only the public key"));
    }
    let jwk: Jwk = serde_json::from_value(serde_json::Value::Object(members))
        .map_err(|_| "the JWK is not a key this service reads".to_owned())?;
    algorithms(&jwk)?;
    let kid = match &jwk.common.key_id {
        Some(kid) if (1..=128).contains(&kid.len()) && !kid.chars().any(char::is_control) => kid.clone(),
        Some(_) => return Err("a JWK's kid must be 1 to 128 printable characters".into()),
        None => jwk.thumbprint(ThumbprintHash::SHA256).map_err(|_| "the JWK has no thumbprint".to_owned())?,
    };
    DecodingKey::from_jwk(&jwk).map_err(|_| "the JWK does not hold a usable public key".to_owned())?;
    let jwk = serde_json::to_string(&jwk).map_err(|_| "the JWK cannot be written".to_owned())?;
    Ok(AccountKey { kid, jwk })
}

/// Whether `alg` is one an assertion (or a federated token) may be signed
/// with: never `none` or an HMAC.
pub(crate) fn is_signature_algorithm(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::EdDSA | Algorithm::ES256 | Algorithm::RS256 | Algorithm::PS256)
}

/// Whether `jwk` is a public key of a kind tokens may be signed with.
pub(crate) fn is_signing_key(jwk: &Jwk) -> bool {
    algorithms(jwk).is_ok()
}

/// Whether `jwk` may verify a signature made with `alg`.
pub(crate) fn key_takes(jwk: &Jwk, alg: Algorithm) -> bool {
    algorithms(jwk).is_ok_and(|algs| algs.contains(&alg))
}

/// The algorithms a key may sign assertions with.
fn algorithms(jwk: &Jwk) -> Result<&'static [Algorithm], String> {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Ok(&[Algorithm::EdDSA]),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Ok(&[Algorithm::ES256]),
        AlgorithmParameters::RSA(rsa) => {
            let modulus = URL_SAFE_NO_PAD.decode(&rsa.n).map_err(|_| "the RSA modulus is not base64url".to_owned())?;
            let bits = modulus
                .iter()
                .position(|b| *b != 0)
                .map_or(0, |first| (modulus.len() - first) * 8 - modulus[first].leading_zeros() as usize);
            if bits < MIN_RSA_BITS {
                return Err(format!("an RSA key must have at least {MIN_RSA_BITS} bits"));
            }
            Ok(&[Algorithm::RS256, Algorithm::PS256])
        }
        _ => Err("the key must be Ed25519 (OKP), P-256 (EC) or RSA".into()),
    }
}

/// Why a JWT checked against a set of public keys ([`decode_with`]) is
/// refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// No key of the set is of the kind `alg` needs.
    Algorithm,
    /// No key of the set verifies its signature.
    Signature,
    /// `aud` is missing or names none of those asked for.
    Audience,
    /// `iss` or `sub` is missing or not the one asked for.
    IssuerOrSubject,
    /// `exp` (or another required claim) is missing, or it is expired or
    /// not yet valid.
    Lifetime,
    /// Anything else: not a JWT of these claims.
    Malformed,
}

/// Verifies `token`, signed with `alg` (one [`is_signature_algorithm`]
/// takes), against each key of `keys` in turn under `validation`: the
/// claims, from the first key that verifies it. A key of another kind than
/// `alg` needs is passed over. A signature that verified with a key but
/// failed a claim is the answer: another key cannot do better. Client
/// assertions and federated tokens are both checked here.
pub(crate) fn decode_with<C: serde::de::DeserializeOwned>(
    token: &str,
    alg: Algorithm,
    keys: impl IntoIterator<Item = Jwk>,
    validation: &Validation,
) -> Result<C, Rejected> {
    use jsonwebtoken::errors::ErrorKind;
    let mut outcome = Err(Rejected::Signature);
    for jwk in keys {
        if !key_takes(&jwk, alg) {
            outcome = Err(Rejected::Algorithm);
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else { continue };
        let rejected = match jsonwebtoken::decode::<C>(token, &key, validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) => match e.kind() {
                ErrorKind::InvalidSignature => Rejected::Signature,
                ErrorKind::InvalidAudience => Rejected::Audience,
                ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => Rejected::IssuerOrSubject,
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => Rejected::Lifetime,
                ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => Rejected::Audience,
                ErrorKind::MissingRequiredClaim(claim) if claim == "iss" || claim == "sub" => Rejected::IssuerOrSubject,
                ErrorKind::MissingRequiredClaim(_) => Rejected::Lifetime,
                _ => Rejected::Malformed,
            },
        };
        outcome = Err(rejected);
        if rejected != Rejected::Signature {
            break;
        }
    }
    outcome
}

/// Why an assertion is refused. Told to the client only as invalid
/// credentials; logged by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("not a JWT this service reads")]
    Malformed,
    #[error("alg is not one assertions may use, or not its key's")]
    Algorithm,
    #[error("no registered key verifies it")]
    Signature,
    #[error("iss and sub must both be the client id")]
    Client,
    #[error("aud does not name this auth service")]
    Audience,
    #[error("expired, or good for longer than allowed")]
    Lifetime,
    #[error("no jti")]
    TokenId,
    #[error("its jti was used before")]
    Replayed,
}

impl AssertionError {
    /// The audit reason.
    pub fn reason(self) -> &'static str {
        match self {
            AssertionError::Malformed => "assertion_malformed",
            AssertionError::Algorithm => "assertion_algorithm",
            AssertionError::Signature => "assertion_signature",
            AssertionError::Client => "assertion_client",
            AssertionError::Audience => "assertion_audience",
            AssertionError::Lifetime => "assertion_lifetime",
            AssertionError::TokenId => "assertion_jti",
            AssertionError::Replayed => "assertion_replayed",
        }
    }
}

/// The client an assertion says it is from (`iss`), read without
/// verifying anything, to find its keys; verification then checks it.
pub fn claimed_client(assertion: &str) -> Result<String, AssertionError> {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err(AssertionError::Malformed);
    }
    let payload = assertion.split('.').nth(1).ok_or(AssertionError::Malformed)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| AssertionError::Malformed)?;
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    let Issuer { iss } = serde_json::from_slice(&payload).map_err(|_| AssertionError::Malformed)?;
    Ok(iss)
}

/// What a verified assertion leaves to record: its `jti` and when it can
/// no longer be presented (`exp` plus leeway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub jti: String,
    pub usable_until: i64,
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    jti: String,
}

/// Verifies `assertion` as `client_id`'s, against `keys` (its registered
/// ones), for an auth service known by the URLs in `audiences`, at `now`
/// (seconds) with `leeway`. The `jti` is not checked for reuse here.
pub fn verify(
    assertion: &str,
    client_id: &str,
    keys: &[AccountKey],
    audiences: &[&str],
    now: u64,
    leeway: Duration,
) -> Result<Verified, AssertionError> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err(AssertionError::Malformed);
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| AssertionError::Malformed)?;
    let alg = header.alg;
    if !is_signature_algorithm(alg) {
        return Err(AssertionError::Algorithm);
    }
    let candidates: Vec<&AccountKey> = match &header.kid {
        Some(kid) => keys.iter().filter(|k| &k.kid == kid).collect(),
        None => keys.iter().collect(),
    };
    let mut validation = Validation::new(alg);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_audience(audiences);
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_owned());
    validation.leeway = leeway.as_secs();
    validation.validate_nbf = true;
    let keys = candidates.into_iter().filter_map(|k| serde_json::from_str::<Jwk>(&k.jwk).ok());
    let claims: AssertionClaims =
        decode_with(assertion, alg, keys, &validation).map_err(|rejected| match rejected {
            Rejected::Algorithm => AssertionError::Algorithm,
            Rejected::Signature => AssertionError::Signature,
            Rejected::Audience => AssertionError::Audience,
            Rejected::IssuerOrSubject => AssertionError::Client,
            Rejected::Lifetime => AssertionError::Lifetime,
            Rejected::Malformed => AssertionError::Malformed,
        })?;
    if claims.iss != client_id || claims.sub != client_id {
        return Err(AssertionError::Client);
    }
    let max = MAX_ASSERTION_LIFETIME.as_secs() + leeway.as_secs();
    if claims.exp > now + max
        || claims.iat.is_some_and(|iat| claims.exp.saturating_sub(iat) > max || iat > now + leeway.as_secs())
    {
        return Err(AssertionError::Lifetime);
    }
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_BYTES {
        return Err(AssertionError::TokenId);
    }
    let usable_until = i64::try_from(claims.exp + leeway.as_secs()).map_err(|_| AssertionError::Lifetime)?;
    Ok(Verified { jti: claims.jti, usable_until })
}
