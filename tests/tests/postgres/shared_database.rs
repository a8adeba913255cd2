//! Two auth-service instances on one PostgreSQL schema, as behind a load
//! balancer: refresh rotation, revocations and signing keys hold across
//! them. The resource service follows instance B only.

use std::time::{Duration, Instant};

use authpair_proto::{
    auth::v1::{
        GetJwksRequest, LogoutRequest, RefreshRequest, RefreshResponse, RevokeUserSessionsRequest,
        RotateSigningKeyRequest, SetUserRolesRequest, admin_service_client::AdminServiceClient,
        auth_service_client::AuthServiceClient,
    },
    resource::v1::{GetAdminDashboardRequest, GetMyProfileRequest, resource_service_client::ResourceServiceClient},
};
use authpair_tests::{
    AuthConfig, PgSchema, Server, TestApp, TestResult, assert_refresh_refused, bearer, by_name, channel, reason,
    resource_config, start_auth, start_resource,
};
use tonic::{Code, Status, transport::Channel};

/// Auth A (the app's own), auth B on the same schema, and a resource
/// service that watches B.
struct TwoInstances {
    app: TestApp,
    _auth_b: Server,
    b: AuthServiceClient<Channel>,
    admin_b: AdminServiceClient<Channel>,
    resource_b: ResourceServiceClient<Channel>,
    _resource_server_b: Server,
}

impl TwoInstances {
    async fn spawn() -> anyhow::Result<Self> {
        let app = TestApp::spawn().await?;
        let auth_b = start_auth(app.auth_config.clone()).await?;
        let resource_server_b =
            start_resource(resource_config(&auth_b, app.data_dir.path().join("resource-b"))).await?;
        let channel_b = channel(auth_b.addr)?;
        Ok(Self {
            b: AuthServiceClient::new(channel_b.clone()),
            admin_b: AdminServiceClient::new(channel_b),
            resource_b: ResourceServiceClient::new(channel(resource_server_b.addr)?),
            app,
            _auth_b: auth_b,
            _resource_server_b: resource_server_b,
        })
    }

    async fn profile_b(&self, token: &str) -> Result<String, Status> {
        Ok(self.resource_b.clone().get_my_profile(bearer(GetMyProfileRequest {}, token)).await?.into_inner().subject)
    }

    /// Calls resource B until the token is refused, for at most `limit`.
    async fn time_until_rejected_on_b(&self, token: &str, limit: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Err(status) = self.profile_b(token).await {
                assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "token revoked"));
                return Ok(start.elapsed());
            }
        }
        Err(format!("still accepted after {limit:?}"))
    }
}

async fn refresh(auth: &AuthServiceClient<Channel>, token: &str) -> Result<RefreshResponse, Status> {
    Ok(auth.clone().refresh(RefreshRequest { refresh_token: token.into() }).await?.into_inner())
}

#[tokio::test]
async fn rf_02_a_refresh_token_rotated_on_instance_a_is_reuse_on_instance_b_and_ends_the_session() -> TestResult {
    let two = TwoInstances::spawn().await?;
    two.app.create_user("ada", "ada-password", &[]).await?;
    let first = two.app.login("ada", "ada-password").await?;
    let second = refresh(&two.app.auth, &first.refresh_token).await?;
    // The rotated token presented to the other instance is reuse...
    assert_refresh_refused(refresh(&two.b, &first.refresh_token).await);
    // ...so the whole family is revoked, the live successor included, on
    // both instances.
    assert_refresh_refused(refresh(&two.app.auth, &second.refresh_token).await);
    assert_refresh_refused(refresh(&two.b, &second.refresh_token).await);
    Ok(())
}

#[tokio::test]
async fn rf_02_reuse_on_instance_b_revokes_the_access_tokens_the_family_got_on_instance_a_everywhere_within_a_second()
-> TestResult {
    let two = TwoInstances::spawn().await?;
    two.app.create_user("abi", "abi-password", &[]).await?;
    let login = two.app.login("abi", "abi-password").await?;
    let first = refresh(&two.app.auth, &login.refresh_token).await?;
    assert_refresh_refused(refresh(&two.b, &login.refresh_token).await);
    for token in [&login.access_token, &first.access_token] {
        // The resource watching A hears B's entries through A's listener.
        two.app.time_until_revoked(token, Duration::from_secs(1)).await?;
        two.time_until_rejected_on_b(token, Duration::from_secs(1)).await?;
    }
    Ok(())
}

