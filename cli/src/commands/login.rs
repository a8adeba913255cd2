//! `authpair login` and `authpair logout`: start and end stored sessions.

use authpair_proto::auth::v1::{LoginRequest, LogoutRequest, auth_service_client::AuthServiceClient};
use secrecy::{ExposeSecret as _, SecretString};
use tonic::{Code, Request, Status};

use crate::{
    args::{LoginArgs, LogoutArgs},
    auth_url::AuthUrl,
    connect::{checked, connect},
    context::{Context, bearer, now},
    error::CliError,
    output::{emit, fields, unix_to_rfc3339},
    password,
    session::Session,
    views::SessionView,
};

pub async fn login(ctx: &Context, args: LoginArgs) -> Result<(), CliError> {
    let audience = args.audience.unwrap_or_else(|| ctx.global.admin_audience.clone());
    // Logging in again goes where the session it replaces went, unless told otherwise.
    let url = {
        let lock = ctx.store.lock()?;
        ctx.url(&ctx.store.load(&lock)?, &audience)?
    };
    let password = password::login_password(&args.username, args.password_stdin)?;
    let channel = connect(&url, &ctx.global).await?;
    let request = LoginRequest {
        username: args.username.clone(),
        password: password.expose_secret().to_owned(),
        audience: audience.clone(),
    };
    drop(password);
    let tokens = checked(&url, AuthServiceClient::new(channel).login(request).await).await?.into_inner();
    let session = Session {
        url: url.to_string(),
        username: args.username,
        audience: audience.clone(),
        access_token: SecretString::from(tokens.access_token),
        refresh_token: SecretString::from(tokens.refresh_token),
        expires_at: now() + tokens.expires_in,
    };
    let view = SessionView {
        username: session.username.clone(),
        audience: session.audience.clone(),
        url: session.url.clone(),
        expires_at: unix_to_rfc3339(session.expires_at),
        file: ctx.store.path().display().to_string(),
    };
    let lock = ctx.store.lock()?;
    let mut sessions = ctx.store.load(&lock)?;
    let replaced = sessions.remove(&url, &audience);
    sessions.put(session);
    ctx.store.save(&lock, &sessions)?;
    drop(lock);
    // The session this one replaces would otherwise live on unused for days.
    if let Some(old) = replaced {
        let _ = revoke(ctx, &old).await;
    }
    emit(ctx.global.json, &view, || {
        fields(&[
            ("logged in as", view.username.clone()),
            ("audience", view.audience.clone()),
            ("auth service", view.url.clone()),
            ("token expires", format!("{} (renewed as needed)", view.expires_at)),
            ("session file", view.file.clone()),
        ])
    });
    Ok(())
}

/// Ends the stored sessions for `--audience` (all without it) at
/// `--auth-url` (every URL without it), each at the URL it was made at.
pub async fn logout(ctx: &Context, args: LogoutArgs) -> Result<(), CliError> {
    let lock = ctx.store.lock()?;
    let mut sessions = ctx.store.load(&lock)?;
    let chosen: Vec<usize> = (0..sessions.sessions.len())
        .filter(|&i| {
            let session = &sessions.sessions[i];
            args.audience.as_ref().is_none_or(|a| session.audience == *a)
                && ctx.auth_url.as_ref().is_none_or(|url| session.is_for(url, &session.audience))
        })
        .collect();
    if chosen.is_empty() && (args.audience.is_some() || ctx.auth_url.is_some()) {
        let audience = args.audience.as_deref().map(|a| format!(" for audience {a:?}")).unwrap_or_default();
        let url = ctx.auth_url.as_ref().map(|u| format!(" at {u}")).unwrap_or_default();
        return Err(CliError::other(format!("not logged in{audience}{url}")));
    }
    let mut ended = Vec::new();
    let mut failure = None;
    let mut kept = Vec::new();
    for (i, session) in std::mem::take(&mut sessions.sessions).into_iter().enumerate() {
        if !chosen.contains(&i) {
            kept.push(session);
            continue;
        }
        match revoke(ctx, &session).await {
            Ok(()) => ended.push(session.audience),
            // Kept, so that a later logout can still revoke it.
            Err(e) => {
                failure = Some(e);
                kept.push(session);
            }
        }
    }
    sessions.sessions = kept;
    ctx.store.save(&lock, &sessions)?;
    emit(ctx.global.json, &serde_json::json!({ "logged_out": ended }), || match ended.as_slice() {
        [] => "No session to end.".into(),
        ended => format!("Logged out ({}).", ended.join(", ")),
    });
    failure.map_or(Ok(()), Err)
}

/// Ends `session` at the auth service that issued it, and only there. Its
/// access token goes along, to be revoked too, unless it has expired; a
/// refresh token the service no longer knows means the session had already
/// ended.
async fn revoke(ctx: &Context, session: &Session) -> Result<(), CliError> {
    let url = AuthUrl::parse(&session.url)?;
    let channel = connect(&url, &ctx.global).await?;
    let mut client = AuthServiceClient::new(channel);
    let message = LogoutRequest { refresh_token: session.refresh_token.expose_secret().to_owned() };
    let with_access = if session.expires_within(now(), 5) {
        Request::new(message.clone())
    } else {
        bearer(message.clone(), &session.access_token)?
    };
    let result = match client.logout(with_access).await {
        // The access token itself was refused (revoked, say): end the session without it.
        Err(status) if status.code() == Code::Unauthenticated && token_refused(&status) => {
            client.logout(Request::new(message)).await
        }
        result => result,
    };
    match result {
        Ok(_) => Ok(()),
        Err(status) if reason(&status) == Some("REFRESH_TOKEN_INVALID".into()) => Ok(()),
        Err(status) => checked(&url, Err::<(), _>(status)).await,
    }
}

fn token_refused(status: &Status) -> bool {
    reason(status).is_some_and(|r| r.starts_with("TOKEN_"))
}

fn reason(status: &Status) -> Option<String> {
    authpair_claims::reason_of(status)
}
