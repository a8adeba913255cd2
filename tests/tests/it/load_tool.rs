//! A smoke run of every mode of the load tool against the real services:
//! it completes, counts calls, and sees only the statuses its mode expects;
//! and the tool driven with tokens a user gives it, with no admin.
//! (The measurements themselves are in BENCHMARKS.md, not in tests.)

use authpair_load::{FreshTokens, Mode, Options};
use authpair_tests::{ADMIN_PASSWORD, ADMIN_USERNAME, TestApp, TestResult};

fn options(app: &TestApp, mode: Mode) -> Options {
    Options {
        mode,
        auth: app.auth_server.url(),
        resource: app.resource_server.url(),
        admin: Some(format!("{ADMIN_USERNAME}:{ADMIN_PASSWORD}").into()),
        admin_audience: authpair_tests::ADMIN_AUDIENCE.into(),
        tokens_file: None,
        connections: 2,
        streams: 2,
        duration_secs: 1,
        requests: Some(40),
        rate: None,
        users: 3,
        fresh_tokens: 20,
        wait_secs: 5,
        server_pid: None,
        slice_ms: 1000,
        baseline: None,
        baseline_pid: None,
        json: None,
    }
}

#[tokio::test]
async fn every_load_tool_mode_runs_and_sees_only_expected_statuses() -> TestResult {
    let app = TestApp::spawn().await?;
    for mode in [Mode::Public, Mode::Reuse, Mode::Users, Mode::Fresh, Mode::Login] {
        let mut opts = options(&app, mode);
        if mode == Mode::Login {
            opts.requests = Some(4);
        }
        let report = authpair_load::run(&opts).await?;
        assert_eq!(report.calls, opts.requests.unwrap_or_default(), "{report}");
        assert!(report.unexpected.is_empty(), "{report}");
        assert_eq!(report.statuses.get("Ok").copied(), Some(report.calls), "{report}");
        let cpu = report.cpu.as_ref().ok_or("no CPU figures for the load tool itself")?;
        assert!(cpu.server_us_per_call.is_none(), "no --server-pid, no server figure: {report}");
        if mode == Mode::Login {
            assert!(report.side_calls.as_ref().is_some_and(|s| s.count > 0), "{report}");
        }
        if mode == Mode::Fresh {
            // 40 calls on 20 tokens: the run says it was not all fresh.
            assert_eq!(report.fresh_tokens, Some(FreshTokens { pool: 20, reused: 20 }), "{report}");
            assert!(report.to_string().contains("20 calls reused one, as the pool of 20 ran out"), "{report}");
        }
    }
    let mut fresh = options(&app, Mode::Fresh);
    fresh.fresh_tokens = 40;
    let report = authpair_load::run(&fresh).await?;
    assert_eq!(report.fresh_tokens, Some(FreshTokens { pool: 40, reused: 0 }), "{report}");
    // The services run inside this test process, so it is the "server".
    let mut watched = options(&app, Mode::Reuse);
    watched.server_pid = Some(std::process::id());
    let report = authpair_load::run(&watched).await?;
    let cpu = report.cpu.as_ref().ok_or("no CPU figures")?;
    assert!(cpu.server_us_per_call.is_some_and(|us| us >= 0.0) && cpu.server_cores.is_some(), "{report}");

    let mut compare = options(&app, Mode::Compare);
    (compare.requests, compare.slice_ms, compare.server_pid) = (None, 100, Some(std::process::id()));
    let report = authpair_load::run(&compare).await?;
    let comparison = report.comparison.as_ref().ok_or("compare mode reports a comparison")?;
    assert!(comparison.pairs >= 1 && comparison.baseline.calls > 0 && comparison.measured.calls > 0, "{report}");
    assert_eq!(report.statuses.get("Ok").copied(), Some(report.calls), "only OK is expected: {report}");
    assert!(comparison.throughput_ratio > 0.0 && comparison.server_cost_ratio.is_some(), "{report}");
    assert_eq!(comparison.baseline.method, "resource.v1.ResourceService/GetStatus");
    assert_eq!(comparison.measured.method, "resource.v1.ResourceService/GetMyProfile");
    assert!(comparison.ceiling.is_none(), "only compare-floor has a third side");

    // compare-floor: compare's two calls and, in turn with them, public GetStatus
    // carrying the token where the server never reads it; all succeed.
    let mut floor = options(&app, Mode::CompareFloor);
    (floor.requests, floor.slice_ms, floor.server_pid) = (None, 100, Some(std::process::id()));
    let report = authpair_load::run(&floor).await?;
    let comparison = report.comparison.as_ref().ok_or("compare-floor mode reports a comparison")?;
    let ceiling = comparison.ceiling.as_ref().ok_or("compare-floor reports the ceiling")?;
    assert!(comparison.pairs >= 1 && ceiling.side.calls > 0 && comparison.measured.calls > 0, "{report}");
    assert_eq!(report.calls, comparison.baseline.calls + comparison.measured.calls + ceiling.side.calls);
    assert_eq!(report.statuses.get("Ok").copied(), Some(report.calls), "only OK is expected: {report}");
    assert_eq!(
        [&comparison.baseline.method, &ceiling.side.method, &comparison.measured.method].map(String::as_str),
        [
            "resource.v1.ResourceService/GetStatus",
            "resource.v1.ResourceService/GetStatus",
            "resource.v1.ResourceService/GetMyProfile"
        ]
    );
    assert!(ceiling.server_cost_ratio.is_some() && ceiling.measured_over_ceiling > 0.0, "{report}");
    assert!(report.to_string().contains("carrying/baseline throughput"), "{report}");

    // compare-fresh: the naive EdDSA interceptor server, in this process too,
    // against the resource service, both with fresh tokens.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let naive_url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (auth_url, issuer, audience) =
        (app.auth_server.url(), authpair_tests::ISSUER.to_owned(), app.auth_config.audience.clone());
    let naive = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        authpair_load::naive::serve(listener, &auth_url, &issuer, &audience, shutdown).await
    });
    let mut fresh = options(&app, Mode::CompareFresh);
    (fresh.requests, fresh.slice_ms, fresh.baseline) = (None, 100, Some(naive_url.clone()));
    (fresh.server_pid, fresh.baseline_pid) = (Some(std::process::id()), Some(std::process::id()));
    let report = authpair_load::run(&fresh).await?;
    let comparison = report.comparison.as_ref().ok_or("compare-fresh mode reports a comparison")?;
    assert!(comparison.baseline.calls > 0 && comparison.measured.calls > 0, "{report}");
    assert_eq!(report.statuses.get("Ok").copied(), Some(report.calls), "the naive server accepts them too: {report}");
    assert_eq!(
        (comparison.baseline.url.as_str(), comparison.measured.url.as_str()),
        (naive_url.as_str(), app.resource_server.url().as_str())
    );
    assert!(comparison.server_cost_ratio.is_some(), "{report}");
    assert!(report.fresh_tokens.is_some_and(|f| f.pool == 20), "authpair's side counts its reuse: {report}");
    let _ = stop.send(());
    naive.await??;

    let mut enumeration = options(&app, Mode::Enumeration);
    enumeration.requests = Some(3);
    let report = authpair_load::run(&enumeration).await?;
    assert_eq!(report.calls, 6, "{report}");
    assert!(report.unexpected.is_empty(), "only UNAUTHENTICATED is expected: {report}");
    assert!(report.enumeration.as_ref().is_some_and(|e| e.unknown_user.count == 3), "{report}");

    // Three seconds: the side traffic ends sessions both ways by turns.
    let mut mixed = options(&app, Mode::Mixed);
    (mixed.requests, mixed.duration_secs) = (None, 3);
    let report = authpair_load::run(&mixed).await?;
    let propagation = report.revocation_propagation.as_ref().ok_or("no propagation figures")?;
    assert!(propagation.count >= 2 && propagation.p99_ms < 1000.0, "{report}");
    assert!(report.unexpected.is_empty(), "{report}");
    let side = report.side_statuses.as_ref().ok_or("no side traffic")?;
    for step in [
        "Login Ok",
        "Refresh Ok",
        "GetMyProfile (fresh token) Ok",
        "GetMyProfile (refreshed token) Ok",
        "Logout Ok",
        "RevokeUserSessions Ok",
        "GetMyProfile (revoked token probe) Unauthenticated",
        "Search Ok",
    ] {
        assert!(side.get(step).is_some_and(|n| *n > 0), "no {step}: {report}");
    }
    let json: serde_json::Value = serde_json::from_str(&serde_json::to_string(&report)?)?;
    assert!(json["revocation_propagation"]["p99_ms"].is_number());
    Ok(())
}

