//! `POST /oauth2/token` (RFC 6749 §3.2): the password (§4.3), refresh_token
//! (§6) and client_credentials (§4.4) grants, each answered by the gRPC
//! API's own Login, Refresh and IssueServiceToken logic ([`AuthApi`]), so the
//! same throttling, audit log, password hashing queue and overload answers
//! apply. This file reads the form, picks the client's credentials and
//! turns the answer into RFC 6749 §5.1 JSON or a §5.2 error.
//!
//! The token's audience is the form's `audience` (a name, as the gRPC
//! `audience` field: not an RFC 8707 `resource` URI); absent, the default.

use std::net::IpAddr;

use authpair_proto::auth::v1::{ExchangeTokenRequest, IssueServiceTokenRequest, LoginRequest, RefreshRequest};
use axum::{
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use authpair_server::listen::http::Peer;

use super::{
    client_auth::{self, ClientCredentials},
    documents::Documents,
    oauth_error::OAuthError,
};
use crate::{
    api::auth::{AuthApi, ClientExchangeError, ServiceTokenError},
    sessions::exchange::ExchangeError,
};

/// RFC 8693's grant type.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The grants the endpoint serves, as the metadata lists them.
pub const GRANT_TYPES: [&str; 4] = ["password", "refresh_token", "client_credentials", TOKEN_EXCHANGE];
/// The form body's bound: a subject token and a client assertion (8 KiB
/// each at most), a password or secret, a scope (1 KiB at most) and the
/// rest fit within it.
pub const MAX_BODY_BYTES: usize = 24 * 1024;

/// The parameters the endpoint reads; any other is ignored (RFC 6749 §3.2).
/// One sent empty counts as absent (§3.1).
#[derive(Debug, Default)]
struct Params {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<SecretString>,
    refresh_token: Option<SecretString>,
    scope: Option<String>,
    audience: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    client_assertion_type: Option<String>,
    client_assertion: Option<SecretString>,
    subject_token: Option<SecretString>,
    subject_token_type: Option<String>,
    requested_token_type: Option<String>,
    actor_token: Option<SecretString>,
}

/// The names of [`Params`]' fields, as the form spells them.
const PARAMETERS: [&str; 14] = [
    "grant_type",
    "username",
    "password",
    "refresh_token",
    "scope",
    "audience",
    "client_id",
    "client_secret",
    "client_assertion_type",
    "client_assertion",
    "subject_token",
    "subject_token_type",
    "requested_token_type",
    "actor_token",
];

impl Params {
    /// The form's parameters; one sent twice is `invalid_request` (§3.2).
    fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params = Params::default();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in form_urlencoded::parse(body) {
            let Some(name) = PARAMETERS.iter().copied().find(|p| *p == name) else { continue };
            if seen.contains(&name) {
                return Err(OAuthError::invalid_request(format!("parameter {name} is repeated")));
            }
            seen.push(name);
            if value.is_empty() {
                continue;
            }
            let value = value.into_owned();
            match name {
                "grant_type" => params.grant_type = Some(value),
                "username" => params.username = Some(value),
                "password" => params.password = Some(SecretString::from(value)),
                "refresh_token" => params.refresh_token = Some(SecretString::from(value)),
                "scope" => params.scope = Some(value),
                "audience" => params.audience = Some(value),
                "client_id" => params.client_id = Some(value),
                "client_secret" => params.client_secret = Some(SecretString::from(value)),
                "client_assertion_type" => params.client_assertion_type = Some(value),
                "client_assertion" => params.client_assertion = Some(SecretString::from(value)),
                "subject_token" => params.subject_token = Some(SecretString::from(value)),
                "subject_token_type" => params.subject_token_type = Some(value),
                "requested_token_type" => params.requested_token_type = Some(value),
                "actor_token" => params.actor_token = Some(SecretString::from(value)),
                _ => {}
            }
        }
        Ok(params)
    }
}

pub async fn token(State(docs): State<Documents>, request: Request) -> Response {
    match grant(&docs, request).await {
        Ok(issued) => issued,
        Err(refused) => refused.into_response(),
    }
}

