//! The Ed25519 key memo of `jwt_crypto`, in a process of its own: the
//! provider can only be installed before the process's first jsonwebtoken
//! call, and the unit tests' order is not ours to fix.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authpair_claims::{AuthError, SigningKey, TokenSigner, Verifier, VerifierConfig, jwt_crypto};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::ExposeSecret;

mod common;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A token that names `named`'s kid but is signed with `signer`.
fn signed_by_another_key(named: &SigningKey, signer: &SigningKey) -> Result<String, Box<dyn std::error::Error>> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = serde_json::json!({
        "iss": "i", "aud": "a", "sub": "forged", "exp": now + 600, "nbf": now, "iat": now, "jti": "j", "gen": 0,
        "client_id": "c", "preferred_username": "u", "roles": [], "scope": "", "plan": "free",
    });
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(named.kid().into());
    let der = ed25519_dalek::SigningKey::from_pkcs8_pem(signer.to_pkcs8_pem()?.expose_secret())?.to_pkcs8_der()?;
    Ok(jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes()))?)
}

#[test]
fn tf_02_a_remembered_key_never_verifies_a_signature_made_by_another_trusted_key() -> TestResult {
    // More keys than a thread remembers, so the memo is also emptied and
    // refilled along the way. No token cache: every verify checks a signature.
    let keys = (0..10).map(|_| SigningKey::generate()).collect::<Result<Vec<_>, _>>()?;
    let mut config = VerifierConfig::new("i".into(), "a".into(), Duration::from_secs(30), Duration::from_secs(900));
    config.cache_bytes = 0;
    let verifier = Verifier::new(config);
    assert!(jwt_crypto::install(), "the memoizing provider is the one jsonwebtoken uses in this process");
    verifier.set_keys(&keys.iter().map(|k| k.public_jwk().clone()).collect::<Vec<_>>())?;
    let signer = TokenSigner::new("i".into(), Duration::from_secs(600));
    for round in 0..2 {
        for (i, key) in keys.iter().enumerate() {
            let subject = format!("user-{i}");
            let token = signer.issue(key, &common::grant(&subject))?;
            assert_eq!(verifier.verify(token.token.expose_secret())?.subject(), subject, "round {round}, key {i}");
            // The key just used is the one remembered most recently: a token
            // it signed under the next key's kid must still fail.
            let next = &keys[(i + 1) % keys.len()];
            let forged = signed_by_another_key(next, key)?;
            assert_eq!(verifier.verify(&forged).err(), Some(AuthError::BadSignature), "round {round}, key {i}");
        }
    }
    Ok(())
}
