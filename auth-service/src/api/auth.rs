//! `auth.v1.AuthService`: Login, Refresh, GetJwks, Logout (public),
//! WatchRevocations (the feed credential) and Introspect (scope
//! tokens:introspect).

use std::sync::Arc;

use authpair_claims::{AuthError, Revocation, caller, optional_caller, token::claims::SERVICE_SUBJECT_PREFIX};
use authpair_proto::auth::v1::{
    ExchangeTokenRequest, ExchangeTokenResponse, GetJwksRequest, GetJwksResponse, IntrospectRequest,
    IntrospectResponse, IssueServiceTokenRequest, IssueServiceTokenResponse, LoginRequest, LoginResponse,
    LogoutRequest, LogoutResponse, RefreshRequest, RefreshResponse, WatchRevocationsRequest,
    auth_service_server::AuthService,
};
use secrecy::{ExposeSecret, SecretString};
use tonic::{Request, Response, Status};

use super::audit;
use crate::{
    error::{ApiError, CredentialError},
    identity::{
        assertion::{self, AssertionError},
        input, username,
    },
    revocation::feed::FeedStream,
    sessions::{
        exchange::ExchangeError,
        grants, introspection,
        secret::{MAX_REFRESH_TOKEN_BYTES, refresh_token_hash, seal, secret_matches, unseal},
    },
    state::{AuthState, now, run_to_end},
    store::{AccessToken, RefreshOutcome, RevokedToken, Rotate, ServiceAccountRow},
};

const LOGIN: &str = "/auth.v1.AuthService/Login";
const REFRESH: &str = "/auth.v1.AuthService/Refresh";
const LOGOUT: &str = "/auth.v1.AuthService/Logout";
const ISSUE_SERVICE_TOKEN: &str = "/auth.v1.AuthService/IssueServiceToken";
const EXCHANGE_TOKEN: &str = "/auth.v1.AuthService/ExchangeToken";
/// Compared against when the client id is unknown, so both failures cost
/// the same.
const DUMMY_SECRET_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What token exchange at the HTTP token endpoint can fail with: the
/// client's authentication, a client that may not exchange, or the
/// exchange's own refusal.
#[derive(Debug)]
pub(crate) enum ClientExchangeError {
    Client(ServiceTokenError),
    NotAnExchanger,
    Exchange(ExchangeError),
}

impl From<ServiceTokenError> for ClientExchangeError {
    fn from(e: ServiceTokenError) -> Self {
        ClientExchangeError::Client(e)
    }
}

/// Why IssueServiceToken refused: an [`ApiError`], or an authenticated
/// client asking for a scope or an audience it was not granted. gRPC answers
/// both INVALID_ARGUMENT with the message; OAuth names them `invalid_scope`
/// and `invalid_target`.
#[derive(Debug)]
pub(crate) enum ServiceTokenError {
    Api(ApiError),
    Scope(String),
    Audience(String),
    /// The account's tokens are bound to a client certificate and the
    /// request came without one.
    ClientCertRequired,
}

impl From<ApiError> for ServiceTokenError {
    fn from(e: ApiError) -> Self {
        ServiceTokenError::Api(e)
    }
}

impl From<AuthError> for ServiceTokenError {
    fn from(e: AuthError) -> Self {
        ServiceTokenError::Api(e.into())
    }
}

impl From<CredentialError> for ServiceTokenError {
    fn from(e: CredentialError) -> Self {
        ServiceTokenError::Api(e.into())
    }
}

