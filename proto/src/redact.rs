//! Debug for the messages that carry passwords or tokens. Build.rs tells prost
//! not to derive Debug for them; these print the shape and never the secret.

use std::fmt;

use crate::auth::v1::{
    CreateUserRequest, IntrospectRequest, IssueServiceTokenResponse, LoginRequest, LoginResponse, LogoutRequest,
    RefreshRequest, RefreshResponse,
};

const REDACTED: &str = "[redacted]";

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &REDACTED)
            .field("audience", &self.audience)
            .finish()
    }
}

impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRequest").field("refresh_token", &REDACTED).finish()
    }
}

impl fmt::Debug for LogoutRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogoutRequest").field("refresh_token", &REDACTED).finish()
    }
}

impl fmt::Debug for IntrospectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectRequest").field("token", &REDACTED).finish()
    }
}

/// The token responses: Login, Refresh and IssueServiceToken answer with the
/// same fields.
macro_rules! token_response_debug {
    ($($message:ident),+) => {$(
        impl fmt::Debug for $message {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($message))
                    .field("access_token", &REDACTED)
                    .field("token_type", &self.token_type)
                    .field("expires_in", &self.expires_in)
                    .field("refresh_token", &REDACTED)
                    .field("scope", &self.scope)
                    .finish()
            }
        }
    )+};
}

token_response_debug!(LoginResponse, RefreshResponse, IssueServiceTokenResponse);

impl fmt::Debug for CreateUserRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateUserRequest")
            .field("username", &self.username)
            .field("password", &REDACTED)
            .field("roles", &self.roles)
            .field("plan", &self.plan)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_secret_bearing_messages_never_contains_the_secret() {
        let login = LoginRequest {
            username: "alice".into(),
            password: "hunter2-secret".into(),
            audience: "authpair-admin".into(),
        };
        let refresh = RefreshRequest { refresh_token: "rt-secret".into() };
        let logout = LogoutRequest { refresh_token: "rt-secret".into() };
        let pair =
            LoginResponse { access_token: "at-secret".into(), refresh_token: "rt-secret".into(), ..Default::default() };
        let refreshed = RefreshResponse::from(pair.clone());
        let service = IssueServiceTokenResponse { access_token: "at-secret".into(), ..Default::default() };
        let create = CreateUserRequest { password: "pw-secret".into(), ..Default::default() };
        let introspect = IntrospectRequest { token: "at-secret".into() };
        let printed = format!("{login:?}{refresh:?}{logout:?}{pair:?}{refreshed:?}{service:?}{create:?}{introspect:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("alice"));
    }
}

/// Envoy's messages that carry a request's headers, body or query string:
/// header names, the method and the path without its query, never a value.
#[cfg(feature = "envoy")]
mod envoy {
    use std::fmt;

    use super::REDACTED;
    use crate::envoy_api::envoy::{
        config::core::v3::{HeaderMap, HeaderValue},
        service::auth::v3::attribute_context::HttpRequest,
    };

    impl fmt::Debug for HeaderValue {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("HeaderValue").field("key", &self.key).field("value", &REDACTED).finish()
        }
    }

    impl fmt::Debug for HeaderMap {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("HeaderMap").field("headers", &self.headers).finish()
        }
    }

    impl fmt::Debug for HttpRequest {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let mut names: Vec<&str> = self.headers.keys().map(String::as_str).collect();
            names.sort_unstable();
            f.debug_struct("HttpRequest")
                .field("id", &self.id)
                .field("method", &self.method)
                .field("path", &self.path.split(['?', '#']).next().unwrap_or_default())
                .field("host", &self.host)
                .field("header_names", &names)
                .field("header_map", &self.header_map)
                .field("query", &REDACTED)
                .field("body", &REDACTED)
                .finish()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn debug_of_an_envoy_request_names_headers_but_shows_no_value_query_or_body() {
            let token = "Bearer eyJhbGciOiJFZERTQSJ9.secret-token.sig";
            let cookie =
                HeaderValue { key: "cookie".into(), value: "session=cookie-secret".into(), ..Default::default() };
            let request = HttpRequest {
                method: "GET".into(),
                path: "/v1/items?api_key=query-secret".into(),
                headers: [("authorization".to_owned(), token.to_owned())].into(),
                header_map: Some(HeaderMap { headers: vec![cookie] }),
                query: "api_key=query-secret".into(),
                body: "password=body-secret".into(),
                ..Default::default()
            };
            let printed = format!("{request:?}");
            for secret in ["secret-token", "query-secret", "cookie-secret", "body-secret"] {
                assert!(!printed.contains(secret), "{printed}");
            }
            assert!(printed.contains("authorization") && printed.contains("cookie") && printed.contains("/v1/items"));
        }
    }
}