/// The legitimate holder refreshes on A while the thief reuses an older
/// token on B, many times: whichever wins, no access token of the family
/// outlives the reuse.
#[tokio::test]
async fn a_refresh_on_instance_a_racing_reuse_on_instance_b_never_yields_an_access_token_that_survives() -> TestResult {
    let two = TwoInstances::spawn().await?;
    two.app.create_user("rex", "rex-password", &[]).await?;
    for round in 0..10 {
        let login = two.app.login("rex", "rex-password").await?;
        let first = refresh(&two.app.auth, &login.refresh_token).await?;
        let (legit, reuse) =
            tokio::join!(refresh(&two.app.auth, &first.refresh_token), refresh(&two.b, &login.refresh_token));
        assert_refresh_refused(reuse);
        let mut tokens = vec![login.access_token, first.access_token];
        tokens.extend(legit.ok().map(|t| t.access_token));
        for token in &tokens {
            let revoked = two.time_until_rejected_on_b(token, Duration::from_secs(1)).await;
            assert!(revoked.is_ok(), "round {round}: {revoked:?}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn rf_03_concurrent_refreshes_of_one_token_on_two_instances_have_exactly_one_winner() -> TestResult {
    let two = TwoInstances::spawn().await?;
    two.app.create_user("bo", "bo-password", &[]).await?;
    for _ in 0..10 {
        let session = two.app.login("bo", "bo-password").await?;
        let (a, b) =
            tokio::join!(refresh(&two.app.auth, &session.refresh_token), refresh(&two.b, &session.refresh_token));
        let winners = [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count();
        assert_eq!(winners, 1, "a: {a:?}\nb: {b:?}");
        let loser = a.err().or(b.err()).ok_or("no loser")?;
        assert_eq!((loser.code(), loser.message()), (Code::Unauthenticated, "invalid refresh token"));
    }
    Ok(())
}

#[tokio::test]
async fn rv_02_a_revocation_through_instance_a_reaches_a_resource_watching_instance_b_within_one_second() -> TestResult
{
    let two = TwoInstances::spawn().await?;
    two.app.create_user("cy", "cy-password", &[]).await?;
    let mut delays = Vec::new();
    for _ in 0..20 {
        let session = two.app.login("cy", "cy-password").await?;
        assert_eq!(two.profile_b(&session.access_token).await?.len(), 36);
        let request = bearer(LogoutRequest { refresh_token: session.refresh_token }, &session.access_token);
        two.app.auth.clone().logout(request).await?;
        delays.push(two.time_until_rejected_on_b(&session.access_token, Duration::from_secs(1)).await?);
    }
    delays.sort();
    eprintln!("cross-instance revocation over 20 trials: p50 {:?}, max {:?}", delays[10], delays[19]);
    Ok(())
}

#[tokio::test]
async fn instance_b_enforces_a_demotion_made_on_instance_a_on_its_own_admin_api() -> TestResult {
    let two = TwoInstances::spawn().await?;
    two.app.create_user("deputy", "deputy-password", &["admin"]).await?;
    let admin_token =
        two.app.login_for("deputy", "deputy-password", authpair_tests::ADMIN_AUDIENCE).await?.access_token;
    let root = two.app.admin_token().await?;
    let demote = SetUserRolesRequest { user: by_name("deputy"), roles: vec!["viewer".into()] };
    two.app.admin.clone().set_user_roles(bearer(demote, &root)).await?;
    // B learns of the subject revocation through LISTEN/NOTIFY, not a poll.
    let start = Instant::now();
    loop {
        let request = bearer(RevokeUserSessionsRequest { user: by_name("root") }, &admin_token);
        match two.admin_b.clone().revoke_user_sessions(request).await {
            Err(status) if status.code() == Code::Unauthenticated => {
                assert_eq!(reason(&status).as_deref(), Some("TOKEN_REVOKED"));
                break;
            }
            other => assert!(start.elapsed() < Duration::from_secs(1), "B still honours the old token: {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_login_on_instance_b_right_after_a_role_change_on_instance_a_is_not_caught_by_it() -> TestResult {
    // The token's generation is the log head in the database, not B's view
    // of it: a token issued after the revocation committed must not look
    // older than it, however late B hears of it.
    let two = TwoInstances::spawn().await?;
    two.app.create_user("eve", "eve-password", &[]).await?;
    let root = two.app.admin_token().await?;
    for round in 0..10 {
        let roles = if round % 2 == 0 { vec!["editor".into()] } else { vec!["viewer".into()] };
        let request = SetUserRolesRequest { user: by_name("eve"), roles };
        two.app.admin.clone().set_user_roles(bearer(request, &root)).await?;
        let request = authpair_proto::auth::v1::LoginRequest {
            username: "eve".into(),
            password: "eve-password".into(),
            ..Default::default()
        };
        let fresh = two.b.clone().login(request).await?.into_inner();
        assert_eq!(two.profile_b(&fresh.access_token).await?.len(), 36, "round {round}");
        assert_eq!(
            two.app
                .resource
                .clone()
                .get_my_profile(bearer(GetMyProfileRequest {}, &fresh.access_token))
                .await?
                .into_inner()
                .subject
                .len(),
            36
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_key_rotated_on_instance_a_is_published_by_instance_b_and_verifies_everywhere() -> TestResult {
    let two = TwoInstances::spawn().await?;
    let root = two.app.admin_token().await?;
    let rotated = two.app.admin.clone().rotate_signing_key(bearer(RotateSigningKeyRequest {}, &root)).await?;
    let kid = rotated.into_inner().kid;
    let start = Instant::now();
    loop {
        let keys = two.b.clone().get_jwks(GetJwksRequest {}).await?.into_inner().keys;
        if keys.iter().any(|k| k.kid == kid) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(3), "B never published {kid}");
    }
    // The dashboard needs admin: a token from B (signed with whichever key
    // signs now) is accepted by the resource watching A.
    let request = authpair_proto::auth::v1::LoginRequest {
        username: authpair_tests::ADMIN_USERNAME.into(),
        password: authpair_tests::ADMIN_PASSWORD.into(),
        ..Default::default()
    };
    let token = two.b.clone().login(request).await?.into_inner().access_token;
    two.app.resource.clone().get_admin_dashboard(bearer(GetAdminDashboardRequest {}, &token)).await?;
    Ok(())
}

#[tokio::test]
async fn instances_starting_together_on_a_new_database_agree_on_one_first_key() -> TestResult {
    let schema = PgSchema::create("race").await?;
    let data = tempfile::tempdir()?;
    let config = |n: &str| {
        let mut config = AuthConfig::new(data.path().join(n));
        config.shared.database_url = Some(schema.url());
        config.issuer = Some(authpair_tests::ISSUER.into());
        // One master key for every instance on the database, created by
        // whichever starts first.
        config.master_key_file = Some(data.path().join("master.key"));
        config
    };
    let (a, b, c) = tokio::join!(start_auth(config("a")), start_auth(config("b")), start_auth(config("c")));
    let mut kids = Vec::new();
    for server in [a?, b?, c?] {
        let keys = AuthServiceClient::new(channel(server.addr)?).get_jwks(GetJwksRequest {}).await?.into_inner().keys;
        kids.push(keys.into_iter().map(|k| k.kid).collect::<Vec<_>>());
    }
    assert_eq!(kids[0].len(), 1, "{kids:?}");
    assert!(kids.iter().all(|k| *k == kids[0]), "{kids:?}");
    Ok(())
}

#[tokio::test]
async fn instances_starting_together_with_a_master_key_seal_a_plaintext_database_once_and_keep_its_key() -> TestResult {
    let schema = PgSchema::create("seal_race").await?;
    let data = tempfile::tempdir()?;
    let config = |n: &str| {
        let mut config = AuthConfig::new(data.path().join(n));
        config.shared.database_url = Some(schema.url());
        config.issuer = Some(authpair_tests::ISSUER.into());
        config.master_key_file = Some(data.path().join("master.key"));
        config
    };
    let plaintext = AuthConfig { master_key_file: None, allow_plaintext_keys: true, ..config("plaintext") };
    start_auth(plaintext.clone()).await?.stop().await?;
    let before = authpair_tests::stored_signing_keys(&plaintext).await?;
    assert!(before.len() == 1 && before[0].1.starts_with("-----BEGIN"), "{before:?}");

    let (a, b, c) = tokio::join!(start_auth(config("a")), start_auth(config("b")), start_auth(config("c")));
    let _servers = [a?, b?, c?];
    let after = authpair_tests::stored_signing_keys(&config("a")).await?;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].0, before[0].0, "the same key, sealed, not a new one");
    assert!(after[0].1.starts_with("sealed:v1:"), "{after:?}");
    let opened = authpair_tests::open_signing_key(&config("a"), &after[0].0, &after[0].1)?;
    assert_eq!(secrecy::ExposeSecret::expose_secret(&opened), before[0].1);
    Ok(())
}
