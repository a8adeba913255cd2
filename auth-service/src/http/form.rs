//! The one body type the POST endpoints take: `application/x-www-form-urlencoded`
//! (RFC 6749 §3.2, RFC 7662 §2.1), with or without parameters such as a
//! charset.

use axum::http::{HeaderMap, header};

/// Whether the request's `Content-Type` is a form.
pub fn is_form(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    })
}
