//! PostgreSQL unreachable. A service reaches PostgreSQL through the
//! harness's TCP proxy, which cuts and restores the link; the machine's
//! PostgreSQL itself is never stopped.

use authpair_proto::{
    auth::v1::{LoginRequest, RefreshRequest},
    resource::v1::{CreateDocumentRequest, GetDocumentRequest, GetMyProfileRequest},
};
use authpair_tests::{POSTGRES_ADDR, Proxy, TestApp, TestResult, bearer, reason, through_proxy};
use tonic::{Code, Status};

#[track_caller]
fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, Status>) {
    match result {
        Ok(v) => panic!("expected UNAVAILABLE, got OK {v:?}"),
        Err(status) => {
            assert_eq!((status.code(), status.message()), (Code::Unavailable, "service temporarily unavailable"));
            assert_eq!(reason(&status), None, "an outage carries no auth reason: {status:?}");
        }
    }
}

#[tokio::test]
async fn r_02_login_and_refresh_are_unavailable_while_postgres_is_cut_never_count_as_failures_and_recover() -> TestResult
{
    let proxy = Proxy::start(POSTGRES_ADDR.parse()?).await?;
    let app = TestApp::spawn_with(
        |auth| {
            // Through the proxy. Two counted failures would delay the
            // account, so failures counted during the outage would show.
            auth.shared.database_url = auth.shared.database_url.as_ref().map(|url| through_proxy(url, &proxy));
            auth.throttle.free_failures = 2;
        },
        |_| {},
    )
    .await?;
    app.create_user("oli", "oli-password", &[]).await?;
    let session = app.login("oli", "oli-password").await?;

    proxy.cut();
    for password in ["oli-password", "wrong-password", "oli-password", "wrong-password"] {
        assert_unavailable(app.login("oli", password).await);
    }
    assert_unavailable(app.login("nobody", "nobody-password").await);
    let refresh = RefreshRequest { refresh_token: session.refresh_token.clone() };
    assert_unavailable(app.auth.clone().refresh(refresh.clone()).await);
    // Token checks on the resource service go on from memory.
    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &session.access_token)).await?;
    assert_eq!(profile.into_inner().username, "oli");

    proxy.restore();
    // Back without a restart. None of the failed logins counted: a wrong
    // password is an ordinary first failure, not a delay.
    let wrong = app.login("oli", "wrong-password").await.err().ok_or("wrong password accepted")?;
    assert_eq!((wrong.code(), wrong.message()), (Code::Unauthenticated, "invalid credentials"));
    assert_eq!(reason(&wrong).as_deref(), Some("INVALID_CREDENTIALS"));
    let request = LoginRequest { username: "oli".into(), password: "oli-password".into(), ..Default::default() };
    assert!(!app.auth.clone().login(request).await?.into_inner().access_token.is_empty());
    // The refresh token the failed call presented was never consumed.
    let refreshed = app.auth.clone().refresh(refresh).await?.into_inner();
    assert!(!refreshed.access_token.is_empty());
    Ok(())
}

#[tokio::test]
async fn r_02_with_its_database_cut_the_resource_service_still_checks_tokens_and_documents_recover() -> TestResult {
    let proxy = Proxy::start(POSTGRES_ADDR.parse()?).await?;
    let app = TestApp::spawn_with(
        |_| {},
        |resource| {
            resource.shared.database_url = resource.shared.database_url.as_ref().map(|url| through_proxy(url, &proxy));
        },
    )
    .await?;
    let (_, token) = app.user_with_token("rae", &["editor"]).await?;
    let create = || bearer(CreateDocumentRequest { title: "notes".into(), body: "kept".into() }, &token);
    let created = app.resource.clone().create_document(create()).await?.into_inner();
    let created = created.document.ok_or("no document")?;

    proxy.cut();
    assert_unavailable(app.resource.clone().create_document(create()).await);
    let get = || bearer(GetDocumentRequest { id: created.id.clone() }, &token);
    assert_unavailable(app.resource.clone().get_document(get()).await);
    // Authentication and authorization need no database: a missing token is
    // still UNAUTHENTICATED, and a valid one still reaches handlers that
    // need none.
    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?;
    assert_eq!(profile.into_inner().username, "rae");
    let anonymous = app.resource.clone().get_document(GetDocumentRequest { id: created.id.clone() }).await;
    assert_eq!(anonymous.err().map(|s| s.code()), Some(Code::Unauthenticated));

    proxy.restore();
    let document = app.resource.clone().get_document(get()).await?.into_inner().document.ok_or("no document")?;
    assert_eq!(document.body, "kept");
    app.resource.clone().create_document(create()).await?;
    Ok(())
}

#[tokio::test]
async fn the_auth_service_reports_not_serving_while_its_database_is_cut_and_serving_once_it_is_back() -> TestResult {
    use authpair_tests::{ServingStatus, wait_for_health};
    let proxy = Proxy::start(POSTGRES_ADDR.parse()?).await?;
    let app = TestApp::spawn_with(
        |auth| auth.shared.database_url = auth.shared.database_url.as_ref().map(|url| through_proxy(url, &proxy)),
        |_| {},
    )
    .await?;
    let auth = app.auth_server.addr;
    wait_for_health(auth, ServingStatus::Serving).await?;
    proxy.cut();
    wait_for_health(auth, ServingStatus::NotServing).await?;
    // Calls are still answered, as UNAVAILABLE: health is what steers a
    // load balancer away.
    assert_unavailable(app.login("nobody", "nobody-password").await);
    proxy.restore();
    wait_for_health(auth, ServingStatus::Serving).await?;
    app.admin_token().await?;
    Ok(())
}
