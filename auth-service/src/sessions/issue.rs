//! Issuing a session's tokens: its next refresh token and the record that
//! stores it, its next access token (fixed before signing so the session can
//! record it), the signature, and the pair as Login and Refresh answer.
//! They are methods of [`AuthState`], which holds the signer, keys and
//! configuration they read.

use authpair_claims::{Grant, IssuedToken};
use authpair_proto::auth::v1::LoginResponse;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    error::{ApiError, Common},
    sessions::{
        grants,
        secret::{new_refresh_token, refresh_token_hash},
    },
    state::AuthState,
    store::{RefreshRecord, SessionToken, UserRow},
};

/// A new refresh token and the record that stores it.
pub struct NextRefresh {
    pub token: SecretString,
    pub record: RefreshRecord,
}

/// The `jti` and `iat` of an access token a session is about to issue,
/// fixed before it is signed so the session can record it
/// ([`SessionToken`]) in the transaction that issues it.
pub struct NextAccess {
    pub token_id: String,
    pub issued_at: i64,
    pub record: SessionToken,
}

impl AuthState {
    pub fn next_refresh(&self, now: i64) -> Result<NextRefresh, ApiError> {
        let token = new_refresh_token().map_err(|e| {
            tracing::error!(error = %e, "random source failed");
            ApiError::Common(Common::Internal)
        })?;
        let record = RefreshRecord {
            token_hash: refresh_token_hash(&token),
            idle_expires_at: now + self.config.refresh_token_idle.as_secs() as i64,
        };
        Ok(NextRefresh { token, record })
    }

    /// The next access token of a session, issued at `now`.
    pub fn next_access(&self, now: i64) -> Result<NextAccess, ApiError> {
        let token_id = authpair_claims::token::signer::new_token_id().map_err(|e| {
            tracing::error!(error = %e, "random source failed");
            ApiError::Common(Common::Internal)
        })?;
        let passes_until = now + (self.config.access_token_ttl + self.config.shared.tokens.leeway).as_secs() as i64;
        let record = SessionToken { token_id: token_id.clone(), expires_at: passes_until };
        Ok(NextAccess { token_id, issued_at: now, record })
    }

    /// The generation to stamp on a token: the log head as committed in
    /// the database (not this instance's view of it, which may lag another
    /// instance's write). Read it BEFORE looking the caller up, so a
    /// revocation logged in between makes the token revoked rather than
    /// letting it slip past (fail closed).
    pub async fn generation(&self) -> Result<u64, ApiError> {
        Ok(self.store.revocation_head().await?)
    }

    /// Signs an access token for `grant` with the current signing key: a
    /// new one, or with `access` the one a session recorded.
    pub fn sign(&self, grant: &Grant, access: Option<&NextAccess>) -> Result<IssuedToken, ApiError> {
        let key = self.keys.signing_key().ok_or_else(|| {
            tracing::error!("no signing key is valid now; is the clock behind the key's creation?");
            ApiError::Common(Common::Internal)
        })?;
        let signed = match access {
            Some(a) => self.signer.issue_as(&key, grant, a.token_id.clone(), a.issued_at.max(0) as u64),
            None => self.signer.issue(&key, grant),
        };
        signed.map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            ApiError::Common(Common::Internal)
        })
    }

    /// Signs access token `access` for `user` (roles and plan as stored
    /// now) and pairs it with `refresh_token`, as Login answers (Refresh's
    /// answer has the same fields: `.into()`). `generation` from
    /// [`Self::generation`]; `audience` already resolved
    /// ([`Config::resolve_audience`](crate::config::Config::resolve_audience)).
    pub fn token_response(
        &self,
        user: &UserRow,
        refresh_token: &SecretString,
        (generation, access): (u64, &NextAccess),
        audience: &str,
    ) -> Result<LoginResponse, ApiError> {
        let grant = grants::for_user(user, &self.config.role_scopes, generation, audience);
        let issued = self.sign(&grant, Some(access))?;
        Ok(LoginResponse {
            access_token: issued.token.expose_secret().to_owned(),
            token_type: "Bearer".into(),
            expires_in: issued.expires_in.as_secs() as i64,
            refresh_token: refresh_token.expose_secret().to_owned(),
            scope: grant.scopes.join(" "),
        })
    }
}
