//! SetUserRoles: the access tokens issued before a role change are revoked
//! at once; the sessions stay (by default, `--on-role-change tokens`) and
//! refresh to tokens with the new roles, or end (`sessions`).

use std::time::{Duration, Instant};

use auth_service::config::OnRoleChange;
use authpair_claims::client::{BearerLayer, RefreshTokenSource, TokenCache};
use authpair_proto::{
    auth::v1::{RefreshRequest, RefreshResponse, SetUserRolesRequest},
    resource::v1::{CreateDocumentRequest, GetMyProfileRequest, resource_service_client::ResourceServiceClient},
};
use authpair_tests::{TestApp, TestResult, assert_refresh_refused, assert_status, bearer, by_name, channel, reason};
use secrecy::SecretString;
use tonic::{Code, Status};
use tower::Layer as _;

async fn set_roles(app: &TestApp, username: &str, roles: &[&str]) -> TestResult {
    let admin = app.admin_token().await?;
    let request = SetUserRolesRequest { user: by_name(username), roles: roles.iter().map(|r| r.to_string()).collect() };
    app.admin.clone().set_user_roles(bearer(request, &admin)).await?;
    Ok(())
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Result<RefreshResponse, Status> {
    Ok(app.auth.clone().refresh(RefreshRequest { refresh_token: refresh_token.into() }).await?.into_inner())
}

async fn roles(app: &TestApp, token: &str) -> Result<Vec<String>, Status> {
    Ok(app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, token)).await?.into_inner().roles)
}

async fn create_document(app: &TestApp, token: &str) -> Result<String, Status> {
    let request = CreateDocumentRequest { title: "notes".into(), body: "body".into() };
    let created = app.resource.clone().create_document(bearer(request, token)).await?.into_inner();
    Ok(created.document.ok_or_else(|| Status::internal("CreateDocument answered without the document"))?.id)
}

#[track_caller]
fn assert_revoked<T: std::fmt::Debug>(result: Result<T, Status>) {
    let status = result.err().unwrap_or_else(|| panic!("expected token revoked, got OK"));
    assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "token revoked"), "{status:?}");
    assert_eq!(reason(&status).as_deref(), Some("TOKEN_REVOKED"));
}

#[track_caller]
fn assert_not_an_editor<T: std::fmt::Debug>(result: Result<T, Status>) {
    assert_status(result, Code::PermissionDenied, "requires role editor", "ROLE_REQUIRED");
}

#[tokio::test]
async fn a_promoted_viewers_old_token_is_revoked_within_a_second_and_their_old_refresh_token_refreshes_to_an_editor_token()
-> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("vic", "vic-password", &["viewer"]).await?;
    let before = app.login("vic", "vic-password").await?;
    assert_not_an_editor(create_document(&app, &before.access_token).await);

    set_roles(&app, "vic", &["editor"]).await?;
    app.time_until_revoked(&before.access_token, Duration::from_secs(1)).await?;
    assert_revoked(create_document(&app, &before.access_token).await);

    let after = refresh(&app, &before.refresh_token).await?;
    assert_eq!(after.scope, "documents:read documents:write profile");
    assert_eq!(roles(&app, &after.access_token).await?, ["editor"]);
    assert_eq!(create_document(&app, &after.access_token).await?.len(), 36);
    Ok(())
}

#[tokio::test]
async fn a_demoted_editors_old_token_is_revoked_within_a_second_and_the_refreshed_one_can_no_longer_create_documents()
-> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("ed", "ed-password", &["editor"]).await?;
    let before = app.login("ed", "ed-password").await?;
    create_document(&app, &before.access_token).await?;

    set_roles(&app, "ed", &["viewer"]).await?;
    app.time_until_revoked(&before.access_token, Duration::from_secs(1)).await?;
    assert_revoked(create_document(&app, &before.access_token).await);

    let after = refresh(&app, &before.refresh_token).await?;
    assert_eq!(after.scope, "documents:read profile");
    assert_eq!(roles(&app, &after.access_token).await?, ["viewer"]);
    assert_not_an_editor(create_document(&app, &after.access_token).await);
    Ok(())
}

