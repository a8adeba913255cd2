//! The JOSE header check alone. The header parser is private to the
//! verifier, so it is reached through `Verifier::verify` with a fixed good
//! payload and a genuine signature: the header (fuzzer text, or built
//! member by member) is the only thing that varies. The verdict must be
//! exactly the documented one: a JSON object with exactly the members
//! `alg`, `typ` and `kid`, once each and all strings, else Malformed; then
//! alg EdDSA (else WrongAlgorithm), typ at+jwt or application/at+jwt in
//! any case (else WrongType), and the trusted key's kid (else UnknownKey).
#![no_main]

use authpair_claims::{AuthError, token::verifier::MAX_TOKEN_BYTES};
use authpair_fuzz::{Built, HEADER, fixture, good_claims, is_access_token_type, now, object_members, signed};
use libfuzzer_sys::{arbitrary, fuzz_target};

#[derive(Debug, arbitrary::Arbitrary)]
enum Header {
    Text(Vec<u8>),
    Built(Built),
}

/// The documented verdict on a header, the payload and signature being good,
/// in a token of `token_len` bytes: one over the size limit is refused for
/// its size before anything in it is read.
fn expected(header: &[u8], token_len: usize) -> Result<(), AuthError> {
    if token_len > MAX_TOKEN_BYTES {
        return Err(AuthError::TokenTooLarge);
    }
    let members = object_members(header).ok_or(AuthError::Malformed)?;
    let strings: Vec<(&str, &str)> =
        members.iter().filter_map(|(name, value)| Some((name.as_str(), value.as_str()?))).collect();
    let exactly_three = strings.len() == 3
        && members.len() == 3
        && ["alg", "typ", "kid"].iter().all(|n| strings.iter().any(|(name, _)| name == n));
    if !exactly_three {
        return Err(AuthError::Malformed);
    }
    let member = |n: &str| strings.iter().find(|(name, _)| *name == n).map_or("", |(_, v)| *v);
    if member("alg") != "EdDSA" {
        return Err(AuthError::WrongAlgorithm);
    }
    if !is_access_token_type(member("typ")) {
        return Err(AuthError::WrongType);
    }
    if member("kid") != fixture().key.kid() {
        return Err(AuthError::UnknownKey);
    }
    Ok(())
}

fuzz_target!(|header: Header| {
    let now = now();
    let header = match header {
        Header::Text(bytes) => bytes,
        Header::Built(built) => built.json(&HEADER, now).into_bytes(),
    };
    let payload = good_claims(now).to_string();
    let token = signed(&header, payload.as_bytes());
    let verdict = fixture().verifier.verify(&token).map(|_| ());
    assert_eq!(verdict, expected(&header, token.len()), "header {:?}", String::from_utf8_lossy(&header));
});
