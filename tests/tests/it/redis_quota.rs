//! Quotas shared across resource-service instances through the machine's
//! Redis (127.0.0.1:6379), each test under its own key prefix; and what a
//! Redis outage does (fail closed, recover by itself), through a proxy that
//! can cut the link. Skipped, saying so, where no Redis runs, except in CI.

use std::time::{Duration, Instant};

use authpair_proto::resource::v1::{SearchRequest, resource_service_client::ResourceServiceClient};
use authpair_tests::{
    Proxy, TestApp, TestResult, bearer, channel, reason, redis_or_skip, resource_config, start_resource,
};
use tonic::{Code, Status, transport::Channel};

async fn search(resource: &ResourceServiceClient<Channel>, token: &str) -> Result<(), Status> {
    resource.clone().search(bearer(SearchRequest { query: "x".into() }, token)).await.map(drop)
}

#[tokio::test]
async fn a_free_users_search_quota_holds_across_two_resource_instances_sharing_redis() -> TestResult {
    if !redis_or_skip("redis quota across instances").await? {
        return Ok(());
    }
    let prefix = authpair_tests::RedisPrefix::new();
    let shared = |r: &mut authpair_tests::ResourceConfig| {
        r.shared.redis.url = Some("redis://127.0.0.1:6379".into());
        r.shared.redis.prefix = prefix.0.clone();
        r.quotas.plan_quotas = authpair_tests::plan_quotas("free=3,pro=100");
    };
    let app = TestApp::spawn_with(|_| {}, shared).await?;
    let mut second = resource_config(&app.auth_server, app.data_dir.path().join("resource-b"));
    shared(&mut second);
    let b_server = start_resource(second).await?;
    let (a, b) = (app.resource.clone(), ResourceServiceClient::new(channel(b_server.addr)?));

    let (_, token) = app.user_with_token("fran", &["viewer"]).await?;
    search(&a, &token).await?;
    search(&a, &token).await?;
    search(&b, &token).await?;
    for instance in [&b, &a] {
        let status = search(instance, &token).await.err().ok_or("the quota was per instance")?;
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(reason(&status).as_deref(), Some("QUOTA_EXCEEDED"));
    }
    Ok(())
}

#[tokio::test]
async fn r_03_with_redis_unreachable_quota_bound_calls_fail_closed_then_recover() -> TestResult {
    if !redis_or_skip("redis outage").await? {
        return Ok(());
    }
    let proxy = Proxy::start("127.0.0.1:6379".parse()?).await?;
    let prefix = authpair_tests::RedisPrefix::new();
    let app = TestApp::spawn_with(
        |_| {},
        |r| {
            r.shared.redis.url = Some(format!("redis://{}", proxy.addr).into());
            r.shared.redis.prefix = prefix.0.clone();
        },
    )
    .await?;
    let (_, token) = app.user_with_token("gil", &["viewer"]).await?;
    search(&app.resource, &token).await?;

    proxy.cut();
    let status = search(&app.resource, &token).await.err().ok_or("a quota-bound call passed without Redis")?;
    assert_eq!((status.code(), status.message()), (Code::Unavailable, "quota service unavailable"));
    assert_eq!(reason(&status).as_deref(), Some("QUOTA_UNAVAILABLE"));
    // Other calls do not depend on Redis.
    let profile =
        app.resource.clone().get_my_profile(bearer(authpair_proto::resource::v1::GetMyProfileRequest {}, &token)).await;
    assert!(profile.is_ok());

    proxy.restore();
    // The client reconnects by itself; give it a bounded time to do so.
    let started = Instant::now();
    loop {
        match search(&app.resource, &token).await {
            Ok(()) => break,
            Err(status) if status.code() == Code::Unavailable && started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => return Err(format!("no recovery after Redis came back: {status:?}").into()),
        }
    }
    eprintln!("recovered {:?} after Redis came back", started.elapsed());
    Ok(())
}
