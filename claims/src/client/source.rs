//! Where a client's tokens come from: a [`TokenSource`] is asked for a
//! fresh access token, either with a service account's client credentials
//! ([`ServiceCredentials`], IssueServiceToken) or by spending a user's
//! refresh token ([`RefreshTokenSource`], Refresh).

use std::{fmt, future::Future, pin::Pin, time::Duration};

use authpair_proto::auth::v1::{IssueServiceTokenRequest, RefreshRequest, auth_service_client::AuthServiceClient};
use secrecy::{ExposeSecret, SecretString};
use tonic::{Status, transport::Channel};

/// A boxed future, as a [`TokenSource`] returns and the layer's service is.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A token and how long it is good for, as a source handed it out.
#[derive(Debug)]
pub struct FetchedToken {
    /// The access token.
    pub token: SecretString,
    /// Its lifetime from when it was fetched (`expires_in`).
    pub expires_in: Duration,
}

/// Where fresh access tokens come from.
pub trait TokenSource: Send + Sync + fmt::Debug + 'static {
    /// Gets a new access token; an error is the auth service's answer.
    fn fetch(&self) -> BoxFuture<'_, Result<FetchedToken, Status>>;
}

/// From a token response's `access_token` and `expires_in`.
fn fetched(access_token: String, expires_in: i64) -> FetchedToken {
    FetchedToken { token: SecretString::from(access_token), expires_in: Duration::from_secs(expires_in.max(0) as u64) }
}

/// A service account's client credentials (IssueServiceToken).
pub struct ServiceCredentials {
    client: AuthServiceClient<Channel>,
    client_id: String,
    client_secret: SecretString,
    scope: String,
    audience: String,
}

impl fmt::Debug for ServiceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceCredentials").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

impl ServiceCredentials {
    /// `scope`: space-separated scopes to ask for; empty for all granted.
    pub fn new(auth: Channel, client_id: String, client_secret: SecretString, scope: String) -> Self {
        Self { client: AuthServiceClient::new(auth), client_id, client_secret, scope, audience: String::new() }
    }

    /// Tokens for `audience`, the service they will be sent to, instead of
    /// the auth service's default audience.
    pub fn for_audience(mut self, audience: String) -> Self {
        self.audience = audience;
        self
    }
}

impl TokenSource for ServiceCredentials {
    fn fetch(&self) -> BoxFuture<'_, Result<FetchedToken, Status>> {
        let mut client = self.client.clone();
        let request = IssueServiceTokenRequest {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.expose_secret().to_owned(),
            scope: self.scope.clone(),
            audience: self.audience.clone(),
            ..Default::default()
        };
        Box::pin(async move {
            let response = client.issue_service_token(request).await?.into_inner();
            Ok(fetched(response.access_token, response.expires_in))
        })
    }
}

/// A user's session: each fetch spends the refresh token and keeps its
/// successor.
pub struct RefreshTokenSource {
    client: AuthServiceClient<Channel>,
    refresh_token: tokio::sync::Mutex<SecretString>,
}

impl fmt::Debug for RefreshTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenSource").finish_non_exhaustive()
    }
}

impl RefreshTokenSource {
    /// A session on the auth service at `auth`, starting from `refresh_token`.
    pub fn new(auth: Channel, refresh_token: SecretString) -> Self {
        Self { client: AuthServiceClient::new(auth), refresh_token: tokio::sync::Mutex::new(refresh_token) }
    }
}

impl TokenSource for RefreshTokenSource {
    fn fetch(&self) -> BoxFuture<'_, Result<FetchedToken, Status>> {
        Box::pin(async move {
            let mut current = self.refresh_token.lock().await;
            let request = RefreshRequest { refresh_token: current.expose_secret().to_owned() };
            let response = self.client.clone().refresh(request).await?.into_inner();
            *current = SecretString::from(response.refresh_token.clone());
            Ok(fetched(response.access_token, response.expires_in))
        })
    }
}
