//! Token introspection (RFC 7662): `AuthService/Introspect` over gRPC and
//! `POST /oauth2/introspect` over HTTP. A token the deployment would refuse,
//! whatever the reason, is inactive and nothing else is told; revocations
//! apply in the auth service's own denylist at once, so no test waits.

use authpair_proto::auth::v1::{
    DisableUserRequest, IntrospectRequest, IntrospectResponse, RevokeUserSessionsRequest, SetUserRolesRequest,
};
use authpair_tests::{
    ADMIN_AUDIENCE, TestApp, TestResult, assert_invalid_argument, assert_status, bearer, by_name,
    http1::{self, Ask},
    now,
};
use serde_json::json;
use tonic::{Code, Status};

/// A service token allowed to introspect: scope tokens:introspect, for the
/// auth service's own audience.
async fn introspector(app: &TestApp) -> Result<String, Status> {
    app.service_token_for("introspector", &["tokens:introspect"], "", ADMIN_AUDIENCE).await
}

async fn introspect(app: &TestApp, caller: &str, token: &str) -> Result<IntrospectResponse, Status> {
    let request = bearer(IntrospectRequest { token: token.into() }, caller);
    Ok(app.auth.clone().introspect(request).await?.into_inner())
}

/// The only answer an inactive token gets: `active` false, nothing else.
#[track_caller]
fn assert_inactive(answer: IntrospectResponse) {
    assert_eq!(answer, IntrospectResponse::default());
}

#[tokio::test]
async fn an_active_user_token_is_described_by_its_subject_audience_scope_roles_plan_and_times() -> TestResult {
    let app = TestApp::spawn().await?;
    let caller = introspector(&app).await?;
    let user = app.create_user("ivy", "ivy-password", &["editor"]).await?;
    let issued = app.login("ivy", "ivy-password").await?;
    let answer = introspect(&app, &caller, &issued.access_token).await?;
    assert!(answer.active);
    assert_eq!((answer.sub.as_str(), answer.username.as_str()), (user.id.as_str(), "ivy"));
    assert_eq!(answer.aud, ["authpair"]);
    assert_eq!(answer.scope, issued.scope);
    assert_eq!(answer.roles, ["editor"]);
    assert_eq!((answer.plan.as_str(), answer.client_id.as_str()), ("free", "login"));
    assert_eq!((answer.token_type.as_str(), answer.iss.as_str()), ("Bearer", authpair_tests::ISSUER));
    assert_eq!(answer.exp - answer.iat, issued.expires_in);
    assert!((answer.iat - now()).abs() <= 5, "iat {} is not now", answer.iat);
    Ok(())
}

#[tokio::test]
async fn a_token_for_any_audience_the_deployment_issues_is_judged_including_service_tokens() -> TestResult {
    let app = TestApp::spawn_with(|a| a.audiences = vec!["orders".into()], |_| {}).await?;
    let caller = introspector(&app).await?;
    let orders = app.service_token_for("orders-client", &["documents:read"], "", "orders").await?;
    let answer = introspect(&app, &caller, &orders).await?;
    assert!(answer.active);
    assert_eq!((answer.sub.as_str(), answer.client_id.as_str()), ("svc:orders-client", "orders-client"));
    assert_eq!((answer.aud, answer.scope.as_str()), (vec!["orders".to_owned()], "documents:read"));
    // The auth service's own audience too: the introspector's token itself.
    let own = introspect(&app, &caller, &caller).await?;
    assert_eq!((own.active, own.aud), (true, vec![ADMIN_AUDIENCE.to_owned()]));
    Ok(())
}

#[tokio::test]
async fn an_expired_token_is_inactive() -> TestResult {
    let app = TestApp::spawn().await?;
    let caller = introspector(&app).await?;
    let forger = app.forger().await?;
    let mut claims = forger.claims("ghost", &["viewer"]);
    let past = now() - 3600;
    claims["iat"] = json!(past - 900);
    claims["nbf"] = json!(past - 900);
    claims["exp"] = json!(past);
    assert_inactive(introspect(&app, &caller, &forger.sign(&forger.header(), &claims)).await?);
    // The same token, but live, is active: only `exp` made the difference.
    let live = forger.sign(&forger.header(), &forger.claims("ghost", &["viewer"]));
    assert!(introspect(&app, &caller, &live).await?.active);
    Ok(())
}