#[tokio::test]
async fn with_on_role_change_sessions_a_role_change_also_ends_every_session_so_the_old_refresh_token_is_refused()
-> TestResult {
    let app = TestApp::spawn_with(|auth| auth.on_role_change = OnRoleChange::Sessions, |_| {}).await?;
    app.create_user("sam", "sam-password", &["viewer"]).await?;
    let before = app.login("sam", "sam-password").await?;

    set_roles(&app, "sam", &["editor"]).await?;
    app.time_until_revoked(&before.access_token, Duration::from_secs(1)).await?;
    assert_revoked(roles(&app, &before.access_token).await);
    assert_refresh_refused(refresh(&app, &before.refresh_token).await);
    // Logging in again works at once, with the new roles.
    let again = app.login("sam", "sam-password").await?;
    assert_eq!(roles(&app, &again.access_token).await?, ["editor"]);
    Ok(())
}

/// A refresh and a role change at the same moment, many times: the token
/// the refresh returns carries the new roles, or it is revoked by the
/// change. Never old roles that are accepted.
#[tokio::test]
async fn a_refresh_racing_a_role_change_gets_the_new_roles_or_a_token_the_change_revokes() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("rae", "rae-password", &["viewer"]).await?;
    let mut session = RefreshResponse::from(app.login("rae", "rae-password").await?);
    for round in 0..20 {
        let new_role = if round % 2 == 0 { "editor" } else { "viewer" };
        let probe = app.login("rae", "rae-password").await?;
        let new_roles = [new_role];
        let (changed, refreshed) =
            tokio::join!(set_roles(&app, "rae", &new_roles), refresh(&app, &session.refresh_token));
        changed?;
        session = refreshed?;
        // Once the change has reached the resource service (a token from
        // before it is refused), the refreshed token is judged.
        app.time_until_revoked(&probe.access_token, Duration::from_secs(1)).await?;
        match roles(&app, &session.access_token).await {
            Ok(roles) => assert_eq!(roles, [new_role], "round {round}: a token with the old roles is accepted"),
            Err(status) => assert_revoked(Err::<(), _>(status)),
        }
    }
    Ok(())
}

/// The client layer renews a token refused as revoked and retries: its
/// caller never sees the role changes fail a call.
#[tokio::test]
async fn a_client_of_the_token_layer_sees_no_failed_call_across_a_promotion_and_a_demotion() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("cat", "cat-password", &["viewer"]).await?;
    let session = app.login("cat", "cat-password").await?;
    let source = RefreshTokenSource::new(channel(app.auth_server.addr)?, SecretString::from(session.refresh_token));
    let cache = TokenCache::new(source);
    let mut resource =
        ResourceServiceClient::new(BearerLayer::new(cache.clone()).layer(channel(app.resource_server.addr)?));
    let profile = resource.get_my_profile(GetMyProfileRequest {}).await?.into_inner();
    assert_eq!(profile.roles, ["viewer"]);

    for (role, fetches) in [("editor", 2), ("viewer", 3)] {
        set_roles(&app, "cat", &[role]).await?;
        let start = Instant::now();
        loop {
            // Every call succeeds: with the old token until the revocation
            // arrives, then (renewed once) with the new roles.
            let profile = resource.get_my_profile(GetMyProfileRequest {}).await?.into_inner();
            if profile.roles == [role] {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(1), "still {:?} after a second", profile.roles);
        }
        assert_eq!(cache.fetches(), fetches, "one renewal per role change");
    }
    let request = CreateDocumentRequest { title: "t".into(), body: "b".into() };
    assert_not_an_editor(resource.create_document(request).await);
    Ok(())
}
