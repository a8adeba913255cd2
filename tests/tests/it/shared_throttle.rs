//! Throttling shared by several auth-service instances through Redis:
//! login failures counted on one instance throttle the account on the
//! other, and a source blocked for failed refreshes on one is refused by
//! the other at once. Skipped, saying so, where no Redis runs, except in CI.
//! Waiting for a block to end is the point of one test, so it sleeps for
//! exactly the RetryInfo the service returned.

use authpair_proto::auth::v1::{LoginRequest, RefreshRequest, auth_service_client::AuthServiceClient};
use authpair_tests::{TestApp, TestResult, channel, reason, redis_or_skip, start_auth};
use tonic::Code;
use tonic_types::StatusExt as _;

#[tokio::test]
async fn failures_on_one_auth_instance_throttle_the_account_on_another() -> TestResult {
    if !redis_or_skip("shared login throttle").await? {
        return Ok(());
    }
    let prefix = authpair_tests::RedisPrefix::new();
    let shared = |a: &mut authpair_tests::AuthConfig| {
        a.redis_url = Some("redis://127.0.0.1:6379".into());
        a.redis_prefix = prefix.0.clone();
        a.throttle.free_failures = 2;
    };
    let app = TestApp::spawn_with(shared, |_| {}).await?;
    let mut other_config = app.auth_config.clone();
    other_config.data_dir = app.data_dir.path().join("auth-b");
    let other = start_auth(other_config).await?;
    let (mut a, mut b) = (app.auth.clone(), AuthServiceClient::new(channel(other.addr)?));
    let wrong = || LoginRequest { username: "shared-victim".into(), password: "guess".into() };

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
    if !redis_or_skip("shared refresh block").await? {
        return Ok(());
    }
    let prefix = authpair_tests::RedisPrefix::new();
    let shared = |a: &mut authpair_tests::AuthConfig| {
        a.redis_url = Some("redis://127.0.0.1:6379".into());
        a.redis_prefix = prefix.0.clone();
        // Failed refreshes from one address: a burst of 5, then 1 a second.
        // (Logins from it have a budget of their own at the same rate.)
        (a.throttle.source_per_sec, a.throttle.source_burst) = (1, 5);
    };
    let app = TestApp::spawn_with(shared, |_| {}).await?;
    let mut other_config = app.auth_config.clone();
    other_config.data_dir = app.data_dir.path().join("auth-b");
    let other = start_auth(other_config).await?;
    let (mut a, mut b) = (app.auth.clone(), AuthServiceClient::new(channel(other.addr)?));
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
