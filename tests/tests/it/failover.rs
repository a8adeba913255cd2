//! Several auth-service instances over one database: the resource service
//! takes a list of them and keeps its keys and revocation feed when one
//! stops. (Here the shared database is one SQLite file; the PostgreSQL
//! backend is the production form.)

use std::time::{Duration, Instant};

use authpair_proto::{
    auth::v1::{
        LoginRequest, RevokeUserSessionsRequest, UserRef, admin_service_client::AdminServiceClient,
        auth_service_client::AuthServiceClient, user_ref,
    },
    resource::v1::{GetMyProfileRequest, resource_service_client::ResourceServiceClient},
};
use authpair_tests::{
    ADMIN_PASSWORD, ADMIN_USERNAME, TestApp, TestResult, bearer, channel, resource_config, start_auth_at,
    start_resource,
};

#[tokio::test]
async fn when_one_auth_instance_stops_the_resource_service_follows_the_other() -> TestResult {
    let mut app = TestApp::spawn().await?;
    // The second instance's address, reserved now and served later, so the
    // resource service's feed necessarily starts on the first instance.
    let second_addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut config = resource_config(&app.auth_server, app.data_dir.path().join("resource-ab"));
    config.follow.auth_urls = vec![app.auth_server.url(), format!("http://{second_addr}")];
    let resource_server = start_resource(config).await?;
    // Two instances on one database. On SQLite its URL is named explicitly:
    // a data dir alone is one instance's (a second is refused).
    let mut shared = app.auth_config.clone();
    if shared.shared.database_url.is_none() {
        let file = shared.shared.data_dir.join("auth.db");
        shared.shared.database_url = Some(format!("sqlite://{}?mode=rwc", file.display()).into());
    }
    let second = start_auth_at(second_addr, shared).await?;
    let mut resource = ResourceServiceClient::new(channel(resource_server.addr)?);

    let (user, token) = app.user_with_token("fay", &["viewer"]).await?;
    assert!(resource.get_my_profile(bearer(GetMyProfileRequest {}, &token)).await.is_ok());

    app.auth_server.stop().await?;

    // Revoke through the instance still running.
    let login = LoginRequest {
        username: ADMIN_USERNAME.into(),
        password: ADMIN_PASSWORD.into(),
        audience: authpair_tests::ADMIN_AUDIENCE.into(),
    };
    let admin = AuthServiceClient::new(channel(second.addr)?).login(login).await?.into_inner().access_token;
    let revoke = RevokeUserSessionsRequest { user: Some(UserRef { user: Some(user_ref::User::Id(user.id.clone())) }) };
    AdminServiceClient::new(channel(second.addr)?).revoke_user_sessions(bearer(revoke, &admin)).await?;

    // The feed moves to the running instance (a reconnect with backoff) and
    // delivers the revocation; calls keep being served meanwhile.
    let started = Instant::now();
    loop {
        match resource.get_my_profile(bearer(GetMyProfileRequest {}, &token)).await {
            Err(status) if status.message() == "token revoked" => break,
            Err(status) => return Err(format!("unexpected refusal during failover: {status:?}").into()),
            Ok(_) if started.elapsed() < Duration::from_secs(5) => {}
            Ok(_) => return Err("the revocation did not arrive through the other auth instance".into()),
        }
    }
    eprintln!("revocation arrived through the second auth instance after {:?}", started.elapsed());
    Ok(())
}
