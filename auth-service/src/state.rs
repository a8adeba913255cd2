//! What the handlers share: the store, the password hasher, the token signer
//! and the configuration. Also the one place that issues a token pair.

use std::time::{SystemTime, UNIX_EPOCH};

use authpair_proto::auth::v1::TokenResponse;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    config::Config,
    error::ApiError,
    grants,
    password::PasswordHasher,
    secret::{new_refresh_token, refresh_token_hash},
    store::{RefreshRecord, Store, UserRow},
};
use authpair_claims::TokenSigner;

#[derive(Debug)]
pub struct AuthState {
    pub config: Config,
    pub store: Store,
    pub hasher: PasswordHasher,
    pub signer: TokenSigner,
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A new refresh token and the record that stores it.
pub struct NextRefresh {
    pub token: SecretString,
    pub record: RefreshRecord,
}

impl AuthState {
    pub fn next_refresh(&self, now: i64) -> Result<NextRefresh, ApiError> {
        let token = new_refresh_token().map_err(|e| {
            tracing::error!(error = %e, "random source failed");
            ApiError::Internal
        })?;
        let record = RefreshRecord {
            token_hash: refresh_token_hash(&token),
            idle_expires_at: now + self.config.refresh_token_idle.as_secs() as i64,
        };
        Ok(NextRefresh { token, record })
    }

    /// Signs an access token for `user` (roles and plan as stored now) and
    /// pairs it with `refresh`.
    pub fn token_response(&self, user: &UserRow, refresh: NextRefresh) -> Result<TokenResponse, ApiError> {
        let grant = grants::for_user(user);
        let issued = self.signer.issue(&grant).map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            ApiError::Internal
        })?;
        Ok(TokenResponse {
            access_token: issued.token.expose_secret().to_owned(),
            token_type: "Bearer".into(),
            expires_in: issued.expires_in.as_secs() as i64,
            refresh_token: refresh.token.expose_secret().to_owned(),
            scope: grant.scopes.join(" "),
        })
    }
}
