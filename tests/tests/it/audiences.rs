//! Per-service audiences (TF-11 d): a token names the service it is for,
//! and no other service takes it. The auth service's own API (admin calls,
//! the revocation feed) has an audience of its own; each resource service
//! has its own too; a caller names the one it wants at Login or
//! IssueServiceToken, and a refresh keeps it.

use authpair_proto::{
    auth::v1::{
        CreateServiceAccountRequest, IssueServiceTokenRequest, ListServiceAccountsRequest, ListUsersRequest,
        LogoutRequest, RefreshRequest, WatchRevocationsRequest,
    },
    resource::v1::GetMyProfileRequest,
};
use authpair_tests::{
    ADMIN_AUDIENCE, ADMIN_PASSWORD, ADMIN_USERNAME, RESOURCE_CLIENT_ID, RESOURCE_CLIENT_SECRET, TestApp, TestResult,
    any_port, assert_invalid_argument, assert_status, bearer,
};
use tonic::{Code, Status};

/// UNAUTHENTICATED "wrong token audience": the token is genuine, but not
/// for this service.
#[track_caller]
fn assert_wrong_audience<T: std::fmt::Debug>(result: Result<T, Status>) {
    assert_status(result, Code::Unauthenticated, "wrong token audience", "TOKEN_INVALID");
}

async fn list_users(app: &TestApp, token: &str) -> Result<usize, Status> {
    let request = bearer(ListUsersRequest { page_size: 10, page_token: String::new() }, token);
    Ok(app.admin.clone().list_users(request).await?.into_inner().users.len())
}

async fn profile(app: &TestApp, token: &str) -> Result<String, Status> {
    Ok(app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, token)).await?.into_inner().username)
}

#[tokio::test]
async fn tf_11_d_a_token_for_the_auth_service_is_refused_by_the_resource_service() -> TestResult {
    let app = TestApp::spawn().await?;
    let for_admin_api = app.admin_token().await?;
    assert!(list_users(&app, &for_admin_api).await? >= 1, "the token works where it is meant for");
    assert_wrong_audience(profile(&app, &for_admin_api).await);
    // The same admin's token for the resource service works there.
    assert_eq!(profile(&app, &app.root_token().await?).await?, ADMIN_USERNAME);
    Ok(())
}

#[tokio::test]
async fn tf_11_d_a_token_for_a_resource_service_is_refused_by_the_admin_api_even_with_the_admin_role() -> TestResult {
    let app = TestApp::spawn().await?;
    let for_resources = app.root_token().await?;
    assert_eq!(profile(&app, &for_resources).await?, ADMIN_USERNAME);
    assert_wrong_audience(list_users(&app, &for_resources).await);
    // A resource service that receives an admin's token cannot open the
    // revocation feed with it either, nor can a watcher with a service token
    // for a resource service.
    let feed = |token: &str| bearer(WatchRevocationsRequest::default(), token);
    assert_wrong_audience(app.auth.clone().watch_revocations(feed(&for_resources)).await);
    let both = ["authpair", ADMIN_AUDIENCE];
    let (client_id, client_secret) = app.service_account_for("watcher", &["revocations:watch"], &both).await?;
    let request = IssueServiceTokenRequest { client_id, client_secret, ..Default::default() };
    let default_audience = app.auth.clone().issue_service_token(request.clone()).await?.into_inner().access_token;
    assert_wrong_audience(app.auth.clone().watch_revocations(feed(&default_audience)).await);
    let own = IssueServiceTokenRequest { audience: ADMIN_AUDIENCE.into(), ..request };
    let for_feed = app.auth.clone().issue_service_token(own).await?.into_inner().access_token;
    assert!(app.auth.clone().watch_revocations(feed(&for_feed)).await.is_ok(), "the feed's own token opens it");
    Ok(())
}

/// A deployment with resource audiences orders and billing (besides the
/// default), whose resource service is orders.
async fn orders_and_billing() -> anyhow::Result<TestApp> {
    TestApp::spawn_with(
        |auth| auth.audiences = vec!["orders".into(), "billing".into()],
        |resource| resource.audience = "orders".into(),
    )
    .await
}

