//! Issuing access tokens: RFC 9068 JWTs (`typ` "at+jwt"), signed with Ed25519.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, Header};
use secrecy::SecretString;

use crate::{
    claims::{Audience, Grant, WireClaims},
    keys::SigningKey,
};

/// The `typ` header of every access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

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
        self.issue_as(key, grant, uuid::Uuid::new_v4().to_string(), now)
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
        let exp = now + self.lifetime.as_secs();
        let claims = WireClaims {
            iss: self.issuer.clone(),
            aud: Audience::One(grant.audience.clone()),
            sub: grant.subject.clone(),
            exp,
            nbf: now,
            iat: now,
            jti: token_id.clone(),
            r#gen: grant.generation,
            client_id: grant.client_id.clone(),
            preferred_username: grant.username.clone(),
            roles: grant.roles.clone(),
            scope: grant.scopes.join(" "),
            plan: grant.plan.clone(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid().to_owned());
        let token = jsonwebtoken::encode(&header, &claims, key.encoding_key())?;
        Ok(IssuedToken { token: SecretString::from(token), token_id, expires_in: self.lifetime, expires_at: exp })
    }
}
