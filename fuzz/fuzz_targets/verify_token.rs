//! Arbitrary bytes as a bearer token: verification must never panic, and
//! must never accept anything but a token signed by the trusted key.
#![no_main]

use std::{sync::OnceLock, time::Duration};

use authpair_claims::{SigningKey, Verifier, VerifierConfig};
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let verifier = Verifier::new(VerifierConfig::new(
            "authpair".into(),
            "authpair".into(),
            Duration::from_secs(30),
            Duration::from_secs(900),
        ));
        let key = SigningKey::generate().unwrap_or_else(|e| panic!("key: {e}"));
        verifier.set_keys(&[key.public_jwk().clone()]).unwrap_or_else(|e| panic!("keys: {e}"));
        verifier
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        // The fuzzer cannot sign with the key generated above.
        assert!(verifier().verify(token).is_err());
    }
});
