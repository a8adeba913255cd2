//! Before the clock starts: admin token, users, logins, service tokens, or
//! the tokens a user gave in a file.

use anyhow::Context;
use authpair_proto::auth::v1::{
    CreateServiceAccountRequest, CreateUserRequest, IssueServiceTokenRequest, LoginRequest, LoginResponse,
    admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
};
use tonic::{
    Code, Request,
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};

/// The access tokens in `path` (`-`: standard input), one per line; blank
/// lines are skipped. The file's contents are never printed: they are
/// credentials.
pub fn read_tokens(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = if path == std::path::Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("reading tokens from standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading tokens from {}", path.display()))?
    };
    let tokens: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    anyhow::ensure!(!tokens.is_empty(), "no tokens in {}", path.display());
    Ok(tokens)
}

/// The `authorization` value for `token`.
pub fn authorization(token: &str) -> anyhow::Result<MetadataValue<Ascii>> {
    Ok(MetadataValue::try_from(format!("Bearer {token}"))?)
}

pub fn bearer<T>(message: T, token: &str) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", authorization(token)?);
    Ok(request)
}

/// Logs in for the default audience: tokens for the resource service.
pub async fn login(auth: &Channel, username: &str, password: &str) -> anyhow::Result<LoginResponse> {
    login_for(auth, username, password, "").await
}

pub async fn login_for(
    auth: &Channel,
    username: &str,
    password: &str,
    audience: &str,
) -> anyhow::Result<LoginResponse> {
    let request = LoginRequest { username: username.into(), password: password.into(), audience: audience.into() };
    Ok(AuthServiceClient::new(auth.clone())
        .login(request)
        .await
        .with_context(|| format!("login as {username}"))?
        .into_inner())
}

/// The admin's access token for the admin API (`audience`), from
/// `username:password`.
pub async fn admin_token(auth: &Channel, admin: &str, audience: &str) -> anyhow::Result<String> {
    let (username, password) = admin.split_once(':').context("--admin must be username:password")?;
    Ok(login_for(auth, username, password, audience).await?.access_token)
}

/// Creates `username`, a viewer on `plan`, if it does not exist yet.
pub async fn ensure_user(
    auth: &Channel,
    admin: &str,
    username: &str,
    password: &str,
    plan: &str,
) -> anyhow::Result<()> {
    let request = CreateUserRequest {
        username: username.into(),
        password: password.into(),
        roles: vec!["viewer".into()],
        plan: plan.into(),
    };
    match AdminServiceClient::new(auth.clone()).create_user(bearer(request, admin)?).await {
        Ok(_) => Ok(()),
        Err(status) if status.code() == Code::AlreadyExists => Ok(()),
        Err(status) => Err(status).with_context(|| format!("creating {username}")),
    }
}

/// `count` distinct users, logged in: their (username, password, tokens).
pub async fn users(auth: &Channel, admin: &str, count: usize) -> anyhow::Result<Vec<(String, String, LoginResponse)>> {
    let mut users = Vec::with_capacity(count);
    for i in 0..count {
        let (username, password) = (format!("load-user-{i}"), format!("load-password-{i}"));
        ensure_user(auth, admin, &username, &password, "pro").await?;
        let tokens = login(auth, &username, &password).await?;
        users.push((username, password, tokens));
    }
    Ok(users)
}

/// `count` distinct service tokens, issued 32 at a time.
pub async fn service_tokens(auth: &Channel, admin: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let name = format!("load-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let request = CreateServiceAccountRequest {
        name: name.clone(),
        scopes: vec!["profile".into()],
        plan: "pro".into(),
        audiences: Vec::new(),
        ..Default::default()
    };
    let created = AdminServiceClient::new(auth.clone()).create_service_account(bearer(request, admin)?).await?;
    let secret = created.into_inner().client_secret;
    let mut tokens = Vec::with_capacity(count);
    while tokens.len() < count {
        let batch = (count - tokens.len()).min(32);
        let calls: Vec<_> = (0..batch)
            .map(|_| {
                let mut client = AuthServiceClient::new(auth.clone());
                let request = IssueServiceTokenRequest {
                    client_id: name.clone(),
                    client_secret: secret.clone(),
                    scope: String::new(),
                    ..Default::default()
                };
                tokio::spawn(async move { client.issue_service_token(request).await })
            })
            .collect();
        for call in calls {
            tokens.push(call.await??.into_inner().access_token);
        }
    }
    Ok(tokens)
}
