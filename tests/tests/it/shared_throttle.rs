//! Throttling shared by several auth-service instances through Redis:
//! login failures counted on one instance throttle the account on the
//! other, and a source blocked for failed refreshes on one is refused by
//! the other at once. Skipped, saying so, where no Redis runs, except in CI.
//! Waiting for a block to end is the point of one test, so it sleeps for
//! exactly the RetryInfo the service returned.

use authpair_proto::auth::v1::{LoginRequest, RefreshRequest, auth_service_client::AuthServiceClient};
use authpair_tests::{
    AuthConfig, RedisPrefix, Server, TestApp, TestResult, channel, reason, redis_or_skip, start_auth,
};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt as _;

/// The app's auth instance and a second one on a data dir of its own,
/// sharing Redis under a fresh prefix. Keep it whole while the test runs
/// (dropping it stops both servers); fields drop in order, so the servers
/// stop before the prefix's keys are deleted.
struct TwoInstances {
    app: TestApp,
    a: AuthServiceClient<Channel>,
    b: AuthServiceClient<Channel>,
    _b_server: Server,
    _prefix: RedisPrefix,
}

/// Two instances with `adjust` applied to both configs; None (having said
/// it skipped) where no Redis runs outside CI.
async fn two_instances(test: &str, adjust: impl FnOnce(&mut AuthConfig)) -> anyhow::Result<Option<TwoInstances>> {
    if !redis_or_skip(test).await? {
        return Ok(None);
    }
    let prefix = RedisPrefix::new();
    let shared = |a: &mut AuthConfig| {
        a.shared.redis.url = Some("redis://127.0.0.1:6379".into());
        a.shared.redis.prefix = prefix.0.clone();
        adjust(a);
    };
    let app = TestApp::spawn_with(shared, |_| {}).await?;
    let mut b_config = app.auth_config.clone();
    b_config.shared.data_dir = app.data_dir.path().join("auth-b");
    let b_server = start_auth(b_config).await?;
    let b = AuthServiceClient::new(channel(b_server.addr)?);
    Ok(Some(TwoInstances { a: app.auth.clone(), app, b, _b_server: b_server, _prefix: prefix }))
}

#[tokio::test]
async fn failures_on_one_auth_instance_throttle_the_account_on_another() -> TestResult {
    let Some(two) = two_instances("shared login throttle", |a| a.throttle.free_failures = 2).await? else {
        return Ok(());
    };
    let (mut a, mut b) = (two.a.clone(), two.b.clone());
    let wrong = || LoginRequest { username: "shared-victim".into(), password: "guess".into(), ..Default::default() };

    assert_eq!(a.login(wrong()).await.err().map(|s| s.code()), Some(Code::Unauthenticated));
    assert_eq!(b.login(wrong()).await.err().map(|s| s.code()), Some(Code::Unauthenticated));
    // Two failures in total: on either instance, the next attempt waits.
    for instance in [&mut a, &mut b] {
        let status = instance.login(wrong()).await.err().ok_or("accepted")?;
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert_eq!(reason(&status).as_deref(), Some("TOO_MANY_ATTEMPTS"));
    }
    Ok(())
}

#[tokio::test]
async fn rf_05_a_source_blocked_for_failed_refreshes_on_one_instance_is_refused_at_once_on_the_other() -> TestResult {
    // Failed refreshes from one address: a burst of 5, then 1 a second.
    // (Logins from it have a budget of their own at the same rate.)
    let limits = |a: &mut AuthConfig| (a.throttle.source_per_sec, a.throttle.source_burst) = (1, 5);
    let Some(two) = two_instances("shared refresh block", limits).await? else {
        return Ok(());
    };
    let (app, mut a, mut b) = (&two.app, two.a.clone(), two.b.clone());
    app.create_user("rhea", "rhea-password", &[]).await?;
    let real = app.login("rhea", "rhea-password").await?.refresh_token;

    // Random refresh tokens on A until A blocks this address.
    let mut failed = 0;
    let blocked = loop {
        assert!(failed < 100, "100 random refresh tokens and never blocked");
        let random = format!("aprt_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        match a.refresh(RefreshRequest { refresh_token: random }).await {
            Ok(_) => return Err("a random refresh token was accepted".into()),
            Err(status) if status.code() == Code::Unauthenticated => failed += 1,
            Err(status) => break status,
        }
    };
    assert_eq!((blocked.code(), reason(&blocked).as_deref()), (Code::ResourceExhausted, Some("TOO_MANY_ATTEMPTS")));

    // B has seen no failure from this address, yet refuses it at once, with
    // no look at the token (one it would otherwise call invalid).
    let random = format!("aprt_{}", uuid::Uuid::new_v4().simple());
    let refused = b.refresh(RefreshRequest { refresh_token: random }).await.err().ok_or("B refreshed")?;
    assert_eq!((refused.code(), reason(&refused).as_deref()), (Code::ResourceExhausted, Some("TOO_MANY_ATTEMPTS")));

    // The block ends by itself: the real session refreshes on A once the
    // RetryInfo it gets has passed.
    for _ in 0..3 {
        match a.refresh(RefreshRequest { refresh_token: real.clone() }).await {
            Ok(_) => return Ok(()),
            Err(status) if reason(&status).as_deref() == Some("TOO_MANY_ATTEMPTS") => {
                let wait = status.get_details_retry_info().and_then(|r| r.retry_delay).ok_or("no RetryInfo")?;
                assert!(wait <= std::time::Duration::from_secs(1), "RetryInfo {wait:?}");
                tokio::time::sleep(wait).await;
            }
            Err(status) => return Err(status.into()),
        }
    }
    Err("still blocked after three waits".into())
}