#[tokio::test]
async fn a_logged_out_token_is_inactive_at_once() -> TestResult {
    let app = TestApp::spawn().await?;
    let caller = introspector(&app).await?;
    app.create_user("lou", "lou-password", &[]).await?;
    let tokens = app.logged_out("lou", "lou-password").await?;
    assert_inactive(introspect(&app, &caller, &tokens.access_token).await?);
    Ok(())
}

#[tokio::test]
async fn a_disabled_users_token_is_inactive_at_once() -> TestResult {
    let app = TestApp::spawn().await?;
    let caller = introspector(&app).await?;
    let (_, token) = app.user_with_token("dee", &[]).await?;
    assert!(introspect(&app, &caller, &token).await?.active);
    let admin = app.admin_token().await?;
    app.admin.clone().disable_user(bearer(DisableUserRequest { user: by_name("dee") }, &admin)).await?;
    assert_inactive(introspect(&app, &caller, &token).await?);
    Ok(())
}

#[tokio::test]
async fn a_token_older_than_revoke_user_sessions_is_inactive_at_once() -> TestResult {
    let app = TestApp::spawn().await?;
    let caller = introspector(&app).await?;
    let (_, token) = app.user_with_token("rex", &[]).await?;
    let admin = app.admin_token().await?;
    app.admin.clone().revoke_user_sessions(bearer(RevokeUserSessionsRequest { user: by_name("rex") }, &admin)).await?;
    assert_inactive(introspect(&app, &caller, &token).await?);
    Ok(())
}

#[tokio::test]
async fn a_token_carrying_roles_the_user_no_longer_has_is_inactive_at_once() -> TestResult {
    let app = TestApp::spawn().await?;
    let caller = introspector(&app).await?;
    let (_, token) = app.user_with_token("rue", &["editor"]).await?;
    let admin = app.admin_token().await?;
    let demote = SetUserRolesRequest { user: by_name("rue"), roles: vec!["viewer".into()] };
    app.admin.clone().set_user_roles(bearer(demote, &admin)).await?;
    assert_inactive(introspect(&app, &caller, &token).await?);
    Ok(())
}

#[tokio::test]
async fn a_token_with_a_tampered_signature_or_payload_is_inactive() -> TestResult {
    let app = TestApp::spawn().await?;
    let caller = introspector(&app).await?;
    let (_, token) = app.user_with_token("tam", &[]).await?;
    let (signed, signature) = token.rsplit_once('.').ok_or("not a JWS")?;
    // Another valid base64url signature of the same length.
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let resigned = format!("{signed}.{flipped}{}", &signature[1..]);
    assert_inactive(introspect(&app, &caller, &resigned).await?);
    // A payload claiming the admin role, under the original signature.
    let forger = app.forger().await?;
    let claims = forger.claims("tam", &["admin"]);
    let header = token.split('.').next().ok_or("no header")?;
    let payload = base64_url(&claims.to_string());
    assert_inactive(introspect(&app, &caller, &format!("{header}.{payload}.{signature}")).await?);
    Ok(())
}

#[tokio::test]
async fn a_token_signed_by_a_key_the_deployment_never_published_is_inactive() -> TestResult {
    let app = TestApp::spawn().await?;
    let caller = introspector(&app).await?;
    let forger = app.forger().await?;
    let mut header = forger.header();
    header["kid"] = json!("no-such-key");
    let token = forger.sign(&header, &forger.claims("kay", &["viewer"]));
    assert_inactive(introspect(&app, &caller, &token).await?);
    Ok(())
}

#[tokio::test]
async fn garbage_is_inactive_and_an_empty_token_is_an_invalid_argument() -> TestResult {
    let app = TestApp::spawn().await?;
    let caller = introspector(&app).await?;
    for garbage in ["not a token", "a.b.c", "....", &"x".repeat(9000), "eyJhbGciOiJub25lIn0.e30."] {
        assert_inactive(introspect(&app, &caller, garbage).await?);
    }
    assert_invalid_argument(introspect(&app, &caller, "").await, "token is required");
    Ok(())
}