#[tokio::test]
async fn given_a_tokens_file_and_no_admin_the_load_tool_calls_with_exactly_those_tokens() -> TestResult {
    let app = TestApp::spawn().await?;
    let (_, alice) = app.user_with_token("alice", &["viewer"]).await?;
    let (_, bob) = app.user_with_token("bob", &["viewer"]).await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("tokens");
    std::fs::write(&file, format!("{alice}\n\n{bob}\n"))?;
    let given = |mode: Mode| {
        let mut opts = options(&app, mode);
        (opts.admin, opts.tokens_file) = (None, Some(file.clone()));
        opts
    };
    // With no admin, nothing could have been prepared: these are the file's.
    for mode in [Mode::Reuse, Mode::Users, Mode::Fresh] {
        let report = authpair_load::run(&given(mode)).await?;
        assert_eq!(report.statuses.get("Ok").copied(), Some(40), "{mode}: {report}");
    }
    let mut public = options(&app, Mode::Public);
    public.admin = None;
    assert!(authpair_load::run(&public).await?.unexpected.is_empty(), "public calls need no credentials");

    // A token the services refuse: every call counts as unexpected, which
    // makes the binary exit non-zero.
    std::fs::write(&file, format!("{alice}x\n"))?;
    let report = authpair_load::run(&given(Mode::Reuse)).await?;
    assert_eq!(report.unexpected, [("Unauthenticated".to_owned(), 40)].into(), "{report}");

    // What cannot run says which flag it lacks.
    let mut login = options(&app, Mode::Login);
    login.admin = None;
    let refused = authpair_load::run(&login).await.err().ok_or("login mode ran without an admin")?;
    assert_eq!(refused.to_string(), "--mode login needs --admin (or AUTHPAIR_LOAD_ADMIN): it creates its own users");
    let refused = authpair_load::run(&given(Mode::Mixed)).await.err().ok_or("mixed mode took a tokens file")?;
    assert_eq!(refused.to_string(), "--tokens-file does not apply to --mode mixed: it logs in as users it creates");
    std::fs::write(&file, "\n")?;
    let refused = authpair_load::run(&given(Mode::Reuse)).await.err().ok_or("an empty tokens file was taken")?;
    assert!(refused.to_string().starts_with("no tokens in "), "{refused}");
    Ok(())
}
