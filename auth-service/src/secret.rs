//! Opaque refresh tokens: 256 random bits, shown once, stored as SHA-256.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// A prefix makes leaked tokens easy for secret scanners to spot.
const PREFIX: &str = "aprt_";
/// Longer inputs are refused before hashing.
pub const MAX_REFRESH_TOKEN_BYTES: usize = 256;

pub fn new_refresh_token() -> anyhow::Result<SecretString> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(SecretString::from(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))))
}

/// The stored form. A lookup by this hash needs no secret comparison, so
/// there is no timing side channel on the token itself.
pub fn refresh_token_hash(token: &SecretString) -> String {
    let digest = Sha256::digest(token.expose_secret().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_unique_prefixed_and_hashed_to_hex() -> anyhow::Result<()> {
        let a = new_refresh_token()?;
        let b = new_refresh_token()?;
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(a.expose_secret().starts_with(PREFIX));
        assert_eq!(a.expose_secret().len(), PREFIX.len() + 43);
        let hash = refresh_token_hash(&a);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(a.expose_secret()));
        Ok(())
    }
}
