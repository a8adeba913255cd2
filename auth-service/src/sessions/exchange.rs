//! Token exchange (RFC 8693) on a user's behalf: a service, authenticated as
//! itself, presents a user's access token and gets a token for another
//! service with `sub` the user and `act` itself (above the services that
//! acted before it).
//!
//! What the new token may carry is the least of three: the subject token's
//! scopes, what the delegation table (`--delegations`) lets this service
//! carry at that audience, and what it asked for. It carries no roles (a
//! service acting for a user is not that user's standing rights), ends no
//! later than the subject token, and keeps the subject token's generation,
//! so every revocation that reaches the user's token reaches it. It is
//! recorded as one more access token of the user's session, so the
//! session's end (logout, a reused refresh token) revokes it by name. A
//! subject token with `act` can be exchanged again, up to [`MAX_ACTORS`]
//! services in the chain.

use authpair_claims::{
    AuthError, Claims, Grant,
    error::status,
    layer::authenticate,
    token::claims::{MAX_ACTORS, SERVICE_SUBJECT_PREFIX},
};
use authpair_proto::auth::v1::{ExchangeTokenRequest, ExchangeTokenResponse};
use secrecy::ExposeSecret as _;
use tonic::{Code, Status};

use crate::{
    error::ApiError,
    sessions::grants::{self, MAX_REQUESTED_SCOPE_BYTES},
    state::{AuthState, now},
};

/// `issued_token_type` of every exchanged token (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Why an exchange is refused, each with a reason of its own.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("subject_token is required")]
    SubjectMissing,
    /// The subject token is not an active token here: INVALID_ARGUMENT
    /// with reason `SUBJECT_` and the verifier's reason
    /// (`SUBJECT_TOKEN_EXPIRED`, `SUBJECT_TOKEN_REVOKED`, ...).
    #[error("subject_token: {0}")]
    Subject(AuthError),
    #[error("subject_token is a service's token: a service calls as itself")]
    SubjectNotUser,
    #[error("subject_token's session has ended")]
    SessionEnded,
    #[error("subject_token has been exchanged {MAX_ACTORS} times already")]
    ChainTooLong,
    #[error("{0}")]
    Request(String),
    #[error("{actor} may not act on a user's behalf for audience {audience}")]
    NotDelegated { actor: String, audience: String },
    #[error("scope {0:?} is not delegated to this service for this audience")]
    ScopeNotDelegated(String),
    #[error("scope {0:?} is not in subject_token")]
    ScopeNotHeld(String),
    #[error("requires a client certificate")]
    ClientCertRequired,
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl ExchangeError {
    /// The stable reason, for ErrorInfo and the audit line.
    pub fn reason(&self) -> String {
        match self {
            ExchangeError::SubjectMissing | ExchangeError::Request(_) => "INVALID_REQUEST".into(),
            ExchangeError::Subject(e) => format!("SUBJECT_{}", e.reason()),
            ExchangeError::SubjectNotUser => "SUBJECT_NOT_A_USER".into(),
            ExchangeError::SessionEnded => "SUBJECT_SESSION_ENDED".into(),
            ExchangeError::ChainTooLong => "DELEGATION_CHAIN_TOO_LONG".into(),
            ExchangeError::NotDelegated { .. } => "DELEGATION_NOT_ALLOWED".into(),
            ExchangeError::ScopeNotDelegated(_) => "SCOPE_NOT_DELEGATED".into(),
            ExchangeError::ScopeNotHeld(_) => "SCOPE_NOT_HELD".into(),
            ExchangeError::ClientCertRequired => AuthError::ClientCertRequired.reason().into(),
            ExchangeError::Api(_) => "-".into(),
        }
    }
}

impl From<ExchangeError> for Status {
    fn from(err: ExchangeError) -> Self {
        let err = match err {
            ExchangeError::Api(e) => return e.into(),
            other => other,
        };
        let code = match &err {
            ExchangeError::SubjectMissing
            | ExchangeError::Subject(_)
            | ExchangeError::SubjectNotUser
            | ExchangeError::SessionEnded
            | ExchangeError::Request(_) => Code::InvalidArgument,
            _ => Code::PermissionDenied,
        };
        status(code, &err.reason(), err.to_string(), None)
    }
}

/// The subject token's refusal: the verifier's or the denylist's, except
/// that a verdict it cannot reach now (no keys yet, a stale revocation
/// list) is the service's outage, not the request's fault.
fn subject_refused(err: AuthError) -> ExchangeError {
    if err.code() == Code::Unavailable {
        ExchangeError::Api(ApiError::Common(err.into()))
    } else {
        ExchangeError::Subject(err)
    }
}

