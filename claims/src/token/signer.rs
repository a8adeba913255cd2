//! Issuing access tokens: RFC 9068 JWTs (`typ` "at+jwt"), signed with Ed25519.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, Header};
use secrecy::SecretString;

use super::{
    claims::{Actor, Audience, Confirmation, Grant, WireClaims},
    keys::SigningKey,
};

/// The `typ` header of every access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// How many random bytes a new `jti` has: 128 bits, written as 22 base64url
/// characters.
pub const TOKEN_ID_BYTES: usize = 16;

/// A new `jti`: [`TOKEN_ID_BYTES`] bytes from the operating system's CSPRNG,
/// base64url without padding. What a revocation names is the string, so a
/// verifier takes any non-empty `jti`, of any form.
pub fn new_token_id() -> Result<String, SignError> {
    let mut bytes = [0u8; TOKEN_ID_BYTES];
    getrandom::getrandom(&mut bytes).map_err(|_| SignError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A freshly signed access token.
#[derive(Debug)]
pub struct IssuedToken {
    /// The compact JWT. Secret: only ever returned to its owner.
    pub token: SecretString,
    /// The `jti`.
    pub token_id: String,
    /// The token's lifetime: `exp - iat`.
    pub expires_in: Duration,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Why a token could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The system clock reads before 1970, so `iat` cannot be set.
    #[error("system clock is before the Unix epoch")]
    Clock,
    /// The operating system's random source failed, so no `jti` could be
    /// drawn.
    #[error("the operating system random source failed")]
    Random,
    /// jsonwebtoken could not encode or sign the token.
    #[error("signing failed: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

/// Signs access tokens for one issuer; each grant names its audience.
#[derive(Debug, Clone)]
pub struct TokenSigner {
    issuer: String,
    lifetime: Duration,
}

impl TokenSigner {
    /// A signer for `issuer` (`iss`) whose tokens live for `lifetime`.
    pub fn new(issuer: String, lifetime: Duration) -> Self {
        Self { issuer, lifetime }
    }

    /// The `iss` every token carries.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// How long each token lives (`exp - iat`).
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Signs `grant` with `key`, issued now, with a new `jti`.
    pub fn issue(&self, key: &SigningKey, grant: &Grant) -> Result<IssuedToken, SignError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| SignError::Clock)?.as_secs();
        self.issue_as(key, grant, new_token_id()?, now)
    }

    /// Signs `grant` with `key` as token `token_id` issued at `issued_at`
    /// (seconds since the Unix epoch): for an issuer that records a token's
    /// `jti` and `exp` before it signs, in the same transaction as what the
    /// token is issued for.
    pub fn issue_as(
        &self,
        key: &SigningKey,
        grant: &Grant,
        token_id: String,
        issued_at: u64,
    ) -> Result<IssuedToken, SignError> {
        let now = issued_at;
        let exp = (now + self.lifetime.as_secs()).min(grant.not_after.unwrap_or(u64::MAX));
        // No `nbf`: it would equal `iat`. No `preferred_username` when it
        // would repeat `sub`.
        let claims = WireClaims {
            iss: self.issuer.clone(),
            aud: Audience::One(grant.audience.clone()),
            sub: grant.subject.clone(),
            exp,
            nbf: None,
            iat: now,
            jti: token_id.clone(),
            r#gen: grant.generation,
            client_id: grant.client_id.clone(),
            preferred_username: (grant.username != grant.subject).then(|| grant.username.clone()),
            roles: grant.roles.clone(),
            scope: grant.scopes.join(" "),
            plan: grant.plan.clone(),
            cnf: grant.certificate.map(|thumbprint| Confirmation { x5t_s256: URL_SAFE_NO_PAD.encode(thumbprint) }),
            act: Actor::chain(&grant.actors),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid().to_owned());
        let token = jsonwebtoken::encode(&header, &claims, key.encoding_key())?;
        let expires_in = Duration::from_secs(exp.saturating_sub(now));
        Ok(IssuedToken { token: SecretString::from(token), token_id, expires_in, expires_at: exp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        error::AuthError,
        token::{
            keys::{KID_BYTES, KeyError},
            verifier::{Verifier, VerifierConfig},
        },
    };
    use secrecy::ExposeSecret;
    use serde_json::{Value, json};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const ISSUER: &str = "authpair";
    const AUDIENCE: &str = "authpair";

    fn verifier(key: &SigningKey) -> Result<Verifier, KeyError> {
        let verifier = Verifier::new(VerifierConfig::new(
            ISSUER.into(),
            AUDIENCE.into(),
            Duration::from_secs(30),
            Duration::from_secs(900),
        ));
        verifier.set_keys(&[key.public_jwk().clone()])?;
        Ok(verifier)
    }

    /// A user as a login grants them: a UUID id, the admin role and its
    /// scopes from the default role table.
    fn admin_grant() -> Grant {
        Grant {
            subject: "6f1c1a3e-8d2b-4c1e-9f7a-0b1c2d3e4f50".into(),
            username: "admin".into(),
            client_id: "login".into(),
            roles: vec!["admin".into()],
            scopes: ["admin", "documents:read", "documents:write", "profile"].map(String::from).to_vec(),
            plan: "free".into(),
            generation: 1234,
            audience: AUDIENCE.into(),
            certificate: None,
            actors: Vec::new(),
            not_after: None,
        }
    }

    fn segment(token: &str, index: usize) -> Result<Value, Box<dyn std::error::Error>> {
        let part = token.split('.').nth(index).ok_or("three segments")?;
        Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part)?)?)
    }

    fn is_base64url(text: &str) -> bool {
        text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    #[test]
    fn a_new_token_has_no_nbf_a_22_character_jti_and_a_12_character_kid_and_verifies() -> TestResult {
        let key = SigningKey::generate()?;
        let issued = TokenSigner::new(ISSUER.into(), Duration::from_secs(900)).issue(&key, &admin_grant())?;
        let token = issued.token.expose_secret();
        let (header, claims) = (segment(token, 0)?, segment(token, 1)?);
        assert_eq!(header, json!({"typ": "at+jwt", "alg": "EdDSA", "kid": key.kid()}));
        assert_eq!(key.kid().len(), KID_BYTES / 3 * 4);
        let names: Vec<&str> = claims.as_object().ok_or("an object")?.keys().map(String::as_str).collect();
        for required in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
            assert!(names.contains(&required), "RFC 9068 requires {required}: {claims}");
        }
        assert!(!names.contains(&"nbf"), "{claims}");
        let jti = claims["jti"].as_str().ok_or("jti")?;
        assert_eq!((jti.len(), jti), (22, issued.token_id.as_str()));
        assert!(is_base64url(jti), "{jti}");
        assert_eq!(URL_SAFE_NO_PAD.decode(jti)?.len(), TOKEN_ID_BYTES);
        assert_ne!(new_token_id()?, new_token_id()?);

        let verified = verifier(&key)?.verify(token)?;
        assert_eq!((verified.subject(), verified.username()), ("6f1c1a3e-8d2b-4c1e-9f7a-0b1c2d3e4f50", "admin"));
        assert_eq!(verified.token_id(), jti);
        assert_eq!(verified.scopes(), admin_grant().scopes.as_slice());
        assert_eq!(
            (verified.roles(), verified.plan(), verified.generation()),
            (&["admin".to_owned()][..], "free", 1234)
        );
        Ok(())
    }

    /// The admin user of a login (four scopes), in the form signed now and
    /// in the longer one (`nbf`, a UUID `jti`, the whole thumbprint as
    /// `kid`). What is left is RFC 9068's claims, `gen`, the username,
    /// roles, scope and plan, and the signature.
    #[test]
    fn an_admin_token_is_at_least_80_characters_shorter_than_in_the_longer_form() -> TestResult {
        let key = SigningKey::generate()?;
        let signer = TokenSigner::new(ISSUER.into(), Duration::from_secs(900));
        let token = signer.issue(&key, &admin_grant())?.token.expose_secret().to_owned();
        assert!(token.len() <= 548, "{} characters", token.len());

        let mut longer = segment(&token, 1)?;
        longer["nbf"] = longer["iat"].clone();
        longer["jti"] = "0b7d3f7e-2c55-4a4b-9d0e-5b8f9a1c2d3e".into();
        let mut header = segment(&token, 0)?;
        header["kid"] = "k".repeat(43).into();
        let signature = token.rsplit('.').next().ok_or("three segments")?;
        let longer = format!(
            "{}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(longer.to_string())
        );
        assert!(token.len() + 80 <= longer.len(), "{} against {} characters", token.len(), longer.len());
        Ok(())
    }

    #[test]
    fn a_service_token_does_not_repeat_its_subject_as_the_username() -> TestResult {
        let key = SigningKey::generate()?;
        let grant = Grant {
            subject: "svc:orders".into(),
            username: "svc:orders".into(),
            client_id: "orders".into(),
            roles: vec![],
            scopes: vec!["documents:read".into()],
            ..admin_grant()
        };
        let issued = TokenSigner::new(ISSUER.into(), Duration::from_secs(900)).issue(&key, &grant)?;
        let token = issued.token.expose_secret();
        assert_eq!(segment(token, 1)?.get("preferred_username"), None);
        let verified = verifier(&key)?.verify(token)?;
        assert_eq!((verified.subject(), verified.username()), ("svc:orders", "svc:orders"));
        assert!(verified.is_service());
        Ok(())
    }

    /// What the signer wrote before: `nbf` equal to `iat`, a UUID `jti`,
    /// `preferred_username` always, and a key whose `kid` is its whole
    /// thumbprint. Such tokens verify until they expire; a future `nbf` is
    /// still refused.
    #[test]
    fn a_token_in_the_longer_form_still_verifies_and_its_nbf_is_still_checked() -> TestResult {
        let new_key = SigningKey::generate()?;
        let pem = new_key.to_pkcs8_pem()?;
        let thumbprint = {
            let jwk = new_key.public_jwk();
            let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, jwk.x);
            URL_SAFE_NO_PAD.encode(<sha2::Sha256 as sha2::Digest>::digest(canonical.as_bytes()))
        };
        let key = SigningKey::from_pkcs8_pem_as(pem.expose_secret(), &thumbprint)?;
        assert_eq!(key.kid().len(), 43);
        let verifier = verifier(&key)?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let old_form = |nbf: u64| {
            json!({
                "iss": ISSUER, "aud": AUDIENCE, "sub": "6f1c1a3e-8d2b-4c1e-9f7a-0b1c2d3e4f50", "exp": now + 900,
                "nbf": nbf, "iat": now, "jti": "0b7d3f7e-2c55-4a4b-9d0e-5b8f9a1c2d3e", "gen": 3,
                "client_id": "authpair-login", "preferred_username": "admin", "roles": ["admin"],
                "scope": "admin documents:read documents:write profile", "plan": "free",
            })
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid().to_owned());
        let token = jsonwebtoken::encode(&header, &old_form(now), key.encoding_key())?;
        assert!(token.len() > 630, "{} characters", token.len());
        let verified = verifier.verify(&token)?;
        assert_eq!(verified.token_id(), "0b7d3f7e-2c55-4a4b-9d0e-5b8f9a1c2d3e");
        assert_eq!(verified.username(), "admin");
        let future = jsonwebtoken::encode(&header, &old_form(now + 120), key.encoding_key())?;
        assert_eq!(verifier.verify(&future).err(), Some(AuthError::NotYetValid));
        // The same key signs new tokens under the kid it was stored with.
        let new = TokenSigner::new(ISSUER.into(), Duration::from_secs(900)).issue(&key, &admin_grant())?;
        assert_eq!(segment(new.token.expose_secret(), 0)?["kid"], json!(thumbprint));
        assert_eq!(verifier.verify(new.token.expose_secret())?.username(), "admin");
        Ok(())
    }
}
