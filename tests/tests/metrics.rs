//! The Prometheus endpoint: decisions by method, code and reason, latency
//! histograms, logins, key fetches, throttling, feed freshness and the
//! password hashing workers (queue wait, check time, checks skipped for
//! callers gone). Its own
//! test binary, because the exporter is process-wide.

use std::net::SocketAddr;

use authpair_proto::{
    auth::v1::LoginRequest,
    resource::v1::{GetAdminDashboardRequest, GetMyProfileRequest},
};
use authpair_tests::{TestApp, TestResult, bearer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A free loopback port: the exporter takes an address, not a listener.
fn free_port() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

async fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n").await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    Ok(text)
}

#[tokio::test]
async fn metrics_count_decisions_logins_and_fetches_and_time_the_auth_path() -> TestResult {
    let metrics = free_port()?;
    let app = TestApp::spawn_with(|a| a.shared.serving.metrics_listen = Some(metrics), |_| {}).await?;
    let (_, viewer) = app.user_with_token("mo", &["viewer"]).await?;
    let _ = app.resource.clone().get_admin_dashboard(bearer(GetAdminDashboardRequest {}, &viewer)).await;
    let _ = app
        .auth
        .clone()
        .login(LoginRequest { username: "mo".into(), password: "wrong".into(), ..Default::default() })
        .await;
    for _ in 0..2 {
        app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &viewer)).await?;
    }

    let text = scrape(metrics).await?;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for expected in [
        r#"authpair_auth_decisions_total{service="resource-service",method="/resource.v1.ResourceService/GetAdminDashboard",code="PermissionDenied",reason="ROLE_REQUIRED"} 1"#,
        r#"authpair_auth_decisions_total{service="resource-service",method="/resource.v1.ResourceService/GetMyProfile",code="Ok",reason="ALLOWED"} 2"#,
        r#"authpair_call_duration_seconds_count{service="resource-service",method="/resource.v1.ResourceService/GetMyProfile"} 2"#,
        r#"authpair_logins_total{outcome="failure"} 1"#,
        r#"authpair_key_fetches_total{service="resource-service"}"#,
        r#"authpair_interceptor_duration_seconds_bucket{service="auth-service""#,
        // Timed: the three calls above that carried a token. The harness's
        // anonymous readiness checks are not.
        r#"authpair_interceptor_duration_seconds_count{service="resource-service"} 3"#,
        r#"authpair_call_duration_seconds_count{service="resource-service",method="/resource.v1.ResourceService/GetAdminDashboard"} 1"#,
        r#"authpair_revocation_feed_age_seconds{service="resource-service"}"#,
        // The admin's and mo's hashes at creation, and three logins' checks.
        "authpair_password_queue_wait_seconds_count 5",
        "authpair_password_check_seconds_count 5",
        r#"authpair_password_check_seconds_bucket{le="30"} 5"#,
        "authpair_password_abandoned_total 0",
    ] {
        assert!(text.contains(expected), "missing {expected}\n{text}");
    }
    assert!(text.contains(r#"authpair_logins_total{outcome="success"}"#));
    assert!(!text.contains("eyJ"), "a token in the metrics");

    // Forty logins at once whose callers allow 100 ms: the server drops
    // each call at its deadline (grpc-timeout), and the checks still queued
    // then are skipped, not hashed.
    let mut gone = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let mut auth = app.auth.clone();
        let mut request = tonic::Request::new(LoginRequest {
            username: "mo".into(),
            password: "mo-password".into(),
            ..Default::default()
        });
        request.set_timeout(std::time::Duration::from_millis(100));
        gone.spawn(async move { auth.login(request).await.map(drop) });
    }
    while gone.join_next().await.is_some() {}
    // One more, answered only once the workers are through the queue.
    app.login("mo", "mo-password").await?;
    let text = scrape(metrics).await?;
    let value = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '));
        line.and_then(|l| l[name.len()..].trim().parse::<u64>().ok()).ok_or(format!("no {name}\n{text}"))
    };
    let (waited, checked) =
        (value("authpair_password_queue_wait_seconds_count")?, value("authpair_password_check_seconds_count")?);
    let abandoned = value("authpair_password_abandoned_total")?;
    assert_eq!(waited, checked + abandoned, "every check taken from the queue is either done or skipped");
    assert!(abandoned >= 1 && checked < 5 + 40 + 1, "{checked} checked, {abandoned} skipped");
    Ok(())
}