impl AuthState {
    /// Exchanges `req.subject_token` for a token `actor` (the `sub` of the
    /// authenticated calling service) may carry for
    /// `req.audience`; `certificate` is the thumbprint of the client
    /// certificate the call came with, which the new token is bound to as
    /// the actor's account says. Returns the answer and the user's `sub`.
    pub async fn exchange(
        &self,
        actor: &str,
        certificate: Option<[u8; 32]>,
        req: ExchangeTokenRequest,
    ) -> Result<(ExchangeTokenResponse, String), ExchangeError> {
        if req.subject_token.is_empty() {
            return Err(ExchangeError::SubjectMissing);
        }
        // A bound subject token (one exchanged for a service over mTLS) is
        // only that service's to exchange again, over its certificate.
        let subject = authenticate(&self.verifier, &self.denylist, Some(&req.subject_token), || certificate)
            .map_err(subject_refused)?
            .ok_or(ExchangeError::SubjectMissing)?;
        if subject.is_service() {
            return Err(ExchangeError::SubjectNotUser);
        }
        if subject.actors().len() >= MAX_ACTORS {
            return Err(ExchangeError::ChainTooLong);
        }
        let audience =
            self.config.resolve_audience(&req.audience).filter(|a| *a != self.config.admin_audience).ok_or_else(
                || {
                    let asked: String = req.audience.chars().take(64).collect();
                    ExchangeError::Request(format!("audience {asked:?} is not one a delegated token can be for"))
                },
            )?;
        let name = actor.strip_prefix(SERVICE_SUBJECT_PREFIX).unwrap_or_default();
        let allowed = self.config.delegations.as_ref().and_then(|d| d.allowed(name, audience));
        let delegated = allowed
            .ok_or_else(|| ExchangeError::NotDelegated { actor: actor.to_owned(), audience: audience.to_owned() })?;
        let scopes = scopes(&subject, delegated, &req.scope)?;
        // The account as stored now: deleted since its token was issued is
        // revoked; its binding decides the new token's.
        let account = self.store.service_account(name).await.map_err(ApiError::from)?;
        let account = account.ok_or(ExchangeError::Api(ApiError::Common(AuthError::Revoked.into())))?;
        let certificate = grants::bound_to(&account, certificate).ok_or(ExchangeError::ClientCertRequired)?;

        let now = now();
        let mut access = self.next_access(now)?;
        let leeway = self.config.shared.tokens.leeway.as_secs() as i64;
        access.record.expires_at = access.record.expires_at.min(subject.expires_at() as i64 + leeway);
        if !self.store.record_exchanged(subject.token_id(), &access.record, now).await.map_err(ApiError::from)? {
            return Err(ExchangeError::SessionEnded);
        }
        let grant = Grant {
            subject: subject.subject().to_owned(),
            username: subject.username().to_owned(),
            client_id: name.to_owned(),
            roles: Vec::new(),
            scopes,
            plan: subject.plan().to_owned(),
            generation: subject.generation(),
            audience: audience.to_owned(),
            certificate,
            actors: std::iter::once(actor.to_owned()).chain(subject.actors().iter().cloned()).collect(),
            not_after: Some(subject.expires_at()),
        };
        let issued = self.sign(&grant, Some(&access))?;
        let answer = ExchangeTokenResponse {
            access_token: issued.token.expose_secret().to_owned(),
            issued_token_type: ACCESS_TOKEN_TYPE.into(),
            token_type: "Bearer".into(),
            expires_in: issued.expires_in.as_secs() as i64,
            scope: grant.scopes.join(" "),
        };
        Ok((answer, grant.subject))
    }
}

/// The new token's scopes: with none asked for, every scope both the
/// subject token and the delegation hold; else those asked for, each of
/// which both must hold.
fn scopes(subject: &Claims, delegated: &[String], asked: &str) -> Result<Vec<String>, ExchangeError> {
    if asked.len() > MAX_REQUESTED_SCOPE_BYTES {
        return Err(ExchangeError::Request(format!("scope must be at most {MAX_REQUESTED_SCOPE_BYTES} bytes")));
    }
    let asked: Vec<&str> = asked.split(' ').filter(|s| !s.is_empty()).collect();
    let mut scopes: Vec<String> = if asked.is_empty() {
        delegated.iter().filter(|s| subject.has_scope(s)).cloned().collect()
    } else {
        for scope in &asked {
            let named = || scope.chars().take(64).collect::<String>();
            if !delegated.iter().any(|d| d == scope) {
                return Err(ExchangeError::ScopeNotDelegated(named()));
            }
            if !subject.has_scope(scope) {
                return Err(ExchangeError::ScopeNotHeld(named()));
            }
        }
        asked.into_iter().map(str::to_owned).collect()
    };
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}
