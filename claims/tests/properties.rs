//! Property tests over random input to the verification path and the
//! metadata parsing: never a panic, never an accepted token.

use std::time::Duration;

use authpair_claims::{SigningKey, TokenSigner, Verifier, VerifierConfig, token::bearer::bearer_token};
use proptest::prelude::*;
use secrecy::ExposeSecret;
use tonic::metadata::{MetadataMap, MetadataValue};

mod common;

fn verifier_and_token() -> (Verifier, String) {
    let key = SigningKey::generate().unwrap_or_else(|e| panic!("key: {e}"));
    let verifier =
        Verifier::new(VerifierConfig::new("i".into(), "a".into(), Duration::from_secs(30), Duration::from_secs(900)));
    verifier.set_keys(&[key.public_jwk().clone()]).unwrap_or_else(|e| panic!("keys: {e}"));
    let token = TokenSigner::new("i".into(), Duration::from_secs(900))
        .issue(&key, &common::grant("s"))
        .unwrap_or_else(|e| panic!("sign: {e}"));
    (verifier, token.token.expose_secret().to_owned())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_strings_never_verify(token in ".{0,600}") {
        let (verifier, _) = verifier_and_token();
        prop_assert!(verifier.verify(&token).is_err());
    }

    #[test]
    fn random_three_part_tokens_never_verify(
        header in "[A-Za-z0-9_-]{0,80}",
        payload in "[A-Za-z0-9_-]{0,200}",
        signature in "[A-Za-z0-9_=+/-]{0,100}",
    ) {
        let (verifier, _) = verifier_and_token();
        let token = [header, payload, signature].join(".");
        prop_assert!(verifier.verify(&token).is_err());
    }

    #[test]
    fn any_single_character_change_to_a_valid_token_is_refused(position in any::<prop::sample::Index>(), c in "[ -~]") {
        let (verifier, token) = verifier_and_token();
        let at = position.index(token.len());
        let mut changed = token.clone();
        changed.replace_range(at..at + 1, &c);
        if changed != token {
            let refused = verifier.verify(&changed).is_err();
            prop_assert!(refused, "accepted a changed token: {}", changed);
        } else {
            prop_assert!(verifier.verify(&changed).is_ok());
        }
    }

    #[test]
    fn any_authorization_header_value_parses_without_panicking(value in "[ -~]{0,200}", count in 1usize..3) {
        let mut metadata = MetadataMap::new();
        if let Ok(value) = MetadataValue::try_from(value.as_str()) {
            for _ in 0..count {
                metadata.append("authorization", value.clone());
            }
        }
        let _ = bearer_token(&metadata.into_headers());
    }
}
