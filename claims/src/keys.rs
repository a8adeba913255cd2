//! Ed25519 signing keys and their public JWK form (RFC 7517, RFC 8037).
//!
//! A key's `kid` is its RFC 7638 thumbprint, so the same key always gets the
//! same id and two services never disagree about it.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use jsonwebtoken::EncodingKey;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

/// The one algorithm authpair signs and accepts.
pub const ALGORITHM: &str = "EdDSA";

/// Why a key could not be made, read or accepted.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The operating system's random source failed.
    #[error("the operating system random source failed")]
    Random,
    /// The private key is not a valid Ed25519 PKCS#8 key.
    #[error("signing key file is not a valid Ed25519 PKCS#8 key")]
    InvalidPrivateKey,
    /// A JWK that is not an Ed25519 public signing key whose `kid` is its
    /// thumbprint; the reason is named.
    #[error("JWK is not a valid Ed25519 public signing key: {0}")]
    InvalidJwk(&'static str),
}

/// A private Ed25519 signing key. Debug never prints the key material.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    encoding: EncodingKey,
    public: PublicJwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.public.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|_| KeyError::Random)?;
        Self::from_dalek(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// Reads a private key from PKCS#8 PEM (the key file's form).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let inner = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|_| KeyError::InvalidPrivateKey)?;
        Self::from_dalek(inner)
    }

    /// The private key as PKCS#8 PEM, for the key file (mode 0600).
    pub fn to_pkcs8_pem(&self) -> Result<SecretString, KeyError> {
        let pem = self.inner.to_pkcs8_pem(LineEnding::LF).map_err(|_| KeyError::InvalidPrivateKey)?;
        Ok(SecretString::from(pem.as_str()))
    }

    fn from_dalek(inner: ed25519_dalek::SigningKey) -> Result<Self, KeyError> {
        let der = inner.to_pkcs8_der().map_err(|_| KeyError::InvalidPrivateKey)?;
        let encoding = EncodingKey::from_ed_der(der.as_bytes());
        let public = PublicJwk::from_x(URL_SAFE_NO_PAD.encode(inner.verifying_key().as_bytes()));
        Ok(Self { inner, encoding, public })
    }

    /// The key id: the RFC 7638 thumbprint of its public JWK.
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// The public half, as published in the JWK set.
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

/// The public half of a signing key, as published in the JWK set. It has no
/// private member by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    /// The RFC 7638 thumbprint of the key.
    pub kid: String,
    /// The base64url (no padding) 32-byte Ed25519 public key.
    pub x: String,
}

impl PublicJwk {
    fn from_x(x: String) -> Self {
        Self { kid: thumbprint(&x), x }
    }

    /// Reads a JWK from the wire and accepts only an Ed25519 signing key
    /// whose `kid` is its thumbprint.
    pub fn from_proto(jwk: &authpair_proto::auth::v1::Jwk) -> Result<Self, KeyError> {
        if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
            return Err(KeyError::InvalidJwk("kty/crv must be OKP/Ed25519"));
        }
        if jwk.alg != ALGORITHM || jwk.r#use != "sig" {
            return Err(KeyError::InvalidJwk("alg/use must be EdDSA/sig"));
        }
        let public = Self::from_x(jwk.x.clone());
        let raw = public.public_key_bytes()?;
        ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| KeyError::InvalidJwk("x is not a curve point"))?;
        if public.kid != jwk.kid {
            return Err(KeyError::InvalidJwk("kid is not the key's thumbprint"));
        }
        Ok(public)
    }

    /// The wire form: `kty` OKP, `crv` Ed25519, `alg` EdDSA, `use` sig.
    pub fn to_proto(&self) -> authpair_proto::auth::v1::Jwk {
        authpair_proto::auth::v1::Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: self.x.clone(),
            kid: self.kid.clone(),
            alg: ALGORITHM.into(),
            r#use: "sig".into(),
        }
    }

    /// The raw 32-byte public key that `x` encodes.
    pub(crate) fn public_key_bytes(&self) -> Result<[u8; 32], KeyError> {
        let raw = URL_SAFE_NO_PAD.decode(&self.x).map_err(|_| KeyError::InvalidJwk("x is not base64url"))?;
        raw.try_into().map_err(|_| KeyError::InvalidJwk("x is not 32 bytes"))
    }
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexical order.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_key_survives_a_pem_round_trip_with_the_same_kid() -> Result<(), KeyError> {
        let key = SigningKey::generate()?;
        let again = SigningKey::from_pkcs8_pem(key.to_pkcs8_pem()?.expose_secret())?;
        assert_eq!(key.kid(), again.kid());
        assert!(!format!("{key:?}").contains("PRIVATE"));
        Ok(())
    }

    #[test]
    fn a_published_jwk_reads_back_and_a_wrong_kid_is_refused() -> Result<(), KeyError> {
        let key = SigningKey::generate()?;
        let mut wire = key.public_jwk().to_proto();
        assert_eq!(&PublicJwk::from_proto(&wire)?, key.public_jwk());
        wire.kid = "attacker".into();
        assert!(PublicJwk::from_proto(&wire).is_err());
        Ok(())
    }
}
