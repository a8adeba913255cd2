//! Service accounts and service-to-service calls: client credentials,
//! scope narrowing, users and services kept apart, deletion revokes.

use authpair_proto::{
    auth::v1::{
        CreateServiceAccountRequest, DeleteServiceAccountRequest, IssueServiceTokenRequest, ListServiceAccountsRequest,
    },
    resource::v1::{GetAdminDashboardRequest, GetMyProfileRequest, ListDocumentsRequest},
};
use authpair_tests::{ADMIN_AUDIENCE, TestApp, TestResult, bearer, reason};
use tonic::Code;

#[tokio::test]
async fn a_service_gets_a_short_lived_token_for_exactly_its_granted_scopes_and_no_refresh_token() -> TestResult {
    let app = TestApp::spawn().await?;
    let (client_id, secret) = app.service_account("reporting", &["documents:read", "profile"]).await?;
    assert_eq!(client_id, "reporting");
    assert!(secret.starts_with("apcs_") && secret.len() > 40);
    let mut auth = app.auth.clone();
    let issue = |scope: &str| IssueServiceTokenRequest {
        client_id: client_id.clone(),
        client_secret: secret.clone(),
        scope: scope.into(),
        ..Default::default()
    };
    let all = auth.issue_service_token(issue("")).await?.into_inner();
    assert_eq!((all.scope.as_str(), all.refresh_token.as_str()), ("documents:read profile", ""));
    assert_eq!(all.expires_in, 900);
    let narrowed = auth.issue_service_token(issue("profile")).await?.into_inner();
    assert_eq!(narrowed.scope, "profile");
    let wider = auth.issue_service_token(issue("profile admin")).await.err().ok_or("widened")?;
    assert_eq!(
        (wider.code(), wider.message()),
        (Code::InvalidArgument, "scope \"admin\" was not granted to this client")
    );

    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &all.access_token)).await?;
    let profile = profile.into_inner();
    assert_eq!((profile.subject.as_str(), profile.roles.len()), ("svc:reporting", 0));
    // documents:read lets it list (its own: none); without it, refused.
    let listed =
        app.resource.clone().list_documents(bearer(ListDocumentsRequest::default(), &all.access_token)).await?;
    assert!(listed.into_inner().documents.is_empty());
    let refused =
        app.resource.clone().list_documents(bearer(ListDocumentsRequest::default(), &narrowed.access_token)).await;
    let refused = refused.err().ok_or("listed without the scope")?;
    assert_eq!(reason(&refused).as_deref(), Some("SCOPE_REQUIRED"));
    Ok(())
}

#[tokio::test]
async fn wrong_client_credentials_get_the_same_answer_as_a_wrong_password() -> TestResult {
    let app = TestApp::spawn().await?;
    let (client_id, _) = app.service_account("billing", &["profile"]).await?;
    let mut auth = app.auth.clone();
    let wrong_secret = IssueServiceTokenRequest {
        client_id,
        client_secret: "apcs_wrong".into(),
        scope: String::new(),
        ..Default::default()
    };
    let unknown = IssueServiceTokenRequest {
        client_id: "nobody".into(),
        client_secret: "apcs_wrong".into(),
        scope: String::new(),
        ..Default::default()
    };
    let a = auth.issue_service_token(wrong_secret).await.err().ok_or("accepted")?;
    let b = auth.issue_service_token(unknown).await.err().ok_or("accepted")?;
    let password = app.login("root", "wrong password").await.err().ok_or("accepted")?;
    for status in [&a, &b, &password] {
        assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "invalid credentials"));
        assert_eq!(reason(status).as_deref(), Some("INVALID_CREDENTIALS"));
    }
    Ok(())
}

