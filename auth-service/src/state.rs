//! What the handlers share, and the operations several handlers need:
//! issuing a token pair and recording a revocation.

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use authpair_claims::{Denylist, Grant, IssuedToken, Revocation, TokenSigner};
use authpair_proto::auth::v1::TokenResponse;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    config::Config,
    error::ApiError,
    feed::Feed,
    grants,
    keyring::KeyRing,
    password::PasswordHasher,
    secret::{new_refresh_token, refresh_token_hash},
    store::{RefreshRecord, RevokeUser, Store, UserRow},
};

#[derive(Debug)]
pub struct AuthState {
    pub config: Config,
    pub store: Store,
    pub hasher: PasswordHasher,
    pub signer: TokenSigner,
    pub keys: Arc<KeyRing>,
    /// This service's own view of revocations, for its admin API.
    pub denylist: Arc<Denylist>,
    pub feed: Arc<Feed>,
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

    /// Signs an access token for `grant` with the current signing key.
    pub fn sign(&self, grant: &Grant, issued_at_least: i64) -> Result<IssuedToken, ApiError> {
        let key = self.keys.signing_key().ok_or_else(|| {
            tracing::error!("no signing key is valid now; is the clock behind the key's creation?");
            ApiError::Internal
        })?;
        self.signer.issue(&key, grant, issued_at_least.max(0) as u64).map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            ApiError::Internal
        })
    }

    /// Signs an access token for `user` (roles and plan as stored now) and
    /// pairs it with `refresh_token`.
    pub fn token_response(&self, user: &UserRow, refresh_token: &SecretString) -> Result<TokenResponse, ApiError> {
        let grant = grants::for_user(user, &self.config.role_scopes);
        let issued = self.sign(&grant, user.tokens_valid_after)?;
        Ok(TokenResponse {
            access_token: issued.token.expose_secret().to_owned(),
            token_type: "Bearer".into(),
            expires_in: issued.expires_in.as_secs() as i64,
            refresh_token: refresh_token.expose_secret().to_owned(),
            scope: grant.scopes.join(" "),
        })
    }

    /// A revocation of every token of a user issued before the next second.
    /// Tokens issued afterwards get `iat` at that line (see `TokenSigner`).
    pub fn revoke_user_line(&self, set_disabled: Option<bool>) -> RevokeUser {
        let now = now();
        let not_before = now + 1;
        let expires_at = not_before + (self.config.access_token_ttl + self.config.leeway).as_secs() as i64;
        RevokeUser { now, not_before, expires_at, set_disabled }
    }

    /// Makes a committed log entry effective here and on the feed.
    pub fn logged(&self, sequence: u64, revocation: Revocation) {
        self.denylist.apply_logged(sequence, revocation);
        self.feed.announce(sequence);
    }

    pub fn subject_revocation(&self, subject: &str, rev: RevokeUser) -> Revocation {
        Revocation::Subject {
            issuer: self.config.issuer.clone(),
            subject: subject.to_owned(),
            not_before: rev.not_before,
            expires_at: rev.expires_at,
        }
    }
}
