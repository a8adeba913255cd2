//! Ed25519 signing keys and their public JWK form (RFC 7517, RFC 8037).
//!
//! A key's `kid` is derived from its RFC 7638 thumbprint, so the same key
//! always gets the same id and two services never disagree about it: new keys
//! get the thumbprint's first [`KID_BYTES`] bytes (12 base64url characters,
//! which every token carries), and a key stored with the whole thumbprint as
//! its `kid` keeps it ([`SigningKey::from_pkcs8_pem_as`]). Either form is
//! bound to the key: a JWK whose `kid` is neither is refused.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use jsonwebtoken::EncodingKey;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

/// The one algorithm authpair signs and accepts.
pub const ALGORITHM: &str = "EdDSA";

/// How many bytes of the thumbprint a new key's `kid` keeps: 72 bits. A
/// `kid` only picks a key among the few an issuer publishes (and is bound to
/// that key's thumbprint), so it need not be unguessable, only distinct: two
/// of a handful of keys share one with odds of about 2^-66.
pub const KID_BYTES: usize = 9;

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
    /// A stored key's `kid` is neither its thumbprint nor the thumbprint's
    /// short prefix.
    #[error("the kid is not derived from this key's thumbprint")]
    KidMismatch,
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

    /// A key read from PKCS#8 PEM, with the `kid` a new key gets.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let inner = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|_| KeyError::InvalidPrivateKey)?;
        Self::from_dalek(inner)
    }

    /// A stored key under the `kid` it was stored with: the short form or
    /// the whole thumbprint, so the tokens it signed keep verifying. Any
    /// other `kid` is refused.
    pub fn from_pkcs8_pem_as(pem: &str, kid: &str) -> Result<Self, KeyError> {
        let mut key = Self::from_pkcs8_pem(pem)?;
        key.public = PublicJwk::with_kid(key.public.x, kid)?;
        Ok(key)
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

    /// The key id, derived from the RFC 7638 thumbprint of its public JWK:
    /// its first [`KID_BYTES`] bytes, or the whole of it for a key stored
    /// that way (see the module docs).
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
    /// The key id, derived from the key's RFC 7638 thumbprint (see
    /// [`SigningKey::kid`]).
    pub kid: String,
    /// The base64url (no padding) 32-byte Ed25519 public key.
    pub x: String,
}

impl PublicJwk {
    fn from_x(x: String) -> Self {
        Self { kid: short_kid(&thumbprint(&x)), x }
    }

    /// `x` under `kid`, which must be derived from its thumbprint: the short
    /// form, or the whole thumbprint.
    fn with_kid(x: String, kid: &str) -> Result<Self, KeyError> {
        let full = thumbprint(&x);
        if kid != full && kid != short_kid(&full) {
            return Err(KeyError::KidMismatch);
        }
        Ok(Self { kid: kid.to_owned(), x })
    }

    /// Reads a JWK from the wire and accepts only an Ed25519 signing key
    /// whose `kid` is derived from its thumbprint (either form).
    pub fn from_proto(jwk: &authpair_proto::auth::v1::Jwk) -> Result<Self, KeyError> {
        if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
            return Err(KeyError::InvalidJwk("kty/crv must be OKP/Ed25519"));
        }
        if jwk.alg != ALGORITHM || jwk.r#use != "sig" {
            return Err(KeyError::InvalidJwk("alg/use must be EdDSA/sig"));
        }
        let public = Self::with_kid(jwk.x.clone(), &jwk.kid)
            .map_err(|_| KeyError::InvalidJwk("kid is not the key's thumbprint"))?;
        let raw = public.public_key_bytes()?;
        ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| KeyError::InvalidJwk("x is not a curve point"))?;
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

/// A new key's `kid`: the first [`KID_BYTES`] bytes of `thumbprint`. A
/// multiple of 3 bytes, so it is exactly a prefix of the thumbprint's text.
fn short_kid(thumbprint: &str) -> String {
    const _: () = assert!(KID_BYTES.is_multiple_of(3));
    thumbprint[..KID_BYTES / 3 * 4].to_owned()
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

    #[test]
    fn a_new_kid_is_12_base64url_characters_derived_from_the_thumbprint() -> Result<(), KeyError> {
        let (key, other) = (SigningKey::generate()?, SigningKey::generate()?);
        let full = thumbprint(&key.public_jwk().x);
        assert_eq!(full.len(), 43);
        assert_eq!(key.kid().len(), 12);
        assert!(key.kid().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{}", key.kid());
        assert!(full.starts_with(key.kid()));
        assert_eq!(URL_SAFE_NO_PAD.decode(key.kid()).map(|b| b.len()), Ok(KID_BYTES));
        assert_ne!(key.kid(), other.kid());
        Ok(())
    }

    #[test]
    fn a_key_stored_under_its_whole_thumbprint_keeps_that_kid_and_no_other_kid_is_accepted() -> Result<(), KeyError> {
        let key = SigningKey::generate()?;
        let pem = key.to_pkcs8_pem()?;
        let full = thumbprint(&key.public_jwk().x);
        let old = SigningKey::from_pkcs8_pem_as(pem.expose_secret(), &full)?;
        assert_eq!(old.kid(), full);
        assert_eq!(SigningKey::from_pkcs8_pem_as(pem.expose_secret(), key.kid())?.kid(), key.kid());
        for wrong in ["", "attacker", &full[..42], &key.kid()[..key.kid().len() - 1], &format!("{full}A")] {
            assert!(
                matches!(SigningKey::from_pkcs8_pem_as(pem.expose_secret(), wrong), Err(KeyError::KidMismatch)),
                "{wrong:?}"
            );
        }
        // Its JWK, with the whole thumbprint, reads back from the wire.
        let wire = old.public_jwk().to_proto();
        assert_eq!(PublicJwk::from_proto(&wire)?.kid, full);
        let other = SigningKey::generate()?;
        let mut swapped = other.public_jwk().to_proto();
        swapped.kid = full;
        assert!(PublicJwk::from_proto(&swapped).is_err(), "another key under this key's kid");
        Ok(())
    }
}
