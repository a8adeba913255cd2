//! What every command works with: the global options, the session store,
//! which auth service a command talks to, and calls with a fresh access
//! token. A token with less than [`RENEW_MARGIN_SECS`] left is renewed with
//! `Refresh` first (the rotated refresh token is stored at once); an admin
//! call refused as TOKEN_EXPIRED (the clocks disagree) is renewed and
//! retried once.
//!
//! A session's tokens, access and refresh, go only to the URL the session
//! was made at: a command for another URL finds no session there and
//! fails before it connects anywhere.

use std::future::Future;

use authpair_proto::auth::v1::{
    RefreshRequest, admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
};
use secrecy::{ExposeSecret as _, SecretString};
use tonic::{Code, Request, Response, Status, metadata::MetadataValue, transport::Channel};

use crate::{
    args::{DEFAULT_URL, Global},
    auth_url::AuthUrl,
    connect::{checked, connect},
    error::CliError,
    session::{Sessions, Store, config_dir},
};

/// Renew an access token that has less than this left.
pub const RENEW_MARGIN_SECS: i64 = 120;

#[derive(Debug)]
pub struct Context {
    pub global: Global,
    /// `--auth-url` (or AUTHPAIR_URL), checked and normalised.
    pub auth_url: Option<AuthUrl>,
    pub store: Store,
}

/// A connection and an access token good for at least the renew margin.
#[derive(Debug)]
pub struct Fresh {
    pub url: AuthUrl,
    pub channel: Channel,
    pub token: SecretString,
    pub expires_at: i64,
}

impl Context {
    pub fn new(global: Global) -> Result<Self, CliError> {
        let auth_url = global.auth_url.as_deref().map(AuthUrl::parse).transpose()?;
        Ok(Self { global, auth_url, store: Store::new(config_dir()?) })
    }

    /// The auth service a command for `audience` talks to: `--auth-url`
    /// (or AUTHPAIR_URL); else the URL of the audience's session; else the
    /// URL every stored session shares; else the default. Several sessions
    /// for the audience at different URLs need `--auth-url` to choose.
    pub fn url(&self, sessions: &Sessions, audience: &str) -> Result<AuthUrl, CliError> {
        if let Some(url) = &self.auth_url {
            return Ok(url.clone());
        }
        let single = |urls: Vec<&str>| match urls.as_slice() {
            [one] => AuthUrl::parse(one).ok(),
            _ => None,
        };
        let for_audience = sessions.urls(Some(audience));
        if for_audience.len() > 1 {
            return Err(CliError::other(format!(
                "sessions for audience {audience:?} are stored for several auth services ({}); name one with \
                 --auth-url",
                for_audience.join(", ")
            )));
        }
        match single(for_audience).or_else(|| single(sessions.urls(None))) {
            Some(url) => Ok(url),
            None => AuthUrl::parse(DEFAULT_URL),
        }
    }

    /// A fresh token of the session for `audience`: the stored one, or a
    /// renewed one if it expires within the margin or is `stale` (a token
    /// the service just refused as expired).
    pub async fn fresh(&self, audience: &str, stale: Option<&SecretString>) -> Result<Fresh, CliError> {
        let lock = self.store.lock()?;
        let mut sessions = self.store.load(&lock)?;
        let url = self.url(&sessions, audience)?;
        // Found only under the URL it was made at: its tokens go nowhere else.
        let session = sessions.get(&url, audience).ok_or_else(|| self.no_session(&url, audience, &sessions))?;
        let channel = connect(&url, &self.global).await?;
        let renew = match stale {
            // Another command may have renewed it meanwhile.
            Some(stale) => session.access_token() == stale.expose_secret(),
            None => session.expires_within(now(), RENEW_MARGIN_SECS),
        };
        if renew {
            let request = RefreshRequest { refresh_token: session.refresh_token.expose_secret().to_owned() };
            let username = session.username.clone();
            match checked(&url, AuthServiceClient::new(channel.clone()).refresh(request).await).await {
                Ok(response) => {
                    let tokens = response.into_inner();
                    if let Some(session) = sessions.get_mut(&url, audience) {
                        session.access_token = SecretString::from(tokens.access_token);
                        session.refresh_token = SecretString::from(tokens.refresh_token);
                        session.expires_at = now() + tokens.expires_in;
                    }
                    self.store.save(&lock, &sessions)?;
                }
                Err(error) if error.reason().as_deref() == Some("REFRESH_TOKEN_INVALID") => {
                    // Expired, revoked or spent: the session is over, forget it.
                    sessions.remove(&url, audience);
                    self.store.save(&lock, &sessions)?;
                    let hint = format!(
                        "hint: the session has ended; log in again: {}",
                        login_command(&username, audience, &url, self)
                    );
                    return Err(error.with_hint(hint));
                }
                Err(error) => return Err(error),
            }
        }
        let session = sessions.get(&url, audience).ok_or_else(|| self.no_session(&url, audience, &sessions))?;
        Ok(Fresh { url, channel, token: session.access_token.clone(), expires_at: session.expires_at })
    }

