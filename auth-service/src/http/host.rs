//! RFC 9112 §3.2: a server answers 400 to an HTTP/1.1 request without a
//! `Host` header, and to any request with more than one `Host` or with a
//! `Host` that is not a valid `uri-host [ ":" port ]`. Checked before
//! routing, so every path, known or not, gets the same answer.

use axum::{
    extract::Request,
    http::{StatusCode, Version, header::HOST, uri::Authority},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Passes a request with one valid `Host` (or an HTTP/1.0 one without);
/// 400 otherwise.
pub async fn one_valid_host(request: Request, next: Next) -> Response {
    if !has_one_valid_host(&request) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    next.run(request).await
}

fn has_one_valid_host(request: &Request) -> bool {
    let mut hosts = request.headers().get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) => request.version() < Version::HTTP_11,
        (Some(host), None) => is_valid_host(host.as_bytes()),
        (Some(_), Some(_)) => false,
    }
}

/// `uri-host [ ":" port ]`, or empty (RFC 9110 §7.2 allows an empty
/// `Host` when the target has no authority). An authority with user
/// information (`a@b`) is not a host.
fn is_valid_host(value: &[u8]) -> bool {
    value.is_empty() || (!value.contains(&b'@') && Authority::try_from(value).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_a_name_or_address_with_an_optional_port_and_nothing_else() {
        for good in ["auth.example", "auth.example:443", "127.0.0.1:50061", "[::1]:8080", ""] {
            assert!(is_valid_host(good.as_bytes()), "{good:?}");
        }
        for bad in ["a b", "user@auth.example", "auth.example/x", "[::1"] {
            assert!(!is_valid_host(bad.as_bytes()), "{bad:?}");
        }
    }
}