#[tokio::test]
async fn each_resource_service_takes_only_tokens_for_its_own_audience() -> TestResult {
    let app = orders_and_billing().await?;
    let orders = app.login_for(ADMIN_USERNAME, ADMIN_PASSWORD, "orders").await?;
    assert_eq!(profile(&app, &orders.access_token).await?, ADMIN_USERNAME);
    let billing = app.login_for(ADMIN_USERNAME, ADMIN_PASSWORD, "billing").await?;
    assert_wrong_audience(profile(&app, &billing.access_token).await);
    let default = app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await?;
    assert_wrong_audience(profile(&app, &default.access_token).await);
    // The session keeps its audience: a refresh of the billing session is
    // still refused here, one of the orders session still served.
    let mut auth = app.auth.clone();
    let billing = auth.refresh(RefreshRequest { refresh_token: billing.refresh_token }).await?.into_inner();
    assert_wrong_audience(profile(&app, &billing.access_token).await);
    let orders = auth.refresh(RefreshRequest { refresh_token: orders.refresh_token }).await?.into_inner();
    assert_eq!(profile(&app, &orders.access_token).await?, ADMIN_USERNAME);
    Ok(())
}

#[tokio::test]
async fn a_refresh_of_an_admin_api_session_issues_for_the_admin_api_again() -> TestResult {
    let app = TestApp::spawn().await?;
    let session = app.login_for(ADMIN_USERNAME, ADMIN_PASSWORD, ADMIN_AUDIENCE).await?;
    let request = RefreshRequest { refresh_token: session.refresh_token };
    let next = app.auth.clone().refresh(request).await?.into_inner();
    assert!(list_users(&app, &next.access_token).await? >= 1);
    assert_wrong_audience(profile(&app, &next.access_token).await);
    Ok(())
}

#[tokio::test]
async fn an_audience_the_deployment_does_not_issue_for_is_invalid_argument_and_costs_no_password_check() -> TestResult {
    let app = TestApp::spawn().await?;
    let message = "unknown audience \"billing\"";
    assert_invalid_argument(app.login_for(ADMIN_USERNAME, ADMIN_PASSWORD, "billing").await, message);
    // Checked before the credentials: a wrong password gets the same answer,
    // and is not counted as a failed login (the next right one is not slowed).
    for _ in 0..10 {
        assert_invalid_argument(app.login_for(ADMIN_USERNAME, "wrong", "billing").await, message);
    }
    assert!(!app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await?.access_token.is_empty());
    // Compared exactly, as `aud` is; and at most 64 characters are echoed.
    let upper = app.login_for(ADMIN_USERNAME, ADMIN_PASSWORD, "AUTHPAIR-ADMIN").await;
    assert_invalid_argument(upper, "unknown audience \"AUTHPAIR-ADMIN\"");
    let long = app.login_for(ADMIN_USERNAME, ADMIN_PASSWORD, &"x".repeat(500)).await;
    assert_invalid_argument(long, &format!("unknown audience {:?}", "x".repeat(64)));
    let request = IssueServiceTokenRequest {
        client_id: RESOURCE_CLIENT_ID.into(),
        client_secret: RESOURCE_CLIENT_SECRET.into(),
        audience: "billing".into(),
        ..Default::default()
    };
    assert_invalid_argument(app.auth.clone().issue_service_token(request).await, message);
    Ok(())
}

