//! Login, Refresh and IssueServiceToken answer with messages of their own
//! (`LoginResponse`, `RefreshResponse`, `IssueServiceTokenResponse`) that
//! have the same fields and numbers. Converting between Login's and
//! Refresh's lets code that keeps a session's latest tokens hold one type
//! whichever call gave them.

use crate::auth::v1::{LoginResponse, RefreshResponse};

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

same_fields!(LoginResponse => RefreshResponse, RefreshResponse => LoginResponse);

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::auth::v1::IssueServiceTokenResponse;

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
        let service = IssueServiceTokenResponse::decode(bytes.as_slice()).map(|m| m.encode_to_vec());
        assert_eq!(service, Ok(bytes));
    }
}
