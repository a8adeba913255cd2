//! Authorization runs after authentication: a known caller without the role
//! is PERMISSION_DENIED; an unknown one is UNAUTHENTICATED.

use authpair_proto::{
    auth::v1::{CreateUserRequest, ListUsersRequest},
    resource::v1::GetAdminDashboardRequest,
};
use authpair_tests::{TestApp, TestResult, assert_status, bearer};
use tonic::{Code, Request};

#[tokio::test]
async fn az_01_a_viewer_asking_for_the_admin_dashboard_is_permission_denied() -> TestResult {
    let app = TestApp::spawn().await?;
    let (_, viewer) = app.user_with_token("vera", &["viewer"]).await?;
    let result = app.resource.clone().get_admin_dashboard(bearer(GetAdminDashboardRequest {}, &viewer)).await;
    assert_status(result, Code::PermissionDenied, "requires role admin", "ROLE_REQUIRED");
    Ok(())
}

#[tokio::test]
async fn az_01_an_editor_calling_the_admin_service_is_permission_denied() -> TestResult {
    let app = TestApp::spawn().await?;
    // A token for the admin API's audience, so the role is what refuses it.
    app.create_user("ed", "ed-password", &["editor"]).await?;
    let editor = app.login_for("ed", "ed-password", authpair_tests::ADMIN_AUDIENCE).await?.access_token;
    let mut admin = app.admin.clone();
    let listed = admin.list_users(bearer(ListUsersRequest::default(), &editor)).await;
    assert_status(listed, Code::PermissionDenied, "requires role admin", "ROLE_REQUIRED");
    let created = admin.create_user(bearer(CreateUserRequest::default(), &editor)).await;
    assert_status(created, Code::PermissionDenied, "requires role admin", "ROLE_REQUIRED");
    Ok(())
}

#[tokio::test]
async fn authentication_runs_before_authorization_on_role_protected_methods() -> TestResult {
    let app = TestApp::spawn().await?;
    let mut resource = app.resource.clone();
    let anonymous = resource.get_admin_dashboard(Request::new(GetAdminDashboardRequest {})).await;
    assert_status(anonymous, Code::Unauthenticated, "missing bearer token", "TOKEN_MISSING");
    let forged = resource.get_admin_dashboard(bearer(GetAdminDashboardRequest {}, "a.b.c")).await;
    assert_status(forged, Code::Unauthenticated, "malformed token", "TOKEN_MALFORMED");
    let mut admin = app.admin.clone();
    let anonymous_admin_api = admin.list_users(ListUsersRequest::default()).await;
    assert_status(anonymous_admin_api, Code::Unauthenticated, "missing bearer token", "TOKEN_MISSING");
    Ok(())
}

#[tokio::test]
async fn an_admin_reaches_the_dashboard_and_it_counts_decisions() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.root_token().await?;
    let mut resource = app.resource.clone();
    let _ = resource.get_admin_dashboard(Request::new(GetAdminDashboardRequest {})).await;
    let dashboard = resource.get_admin_dashboard(bearer(GetAdminDashboardRequest {}, &admin)).await?.into_inner();
    assert_eq!(dashboard.signing_keys, 1);
    assert!(dashboard.calls_denied >= 1, "{dashboard:?}");
    assert!(dashboard.calls_allowed >= 1, "{dashboard:?}");
    Ok(())
}