#[tokio::test]
async fn a_service_account_gets_tokens_only_for_the_audiences_it_was_granted() -> TestResult {
    let app = orders_and_billing().await?;
    let (id, secret) = app.service_account_for("reporter", &["profile"], &["orders"]).await?;
    let token = app.issue_service_token(&id, &secret, "orders").await?;
    assert_eq!(profile(&app, &token).await?, "svc:reporter");
    let billing = app.issue_service_token(&id, &secret, "billing").await;
    assert_invalid_argument(billing, "audience \"billing\" was not granted to this client");
    let default = app.issue_service_token(&id, &secret, "").await;
    assert_invalid_argument(default, "audience \"authpair\" was not granted to this client");
    // An account granted none gets the default audience alone.
    let (id, secret) = app.service_account("plain", &["profile"]).await?;
    assert!(app.issue_service_token(&id, &secret, "").await.is_ok());
    let orders = app.issue_service_token(&id, &secret, "orders").await;
    assert_invalid_argument(orders, "audience \"orders\" was not granted to this client");
    // The feed's bootstrap account is granted the auth service's own audience
    // only: it cannot call a resource service as itself.
    let refused = app.issue_service_token(RESOURCE_CLIENT_ID, RESOURCE_CLIENT_SECRET, "").await;
    assert_invalid_argument(refused, "audience \"authpair\" was not granted to this client");
    // Granting an audience the deployment does not issue for is refused, and
    // the listing shows what each account was granted.
    let admin = app.admin_token().await?;
    let request = CreateServiceAccountRequest {
        name: "nowhere".into(),
        scopes: vec!["profile".into()],
        audiences: vec!["shipping".into()],
        ..Default::default()
    };
    let refused = app.admin.clone().create_service_account(bearer(request, &admin)).await;
    // (The response holds a secret and has no Debug: only its absence is shown.)
    assert_invalid_argument(refused.map(|_| "an account"), "unknown audience \"shipping\"");
    let listed = app.admin.clone().list_service_accounts(bearer(ListServiceAccountsRequest {}, &admin)).await?;
    let granted: Vec<(String, Vec<String>)> =
        listed.into_inner().accounts.into_iter().map(|a| (a.name, a.audiences)).collect();
    assert!(granted.contains(&("reporter".into(), vec!["orders".into()])), "{granted:?}");
    assert!(granted.contains(&("plain".into(), vec![])), "{granted:?}");
    assert!(granted.contains(&(RESOURCE_CLIENT_ID.into(), vec![ADMIN_AUDIENCE.into()])), "{granted:?}");
    Ok(())
}

/// Logout is public: it takes the resource services' tokens, so it can
/// revoke the one the client holds.
#[tokio::test]
async fn a_logout_revokes_the_access_token_it_carries_whatever_its_audience() -> TestResult {
    let app = TestApp::spawn().await?;
    for audience in ["", ADMIN_AUDIENCE] {
        let session = app.login_for(ADMIN_USERNAME, ADMIN_PASSWORD, audience).await?;
        let request = bearer(LogoutRequest { refresh_token: session.refresh_token }, &session.access_token);
        let done = app.auth.clone().logout(request).await?.into_inner();
        assert!(done.access_token_revoked, "audience {audience:?}");
    }
    Ok(())
}

#[tokio::test]
async fn tf_11_d_a_resource_service_whose_audience_is_the_auth_services_own_refuses_to_start() -> TestResult {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let mut config = authpair_tests::resource_config(&app.auth_server, dir.path().to_path_buf());
    config.audience = ADMIN_AUDIENCE.into();
    let listener = tokio::net::TcpListener::bind(any_port()).await?;
    let error = resource_service::serve(listener, config, std::future::pending()).await.err().map(|e| e.to_string());
    let expected = "--audience \"authpair-admin\" is the auth service's own (--auth-audience): tokens for its admin API would work here";
    assert_eq!(error.as_deref(), Some(expected));
    Ok(())
}

#[tokio::test]
async fn tf_11_d_an_auth_service_whose_admin_audience_is_also_a_resource_audience_refuses_to_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = auth_service::Config { admin_audience: "authpair".into(), ..auth_service::Config::new(dir.path()) };
    let listener = tokio::net::TcpListener::bind(any_port()).await?;
    let error = auth_service::serve(listener, config, std::future::pending()).await.err().map(|e| e.to_string());
    let expected = "--admin-audience \"authpair\" is also a resource audience: tokens for resource services would work on the admin API";
    assert_eq!(error.as_deref(), Some(expected));
    Ok(())
}
