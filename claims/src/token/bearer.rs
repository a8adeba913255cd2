//! Reading `authorization: Bearer <token>` from a call's headers (RFC 6750 §2.1).
//!
//! Exactly one ASCII `authorization` entry counts: `HeaderMap::get` would
//! silently take the first of several, so two entries are refused, and
//! `authorization-bin` or other look-alike keys are simply not read. The
//! scheme is case-insensitive; exactly one space separates it from the token.
//!
//! The token is not checked against the base64url alphabet here, only found
//! to be UTF-8 (std's check, a word at a time, which a `&str` needs): a JWS
//! in compact form is base64url and dots, and the verifier checks exactly
//! that before anything else on a cache miss (`Verifier::verify_uncached`).
//! A cache hit is an exact match with a token that passed it, so its
//! hundreds of characters are not checked one by one on every call (such a
//! scan here cost more than the whole cache hit).

use http::HeaderMap;

use super::verifier::MAX_TOKEN_BYTES;
use crate::error::AuthError;

/// The bearer token of a call: `Ok(None)` when there is no authorization
/// entry at all, an error when there is one but it is unusable.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::DuplicateAuthorization);
    }
    bearer_value(value.as_bytes()).map(Some)
}

/// The token of one `authorization` value (`Bearer <token>`), by the same
/// rules: for a server handed the header's value rather than the call (the
/// gate, from Envoy's check request).
pub fn bearer_value(value: &[u8]) -> Result<&str, AuthError> {
    // Checked on the raw bytes, before any parsing.
    if value.len() > MAX_TOKEN_BYTES + "Bearer ".len() {
        return Err(AuthError::TokenTooLarge);
    }
    let space = value.iter().position(|&b| b == b' ').ok_or(AuthError::WrongScheme)?;
    let (scheme, token) = (&value[..space], &value[space + 1..]);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(AuthError::WrongScheme);
    }
    if token.is_empty() {
        return Err(AuthError::Malformed);
    }
    // Not UTF-8 cannot be a token; the verifier would refuse it too.
    std::str::from_utf8(token).map_err(|_| AuthError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::{MetadataMap, MetadataValue};

    fn with(values: &[&'static str]) -> HeaderMap {
        let mut map = MetadataMap::new();
        for v in values {
            map.append("authorization", MetadataValue::from_static(v));
        }
        map.into_headers()
    }

    #[test]
    fn tm_02_scheme_variants_are_read_strictly() {
        assert_eq!(bearer_token(&with(&[])), Ok(None));
        assert_eq!(bearer_token(&with(&["Bearer a.b.c"])), Ok(Some("a.b.c")));
        assert_eq!(bearer_token(&with(&["bearer a.b.c"])), Ok(Some("a.b.c")));
        assert_eq!(bearer_token(&with(&["BEARER a.b.c"])), Ok(Some("a.b.c")));
        // Anything after the one space is the token; the verifier refuses
        // these (see its tm_02 test), not the parser.
        assert_eq!(bearer_token(&with(&["Bearer  a.b.c"])), Ok(Some(" a.b.c")));
        assert_eq!(bearer_token(&with(&["Bearer a.b.c "])), Ok(Some("a.b.c ")));
        assert_eq!(bearer_token(&with(&["Bearer "])), Err(AuthError::Malformed));
        assert_eq!(bearer_token(&with(&["Bearera.b.c"])), Err(AuthError::WrongScheme));
        assert_eq!(bearer_token(&with(&["Basic dXNlcjpwYXNz"])), Err(AuthError::WrongScheme));
        assert_eq!(bearer_token(&with(&["Token a.b.c"])), Err(AuthError::WrongScheme));
        assert_eq!(bearer_token(&with(&["Bearer a.b.c, Bearer d.e.f"])), Ok(Some("a.b.c, Bearer d.e.f")));
    }

    #[test]
    fn tm_02_bytes_that_are_not_utf8_are_malformed() -> Result<(), tonic::metadata::errors::InvalidMetadataValueBytes> {
        let mut map = MetadataMap::new();
        map.insert("authorization", MetadataValue::try_from(b"Bearer a\xffb".as_slice())?);
        assert_eq!(bearer_token(&map.into_headers()), Err(AuthError::Malformed));
        Ok(())
    }

    #[test]
    fn tm_04_two_authorization_entries_are_refused() {
        assert_eq!(bearer_token(&with(&["Bearer a.b.c", "Bearer d.e.f"])), Err(AuthError::DuplicateAuthorization));
    }

    #[test]
    fn tm_05_only_the_ascii_authorization_key_counts() {
        let mut map = MetadataMap::new();
        map.insert_bin("authorization-bin", tonic::metadata::MetadataValue::from_bytes(b"Bearer a.b.c"));
        map.insert("x-authorization", MetadataValue::from_static("Bearer a.b.c"));
        assert_eq!(bearer_token(&map.into_headers()), Ok(None));
    }
}
