//! `auth.v1.AuthService`: Login, Refresh, GetJwks. All public.

use std::sync::Arc;

use authpair_claims::AuthError;
use authpair_proto::auth::v1::{
    GetJwksRequest, GetJwksResponse, LoginRequest, RefreshRequest, TokenResponse, auth_service_server::AuthService,
};
use secrecy::SecretString;
use tonic::{Request, Response, Status};

use super::audit;
use crate::{
    error::ApiError,
    input,
    secret::{MAX_REFRESH_TOKEN_BYTES, refresh_token_hash},
    state::{AuthState, now},
    store::RefreshOutcome,
};

const LOGIN: &str = "/auth.v1.AuthService/Login";
const REFRESH: &str = "/auth.v1.AuthService/Refresh";

#[derive(Debug, Clone)]
pub struct AuthApi {
    state: Arc<AuthState>,
}

impl AuthApi {
    pub fn new(state: Arc<AuthState>) -> Self {
        Self { state }
    }

    async fn login(&self, req: LoginRequest) -> Result<TokenResponse, ApiError> {
        let username = input::login_username(&req.username)?;
        input::login_password(&req.password)?;
        let password = SecretString::from(req.password);
        let user = self.state.store.user_by_username(username).await?;
        // The hash check runs whether or not the user exists, so both
        // failures cost the same and read the same.
        let matched = self.state.hasher.verify(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
        let user = match user {
            Some(user) if matched && !user.disabled => user,
            Some(user) => {
                let reason = if user.disabled { "user_disabled" } else { "wrong_password" };
                audit!("login_failed", LOGIN, user.id.as_str(), reason);
                return Err(AuthError::InvalidCredentials.into());
            }
            None => {
                audit!("login_failed", LOGIN, "-", "unknown_user");
                return Err(AuthError::InvalidCredentials.into());
            }
        };
        let now = now();
        let refresh = self.state.next_refresh(now)?;
        let expires_at = now + self.state.config.refresh_token_ttl.as_secs() as i64;
        self.state.store.start_refresh_family(&user.id, &refresh.record, now, expires_at).await?;
        let response = self.state.token_response(&user, refresh)?;
        audit!("login_succeeded", LOGIN, user.id.as_str(), "-");
        Ok(response)
    }

    async fn refresh(&self, req: RefreshRequest) -> Result<TokenResponse, ApiError> {
        if req.refresh_token.is_empty() {
            return Err(ApiError::invalid("refresh_token is required"));
        }
        if req.refresh_token.len() > MAX_REFRESH_TOKEN_BYTES {
            return Err(AuthError::InvalidRefreshToken.into());
        }
        let presented = refresh_token_hash(&SecretString::from(req.refresh_token));
        let now = now();
        let next = self.state.next_refresh(now)?;
        match self.state.store.rotate_refresh(&presented, &next.record, now).await? {
            RefreshOutcome::Rotated { user, family_id } => {
                tracing::info!(
                    target: "authpair::audit",
                    event = "refresh_succeeded",
                    method = REFRESH,
                    subject = user.id.as_str(),
                    family = family_id.as_str(),
                );
                self.state.token_response(&user, next)
            }
            RefreshOutcome::Reused { user_id, family_id } => {
                tracing::warn!(
                    target: "authpair::audit",
                    event = "refresh_token_reused",
                    method = REFRESH,
                    subject = user_id.as_str(),
                    family = family_id.as_str(),
                    reason = "family_revoked",
                );
                Err(AuthError::InvalidRefreshToken.into())
            }
            RefreshOutcome::Invalid => {
                audit!("refresh_failed", REFRESH, "-", "invalid_or_expired");
                Err(AuthError::InvalidRefreshToken.into())
            }
        }
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn login(&self, request: Request<LoginRequest>) -> Result<Response<TokenResponse>, Status> {
        Ok(Response::new(AuthApi::login(self, request.into_inner()).await?))
    }

    async fn refresh(&self, request: Request<RefreshRequest>) -> Result<Response<TokenResponse>, Status> {
        Ok(Response::new(AuthApi::refresh(self, request.into_inner()).await?))
    }

    async fn get_jwks(&self, _request: Request<GetJwksRequest>) -> Result<Response<GetJwksResponse>, Status> {
        let keys = vec![self.state.signer.key().public_jwk().to_proto()];
        Ok(Response::new(GetJwksResponse { keys }))
    }
}