async fn grant(docs: &Documents, request: Request) -> Result<Response, OAuthError> {
    let source = source(docs, &request);
    let certificate = authpair_claims::layer::peer_certificate(request.extensions());
    if !super::form::is_form(request.headers()) {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    let basic = client_auth::basic(request.headers())?;
    let body =
        to_bytes(request.into_body(), MAX_BODY_BYTES).await.map_err(|_| OAuthError::too_large(MAX_BODY_BYTES))?;
    let params = Params::parse(&body)?;
    let api = docs.api();
    match params.grant_type.as_deref() {
        None => Err(OAuthError::invalid_request("grant_type is required")),
        Some("password") => password(docs, api, params, basic, source).await,
        Some("refresh_token") => refresh(api, params, basic, source).await,
        Some("client_credentials") => client_credentials(docs, api, params, basic, source, certificate).await,
        Some(TOKEN_EXCHANGE) => token_exchange(api, params, basic, (source, certificate)).await,
        Some(_) => Err(OAuthError::unsupported_grant_type()),
    }
}

/// The address throttling counts, as the gRPC API's: the peer, or behind a
/// trusted proxy the address it forwarded.
fn source(docs: &Documents, request: &Request) -> Option<IpAddr> {
    let Peer(peer) = request.extensions().get::<Peer>()?;
    let forwarded = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    Some(docs.state().throttle.source_of(peer.ip(), forwarded))
}

/// The password and refresh_token grants are a user's, as Login and
/// Refresh are: they take no client authentication, and refuse one rather
/// than ignore it (a `client_id` alone is ignored).
fn no_client_authentication(params: &Params, basic: &Option<ClientCredentials>) -> Result<(), OAuthError> {
    if basic.is_some() || params.client_secret.is_some() {
        return Err(OAuthError::invalid_client("the password and refresh_token grants take no client authentication"));
    }
    Ok(())
}

/// The audience asked for ("" for the default), checked as Login and
/// IssueServiceToken check it, before any credential: one the deployment
/// does not issue for is `invalid_target` (RFC 8707 §2).
fn audience(docs: &Documents, params: &mut Params) -> Result<String, OAuthError> {
    let audience = params.audience.take().unwrap_or_default();
    docs.state().audience(&audience).map_err(|e| OAuthError::invalid_target(e.to_string()))?;
    Ok(audience)
}

async fn password(
    docs: &Documents,
    api: &AuthApi,
    mut params: Params,
    basic: Option<ClientCredentials>,
    source: Option<IpAddr>,
) -> Result<Response, OAuthError> {
    no_client_authentication(&params, &basic)?;
    let username = params.username.take().ok_or_else(|| OAuthError::invalid_request("username is required"))?;
    let password = params.password.take().ok_or_else(|| OAuthError::invalid_request("password is required"))?;
    let audience = audience(docs, &mut params)?;
    // `scope` is not read: a user's token carries the scopes of the user's
    // roles, which the answer's `scope` lists (RFC 6749 §3.3).
    let request = LoginRequest { username, password: password.expose_secret().to_owned(), audience };
    // One answer for a wrong username and a wrong password alike.
    let refused = || OAuthError::invalid_grant("invalid username or password");
    let r = api.login(request, source).await.map_err(|e| OAuthError::from_api(e, refused()))?;
    Ok(issued(r.access_token, r.token_type, r.expires_in, r.refresh_token, r.scope))
}

async fn refresh(
    api: &AuthApi,
    mut params: Params,
    basic: Option<ClientCredentials>,
    source: Option<IpAddr>,
) -> Result<Response, OAuthError> {
    no_client_authentication(&params, &basic)?;
    let token = params.refresh_token.take().ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    // A session keeps the audience and scopes of its login: `scope` is not
    // read (RFC 6749 §6 lets it be omitted), an `audience` is refused.
    if params.audience.is_some() {
        return Err(OAuthError::invalid_target("a refresh keeps the audience of its login"));
    }
    let request = RefreshRequest { refresh_token: token.expose_secret().to_owned() };
    let refused = || OAuthError::invalid_grant("invalid refresh token");
    let r = api.refresh(request, source).await.map_err(|e| OAuthError::from_api(e, refused()))?;
    Ok(issued(r.access_token, r.token_type, r.expires_in, r.refresh_token, r.scope))
}

async fn client_credentials(
    docs: &Documents,
    api: &AuthApi,
    mut params: Params,
    basic: Option<ClientCredentials>,
    source: Option<IpAddr>,
    certificate: Option<[u8; 32]>,
) -> Result<Response, OAuthError> {
    let audience = audience(docs, &mut params)?;
    let scope = params.scope.take().unwrap_or_default();
    let request = match client_proof(&mut params, basic)? {
        Proof::Assertion { client_id, assertion_type, assertion } => IssueServiceTokenRequest {
            client_id,
            client_assertion_type: assertion_type,
            client_assertion: assertion.expose_secret().to_owned(),
            scope,
            audience,
            ..Default::default()
        },
        Proof::Secret(client) => IssueServiceTokenRequest {
            client_id: client.id,
            client_secret: client.secret.expose_secret().to_owned(),
            scope,
            audience,
            ..Default::default()
        },
    };
    let refused = || OAuthError::invalid_client("client authentication failed");
    let r = api.issue_service_token(request, source, certificate).await.map_err(|e| match e {
        ServiceTokenError::Scope(m) => OAuthError::invalid_scope(m),
        ServiceTokenError::Audience(m) => OAuthError::invalid_target(m),
        ServiceTokenError::ClientCertRequired => {
            OAuthError::unauthorized_client("this client's tokens are bound to a client certificate: present it")
        }
        ServiceTokenError::Api(e) => OAuthError::from_api(e, refused()),
    })?;
    Ok(issued(r.access_token, r.token_type, r.expires_in, r.refresh_token, r.scope))
}

/// How a client authenticates at the endpoint: its secret, or a JWT it
/// signed (RFC 7523 §2.2).
enum Proof {
    Secret(ClientCredentials),
    Assertion { client_id: String, assertion_type: String, assertion: SecretString },
}

/// The client's proof: an assertion alone, or a secret by HTTP Basic or in
/// the form.
fn client_proof(params: &mut Params, basic: Option<ClientCredentials>) -> Result<Proof, OAuthError> {
    match (params.client_assertion_type.take(), params.client_assertion.take()) {
        (Some(assertion_type), Some(assertion)) => {
            if basic.is_some() || params.client_secret.is_some() {
                return Err(OAuthError::invalid_request("a client assertion and a client secret: send one"));
            }
            Ok(Proof::Assertion { client_id: params.client_id.take().unwrap_or_default(), assertion_type, assertion })
        }
        (None, None) => Ok(Proof::Secret(client(params, basic)?)),
        _ => Err(OAuthError::invalid_request("client_assertion_type and client_assertion go together")),
    }
}

/// RFC 8693 §2.1: the acting service, authenticated as a client, trades a
/// user's access token for one it may carry to `audience` on the user's
/// behalf (`ExchangeToken`'s logic). The actor is the client: an
/// `actor_token` is refused rather than ignored.
async fn token_exchange(
    api: &AuthApi,
    mut params: Params,
    basic: Option<ClientCredentials>,
    connection: (Option<IpAddr>, Option<[u8; 32]>),
) -> Result<Response, OAuthError> {
    const ACCESS_TOKEN: &str = crate::sessions::exchange::ACCESS_TOKEN_TYPE;
    if params.actor_token.is_some() {
        return Err(OAuthError::invalid_request("actor_token is not taken: the client is the actor"));
    }
    if params.subject_token_type.as_deref() != Some(ACCESS_TOKEN) {
        return Err(OAuthError::invalid_request(format!("subject_token_type must be {ACCESS_TOKEN}")));
    }
    if params.requested_token_type.as_deref().is_some_and(|t| t != ACCESS_TOKEN) {
        return Err(OAuthError::invalid_request(format!("requested_token_type can only be {ACCESS_TOKEN}")));
    }
    let subject =
        params.subject_token.take().ok_or_else(|| OAuthError::invalid_request("subject_token is required"))?;
    let request = ExchangeTokenRequest {
        subject_token: subject.expose_secret().to_owned(),
        audience: params.audience.take().unwrap_or_default(),
        scope: params.scope.take().unwrap_or_default(),
    };
    let (client_id, credential, by_assertion) = match client_proof(&mut params, basic)? {
        Proof::Assertion { client_id, assertion_type, assertion } => {
            if assertion_type != crate::identity::assertion::CLIENT_ASSERTION_TYPE {
                return Err(OAuthError::invalid_client("client_assertion_type is not one this server takes"));
            }
            (client_id, assertion.expose_secret().to_owned(), true)
        }
        Proof::Secret(client) => (client.id, client.secret.expose_secret().to_owned(), false),
    };
    let refused = || OAuthError::invalid_client("client authentication failed");
    let exchanged = api.exchange_for_client(&client_id, credential, by_assertion, request, connection).await;
    let answer = exchanged.map_err(|e| match e {
        ClientExchangeError::Client(ServiceTokenError::Api(e)) => OAuthError::from_api(e, refused()),
        ClientExchangeError::Client(_) => refused(),
        ClientExchangeError::NotAnExchanger => {
            OAuthError::unauthorized_client("this client may not exchange tokens (scope tokens:exchange)")
        }
        ClientExchangeError::Exchange(e) => exchange_refused(e),
    })?;
    let mut body = Map::new();
    body.insert("access_token".into(), Value::String(answer.access_token));
    body.insert("issued_token_type".into(), Value::String(answer.issued_token_type));
    body.insert("token_type".into(), Value::String(answer.token_type));
    body.insert("expires_in".into(), Value::from(answer.expires_in));
    if !answer.scope.is_empty() {
        body.insert("scope".into(), Value::String(answer.scope));
    }
    Ok(no_store(Value::Object(body)))
}

/// An exchange's refusal as RFC 8693 §2.2.2 and RFC 6749 §5.2 name it.
fn exchange_refused(err: ExchangeError) -> OAuthError {
    match err {
        ExchangeError::Api(e) => OAuthError::from_api(e, OAuthError::invalid_request("refused")),
        ExchangeError::NotDelegated { .. } | ExchangeError::ClientCertRequired => {
            OAuthError::unauthorized_client(err.to_string())
        }
        ExchangeError::ScopeNotDelegated(_) | ExchangeError::ScopeNotHeld(_) => {
            OAuthError::invalid_scope(err.to_string())
        }
        ExchangeError::Request(m) if m.starts_with("audience") => OAuthError::invalid_target(m),
        other => OAuthError::invalid_request(other.to_string()),
    }
}

/// The client's credentials: by HTTP Basic or in the form, not both
/// (RFC 6749 §2.3). None, or an id without a secret, is `invalid_client`.
fn client(params: &mut Params, basic: Option<ClientCredentials>) -> Result<ClientCredentials, OAuthError> {
    let client = match basic {
        Some(basic) => {
            if params.client_secret.is_some() {
                return Err(OAuthError::invalid_request("client credentials by HTTP Basic and in the form"));
            }
            if params.client_id.as_ref().is_some_and(|id| *id != basic.id) {
                return Err(OAuthError::invalid_request("client_id differs from the HTTP Basic one"));
            }
            basic
        }
        None => match (params.client_id.take(), params.client_secret.take()) {
            (Some(id), Some(secret)) => ClientCredentials { id, secret },
            _ => return Err(OAuthError::invalid_client("client_credentials needs the client's id and secret")),
        },
    };
    if client.id.is_empty() || client.secret.expose_secret().is_empty() {
        return Err(OAuthError::invalid_client("client_credentials needs the client's id and secret"));
    }
    Ok(client)
}

/// RFC 6749 §5.1: the token, never cached. `refresh_token` only when one
/// was issued, `scope` only when there is one.
fn issued(access_token: String, token_type: String, expires_in: i64, refresh_token: String, scope: String) -> Response {
    let mut body = Map::new();
    body.insert("access_token".into(), Value::String(access_token));
    body.insert("token_type".into(), Value::String(token_type));
    body.insert("expires_in".into(), Value::from(expires_in));
    if !refresh_token.is_empty() {
        body.insert("refresh_token".into(), Value::String(refresh_token));
    }
    if !scope.is_empty() {
        body.insert("scope".into(), Value::String(scope));
    }
    no_store(Value::Object(body))
}

/// A JSON answer that is never cached (RFC 6749 §5.1).
fn no_store(body: Value) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ];
    (headers, Body::from(body.to_string())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_parameter_is_invalid_request_an_empty_one_is_absent_and_others_are_ignored() {
        let repeated = Params::parse(b"grant_type=password&grant_type=password").map(|_| ()).map_err(|e| e.code());
        assert_eq!(repeated, Err("invalid_request"));
        let params = Params::parse(b"grant_type=password&username=&other=1&other=2&scope=a+b").ok();
        let params = params.unwrap_or_default();
        assert_eq!(params.grant_type.as_deref(), Some("password"));
        assert_eq!(params.username, None);
        assert_eq!(params.scope.as_deref(), Some("a b"));
    }
}
