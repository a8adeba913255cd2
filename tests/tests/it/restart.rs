//! State survives restarts: the signing key and users live in the data dir.

use authpair_proto::{auth::v1::ListUsersRequest, resource::v1::GetMyProfileRequest};
use authpair_tests::{TestApp, TestResult, bearer, resource_config, start_resource};

#[tokio::test]
async fn a_token_still_works_after_the_auth_service_restarts_on_the_same_data_dir() -> TestResult {
    let mut app = TestApp::spawn().await?;
    let (user, token) = app.user_with_token("rita", &["viewer"]).await?;
    let admin = app.admin_token().await?;
    let key_before = app.forger().await?.kid;

    app.restart_auth().await?;

    assert_eq!(app.forger().await?.kid, key_before, "the signing key was reused, not regenerated");
    // The running resource service still accepts the old token.
    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?;
    assert_eq!(profile.into_inner().subject, user.id);
    // The restarted auth service accepts the old admin token and kept the user.
    let users = app.admin.clone().list_users(bearer(ListUsersRequest::default(), &admin)).await?.into_inner();
    assert!(users.users.iter().any(|u| u.id == user.id));
    // A resource service started fresh against the restarted auth service
    // fetches the same key and accepts the old token too.
    let config = resource_config(&app.auth_server, app.data_dir.path().join("resource-2"));
    let fresh = start_resource(config).await?;
    let mut client = authpair_proto::resource::v1::resource_service_client::ResourceServiceClient::new(
        authpair_tests::channel(fresh.addr)?,
    );
    assert_eq!(client.get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?.into_inner().subject, user.id);
    // Logging in still works with the stored password hash.
    assert!(!app.login("rita", "rita-password").await?.access_token.is_empty());
    Ok(())
}
