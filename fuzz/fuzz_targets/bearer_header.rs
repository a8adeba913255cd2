//! `bearer_token` on arbitrary header maps: any number of `authorization`
//! entries (and look-alike keys) holding any bytes a header value may hold.
//! It never panics, and its answer is exactly what RFC 6750 §2.1 as
//! `claims/src/token/bearer.rs` reads it says: no entry is `Ok(None)`; two or more
//! are refused; with one, `Ok(Some(t))` exactly when the value fits the size
//! cap, its scheme (the bytes before the first space) is "bearer" in any
//! case, and `t` is the non-empty UTF-8 rest after that space.
#![no_main]

use authpair_claims::{AuthError, token::{bearer::bearer_token, verifier::MAX_TOKEN_BYTES}};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::{arbitrary, fuzz_target};

/// Keys the parser must read (only the first) or must ignore.
const NAMES: [&str; 4] = ["authorization", "authorization-bin", "x-authorization", "proxy-authorization"];

#[derive(Debug, arbitrary::Arbitrary)]
struct Entry {
    name: u8,
    /// Prefixed with a scheme on request, so the fuzzer reaches tokens
    /// without having to guess "bearer " first.
    scheme: Option<Scheme>,
    value: Vec<u8>,
}

#[derive(Debug, arbitrary::Arbitrary)]
enum Scheme {
    Bearer,
    Mixed(u8),
}

fn value_of(entry: &Entry) -> Vec<u8> {
    let mut value = match entry.scheme {
        None => Vec::new(),
        Some(Scheme::Bearer) => b"Bearer ".to_vec(),
        // A case pattern for the six letters from the byte's bits.
        Some(Scheme::Mixed(bits)) => b"bearer "
            .iter()
            .enumerate()
            .map(|(i, &b)| if bits >> i & 1 == 1 { b.to_ascii_uppercase() } else { b })
            .collect(),
    };
    value.extend_from_slice(&entry.value);
    value
}

fuzz_target!(|entries: Vec<Entry>| {
    let mut headers = HeaderMap::new();
    let mut authorization = Vec::new();
    for entry in &entries {
        // Only bytes `HeaderValue` accepts reach a real call.
        let Ok(value) = HeaderValue::from_bytes(&value_of(entry)) else { continue };
        let name = NAMES[usize::from(entry.name) % NAMES.len()];
        if name == "authorization" {
            authorization.push(value.as_bytes().to_vec());
        }
        headers.append(HeaderName::from_static(name), value);
    }

    let got = bearer_token(&headers);
    match authorization.as_slice() {
        [] => assert_eq!(got, Ok(None)),
        [value] => {
            let expected = value.iter().position(|&b| b == b' ').and_then(|space| {
                let (scheme, token) = (&value[..space], &value[space + 1..]);
                let fits = value.len() <= MAX_TOKEN_BYTES + "Bearer ".len();
                (fits && scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty())
                    .then(|| std::str::from_utf8(token).ok())
                    .flatten()
            });
            match (got, expected) {
                (Ok(Some(token)), Some(expected)) => assert_eq!(token, expected),
                (Err(_), None) => {}
                (got, expected) => panic!("value {value:?}: got {got:?}, expected {expected:?}"),
            }
        }
        _ => assert_eq!(got, Err(AuthError::DuplicateAuthorization)),
    }
});
