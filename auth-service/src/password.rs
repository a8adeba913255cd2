//! Password hashing with argon2id at OWASP parameters (m=19456 KiB, t=2, p=1).
//!
//! Hashing is CPU- and memory-heavy, so it runs on the blocking pool behind a
//! semaphore: at most `permits` hashes at once, so memory stays bounded at
//! permits × 19 MiB and the async threads keep serving other calls.
//! An unknown user is checked against a dummy hash of the same cost, so
//! "no such user" and "wrong password" take about the same time.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
    password_hash::SaltString,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// OWASP Password Storage Cheat Sheet minimum for argon2id.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUTPUT_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed")]
    Join,
}

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
}

fn argon2() -> Result<Argon2<'static>, HashError> {
    let params =
        Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN)).map_err(|e| HashError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &[u8]) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| HashError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Hash(e.to_string()))?;
    Ok(argon2()?.hash_password(password, &salt).map_err(|e| HashError::Hash(e.to_string()))?.to_string())
}

impl PasswordHasher {
    /// `permits` hashes may run at once; 0 means one per CPU core.
    pub fn new(permits: usize) -> Result<Self, HashError> {
        let permits =
            if permits == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { permits };
        let dummy_hash = hash_blocking(b"authpair dummy password for unknown users")?;
        Ok(Self { permits: Arc::new(Semaphore::new(permits)), dummy_hash: dummy_hash.into() })
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        // The semaphore is never closed, so acquire only fails if it were.
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Join)?;
        tokio::task::spawn_blocking(job).await.map_err(|_| HashError::Join)
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        self.run(move || hash_blocking(password.expose_secret().as_bytes())).await?
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// there is no stored hash, so both paths cost the same. Fails closed:
    /// an unparsable stored hash is a mismatch.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<bool, HashError> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matched = self
            .run(move || {
                let Ok(parsed) = PasswordHash::new(&stored) else {
                    return false;
                };
                // Verify with our own parameters' algorithm; the PHC string
                // carries its own m/t/p, so older hashes still verify.
                argon2().is_ok_and(|a| a.verify_password(password.expose_secret().as_bytes(), &parsed).is_ok())
            })
            .await?;
        Ok(known && matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sh_03_hashes_are_argon2id_at_owasp_parameters_and_salted() -> Result<(), HashError> {
        let hasher = PasswordHasher::new(2)?;
        let a = hasher.hash(SecretString::from("correct horse")).await?;
        let b = hasher.hash(SecretString::from("correct horse")).await?;
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(hasher.verify(SecretString::from("correct horse"), Some(a.clone())).await?);
        assert!(!hasher.verify(SecretString::from("wrong"), Some(a)).await?);
        assert!(!hasher.verify(SecretString::from("correct horse"), None).await?);
        assert!(!hasher.verify(SecretString::from("x"), Some("not a hash".into())).await?);
        Ok(())
    }
}
