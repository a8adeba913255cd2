//! Calling another service on a user's behalf: [`TokenExchange`] trades the
//! user's access token, as a call brought it, for one the next service
//! takes (RFC 8693, `ExchangeToken`), asking as this service's own account
//! (its token, from the [`TokenCache`] of its credentials, renewed as the
//! bearer layer renews any token).

use std::sync::Arc;

use authpair_proto::auth::v1::{ExchangeTokenRequest, auth_service_client::AuthServiceClient};
use secrecy::SecretString;
use tonic::{Request, Status, metadata::MetadataMap, transport::Channel};

use super::{Bearer, BearerLayer, TokenCache};
use crate::{error::AuthError, token::bearer::bearer_token};

/// Exchanges users' tokens for the services this one calls next.
#[derive(Debug, Clone)]
pub struct TokenExchange {
    auth: AuthServiceClient<Bearer<Channel>>,
}

impl TokenExchange {
    /// Asks `auth` as the account whose tokens `cache` holds: one for the
    /// auth service's own audience with scope tokens:exchange.
    pub fn new(auth: Channel, cache: Arc<TokenCache>) -> Self {
        Self { auth: AuthServiceClient::new(tower::Layer::layer(&BearerLayer::new(cache), auth)) }
    }

    /// A token for `audience` acting for the user whose token `subject` is,
    /// with `scope` (space-separated; empty for all that may be carried).
    pub async fn exchange(&self, subject: &str, audience: &str, scope: &str) -> Result<SecretString, Status> {
        let request = ExchangeTokenRequest {
            subject_token: subject.to_owned(),
            audience: audience.to_owned(),
            scope: scope.to_owned(),
        };
        let answer = self.auth.clone().exchange_token(Request::new(request)).await?.into_inner();
        Ok(SecretString::from(answer.access_token))
    }

    /// As [`Self::exchange`], for the bearer token of the call `incoming`
    /// carries (the user's).
    pub async fn on_behalf_of(
        &self,
        incoming: &MetadataMap,
        audience: &str,
        scope: &str,
    ) -> Result<SecretString, Status> {
        // The call reached this handler through the auth layer, which read
        // the same header by the same rules.
        let subject = bearer_token(incoming.as_ref()).map_err(Status::from)?;
        let subject = subject.ok_or_else(|| Status::from(AuthError::TokenMissing))?;
        self.exchange(subject, audience, scope).await
    }
}
