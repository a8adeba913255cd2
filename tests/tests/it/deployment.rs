//! What a deployment's tokens mean is defined once, at the auth service, and
//! announced on the revocation feed: the resource service configures no
//! role and no issuer, yet honours a new role, refuses a role that is not
//! defined as such (not as a malformed token), learns the issuer (the public
//! URL by default) and keeps an earlier issuer's tokens valid, and
//! revocable, while the auth service lists it.

use std::time::{Duration, Instant};

use authpair_claims::{RoleScopes, token::roles::DEFAULT_ROLE_SCOPES};
use authpair_proto::{
    auth::v1::RevokeUserSessionsRequest,
    resource::v1::{GetMyProfileRequest, GetMyProfileResponse},
};
use authpair_tests::{
    AuthConfig, ISSUER, TestApp, TestResult, bearer, by_name, reason, resource_config, start_auth, start_auth_at,
    start_resource,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

/// The default table with a `support` role granting a scope of its own.
fn with_support() -> RoleScopes {
    match RoleScopes::parse(&format!("{DEFAULT_ROLE_SCOPES};support=profile,orders:refund")) {
        Ok(table) => table,
        Err(e) => panic!("role table: {e}"),
    }
}

async fn profile(app: &TestApp, token: &str) -> Result<GetMyProfileResponse, Status> {
    Ok(app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, token)).await?.into_inner())
}

/// The `iss` of a token, read without verifying it.
fn issuer_of(token: &str) -> anyhow::Result<String> {
    let payload = token.split('.').nth(1).ok_or_else(|| anyhow::anyhow!("not a JWS"))?;
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?;
    Ok(claims["iss"].as_str().unwrap_or_default().to_owned())
}

