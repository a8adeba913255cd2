//! Published Ed25519 test vectors, run through both signature-check backends
//! of `authpair_claims::ed25519` (the prepared key and ed25519-dalek's
//! `verify_strict`), each verdict against the vector's expected result and
//! against `verify_strict` itself. The fixtures and their sources are in
//! `tests/vectors/` (see its README).

use std::path::Path;

use authpair_claims::token::ed25519::{Ed25519Backend, TrustedKey};
use ed25519_dalek::Signer as _;
use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn fixture(name: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name);
    Ok(serde_json::from_slice(&std::fs::read(&path)?)?)
}

fn hex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("odd-length hex: {text:?}"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| format!("{e}: {text:?}")))
        .collect()
}

fn hex_member(value: &Value, member: &str) -> Result<Vec<u8>, String> {
    hex(value[member].as_str().ok_or_else(|| format!("no string {member:?} in {value}"))?)
}

/// A backend's verdict; a key that is not 32 bytes or not a curve point
/// verifies nothing.
fn verdict(backend: Ed25519Backend, key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = <[u8; 32]>::try_from(key) else { return false };
    TrustedKey::new(&key, backend).is_some_and(|key| key.verify(message, signature).is_ok())
}

/// ed25519-dalek's `verify_strict` verdict, called directly.
fn strict(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = <[u8; 32]>::try_from(key) else { return false };
    let (Ok(key), Ok(signature)) =
        (ed25519_dalek::VerifyingKey::from_bytes(&key), ed25519_dalek::Signature::from_slice(signature))
    else {
        return false;
    };
    key.verify_strict(message, &signature).is_ok()
}

#[test]
fn every_wycheproof_case_gets_its_expected_verdict_from_both_backends_and_from_verify_strict() -> TestResult {
    let vectors = fixture("wycheproof-ed25519_test.json")?;
    assert_eq!(vectors["algorithm"], "EDDSA");
    let groups = vectors["testGroups"].as_array().ok_or("no testGroups")?;
    let mut cases = 0;
    let mut valid = 0;
    for group in groups {
        let key = hex_member(&group["publicKey"], "pk")?;
        for case in group["tests"].as_array().ok_or("no tests")? {
            let id = &case["tcId"];
            let (message, signature) = (hex_member(case, "msg")?, hex_member(case, "sig")?);
            let expected = match case["result"].as_str() {
                Some("valid") => true,
                Some("invalid") => false,
                other => return Err(format!("case {id}: result {other:?}").into()),
            };
            assert_eq!(strict(&key, &message, &signature), expected, "case {id}: verify_strict, {}", case["comment"]);
            for backend in Ed25519Backend::ALL {
                assert_eq!(verdict(backend, &key, &message, &signature), expected, "case {id}: {backend}");
            }
            cases += 1;
            valid += usize::from(expected);
        }
    }
    assert_eq!(cases, 151, "every case of the file ran");
    assert_eq!(vectors["numberOfTests"], cases);
    assert!(valid > 0 && valid < cases, "both verdicts occur: {valid} valid of {cases}");
    Ok(())
}

#[test]
fn every_rfc_8032_vector_is_reproduced_by_signing_and_verifies_on_both_backends() -> TestResult {
    let vectors = fixture("rfc8032-ed25519.json")?;
    let cases = vectors["cases"].as_array().ok_or("no cases")?;
    let names: Vec<&str> = cases.iter().filter_map(|case| case["name"].as_str()).collect();
    assert_eq!(names, ["TEST 1", "TEST 2", "TEST 3", "TEST 1024", "TEST SHA(abc)"]);
    for case in cases {
        let name = &case["name"];
        let secret: [u8; 32] = hex_member(case, "secret_key")?.try_into().map_err(|_| "a 32-byte secret key")?;
        let public = hex_member(case, "public_key")?;
        let (message, signature) = (hex_member(case, "message")?, hex_member(case, "signature")?);
        let signing = ed25519_dalek::SigningKey::from_bytes(&secret);
        assert_eq!(signing.verifying_key().as_bytes().as_slice(), public, "{name}: the public key of the secret key");
        assert_eq!(signing.sign(&message).to_bytes().as_slice(), signature, "{name}: signing reproduces it");
        assert!(strict(&public, &message, &signature), "{name}: verify_strict");
        let mut altered = message.clone();
        altered.push(0);
        for backend in Ed25519Backend::ALL {
            assert!(verdict(backend, &public, &message, &signature), "{name}: {backend}");
            assert!(!verdict(backend, &public, &altered, &signature), "{name}: {backend}, message altered");
        }
    }
    // TEST 1024 is the long one, and SHA(abc)'s message is SHA-512("abc").
    assert_eq!(hex_member(&cases[3], "message")?.len(), 1023);
    let abc = <sha2::Sha512 as sha2::Digest>::digest(b"abc");
    assert_eq!(hex_member(&cases[4], "message")?, &abc[..]);
    Ok(())
}
