//! Login throttling shared by several auth-service instances through Redis:
//! failures counted on one instance throttle the account on the other.
//! Skipped, saying so, where no Redis runs, except in CI.

use authpair_proto::auth::v1::{LoginRequest, auth_service_client::AuthServiceClient};
use authpair_tests::{TestApp, TestResult, channel, reason, redis_or_skip, start_auth};
use tonic::Code;

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