    /// One admin API call with the admin session's token.
    pub async fn admin<Req, Res, Fut>(
        &self,
        request: Req,
        call: impl Fn(AdminServiceClient<Channel>, Request<Req>) -> Fut,
    ) -> Result<Res, CliError>
    where
        Req: Clone,
        Fut: Future<Output = Result<Response<Res>, Status>>,
    {
        let audience = &self.global.admin_audience;
        let fresh = self.fresh(audience, None).await?;
        let first = call(AdminServiceClient::new(fresh.channel.clone()), bearer(request.clone(), &fresh.token)?).await;
        match first {
            Err(status) if is_expired(&status) => {
                let fresh = self.fresh(audience, Some(&fresh.token)).await?;
                let client = AdminServiceClient::new(fresh.channel.clone());
                Ok(checked(&fresh.url, call(client, bearer(request, &fresh.token)?).await).await?.into_inner())
            }
            result => Ok(checked(&fresh.url, result).await?.into_inner()),
        }
    }

    /// Why there is no session for `audience` at `url`, and the login that makes one.
    fn no_session(&self, url: &AuthUrl, audience: &str, sessions: &Sessions) -> CliError {
        let login = login_command("USER", audience, url, self);
        let elsewhere = sessions.urls(Some(audience));
        if !elsewhere.is_empty() {
            return CliError::other(format!(
                "not logged in at {url} (a session for audience {audience:?} exists for {}); its tokens are sent \
                 only where they were issued. Run `{login}`, or use --auth-url with the URL you logged in at",
                elsewhere.join(", ")
            ));
        }
        let stored = match sessions.audiences() {
            none if none.is_empty() => "no session is stored".to_owned(),
            some => format!("sessions are stored for: {}", some.join(", ")),
        };
        CliError::other(format!(
            "not logged in for audience {audience:?} ({stored}). A session keeps the audience it was logged in \
             for and the auth service does not exchange tokens between audiences, so log in for this one: {login}"
        ))
    }
}

/// The login command line for `audience` at `url` (named unless it is the default).
pub fn login_command(username: &str, audience: &str, url: &AuthUrl, ctx: &Context) -> String {
    let mut command = format!("authpair login {username}");
    if audience != ctx.global.admin_audience {
        command.push_str(&format!(" --audience {audience}"));
    }
    if AuthUrl::parse(DEFAULT_URL).ok().as_ref() != Some(url) {
        command.push_str(&format!(" --auth-url {url}"));
    }
    command
}

fn is_expired(status: &Status) -> bool {
    status.code() == Code::Unauthenticated && authpair_claims::reason_of(status).as_deref() == Some("TOKEN_EXPIRED")
}

/// `message` with `authorization: Bearer <token>`.
pub fn bearer<T>(message: T, token: &SecretString) -> Result<Request<T>, CliError> {
    let mut value = MetadataValue::try_from(format!("Bearer {}", token.expose_secret()))
        .map_err(|_| CliError::other("the stored access token is not a valid header value; log in again"))?;
    value.set_sensitive(true);
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

pub use authpair_claims::clock::now;
