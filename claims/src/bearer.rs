//! Reading `authorization: Bearer <token>` from gRPC metadata (RFC 6750 §2.1).
//!
//! Exactly one ASCII `authorization` entry counts: tonic's `MetadataMap::get`
//! would silently take the first of several, so two entries are refused, and
//! `authorization-bin` or other look-alike keys are simply not read. The
//! scheme is case-insensitive; exactly one space separates it from the token,
//! which must be an RFC 6750 `b64token` (a JWS in compact form always is).
//!
//! This runs on every call, over a ~600-byte value, so it works on the raw
//! bytes with checks the compiler can vectorize (issue 7: a char-by-char
//! `contains` here cost 0.7 µs a call, more than the whole cache hit).

use tonic::metadata::MetadataMap;

use crate::{error::AuthError, verifier::MAX_TOKEN_BYTES};

/// The bearer token of a call: `Ok(None)` when there is no authorization
/// entry at all, an error when there is one but it is unusable.
pub fn bearer_token(metadata: &MetadataMap) -> Result<Option<&str>, AuthError> {
    let mut values = metadata.get_all("authorization").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::DuplicateAuthorization);
    }
    // Checked on the raw bytes, before any parsing.
    if value.as_encoded_bytes().len() > MAX_TOKEN_BYTES + "Bearer ".len() {
        return Err(AuthError::TokenTooLarge);
    }
    let value = value.as_encoded_bytes();
    let space = value.iter().position(|&b| b == b' ').ok_or(AuthError::WrongScheme)?;
    let (scheme, token) = (&value[..space], &value[space + 1..]);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(AuthError::WrongScheme);
    }
    if !is_b64token(token) {
        return Err(AuthError::Malformed);
    }
    // A b64token is ASCII, so this cannot fail; fail closed all the same.
    std::str::from_utf8(token).map(Some).map_err(|_| AuthError::Malformed)
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
/// "+" / "/" ) *"="`. Folds over every byte instead of stopping at the first
/// bad one, so the loop has no branch and vectorizes.
fn is_b64token(token: &[u8]) -> bool {
    let end = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..end];
    !body.is_empty()
        && body.iter().fold(true, |ok, &b| {
            ok & (b.is_ascii_alphanumeric()
                | (b == b'-')
                | (b == b'.')
                | (b == b'_')
                | (b == b'~')
                | (b == b'+')
                | (b == b'/'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataValue;

    fn with(values: &[&'static str]) -> MetadataMap {
        let mut map = MetadataMap::new();
        for v in values {
            map.append("authorization", MetadataValue::from_static(v));
        }
        map
    }

    #[test]
    fn tm_02_scheme_variants_are_read_strictly() {
        assert_eq!(bearer_token(&with(&[])), Ok(None));
        assert_eq!(bearer_token(&with(&["Bearer a.b.c"])), Ok(Some("a.b.c")));
        assert_eq!(bearer_token(&with(&["bearer a.b.c"])), Ok(Some("a.b.c")));
        assert_eq!(bearer_token(&with(&["BEARER a.b.c"])), Ok(Some("a.b.c")));
        assert_eq!(bearer_token(&with(&["Bearer  a.b.c"])), Err(AuthError::Malformed));
        assert_eq!(bearer_token(&with(&["Bearer a.b.c "])), Err(AuthError::Malformed));
        assert_eq!(bearer_token(&with(&["Bearer "])), Err(AuthError::Malformed));
        assert_eq!(bearer_token(&with(&["Bearera.b.c"])), Err(AuthError::WrongScheme));
        assert_eq!(bearer_token(&with(&["Basic dXNlcjpwYXNz"])), Err(AuthError::WrongScheme));
        assert_eq!(bearer_token(&with(&["Token a.b.c"])), Err(AuthError::WrongScheme));
        assert_eq!(bearer_token(&with(&["Bearer a.b.c, Bearer d.e.f"])), Err(AuthError::Malformed));
    }

    #[test]
    fn tm_02_the_token_must_be_an_rfc_6750_b64token() -> Result<(), tonic::metadata::errors::InvalidMetadataValueBytes>
    {
        assert_eq!(bearer_token(&with(&["Bearer aZ09-._~+/=="])), Ok(Some("aZ09-._~+/==")));
        for bad in ["Bearer a\tb", "Bearer a\"b", "Bearer a;b", "Bearer a=b", "Bearer ==", "Bearer a:b", "Bearer a,b"] {
            assert_eq!(bearer_token(&with(&[bad])), Err(AuthError::Malformed), "{bad:?}");
        }
        let mut map = MetadataMap::new();
        map.insert("authorization", MetadataValue::try_from("Bearer a\u{e9}b".as_bytes())?);
        assert_eq!(bearer_token(&map), Err(AuthError::Malformed));
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
        assert_eq!(bearer_token(&map), Ok(None));
    }
}
