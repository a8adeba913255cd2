//! The login-to-call flow end to end, and the refresh lifecycle.

use authpair_proto::{
    auth::v1::{GetJwksRequest, RefreshRequest, SetUserRolesRequest, UserRef, user_ref},
    resource::v1::GetMyProfileRequest,
};
use authpair_tests::{TestApp, TestResult, bearer, reason};
use tonic::Code;

#[tokio::test]
async fn a_new_user_logs_in_and_reads_their_own_profile_from_the_resource_service() -> TestResult {
    let app = TestApp::spawn().await?;
    let user = app.create_user("alice", "alice-password", &[]).await?;
    assert_eq!(user.roles, ["viewer"], "new users default to viewer");
    assert_eq!(user.plan, "free", "new users default to the free plan");

    let tokens = app.login("alice", "alice-password").await?;
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 900);
    assert!(!tokens.refresh_token.is_empty());
    assert_eq!(tokens.scope, "documents:read profile");

    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &tokens.access_token)).await?;
    let profile = profile.into_inner();
    assert_eq!(profile.subject, user.id, "sub is the stable user id");
    assert_ne!(profile.subject, "alice", "sub is never the username");
    assert_eq!(profile.username, "alice");
    assert_eq!(profile.roles, ["viewer"]);
    assert_eq!(profile.plan, "free");
    assert_eq!(profile.scopes, ["documents:read", "profile"]);
    Ok(())
}

#[tokio::test]
async fn en_01_unknown_user_and_wrong_password_get_identical_answers_headers_and_trailers_included() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("bob", "bob-password", &[]).await?;
    let wrong_password = app.login("bob", "not-bobs-password").await.err().ok_or("login succeeded")?;
    let unknown_user = app.login("nobody", "bob-password").await.err().ok_or("login succeeded")?;
    for status in [&wrong_password, &unknown_user] {
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), "invalid credentials");
        assert_eq!(reason(status).as_deref(), Some("INVALID_CREDENTIALS"));
    }
    assert_eq!(wrong_password.details(), unknown_user.details());
    // Headers and trailers too: nothing in the response tells them apart.
    assert_eq!(metadata(&wrong_password), metadata(&unknown_user));
    Ok(())
}

/// Every header and trailer of a failed call, sorted, as text; all but
/// `date`, the clock's, which two answers a second apart differ in whoever
/// asks.
fn metadata(status: &tonic::Status) -> Vec<(String, String)> {
    use tonic::metadata::KeyAndValueRef;
    let mut all: Vec<(String, String)> = status
        .metadata()
        .iter()
        .map(|entry| match entry {
            KeyAndValueRef::Ascii(key, value) => (key.to_string(), format!("{value:?}")),
            KeyAndValueRef::Binary(key, value) => (key.to_string(), format!("{value:?}")),
        })
        .filter(|(key, _)| key != "date")
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn refresh_shows_a_role_changed_since_login() -> TestResult {
    let app = TestApp::spawn().await?;
    let user = app.create_user("carol", "carol-password", &["viewer"]).await?;
    let first = app.login("carol", "carol-password").await?;

    let admin = app.admin_token().await?;
    let change = SetUserRolesRequest {
        user: Some(UserRef { user: Some(user_ref::User::Id(user.id.clone())) }),
        roles: vec!["editor".into()],
    };
    let changed = app.admin.clone().set_user_roles(bearer(change, &admin)).await?.into_inner();
    assert_eq!(changed.user.ok_or("no user")?.roles, ["editor"]);

    let second = app.auth.clone().refresh(RefreshRequest { refresh_token: first.refresh_token.clone() }).await?;
    let second = second.into_inner();
    assert_ne!(second.refresh_token, first.refresh_token, "refresh rotates the refresh token");
    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &second.access_token)).await?;
    assert_eq!(profile.into_inner().roles, ["editor"]);
    Ok(())
}

#[tokio::test]
async fn rf_01_reusing_a_rotated_refresh_token_revokes_the_whole_family() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("dave", "dave-password", &[]).await?;
    let first = app.login("dave", "dave-password").await?;
    let mut auth = app.auth.clone();
    let second = auth.refresh(RefreshRequest { refresh_token: first.refresh_token.clone() }).await?.into_inner();

    let reuse =
        auth.refresh(RefreshRequest { refresh_token: first.refresh_token }).await.err().ok_or("reuse accepted")?;
    assert_eq!(reuse.code(), Code::Unauthenticated);
    assert_eq!(reuse.message(), "invalid refresh token");
    assert_eq!(reason(&reuse).as_deref(), Some("REFRESH_TOKEN_INVALID"));

    let successor = auth.refresh(RefreshRequest { refresh_token: second.refresh_token }).await.err();
    let successor = successor.ok_or("the successor survived reuse of its predecessor")?;
    assert_eq!(successor.code(), Code::Unauthenticated);
    assert_eq!(successor.message(), "invalid refresh token");
    Ok(())
}

#[tokio::test]
async fn rf_02_twenty_concurrent_refreshes_of_one_token_yield_exactly_one_success() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("erin", "erin-password", &[]).await?;
    let tokens = app.login("erin", "erin-password").await?;
    let calls = (0..20).map(|_| {
        let mut auth = app.auth.clone();
        let refresh_token = tokens.refresh_token.clone();
        tokio::spawn(async move { auth.refresh(RefreshRequest { refresh_token }).await })
    });
    let mut successes = 0;
    for call in calls.collect::<Vec<_>>() {
        match call.await? {
            Ok(_) => successes += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::Unauthenticated);
                assert_eq!(status.message(), "invalid refresh token");
            }
        }
    }
    assert_eq!(successes, 1);
    Ok(())
}

#[tokio::test]
async fn a_garbage_or_empty_refresh_token_is_refused_clearly() -> TestResult {
    let app = TestApp::spawn().await?;
    let mut auth = app.auth.clone();
    let garbage = auth.refresh(RefreshRequest { refresh_token: "aprt_nope".into() }).await.err().ok_or("accepted")?;
    assert_eq!((garbage.code(), garbage.message()), (Code::Unauthenticated, "invalid refresh token"));
    let empty = auth.refresh(RefreshRequest { refresh_token: String::new() }).await.err().ok_or("accepted")?;
    assert_eq!((empty.code(), empty.message()), (Code::InvalidArgument, "refresh_token is required"));
    Ok(())
}

#[tokio::test]
async fn sh_01_the_jwk_set_holds_only_public_ed25519_members() -> TestResult {
    let app = TestApp::spawn().await?;
    let jwks = app.auth.clone().get_jwks(GetJwksRequest {}).await?.into_inner();
    assert_eq!(jwks.keys.len(), 1);
    let key = &jwks.keys[0];
    assert_eq!(
        (key.kty.as_str(), key.crv.as_str(), key.alg.as_str(), key.r#use.as_str()),
        ("OKP", "Ed25519", "EdDSA", "sig")
    );
    assert_eq!(key.x.len(), 43, "32 bytes of base64url, no padding");
    assert_eq!(key.kid, app.forger().await?.kid);
    Ok(())
}
