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
    pub throttle: Arc<crate::throttle::Throttle>,
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

    /// The generation to stamp on a token: the log head as committed in
    /// the database (not this instance's view of it, which may lag another
    /// instance's write). Read it BEFORE looking the caller up, so a
    /// revocation logged in between makes the token revoked rather than
    /// letting it slip past (fail closed).
    pub async fn generation(&self) -> Result<u64, ApiError> {
        Ok(self.store.revocation_head().await?)
    }

    /// Signs an access token for `grant` with the current signing key.
    pub fn sign(&self, grant: &Grant) -> Result<IssuedToken, ApiError> {
        let key = self.keys.signing_key().ok_or_else(|| {
            tracing::error!("no signing key is valid now; is the clock behind the key's creation?");
            ApiError::Internal
        })?;
        self.signer.issue(&key, grant).map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            ApiError::Internal
        })
    }

    /// Signs an access token for `user` (roles and plan as stored now) and
    /// pairs it with `refresh_token`. `generation` from [`Self::generation`].
    pub fn token_response(
        &self,
        user: &UserRow,
        refresh_token: &SecretString,
        generation: u64,
    ) -> Result<TokenResponse, ApiError> {
        let grant = grants::for_user(user, &self.config.role_scopes, generation);
        let issued = self.sign(&grant)?;
        Ok(TokenResponse {
            access_token: issued.token.expose_secret().to_owned(),
            token_type: "Bearer".into(),
            expires_in: issued.expires_in.as_secs() as i64,
            refresh_token: refresh_token.expose_secret().to_owned(),
            scope: grant.scopes.join(" "),
        })
    }

    /// A revocation of every token of a subject issued so far, kept until
    /// the last of them has expired.
    pub fn revoke_user(&self, set_disabled: Option<bool>) -> RevokeUser {
        let now = now();
        let expires_at = now + (self.config.access_token_ttl + self.config.leeway).as_secs() as i64;
        RevokeUser { now, expires_at, set_disabled }
    }

    /// Makes a committed log entry effective here and on the feed.
    pub fn logged(&self, sequence: u64, revocation: Revocation) {
        self.denylist.apply_logged(sequence, revocation);
        self.feed.announce(sequence);
    }

    /// Subject revocation logged at `sequence`: tokens with a lower `gen`.
    pub fn subject_revocation(&self, subject: &str, sequence: u64, rev: RevokeUser) -> Revocation {
        Revocation::Subject {
            issuer: self.config.issuer.clone(),
            subject: subject.to_owned(),
            min_generation: sequence,
            expires_at: rev.expires_at,
        }
    }
}
