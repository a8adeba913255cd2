//! Client credentials at the token endpoint (RFC 6749 §2.3.1): from
//! `Authorization: Basic` (each of id and secret form-urlencoded, then
//! joined by `:` and base64-encoded) or from the form's `client_id` and
//! `client_secret`; never both.

use axum::http::{HeaderMap, header};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use secrecy::SecretString;

use super::oauth_error::OAuthError;

/// A client's id and secret, as presented.
#[derive(Debug)]
pub struct ClientCredentials {
    pub id: String,
    pub secret: SecretString,
}

/// The credentials in `Authorization: Basic`, if the request has that
/// header. Another scheme, two headers, or a value that does not decode is
/// `invalid_client`.
pub fn basic(headers: &HeaderMap) -> Result<Option<ClientCredentials>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(value), None) => value,
        (Some(_), Some(_)) => return Err(OAuthError::invalid_request("more than one Authorization header")),
    };
    let refused = || OAuthError::invalid_client("malformed HTTP Basic credentials");
    let value = value.to_str().map_err(|_| refused())?;
    let (scheme, encoded) = value.split_once(' ').ok_or_else(refused)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client("client authentication must be HTTP Basic or in the form"));
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| refused())?;
    // The id cannot hold a raw `:` (its encoded form has %3A); the secret can.
    let colon = decoded.iter().position(|b| *b == b':').ok_or_else(refused)?;
    let id = form_decoded(&decoded[..colon]).ok_or_else(refused)?;
    let secret = form_decoded(&decoded[colon + 1..]).ok_or_else(refused)?;
    Ok(Some(ClientCredentials { id, secret: SecretString::from(secret) }))
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a
/// space, `%XX` a byte; the result must be UTF-8.
fn form_decoded(value: &[u8]) -> Option<String> {
    let plus_as_space: Vec<u8> = value.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use secrecy::ExposeSecret;

    use super::*;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")));
        headers
    }

    #[test]
    fn basic_credentials_are_base64_of_form_encoded_id_and_secret() -> Result<(), OAuthError> {
        // "my client:s%3Ac+r" is "my+client:s%253Ac%2Br" form-encoded.
        let headers = with_authorization(&format!("basic {}", STANDARD.encode("my+client:s%3Ac%2Br:x")));
        let credentials = basic(&headers)?.ok_or_else(|| OAuthError::invalid_request("none"))?;
        assert_eq!(credentials.id, "my client");
        assert_eq!(credentials.secret.expose_secret(), "s:c+r:x");
        Ok(())
    }

    #[test]
    fn another_scheme_or_an_undecodable_value_is_invalid_client() {
        for value in ["Bearer abc", "Basic !!!", "Basic", &format!("Basic {}", STANDARD.encode("no-colon"))] {
            assert_eq!(
                basic(&with_authorization(value)).map(|_| ()).map_err(|e| e.code()),
                Err("invalid_client"),
                "{value}"
            );
        }
        assert!(matches!(basic(&HeaderMap::new()), Ok(None)));
    }
}
