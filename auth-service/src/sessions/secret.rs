//! Opaque refresh tokens: 256 random bits, shown once, stored as SHA-256;
//! a successor kept for the refresh grace window, sealed to the token it
//! replaced.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

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

/// The form of a sealed successor this version writes.
const GRACE_V2: &str = "g2:";
const GRACE_NONCE_BYTES: usize = 24;

/// Seals `successor` so only a holder of `presented` can open it:
/// XChaCha20-Poly1305 under a key derived from the presented token
/// (HKDF-SHA256), a random nonce, and the presented token's stored hash as
/// associated data, so a sealed successor moved to another row does not
/// open. The database keeps only that hash, never the token, so it cannot
/// open the successor itself.
pub fn seal(presented: &SecretString, successor: &SecretString) -> Option<String> {
    let mut nonce = [0u8; GRACE_NONCE_BYTES];
    getrandom::getrandom(&mut nonce).ok()?;
    let aad = refresh_token_hash(presented);
    let payload = Payload { msg: successor.expose_secret().as_bytes(), aad: aad.as_bytes() };
    let sealed = grace_cipher(presented).encrypt(&XNonce::from(nonce), payload).ok()?;
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&sealed);
    Some(format!("{GRACE_V2}{}", URL_SAFE_NO_PAD.encode(blob)))
}

/// Opens what [`seal`] wrote for `presented`; None for anything else.
pub fn unseal(presented: &SecretString, sealed: &str) -> Option<SecretString> {
    let blob = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(GRACE_V2)?).ok()?;
    if blob.len() < GRACE_NONCE_BYTES {
        return None;
    }
    let (nonce, sealed) = blob.split_at(GRACE_NONCE_BYTES);
    let nonce: [u8; GRACE_NONCE_BYTES] = nonce.try_into().ok()?;
    let aad = refresh_token_hash(presented);
    let payload = Payload { msg: sealed, aad: aad.as_bytes() };
    let opened = Zeroizing::new(grace_cipher(presented).decrypt(&XNonce::from(nonce), payload).ok()?);
    Some(SecretString::from(std::str::from_utf8(&opened).ok()?))
}

fn grace_cipher(presented: &SecretString) -> XChaCha20Poly1305 {
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's output limit, so this cannot fail.
    let derived =
        Hkdf::<Sha256>::new(None, presented.expose_secret().as_bytes()).expand(b"authpair refresh grace v2", &mut *key);
    debug_assert!(derived.is_ok());
    XChaCha20Poly1305::new((&*key).into())
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
        assert!(unseal(&new_refresh_token()?, &sealed).is_none(), "another token does not open it");
        // One character of the ciphertext changed, well before the end.
        let mut altered: Vec<char> = sealed.chars().collect();
        let at = altered.len() - 10;
        altered[at] = if altered[at] == 'A' { 'B' } else { 'A' };
        let altered: String = altered.into_iter().collect();
        assert!(unseal(&presented, &altered).is_none(), "an altered seal does not open");
        assert_ne!(seal(&presented, &successor), Some(sealed), "a fresh nonce per seal");
        Ok(())
    }
}
