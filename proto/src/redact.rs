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