/// Calls GetMyProfile until `done` says the answer is the awaited one, for
/// at most thirty seconds, and returns the last answer. The resource service
/// learns an auth service's new announcement when its feed reconnects,
/// which after a restart can take up to the feed's longest backoff (10 s).
async fn until(
    app: &TestApp,
    token: &str,
    done: impl Fn(&Result<GetMyProfileResponse, Status>) -> bool,
) -> Result<GetMyProfileResponse, Status> {
    let start = Instant::now();
    loop {
        let answer = profile(app, token).await;
        if done(&answer) || start.elapsed() > Duration::from_secs(30) {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_role_defined_only_at_the_auth_service_is_honoured_by_a_resource_service_that_configures_no_roles()
-> TestResult {
    let app = TestApp::spawn_with(|a| a.role_scopes = with_support(), |_| {}).await?;
    let (_, token) = app.user_with_token("sam", &["support"]).await?;
    let answer = profile(&app, &token).await?;
    assert_eq!(
        (answer.roles, answer.scopes),
        (vec!["support".to_owned()], vec!["orders:refund".into(), "profile".into()])
    );
    Ok(())
}

#[tokio::test]
async fn a_token_naming_a_role_the_deployment_does_not_define_is_refused_as_unknown_role_naming_it() -> TestResult {
    let app = TestApp::spawn().await?;
    let (user, _) = app.user_with_token("gus", &["viewer"]).await?;
    let forger = app.forger().await?;
    // Signed with the real key, as a token issued before the role was
    // removed from the table would be.
    let token = forger.sign(&forger.header(), &forger.claims(&user.id, &["viewer", "ghost"]));
    let refused = profile(&app, &token).await.err().ok_or("a role nobody defines was accepted")?;
    assert_eq!((refused.code(), reason(&refused).as_deref()), (Code::Unauthenticated, Some("UNKNOWN_ROLE")));
    assert_eq!(refused.message(), "token names a role this deployment does not define");
    let named = refused.get_details_error_info().and_then(|info| info.metadata.get("role").cloned());
    assert_eq!(named.as_deref(), Some("ghost"));
    // The same user's token with roles that exist is served.
    let good = forger.sign(&forger.header(), &forger.claims(&user.id, &["viewer"]));
    assert_eq!(profile(&app, &good).await?.roles, ["viewer"]);
    Ok(())
}

#[tokio::test]
async fn the_issuer_is_the_public_url_by_default_published_in_discovery_and_learned_by_the_resource_service()
-> TestResult {
    let data = tempfile::tempdir()?;
    let mut config = AuthConfig::new(data.path().join("auth"));
    config.bootstrap_admin =
        Some(auth_service::BootstrapAdmin::new(authpair_tests::ADMIN_USERNAME, authpair_tests::ADMIN_PASSWORD));
    config.bootstrap_service_account = Some(auth_service::BootstrapServiceAccount::new(
        authpair_tests::RESOURCE_CLIENT_ID,
        authpair_tests::RESOURCE_CLIENT_SECRET,
    ));
    let auth = start_auth(config).await?;
    let resource = start_resource(resource_config(&auth, data.path().join("resource"))).await?;
    let http = auth.http_addr.ok_or("no HTTP listener")?;
    let public_url = auth.http_url();

    let mut client =
        authpair_proto::auth::v1::auth_service_client::AuthServiceClient::new(authpair_tests::channel(auth.addr)?);
    let login = authpair_proto::auth::v1::LoginRequest {
        username: authpair_tests::ADMIN_USERNAME.into(),
        password: authpair_tests::ADMIN_PASSWORD.into(),
        audience: String::new(),
    };
    let token = client.login(login).await?.into_inner().access_token;
    assert_eq!(issuer_of(&token)?, public_url);
    let discovery = authpair_tests::http1::get(http, "/.well-known/openid-configuration").await?.json()?;
    assert_eq!(discovery["issuer"], public_url.as_str());
    let mut resource_client = authpair_proto::resource::v1::resource_service_client::ResourceServiceClient::new(
        authpair_tests::channel(resource.addr)?,
    );
    let answer = resource_client.get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?.into_inner();
    assert_eq!(answer.username, authpair_tests::ADMIN_USERNAME);
    Ok(())
}

#[tokio::test]
async fn after_an_issuer_change_the_previous_issuers_tokens_stay_valid_and_revocable_while_it_is_listed_then_not()
-> TestResult {
    let mut app = TestApp::spawn_with(|a| a.issuer = Some("authpair".into()), |_| {}).await?;
    let (olga, olga_old) = app.user_with_token("olga", &["viewer"]).await?;
    let (_, oscar_old) = app.user_with_token("oscar", &["viewer"]).await?;
    assert_eq!(issuer_of(&olga_old)?, "authpair");
    assert_eq!(profile(&app, &olga_old).await?.subject, olga.id);

    // The upgrade: a URL issuer, the old one listed as previous, at the
    // address the resource service follows.
    let addr = app.auth_server.addr;
    app.auth_server.stop().await?;
    app.auth_config.issuer = Some(ISSUER.into());
    app.auth_config.previous_issuers = vec!["authpair".into()];
    app.auth_server = start_auth_at(addr, app.auth_config.clone()).await?;
    let (_, nina_new) = app.user_with_token("nina", &["viewer"]).await?;
    assert_eq!(issuer_of(&nina_new)?, ISSUER);
    until(&app, &nina_new, Result::is_ok).await?;
    assert_eq!(profile(&app, &olga_old).await?.subject, olga.id, "the earlier issuer's token stays valid");

    // Revoked under the new issuer's name, the old token is refused too.
    let admin = app.admin_token().await?;
    app.admin.clone().revoke_user_sessions(bearer(RevokeUserSessionsRequest { user: by_name("olga") }, &admin)).await?;
    app.time_until_revoked(&olga_old, Duration::from_secs(10)).await?;

    // Once the earlier issuer is no longer listed, its tokens are refused.
    app.auth_server.stop().await?;
    app.auth_config.previous_issuers = Vec::new();
    app.auth_server = start_auth_at(addr, app.auth_config.clone()).await?;
    let refused = until(&app, &oscar_old, Result::is_err).await.err().ok_or("the earlier issuer is still accepted")?;
    assert_eq!((refused.code(), reason(&refused).as_deref()), (Code::Unauthenticated, Some("TOKEN_INVALID")));
    assert_eq!(refused.message(), "wrong token issuer");
    assert!(profile(&app, &nina_new).await.is_ok(), "the current issuer's tokens are unaffected");
    Ok(())
}
