//! The jsonwebtoken crypto provider: RustCrypto's, except that EdDSA
//! signatures are checked against a public key prepared once per process
//! ([`crate::ed25519::PreparedKey`]) instead of one rebuilt on every verify.
//!
//! jsonwebtoken's `rust_crypto` backend turns the key's 32 bytes into an
//! `ed25519_dalek::VerifyingKey` (a curve point decompression) inside every
//! `decode`. Under callgrind that was 39,942 of the 522,386 instructions of
//! a fresh-token call (7.7 %; BENCHMARKS.md). And a fixed key can carry
//! fixed-base tables, which made the check itself about 40 % cheaper than
//! ed25519-dalek's on an Intel host (BENCHMARKS.md, "Runs 45–48"; see
//! [`crate::ed25519`]). jsonwebtoken's documented way to change how it does
//! cryptography is a process-wide [`CryptoProvider`] of plain `fn`s, so the
//! prepared keys are memoized process-wide, keyed by the key's exact bytes.
//! Preparing is a pure function of those bytes, and the prepared check
//! reaches ed25519-dalek's verdict on every input, so nothing about what is
//! accepted changes, only the cost. Signing and every other
//! algorithm are RustCrypto's, untouched.
//!
//! The provider must be installed before the process's first jsonwebtoken
//! call, after which jsonwebtoken fixes its choice. [`install`] is called by
//! [`crate::Verifier::new`] and [`crate::TokenSigner::new`]; if something
//! else used jsonwebtoken first, the stock provider stays and everything
//! still works, at the stock cost.

use std::sync::{Arc, LazyLock, RwLock};

use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey,
    crypto::{CryptoProvider, JwtVerifier, rust_crypto},
    errors::{ErrorKind, Result},
    signature,
};

use crate::ed25519::PreparedKey;

/// Keys the process remembers. A service trusts one or two keys at a time
/// (the current one, and the previous one during a rotation); the table is
/// emptied when full so that it stays small whatever happens. A prepared
/// key is about 215 KiB, so it is shared by every thread rather than built
/// per thread (as until 2026-11-29, when it was 30 KiB).
const KEYS_KEPT: usize = 8;

static PROVIDER: LazyLock<CryptoProvider> =
    LazyLock::new(|| CryptoProvider { verifier_factory: new_verifier, ..rust_crypto::DEFAULT_PROVIDER.clone() });

static KEYS: RwLock<Vec<Arc<PreparedKey>>> = RwLock::new(Vec::new());

/// Makes this module's provider jsonwebtoken's for the process, if no
/// jsonwebtoken call has fixed another one yet. True when it is in use.
pub fn install() -> bool {
    match PROVIDER.install_default() {
        Ok(()) => true,
        Err(current) => std::ptr::eq(current, &*PROVIDER),
    }
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if *algorithm != Algorithm::EdDSA {
        return (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(algorithm, key);
    }
    // The same checks, in the same order, as rust_crypto's EdDSA verifier.
    if key.family() != AlgorithmFamily::Ed {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let bytes: [u8; 32] =
        key.try_get_as_bytes()?.get(..32).and_then(|b| b.try_into().ok()).ok_or(ErrorKind::InvalidEddsaKey)?;
    Ok(Box::new(Ed25519Verifier(prepared_key(&bytes)?)))
}

/// The prepared key for `bytes`, from the process's table when it has it.
fn prepared_key(bytes: &[u8; 32]) -> Result<Arc<PreparedKey>> {
    // A poisoned lock only means a thread panicked while pushing or
    // clearing, which leaves a valid Vec of valid keys; keep using it.
    let find = |keys: &[Arc<PreparedKey>]| keys.iter().find(|key| key.bytes() == bytes).cloned();
    if let Some(key) = find(&KEYS.read().unwrap_or_else(|poison| poison.into_inner())) {
        return Ok(key);
    }
    // Built before taking the write lock: a build costs about as much as 16
    // checks, and under the lock it would hold up every thread verifying
    // with the keys already known. Threads that miss together may each
    // build it; the first to push wins and the others drop theirs.
    let built = Arc::new(PreparedKey::new(bytes).ok_or(ErrorKind::InvalidEddsaKey)?);
    let mut keys = KEYS.write().unwrap_or_else(|poison| poison.into_inner());
    if let Some(key) = find(&keys) {
        return Ok(key);
    }
    let key = built;
    if keys.len() == KEYS_KEPT {
        keys.clear();
    }
    keys.push(Arc::clone(&key));
    Ok(key)
}

struct Ed25519Verifier(Arc<PreparedKey>);

impl signature::Verifier<Vec<u8>> for Ed25519Verifier {
    /// rust_crypto's EdDSA verifier calls ed25519-dalek's `verify`;
    /// [`PreparedKey::verify`] reaches the same verdict, faster.
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        self.0.verify(message, signature).map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Ed25519Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_kept() -> Vec<Arc<PreparedKey>> {
        KEYS.read().map(|keys| keys.clone()).unwrap_or_default()
    }

    #[test]
    fn the_process_remembers_at_most_eight_keys_and_each_is_its_own() -> Result<()> {
        for round in 0..3u8 {
            for n in 0..(KEYS_KEPT as u8 + 3) {
                let bytes = ed25519_dalek::SigningKey::from_bytes(&[n; 32]).verifying_key().to_bytes();
                assert_eq!(prepared_key(&bytes)?.bytes(), &bytes, "round {round}, key {n}");
                assert!(keys_kept().len() <= KEYS_KEPT);
            }
        }
        Ok(())
    }

    #[test]
    fn bytes_that_are_not_a_curve_point_are_an_invalid_key_every_time() {
        // The first small y with no x on the curve.
        let bytes = (2u8..=255)
            .map(|y| {
                let mut b = [0u8; 32];
                b[0] = y;
                b
            })
            .find(|b| ed25519_dalek::VerifyingKey::from_bytes(b).is_err())
            .unwrap_or_default();
        assert_ne!(bytes, [0u8; 32], "some small y is off the curve");
        for _ in 0..2 {
            let err = prepared_key(&bytes).err().map(|e| e.into_kind());
            assert!(matches!(err, Some(ErrorKind::InvalidEddsaKey)), "{err:?}");
        }
        assert!(keys_kept().iter().all(|key| *key.bytes() != bytes), "failures are not remembered");
    }
}