#[tokio::test]
async fn introspection_needs_a_service_token_with_the_introspect_scope_for_the_auth_service() -> TestResult {
    let app = TestApp::spawn().await?;
    let (_, user) = app.user_with_token("uma", &[]).await?;
    let watcher = app.watcher_token("watcher").await?;
    assert_status(
        introspect(&app, &watcher, &user).await,
        Code::PermissionDenied,
        "requires scope tokens:introspect",
        "SCOPE_REQUIRED",
    );
    let admin = app.admin_token().await?;
    assert_status(
        introspect(&app, &admin, &user).await,
        Code::PermissionDenied,
        "requires a service token",
        "SERVICE_TOKEN_REQUIRED",
    );
    // The scope, but for a resource service: not a credential here.
    let elsewhere = app.service_token("elsewhere", &["tokens:introspect"], "").await?;
    assert_status(
        introspect(&app, &elsewhere, &user).await,
        Code::Unauthenticated,
        "wrong token audience",
        "TOKEN_INVALID",
    );
    Ok(())
}

#[tokio::test]
async fn inactive_introspections_do_not_count_against_logins() -> TestResult {
    let app = TestApp::spawn_with(
        |a| {
            a.throttle.free_failures = 1;
            a.throttle.lock_after = 2;
        },
        |_| {},
    )
    .await?;
    let caller = introspector(&app).await?;
    app.create_user("tia", "tia-password", &[]).await?;
    for _ in 0..5 {
        assert_inactive(introspect(&app, &caller, "not a token").await?);
    }
    assert!(!app.login("tia", "tia-password").await?.access_token.is_empty());
    Ok(())
}

/// `POST /oauth2/introspect` with `caller` (if any) and form `body`.
async fn introspect_http(app: &TestApp, caller: Option<&str>, body: &str) -> anyhow::Result<http1::Answer> {
    let http = app.auth_server.http_addr.ok_or_else(|| anyhow::anyhow!("no HTTP listener"))?;
    let mut ask = Ask::method("POST", "/oauth2/introspect")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.as_bytes().to_vec());
    if let Some(caller) = caller {
        ask = ask.header("authorization", format!("Bearer {caller}"));
    }
    http1::send(http, ask).await
}

#[tokio::test]
async fn the_http_endpoint_answers_as_rfc_7662_and_only_to_a_caller_that_may_introspect() -> TestResult {
    let app = TestApp::spawn().await?;
    let caller = introspector(&app).await?;
    let (user, token) = app.user_with_token("hal", &[]).await?;
    let answer = introspect_http(&app, Some(&caller), &format!("token={token}")).await?;
    assert_eq!(answer.status, 200);
    assert_eq!((answer.header("content-type"), answer.header("cache-control")), ("application/json", "no-store"));
    let body = answer.json()?;
    assert_eq!((&body["active"], &body["sub"], &body["aud"]), (&json!(true), &json!(user.id), &json!(["authpair"])));
    assert_eq!((&body["token_type"], &body["client_id"]), (&json!("Bearer"), &json!("login")));

    app.admin
        .clone()
        .disable_user(bearer(DisableUserRequest { user: by_name("hal") }, &app.admin_token().await?))
        .await?;
    let answer = introspect_http(&app, Some(&caller), &format!("token={token}")).await?;
    assert_eq!((answer.status.as_u16(), answer.json()?), (200, json!({ "active": false })));

    let anonymous = introspect_http(&app, None, &format!("token={token}")).await?;
    assert_eq!((anonymous.status.as_u16(), anonymous.header("www-authenticate")), (401, "Bearer"));
    let user_caller = app.admin_token().await?;
    let forbidden = introspect_http(&app, Some(&user_caller), &format!("token={token}")).await?;
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.json()?, json!({ "error": "insufficient_scope" }));
    let missing = introspect_http(&app, Some(&caller), "other=1").await?;
    assert_eq!((missing.status.as_u16(), missing.json()?), (400, json!({ "error": "invalid_request" })));
    let too_large = introspect_http(&app, Some(&caller), &format!("token={}", "a".repeat(20_000))).await?;
    assert_eq!(too_large.status, 413);
    Ok(())
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}
