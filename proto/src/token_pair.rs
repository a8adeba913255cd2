//! Login, Refresh and IssueServiceToken answer with messages of their own
//! (`LoginResponse`, `RefreshResponse`, `IssueServiceTokenResponse`) that
//! have the same fields and numbers. These conversions let code that keeps a
//! session's latest tokens hold one type whichever call gave them.

use crate::auth::v1::{IssueServiceTokenResponse, LoginResponse, RefreshResponse};

macro_rules! same_fields {
    ($($from:ident => $to:ident),+ $(,)?) => {$(
        impl From<$from> for $to {
            fn from(m: $from) -> Self {
                Self {
                    access_token: m.access_token,
                    token_type: m.token_type,
                    expires_in: m.expires_in,
                    refresh_token: m.refresh_token,
                    scope: m.scope,
                }
            }
        }
    )+};
}

same_fields!(
    LoginResponse => RefreshResponse,
    RefreshResponse => LoginResponse,
    LoginResponse => IssueServiceTokenResponse,
);

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn the_token_responses_are_the_same_bytes_on_the_wire() {
        let login = LoginResponse {
            access_token: "a".into(),
            token_type: "Bearer".into(),
            expires_in: 300,
            refresh_token: "r".into(),
            scope: "documents:read".into(),
        };
        let bytes = login.encode_to_vec();
        assert_eq!(RefreshResponse::decode(bytes.as_slice()), Ok(RefreshResponse::from(login.clone())));
        assert_eq!(IssueServiceTokenResponse::decode(bytes.as_slice()), Ok(IssueServiceTokenResponse::from(login)));
    }
}