#[tokio::test]
async fn a_service_token_cannot_call_user_only_methods() -> TestResult {
    let app = TestApp::spawn().await?;
    let (id, secret) = app.service_account_for("ops", &["admin", "profile"], &["authpair", ADMIN_AUDIENCE]).await?;
    let token = app.issue_service_token(&id, &secret, "").await?;
    let dashboard = app.resource.clone().get_admin_dashboard(bearer(GetAdminDashboardRequest {}, &token)).await;
    let dashboard = dashboard.err().ok_or("a service reached the admin dashboard")?;
    assert_eq!((dashboard.code(), dashboard.message()), (Code::PermissionDenied, "requires a user token"));
    // On the admin API, with a token for its audience.
    let token = app.issue_service_token(&id, &secret, ADMIN_AUDIENCE).await?;
    let admin_api = app.admin.clone().list_service_accounts(bearer(ListServiceAccountsRequest {}, &token)).await;
    let admin_api = admin_api.err().ok_or("a service reached the admin API")?;
    assert_eq!((admin_api.code(), admin_api.message()), (Code::PermissionDenied, "requires a user token"));
    Ok(())
}

#[tokio::test]
async fn deleting_a_service_account_revokes_its_tokens_at_once() -> TestResult {
    let app = TestApp::spawn().await?;
    let (client_id, secret) = app.service_account("temp", &["profile"]).await?;
    let request =
        IssueServiceTokenRequest { client_id, client_secret: secret, scope: String::new(), ..Default::default() };
    let token = app.auth.clone().issue_service_token(request.clone()).await?.into_inner().access_token;
    assert!(app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &token)).await.is_ok());

    let admin = app.admin_token().await?;
    app.admin
        .clone()
        .delete_service_account(bearer(DeleteServiceAccountRequest { name: "temp".into() }, &admin))
        .await?;
    let start = std::time::Instant::now();
    let rejected = loop {
        match app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &token)).await {
            Err(status) => break status,
            Ok(_) if start.elapsed() < std::time::Duration::from_secs(1) => continue,
            Ok(_) => return Err("still accepted a second after deletion".into()),
        }
    };
    assert_eq!(reason(&rejected).as_deref(), Some("TOKEN_REVOKED"));
    let again = app.auth.clone().issue_service_token(request).await.err().ok_or("deleted account issued")?;
    assert_eq!(again.message(), "invalid credentials");
    let missing = app
        .admin
        .clone()
        .delete_service_account(bearer(DeleteServiceAccountRequest { name: "temp".into() }, &admin))
        .await;
    assert_eq!(missing.err().map(|s| s.code()), Some(Code::NotFound));
    Ok(())
}

#[tokio::test]
async fn bad_service_account_requests_are_refused_clearly_and_secrets_are_never_listed() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.admin_token().await?;
    let mut api = app.admin.clone();
    let create = |name: &str, scopes: &[&str]| CreateServiceAccountRequest {
        name: name.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        plan: String::new(),
        audiences: Vec::new(),
        ..Default::default()
    };
    for (request, code, message) in [
        (create("Bad Name", &["profile"]), Code::InvalidArgument, "name must be 1 to 64 of a-z, 0-9 and '-'"),
        (create("ok", &[]), Code::InvalidArgument, "at least one scope is required"),
        (create("ok", &["root"]), Code::InvalidArgument, "unknown scope \"root\""),
    ] {
        let status = api.create_service_account(bearer(request, &admin)).await.err().ok_or(message)?;
        assert_eq!((status.code(), status.message()), (code, message));
    }
    api.create_service_account(bearer(create("dup", &["profile"]), &admin)).await?;
    let dup = api.create_service_account(bearer(create("dup", &["profile"]), &admin)).await.err().ok_or("dup")?;
    assert_eq!((dup.code(), dup.message()), (Code::AlreadyExists, "service account already exists"));
    let listed = api.list_service_accounts(bearer(ListServiceAccountsRequest {}, &admin)).await?.into_inner();
    let names: Vec<_> = listed.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["dup", "resource-service"]);
    assert!(!format!("{listed:?}").contains("apcs_"));
    Ok(())
}