impl From<ServiceTokenError> for ApiError {
    fn from(e: ServiceTokenError) -> Self {
        match e {
            ServiceTokenError::Api(e) => e,
            ServiceTokenError::Scope(m) | ServiceTokenError::Audience(m) => ApiError::invalid(m),
            ServiceTokenError::ClientCertRequired => AuthError::ClientCertRequired.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuthApi {
    state: Arc<AuthState>,
}

/// A refresh token from a request: present, bounded, else the right error.
fn presented_refresh_token(token: String) -> Result<SecretString, ApiError> {
    if token.is_empty() {
        return Err(ApiError::invalid("refresh_token is required"));
    }
    if token.len() > MAX_REFRESH_TOKEN_BYTES {
        return Err(CredentialError::InvalidRefreshToken.into());
    }
    Ok(SecretString::from(token))
}

/// A throttled attempt: audited, counted, refused.
fn throttled(method: &str, kind: &'static str, e: CredentialError) -> ApiError {
    audit!("attempt_throttled", method, "-", "too_many_attempts");
    metrics::counter!(authpair_claims::telemetry::THROTTLED, "kind" => kind, "reason" => e.reason()).increment(1);
    ApiError::from(e)
}

impl AuthApi {
    pub fn new(state: Arc<AuthState>) -> Self {
        Self { state }
    }

    /// Throttling first: a throttled attempt is refused before the
    /// credentials are looked at, so right and wrong answers look the same.
    async fn admit(&self, account: &str, source: Option<std::net::IpAddr>, method: &str) -> Result<(), ApiError> {
        self.state.throttle.admit(account, source).await.map_err(|e| throttled(method, "credentials", e))
    }

    /// Login's work, for the gRPC method and the HTTP token endpoint's
    /// password grant alike: `source` is the address throttling counts.
    pub(crate) async fn login(
        &self,
        req: LoginRequest,
        source: Option<std::net::IpAddr>,
    ) -> Result<LoginResponse, ApiError> {
        let username = input::login_username(&req.username)?;
        input::login_password(&req.password)?;
        // Checked before any throttling or hashing: it is not a credential.
        let audience = self.state.audience(&req.audience)?;
        // A name without a canonical form takes the same path as an unknown
        // name: the same lookup (which finds nobody), the same hash check,
        // the same answer. Throttling counts the canonical form, so case or
        // width variants of a name share one account's failures.
        let key = username::lookup_key(username);
        let account = format!("user:{key}");
        self.admit(&account, source, LOGIN).await?;
        let password = SecretString::from(req.password);
        let generation = self.state.generation().await?;
        let user = self.state.store.user_by_username(&key).await?;
        // The hash check runs whether or not the user exists, so both
        // failures cost the same and read the same.
        let matched = self.state.hasher.verify(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
        let user = match user {
            Some(user) if matched && !user.disabled => user,
            Some(user) => {
                let reason = if user.disabled { "user_disabled" } else { "wrong_password" };
                audit!("login_failed", LOGIN, user.id.as_str(), reason);
                self.state.throttle.failed(&account, Some(&user.id)).await;
                metrics::counter!(crate::metrics::LOGINS, "outcome" => "failure").increment(1);
                return Err(CredentialError::InvalidCredentials.into());
            }
            None => {
                metrics::counter!(crate::metrics::LOGINS, "outcome" => "failure").increment(1);
                audit!("login_failed", LOGIN, "-", "unknown_user");
                self.state.throttle.failed(&account, None).await;
                return Err(CredentialError::InvalidCredentials.into());
            }
        };
        self.state.throttle.succeeded(&account).await;
        metrics::counter!(crate::metrics::LOGINS, "outcome" => "success").increment(1);
        let now = now();
        let refresh = self.state.next_refresh(now)?;
        let access = self.state.next_access(now)?;
        let expires_at = now + self.state.config.refresh_token_ttl.as_secs() as i64;
        // The session keeps what was asked ('' for the default), so a later
        // change of the default audience reaches it at its next refresh.
        let first = (&refresh.record, &access.record);
        self.state.store.start_refresh_family(&user.id, &req.audience, first, now, expires_at).await?;
        let response = self.state.token_response(&user, &refresh.token, (generation, &access), audience)?;
        audit!("login_succeeded", LOGIN, user.id.as_str(), "-");
        Ok(response)
    }

    /// A refresh, refused up front if `source` has failed too many (RF-05);
    /// every refresh token that matches no live session counts as a failure.
    /// The rotation runs to the end whatever the caller does
    /// ([`run_to_end`]): a reuse it detects logs revocations that must be
    /// applied and announced once committed. For the gRPC method and the
    /// HTTP token endpoint's refresh_token grant alike.
    pub(crate) async fn refresh(
        &self,
        req: RefreshRequest,
        source: Option<std::net::IpAddr>,
    ) -> Result<RefreshResponse, ApiError> {
        self.state.throttle.admit_refresh(source).await.map_err(|e| throttled(REFRESH, "refresh", e))?;
        let api = self.clone();
        let result = run_to_end(async move { api.rotate(req).await }).await;
        if let Err(ApiError::Credentials(CredentialError::InvalidRefreshToken)) = &result {
            self.state.throttle.refresh_failed(source).await;
        }
        result
    }

    async fn rotate(&self, req: RefreshRequest) -> Result<RefreshResponse, ApiError> {
        let presented = presented_refresh_token(req.refresh_token)?;
        let now = now();
        let next = self.state.next_refresh(now)?;
        let access = self.state.next_access(now)?;
        let grace_secs = self.state.config.refresh_grace.as_secs() as i64;
        // Read before the rotation loads the user: a token carrying roles
        // read before a role change has a generation below the change's
        // revocation, so it is revoked rather than slipping past.
        let generation = self.state.generation().await?;
        let rotate = Rotate {
            presented_hash: &refresh_token_hash(&presented),
            next: &next.record,
            access: &access.record,
            sealed_next: if grace_secs > 0 { seal(&presented, &next.token) } else { None },
            now,
            grace_secs,
        };
        match self.state.store.rotate_refresh(rotate).await? {
            RefreshOutcome::Rotated { user, family_id, audience } => {
                let audience = self.session_audience(&audience, &user.id, &family_id)?;
                audit!("refresh_succeeded", REFRESH, user.id.as_str(), "-", family_id.as_str());
                self.state.token_response(&user, &next.token, (generation, &access), audience).map(Into::into)
            }
            RefreshOutcome::Replayed { user, family_id, audience, sealed_successor } => {
                let audience = self.session_audience(&audience, &user.id, &family_id)?;
                let successor = unseal(&presented, &sealed_successor).ok_or(CredentialError::InvalidRefreshToken)?;
                audit!("refresh_replayed_in_grace", REFRESH, user.id.as_str(), "-", family_id.as_str());
                self.state.token_response(&user, &successor, (generation, &access), audience).map(Into::into)
            }
            RefreshOutcome::Reused { user_id, family_id, revoked } => {
                for RevokedToken { sequence, token } in &revoked {
                    let revocation = Revocation::Token {
                        issuer: self.state.deployment.issuer.clone(),
                        token_id: token.token_id.clone(),
                        expires_at: token.expires_at,
                    };
                    self.state.logged(*sequence, revocation);
                }
                tracing::warn!(
                    target: "authpair::audit",
                    event = "refresh_token_reused",
                    method = REFRESH,
                    subject = user_id.as_str(),
                    family = family_id.as_str(),
                    access_tokens_revoked = revoked.len(),
                    reason = "family_revoked",
                );
                Err(CredentialError::InvalidRefreshToken.into())
            }
            RefreshOutcome::Invalid => {
                audit!("refresh_failed", REFRESH, "-", "invalid_or_expired");
                Err(CredentialError::InvalidRefreshToken.into())
            }
        }
    }

    /// A session's audience as this deployment resolves it now. One taken
    /// off the configuration since the Login ends the session: the refresh
    /// fails closed, as for any token that is no longer good.
    fn session_audience<'a>(&'a self, audience: &'a str, user: &str, family: &str) -> Result<&'a str, ApiError> {
        self.state.config.resolve_audience(audience).ok_or_else(|| {
            audit!("refresh_failed", REFRESH, user, "audience_no_longer_served", family);
            CredentialError::InvalidRefreshToken.into()
        })
    }

    /// IssueServiceToken's work, for the gRPC method and the HTTP token
    /// endpoint's client_credentials grant alike. A scope or an audience the
    /// client was not granted comes back as such ([`ServiceTokenError`]).
    /// `certificate` is the thumbprint of the verified client certificate
    /// the request came with (mTLS), which the token is bound to as the
    /// account's certificate binding says.
    pub(crate) async fn issue_service_token(
        &self,
        req: IssueServiceTokenRequest,
        source: Option<std::net::IpAddr>,
        certificate: Option<[u8; 32]>,
    ) -> Result<IssueServiceTokenResponse, ServiceTokenError> {
        let by_assertion = match (req.client_assertion_type.as_str(), req.client_assertion.is_empty()) {
            ("", true) => false,
            (assertion::CLIENT_ASSERTION_TYPE, false) if req.client_secret.is_empty() => true,
            (assertion::CLIENT_ASSERTION_TYPE, false) => {
                return Err(ApiError::invalid("a client_secret and a client_assertion: send one").into());
            }
            _ => {
                let expected = assertion::CLIENT_ASSERTION_TYPE;
                return Err(ApiError::invalid(format!(
                    "client_assertion_type must be {expected:?}, with a client_assertion"
                ))
                .into());
            }
        };
        if !by_assertion && (req.client_id.is_empty() || req.client_secret.is_empty()) {
            return Err(ApiError::invalid("client_id and client_secret are required").into());
        }
        // Checked before any throttling or hashing: it is not a credential.
        let audience = self.state.audience(&req.audience)?;
        // No account's name holds a NUL.
        ApiError::refuse_nul("client_id", &req.client_id)?;
        let (generation, account) = if by_assertion {
            self.client_by_assertion(&req.client_id, &req.client_assertion, source).await?
        } else {
            self.client_by_secret(&req.client_id, req.client_secret, source).await?
        };
        let scopes = grants::narrow(&account.scopes, &req.scope).map_err(ServiceTokenError::Scope)?;
        grants::audience_granted(&account, audience, &self.state.config.audience)
            .map_err(ServiceTokenError::Audience)?;
        let certificate = grants::bound_to(&account, certificate).ok_or_else(|| {
            let subject = format!("{SERVICE_SUBJECT_PREFIX}{}", account.name);
            audit!("service_token_refused", ISSUE_SERVICE_TOKEN, subject.as_str(), "client_certificate_required");
            ServiceTokenError::ClientCertRequired
        })?;
        let grant = grants::for_service(&account, scopes, generation, audience, certificate);
        let issued = self.state.sign(&grant, None)?;
        audit!("service_token_issued", ISSUE_SERVICE_TOKEN, grant.subject.as_str(), "-");
        Ok(IssueServiceTokenResponse {
            access_token: issued.token.expose_secret().to_owned(),
            token_type: "Bearer".into(),
            expires_in: issued.expires_in.as_secs() as i64,
            refresh_token: String::new(),
            scope: grant.scopes.join(" "),
        })
    }

    /// Token exchange at the HTTP token endpoint (RFC 8693 §2.1): the
    /// acting service authenticates as a client does for client
    /// credentials (`by_assertion` says how `credential` is meant), and
    /// must be one that could call `ExchangeToken`: granted scope
    /// tokens:exchange and the auth service's own audience.
    pub(crate) async fn exchange_for_client(
        &self,
        client_id: &str,
        credential: String,
        by_assertion: bool,
        req: ExchangeTokenRequest,
        (source, certificate): (Option<std::net::IpAddr>, Option<[u8; 32]>),
    ) -> Result<ExchangeTokenResponse, ClientExchangeError> {
        let (_, account) = if by_assertion {
            self.client_by_assertion(client_id, &credential, source).await?
        } else {
            self.client_by_secret(client_id, credential, source).await?
        };
        let actor = format!("{SERVICE_SUBJECT_PREFIX}{}", account.name);
        let admin = &self.state.config.admin_audience;
        if !account.scopes.iter().any(|s| s == authpair_claims::token::roles::EXCHANGE_SCOPE)
            || grants::audience_granted(&account, admin, "").is_err()
        {
            audit!("token_exchange_refused", EXCHANGE_TOKEN, actor.as_str(), "client_may_not_exchange");
            return Err(ClientExchangeError::NotAnExchanger);
        }
        self.exchange(&actor, certificate, req).await.map_err(ClientExchangeError::Exchange)
    }

    /// ExchangeToken's work for the authenticated service `actor`, with its
    /// audit line, for the gRPC method and the token endpoint alike.
    async fn exchange(
        &self,
        actor: &str,
        certificate: Option<[u8; 32]>,
        req: ExchangeTokenRequest,
    ) -> Result<ExchangeTokenResponse, ExchangeError> {
        match self.state.exchange(actor, certificate, req).await {
            Ok((answer, user)) => {
                audit!("token_exchanged", EXCHANGE_TOKEN, user.as_str(), "-", actor);
                Ok(answer)
            }
            Err(refused) => {
                audit!("token_exchange_refused", EXCHANGE_TOKEN, actor, refused.reason().as_str());
                Err(refused)
            }
        }
    }

    /// Client authentication by id and secret: the revocation-log head
    /// read before the lookup, and the account. Wrong credentials are
    /// throttled and answered as a wrong password is.
    async fn client_by_secret(
        &self,
        client_id: &str,
        secret: String,
        source: Option<std::net::IpAddr>,
    ) -> Result<(u64, ServiceAccountRow), ServiceTokenError> {
        let account = format!("client:{}", client_id.chars().take(64).collect::<String>());
        self.admit(&account, source, ISSUE_SERVICE_TOKEN).await?;
        if client_id.len() > 64 || secret.len() > MAX_REFRESH_TOKEN_BYTES {
            self.state.throttle.failed(&account, None).await;
            return Err(CredentialError::InvalidCredentials.into());
        }
        let generation = self.state.generation().await?;
        let found = self.state.store.service_account(client_id).await.map_err(ApiError::from)?;
        let presented = SecretString::from(secret);
        // An account with keys and no secret stores an empty hash, which no
        // secret's hash equals.
        let stored = found.as_ref().map_or(DUMMY_SECRET_HASH, |a| a.secret_hash.as_str());
        let matched = secret_matches(&presented, stored);
        let subject = found.as_ref().map(|a| format!("{SERVICE_SUBJECT_PREFIX}{}", a.name));
        let Some(found) = found.filter(|_| matched) else {
            audit!(
                "service_token_refused",
                ISSUE_SERVICE_TOKEN,
                subject.as_deref().unwrap_or("-"),
                "invalid_client_credentials"
            );
            self.state.throttle.failed(&account, subject.as_deref()).await;
            return Err(CredentialError::InvalidCredentials.into());
        };
        self.state.throttle.succeeded(&account).await;
        Ok((generation, found))
    }

    /// Client authentication by a JWT the account signed (RFC 7523,
    /// `identity::assertion`), its `jti` taken once in the shared
    /// database. Every refusal is throttled and answered as a wrong secret
    /// is; the audit line says which check failed.
    async fn client_by_assertion(
        &self,
        client_id: &str,
        presented: &str,
        source: Option<std::net::IpAddr>,
    ) -> Result<(u64, ServiceAccountRow), ServiceTokenError> {
        let claimed = assertion::claimed_client(presented).unwrap_or_default();
        if self.state.federated.trusts(&claimed) {
            return self.client_by_federated_token(client_id, presented, &claimed, source).await;
        }
        let account = format!("client:{}", claimed.chars().take(64).collect::<String>());
        self.admit(&account, source, ISSUE_SERVICE_TOKEN).await?;
        let refuse = |subject: Option<&str>, reason: &str| {
            audit!("service_token_refused", ISSUE_SERVICE_TOKEN, subject.unwrap_or("-"), reason);
        };
        if claimed.is_empty()
            || claimed.len() > 64
            || claimed.contains('\0')
            || (!client_id.is_empty() && client_id != claimed)
        {
            refuse(None, AssertionError::Client.reason());
            self.state.throttle.failed(&account, None).await;
            return Err(CredentialError::InvalidCredentials.into());
        }
        let generation = self.state.generation().await?;
        let found = self.state.store.service_account(&claimed).await.map_err(ApiError::from)?;
        let keys = match &found {
            Some(_) => self.state.store.account_keys(&claimed).await.map_err(ApiError::from)?,
            None => Vec::new(),
        };
        let subject = found.as_ref().map(|a| format!("{SERVICE_SUBJECT_PREFIX}{}", a.name));
        let audiences: Vec<&str> = self.state.assertion_audiences.iter().map(String::as_str).collect();
        let leeway = self.state.config.shared.tokens.leeway;
        let checked = assertion::verify(presented, &claimed, &keys, &audiences, now().max(0) as u64, leeway);
        let used = match checked {
            Ok(verified) => {
                let fresh = self.state.store.use_client_assertion(&claimed, &verified.jti, verified.usable_until);
                if fresh.await.map_err(ApiError::from)? { Ok(()) } else { Err(AssertionError::Replayed) }
            }
            Err(e) => Err(e),
        };
        let found = match (found, used) {
            (Some(found), Ok(())) => found,
            (_, Err(e)) => {
                refuse(subject.as_deref(), e.reason());
                self.state.throttle.failed(&account, subject.as_deref()).await;
                return Err(CredentialError::InvalidCredentials.into());
            }
            (None, Ok(())) => {
                refuse(None, "invalid_client_credentials");
                self.state.throttle.failed(&account, None).await;
                return Err(CredentialError::InvalidCredentials.into());
            }
        };
        self.state.throttle.succeeded(&account).await;
        Ok((generation, found))
    }

    /// Client authentication by a trusted external issuer's token
    /// (`identity::federation`): the account its issuer and subject are
    /// mapped to. Every refusal is answered as a wrong secret is, and the
    /// audit line says which check failed. Only the source's rate limits
    /// apply: a signature cannot be guessed, and failures counted against
    /// an issuer or a subject anyone can name would let one caller lock
    /// every workload of a cluster out.
    async fn client_by_federated_token(
        &self,
        client_id: &str,
        token: &str,
        issuer: &str,
        source: Option<std::net::IpAddr>,
    ) -> Result<(u64, ServiceAccountRow), ServiceTokenError> {
        let throttled = format!("federated:{}", issuer.chars().take(64).collect::<String>());
        self.admit(&throttled, source, ISSUE_SERVICE_TOKEN).await?;
        let leeway = self.state.config.shared.tokens.leeway;
        let own = self.state.deployment.issuer.as_str();
        let verified = self.state.federated.verify(token, issuer, own, leeway, now().max(0) as u64).await;
        let refuse = |reason: &str| {
            audit!("service_token_refused", ISSUE_SERVICE_TOKEN, "-", reason, issuer);
        };
        let (issuer, subject) = match verified {
            Ok(identity) => identity,
            Err(e) => {
                refuse(e.reason());
                return Err(CredentialError::InvalidCredentials.into());
            }
        };
        let generation = self.state.generation().await?;
        let mapped = self.state.store.federated_account(&issuer, &subject).await.map_err(ApiError::from)?;
        let found = match mapped.filter(|name| client_id.is_empty() || client_id == name) {
            Some(name) => self.state.store.service_account(&name).await.map_err(ApiError::from)?,
            None => None,
        };
        let Some(found) = found else {
            refuse("federated_identity_not_mapped");
            return Err(CredentialError::InvalidCredentials.into());
        };
        Ok((generation, found))
    }

    /// Revokes the session with its access tokens and, if it is the same
    /// user's, the access token sent with the call: one transaction, run to
    /// the end (`run_to_end`).
    async fn logout(&self, request: Request<LogoutRequest>) -> Result<LogoutResponse, ApiError> {
        let caller = optional_caller(&request).cloned();
        let presented = presented_refresh_token(request.into_inner().refresh_token)?;
        let token_hash = refresh_token_hash(&presented);
        let state = self.state.clone();
        run_to_end(async move {
            let access = caller.as_ref().map(|c| AccessToken {
                subject: c.subject(),
                token_id: c.token_id(),
                expires_at: c.expires_at() as i64,
            });
            let Some(out) = state.store.log_out(&token_hash, access, now()).await? else {
                audit!("logout_failed", LOGOUT, "-", "unknown_refresh_token");
                return Err(CredentialError::InvalidRefreshToken.into());
            };
            for RevokedToken { sequence, token } in &out.session_tokens {
                let revocation = Revocation::Token {
                    issuer: state.deployment.issuer.clone(),
                    token_id: token.token_id.clone(),
                    expires_at: token.expires_at,
                };
                state.logged(*sequence, revocation);
            }
            // Some(seq) only if the token was the family user's own, from
            // another session.
            if let (Some(seq), Some(claims), Some(token)) = (out.access_token, &caller, access) {
                let revocation = Revocation::Token {
                    issuer: claims.issuer().to_owned(),
                    token_id: token.token_id.to_owned(),
                    expires_at: token.expires_at,
                };
                state.logged(seq, revocation);
            }
            let sent = access.map(|a| a.token_id);
            let access_token_revoked = out.access_token.is_some()
                || out.session_tokens.iter().any(|r| Some(r.token.token_id.as_str()) == sent);
            audit!(
                "logout",
                LOGOUT,
                out.user_id.as_str(),
                if access_token_revoked { "with_access_token" } else { "-" }
            );
            Ok(LogoutResponse { access_token_revoked })
        })
        .await
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn login(&self, request: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        let source = self.state.throttle.source(&request);
        Ok(Response::new(AuthApi::login(self, request.into_inner(), source).await?))
    }

    async fn refresh(&self, request: Request<RefreshRequest>) -> Result<Response<RefreshResponse>, Status> {
        let source = self.state.throttle.source(&request);
        Ok(Response::new(AuthApi::refresh(self, request.into_inner(), source).await?))
    }

    async fn get_jwks(&self, _request: Request<GetJwksRequest>) -> Result<Response<GetJwksResponse>, Status> {
        let keys = self.state.keys.published().iter().map(|k| k.to_proto()).collect();
        Ok(Response::new(GetJwksResponse { keys }))
    }

    async fn issue_service_token(
        &self,
        request: Request<IssueServiceTokenRequest>,
    ) -> Result<Response<IssueServiceTokenResponse>, Status> {
        let source = self.state.throttle.source(&request);
        let certificate = authpair_claims::layer::peer_certificate(request.extensions());
        let issued = AuthApi::issue_service_token(self, request.into_inner(), source, certificate).await;
        Ok(Response::new(issued.map_err(ApiError::from)?))
    }

    async fn logout(&self, request: Request<LogoutRequest>) -> Result<Response<LogoutResponse>, Status> {
        Ok(Response::new(AuthApi::logout(self, request).await?))
    }

    async fn exchange_token(
        &self,
        request: Request<ExchangeTokenRequest>,
    ) -> Result<Response<ExchangeTokenResponse>, Status> {
        // The auth layer has already required a service token with scope
        // tokens:exchange: the actor.
        let actor = caller(&request)?.subject().to_owned();
        let certificate = authpair_claims::layer::peer_certificate(request.extensions());
        Ok(Response::new(AuthApi::exchange(self, &actor, certificate, request.into_inner()).await?))
    }

    async fn introspect(&self, request: Request<IntrospectRequest>) -> Result<Response<IntrospectResponse>, Status> {
        // The auth layer has already required a service token with scope
        // tokens:introspect; the token judged here is the request's.
        let token = request.into_inner().token;
        if token.is_empty() {
            return Err(ApiError::invalid("token is required").into());
        }
        let claims = introspection::active_claims(&self.state, &token);
        Ok(Response::new(introspection::to_proto(claims.as_deref())))
    }

    type WatchRevocationsStream = FeedStream;

    async fn watch_revocations(
        &self,
        request: Request<WatchRevocationsRequest>,
    ) -> Result<Response<FeedStream>, Status> {
        // The feed checks the watcher again on every event and ends the
        // stream when its token expires (see `feed`).
        let watcher = caller(&request)?.clone();
        let after = request.into_inner().after_sequence;
        Ok(Response::new(self.state.feed.subscribe(after, watcher)))
    }
}
