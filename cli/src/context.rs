//! What every command works with: the global options, the session store,
//! and calls with a fresh access token. A token with less than
//! [`RENEW_MARGIN_SECS`] left is renewed with `Refresh` first (the rotated
//! refresh token is stored at once); an admin call refused as
//! TOKEN_EXPIRED (the clocks disagree) is renewed and retried once.

use std::future::Future;

use authpair_proto::auth::v1::{
    RefreshRequest, admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
};
use secrecy::{ExposeSecret as _, SecretString};
use tonic::{Code, Request, Response, Status, metadata::MetadataValue, transport::Channel};

use crate::{
    args::{DEFAULT_URL, Global},
    connect::connect,
    error::CliError,
    session::{Session, Sessions, Store, config_dir},
};

/// Renew an access token that has less than this left.
pub const RENEW_MARGIN_SECS: i64 = 120;

#[derive(Debug)]
pub struct Context {
    pub global: Global,
    pub store: Store,
}

/// A connection and an access token good for at least the renew margin.
#[derive(Debug)]
pub struct Fresh {
    pub channel: Channel,
    pub token: SecretString,
    pub expires_at: i64,
}

impl Context {
    pub fn new(global: Global) -> Result<Self, CliError> {
        Ok(Self { global, store: Store::new(config_dir()?) })
    }

    /// `--auth-url` (or AUTHPAIR_URL), else the session's, else the default.
    pub fn url(&self, session: Option<&Session>) -> String {
        let stored = session.map(|s| s.url.clone());
        self.global.auth_url.clone().or(stored).unwrap_or_else(|| DEFAULT_URL.to_owned())
    }

    /// A fresh token of the session for `audience`: the stored one, or a
    /// renewed one if it expires within the margin or is `stale` (a token
    /// the service just refused as expired).
    pub async fn fresh(&self, audience: &str, stale: Option<&SecretString>) -> Result<Fresh, CliError> {
        let lock = self.store.lock()?;
        let mut sessions = self.store.load(&lock)?;
        let session = sessions.get(audience).ok_or_else(|| self.no_session(audience, &sessions))?;
        let url = self.url(Some(session));
        let channel = connect(&url, &self.global).await?;
        let renew = match stale {
            // Another command may have renewed it meanwhile.
            Some(stale) => session.access_token() == stale.expose_secret(),
            None => session.expires_within(now(), RENEW_MARGIN_SECS),
        };
        if renew {
            let request = RefreshRequest { refresh_token: session.refresh_token.expose_secret().to_owned() };
            let username = session.username.clone();
            match AuthServiceClient::new(channel.clone()).refresh(request).await {
                Ok(response) => {
                    let tokens = response.into_inner();
                    if let Some(session) = sessions.get_mut(audience) {
                        session.access_token = SecretString::from(tokens.access_token);
                        session.refresh_token = SecretString::from(tokens.refresh_token);
                        session.expires_at = now() + tokens.expires_in;
                    }
                    self.store.save(&lock, &sessions)?;
                }
                Err(status) if authpair_claims::reason_of(&status).as_deref() == Some("REFRESH_TOKEN_INVALID") => {
                    // Expired, revoked or spent: the session is over, forget it.
                    sessions.remove(audience);
                    self.store.save(&lock, &sessions)?;
                    let hint = format!(
                        "hint: the session has ended; log in again: {}",
                        login_command(&username, audience, self)
                    );
                    return Err(CliError::from(status).with_hint(hint));
                }
                Err(status) => return Err(status.into()),
            }
        }
        let session = sessions.get(audience).ok_or_else(|| self.no_session(audience, &sessions))?;
        Ok(Fresh { channel, token: session.access_token.clone(), expires_at: session.expires_at })
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
                Ok(call(client, bearer(request, &fresh.token)?).await?.into_inner())
            }
            result => Ok(result?.into_inner()),
        }
    }

    fn no_session(&self, audience: &str, sessions: &Sessions) -> CliError {
        let stored = match sessions.audiences() {
            none if none.is_empty() => "no session is stored".to_owned(),
            some => format!("sessions are stored for: {}", some.join(", ")),
        };
        CliError::other(format!(
            "not logged in for audience {audience:?} ({stored}). A session keeps the audience it was logged in \
             for and the auth service does not exchange tokens between audiences, so log in for this one: {}",
            login_command("USER", audience, self)
        ))
    }
}

/// The login command line for `audience`.
pub fn login_command(username: &str, audience: &str, ctx: &Context) -> String {
    if audience == ctx.global.admin_audience {
        format!("authpair login {username}")
    } else {
        format!("authpair login {username} --audience {audience}")
    }
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

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
