//! Opaque refresh tokens: 256 random bits, shown once, stored as SHA-256.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// A prefix makes leaked tokens easy for secret scanners to spot.
const PREFIX: &str = "aprt_";
const CLIENT_SECRET_PREFIX: &str = "apcs_";
/// Longer inputs are refused before hashing.
pub const MAX_REFRESH_TOKEN_BYTES: usize = 256;

pub fn new_refresh_token() -> anyhow::Result<SecretString> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(SecretString::from(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))))
}

/// A new service-account client secret: 256 random bits.
pub fn new_client_secret() -> anyhow::Result<SecretString> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(SecretString::from(format!("{CLIENT_SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))))
}

/// Compares a presented secret with a stored hash in constant time.
pub fn secret_matches(presented: &SecretString, stored_hash: &str) -> bool {
    use subtle::ConstantTimeEq;
    refresh_token_hash(presented).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// The stored form. A lookup by this hash needs no secret comparison, so
/// there is no timing side channel on the token itself.
/// Used for refresh tokens and client secrets alike.
pub fn refresh_token_hash(token: &SecretString) -> String {
    let digest = Sha256::digest(token.expose_secret().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seals `successor` so only a holder of `presented` can open it: XOR with
/// SHA-256 of a domain tag and the presented token. Each presented token
/// seals at most one successor, so the pad is never reused.
pub fn seal(presented: &SecretString, successor: &SecretString) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(successor.expose_secret().strip_prefix(PREFIX)?).ok()?;
    let pad = grace_pad(presented);
    Some(raw.iter().zip(pad.iter()).map(|(a, b)| format!("{:02x}", a ^ b)).collect())
}

pub fn unseal(presented: &SecretString, sealed: &str) -> Option<SecretString> {
    let pad = grace_pad(presented);
    let bytes = (0..sealed.len())
        .step_by(2)
        .map(|i| sealed.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()?;
    if bytes.len() != 32 {
        return None;
    }
    let raw: Vec<u8> = bytes.iter().zip(pad.iter()).map(|(a, b)| a ^ b).collect();
    Some(SecretString::from(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))))
}

fn grace_pad(presented: &SecretString) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"authpair refresh grace v1\0");
    hasher.update(presented.expose_secret().as_bytes());
    hasher.finalize().into()
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

    #[test]
    fn a_sealed_successor_opens_only_with_the_presented_token() -> anyhow::Result<()> {
        let presented = new_refresh_token()?;
        let successor = new_refresh_token()?;
        let sealed = seal(&presented, &successor).ok_or_else(|| anyhow::anyhow!("seal failed"))?;
        assert!(!sealed.contains(successor.expose_secret()));
        let opened = unseal(&presented, &sealed).map(|s| s.expose_secret().to_owned());
        assert_eq!(opened.as_deref(), Some(successor.expose_secret()));
        let other = new_refresh_token()?;
        let wrong = unseal(&other, &sealed).map(|s| s.expose_secret().to_owned());
        assert_ne!(wrong.as_deref(), Some(successor.expose_secret()));
        Ok(())
    }
}
