//! Brute force and enumeration (docs/security.md, BF-01..03, EN-01, RF-05,
//! and R-01's lockout counters): growing delays, a lock that ends by itself
//! and survives a crash, per-source limits that ignore x-forwarded-for,
//! identical answers whether or not the account exists, and a per-source
//! limit on failed refreshes.
//! Waiting for a delay to pass is the point here, so these tests sleep for
//! exactly the RetryInfo the service returned.

use std::time::Duration;

use authpair_proto::auth::v1::{
    CreateUserRequest, DisableUserRequest, IssueServiceTokenRequest, LoginRequest, RefreshRequest, RefreshResponse,
    admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
};
use authpair_tests::{ADMIN_AUDIENCE, Process, TestApp, TestResult, bearer, by_name, channel, reason, start_auth_at};
use tonic::{Code, Request, Status, metadata::MetadataValue};
use tonic_types::StatusExt;

async fn login(app: &TestApp, username: &str, password: &str) -> Result<(), Status> {
    let request = LoginRequest { username: username.into(), password: password.into(), ..Default::default() };
    app.auth.clone().login(request).await.map(drop)
}

/// (code, message, reason) of a failed call, for comparing answers.
fn answer(result: Result<(), Status>) -> (Code, String, Option<String>) {
    match result {
        Ok(()) => (Code::Ok, String::new(), None),
        Err(status) => (status.code(), status.message().to_owned(), reason(&status)),
    }
}

fn retry_after(result: Result<(), Status>) -> Result<Duration, String> {
    let status = result.err().ok_or("not throttled")?;
    if status.code() != Code::ResourceExhausted || reason(&status).as_deref() != Some("TOO_MANY_ATTEMPTS") {
        return Err(format!("expected TOO_MANY_ATTEMPTS, got {status:?}"));
    }
    status.get_details_retry_info().and_then(|r| r.retry_delay).ok_or_else(|| "no RetryInfo".into())
}

/// An app whose accounts lock for `lock_for` at the third failure in a
/// row, with no delays before it.
async fn locking_after_three_failures(lock_for: Duration) -> anyhow::Result<TestApp> {
    TestApp::spawn_with(
        |a| {
            a.throttle.free_failures = 100;
            a.throttle.lock_after = 3;
            a.throttle.lock_for = lock_for;
        },
        |_| {},
    )
    .await
}

#[tokio::test]
async fn bf_01_after_the_free_failures_even_the_right_password_waits_for_the_delay() -> TestResult {
    let app = TestApp::spawn_with(|a| a.throttle.free_failures = 3, |_| {}).await?;
    app.create_user("alice", "alice-password", &[]).await?;
    for _ in 0..3 {
        assert_eq!(answer(login(&app, "alice", "guess").await).0, Code::Unauthenticated);
    }
    let wait = retry_after(login(&app, "alice", "guess").await)?;
    assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
    // The right password during the delay gets the same answer as a wrong one.
    retry_after(login(&app, "alice", "alice-password").await)?;
    tokio::time::sleep(wait).await;
    login(&app, "alice", "alice-password").await?;
    // Success clears the count: free failures again.
    assert_eq!(answer(login(&app, "alice", "guess").await).0, Code::Unauthenticated);
    Ok(())
}

#[tokio::test]
async fn bf_03_a_lock_ends_by_itself_so_a_real_user_gets_back_in() -> TestResult {
    let app = locking_after_three_failures(Duration::from_secs(1)).await?;
    app.create_user("bob", "bob-password", &[]).await?;
    for _ in 0..3 {
        assert_eq!(answer(login(&app, "bob", "guess").await).0, Code::Unauthenticated);
    }
    let wait = retry_after(login(&app, "bob", "bob-password").await)?;
    assert!(wait <= Duration::from_secs(1), "{wait:?}");
    tokio::time::sleep(wait).await;
    login(&app, "bob", "bob-password").await?;
    Ok(())
}

#[tokio::test]
async fn r_01_locks_and_failure_counts_survive_a_crash_of_the_auth_service() -> TestResult {
    let mut app = locking_after_three_failures(Duration::from_secs(900)).await?;
    for name in ["ann", "bea", "cat"] {
        app.create_user(name, &format!("{name}-password"), &[]).await?;
    }
    let wrong = (Code::Unauthenticated, "invalid credentials".to_owned(), Some("INVALID_CREDENTIALS".to_owned()));
    // ann locked, bea two failures then a success (a clean slate), cat two
    // failures.
    for _ in 0..3 {
        assert_eq!(answer(login(&app, "ann", "guess").await), wrong);
    }
    retry_after(login(&app, "ann", "ann-password").await)?;
    for name in ["bea", "cat"] {
        for _ in 0..2 {
            assert_eq!(answer(login(&app, name, "guess").await), wrong);
        }
    }
    login(&app, "bea", "bea-password").await?;

    app.auth_server.kill().await;
    app.auth_server = start_auth_at(app.auth_server.addr, app.auth_config.clone()).await?;

    // The lock holds for what is left of it, the right password included.
    let wait = retry_after(login(&app, "ann", "ann-password").await)?;
    assert!(wait > Duration::from_secs(800) && wait <= Duration::from_secs(900), "{wait:?}");
    // cat's count goes on from two: one more failure locks.
    assert_eq!(answer(login(&app, "cat", "guess").await), wrong);
    retry_after(login(&app, "cat", "cat-password").await)?;
    // bea's success before the crash cleared hers: two failures are still
    // under the lock, and the right password gets in.
    for _ in 0..2 {
        assert_eq!(answer(login(&app, "bea", "guess").await), wrong);
    }
    login(&app, "bea", "bea-password").await?;
    Ok(())
}

/// R-01 with the real binary: an account locked while other logins keep the
/// service's hashing workers busy stays locked through a SIGKILL (nothing
/// flushed or closed) and a restart on the same data dir.
#[tokio::test]
async fn r_01_a_lock_survives_a_sigkill_of_the_real_auth_binary_in_the_middle_of_login_load() -> TestResult {
    let data = tempfile::tempdir()?;
    let dir = data.path().to_string_lossy().into_owned();
    let master_key = authpair_tests::master_key_file(data.path())?.to_string_lossy().into_owned();
    let args = ["--listen", "127.0.0.1:0", "--data-dir", dir.as_str()];
    // Info, for the "listening" line the harness waits for.
    let env = [
        ("AUTH_MASTER_KEY_FILE", master_key.as_str()),
        ("AUTH_BOOTSTRAP_ADMIN", "root:root-password-for-r01"),
        ("AUTH_LOGIN_FREE_FAILURES", "100"),
        ("AUTH_LOGIN_LOCK_AFTER", "3"),
        ("AUTH_LOGIN_LOCK_SECS", "900"),
        ("AUTH_LOGIN_SOURCE_PER_SEC", "1000000"),
        ("AUTH_LOGIN_SOURCE_BURST", "1000000"),
        ("AUTH_METRICS_LISTEN", "off"),
        ("AUTH_HTTP_LISTEN", "off"),
        ("AUTH_LOG", "info"),
    ];
    let mut auth = Process::spawn("auth-service", &args, &env).await?;
    let client = AuthServiceClient::new(channel(auth.addr)?);
    let login = |client: &AuthServiceClient<_>, username: &str, password: &str, audience: &str| {
        let mut client = client.clone();
        let request = LoginRequest { username: username.into(), password: password.into(), audience: audience.into() };
        async move { client.login(request).await.map(|r| r.into_inner()) }
    };
    let root = login(&client, "root", "root-password-for-r01", ADMIN_AUDIENCE).await?.access_token;
    let create = CreateUserRequest { username: "ann".into(), password: "ann-password".into(), ..Default::default() };
    AdminServiceClient::new(channel(auth.addr)?).create_user(bearer(create, &root)).await?;

    // The load: wrong passwords for accounts that do not exist, sixteen at
    // a time, each a full dummy hash, until the process dies under them.
    let load: Vec<_> = (0..16)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut answered = 0u32;
                loop {
                    let mut client = client.clone();
                    let request = LoginRequest {
                        username: format!("nobody-{i}"),
                        password: "guess".into(),
                        ..Default::default()
                    };
                    match client.login(request).await {
                        Err(status) if status.code() == Code::Unauthenticated => answered += 1,
                        _ => return answered,
                    }
                }
            })
        })
        .collect();
    for _ in 0..3 {
        let status = login(&client, "ann", "guess", "").await.err().ok_or("a wrong password was accepted")?;
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    retry_after(login(&client, "ann", "ann-password", "").await.map(drop))?;
    auth.kill()?;
    let mut answered = 0;
    for task in load {
        answered += task.await?;
    }
    assert!(answered > 0, "the load never got an answer: it was not load");

    let auth = Process::spawn("auth-service", &args, &env).await?;
    let client = AuthServiceClient::new(channel(auth.addr)?);
    let wait = retry_after(login(&client, "ann", "ann-password", "").await.map(drop))?;
    assert!(wait > Duration::from_secs(800) && wait <= Duration::from_secs(900), "{wait:?}");
    Ok(())
}

#[tokio::test]
async fn en_01_an_existing_and_an_unknown_account_answer_identically_through_the_lock() -> TestResult {
    let app = TestApp::spawn_with(
        |a| {
            a.throttle.free_failures = 2;
            a.throttle.lock_after = 4;
        },
        |_| {},
    )
    .await?;
    app.create_user("carol", "carol-password", &[]).await?;
    // A disabled account answers like the others, its right password too.
    app.create_user("dora", "dora-password", &[]).await?;
    let admin = app.admin_token().await?;
    app.admin.clone().disable_user(bearer(DisableUserRequest { user: by_name("dora") }, &admin)).await?;
    let (mut known, mut unknown, mut disabled) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..6 {
        known.push(answer(login(&app, "carol", "guess").await));
        unknown.push(answer(login(&app, "nobody-here", "guess").await));
        disabled.push(answer(login(&app, "dora", "dora-password").await));
    }
    assert_eq!(known, unknown);
    assert_eq!(disabled, unknown);
    assert_eq!(known[0], (Code::Unauthenticated, "invalid credentials".into(), Some("INVALID_CREDENTIALS".into())));
    assert_eq!(known[5].0, Code::ResourceExhausted);
    Ok(())
}

#[tokio::test]
async fn bf_02_the_source_limit_trips_however_usernames_and_forwarded_for_vary() -> TestResult {
    let app = TestApp::spawn_with(
        |a| {
            a.throttle.source_per_sec = 1;
            a.throttle.source_burst = 5;
        },
        |_| {},
    )
    .await?;
    let (mut throttled, mut tried) = (0, 0);
    for i in 0..8 {
        let mut request = Request::new(LoginRequest {
            username: format!("spray-{i}"),
            password: "Winter2026!".into(),
            ..Default::default()
        });
        let spoofed = MetadataValue::try_from(format!("203.0.113.{i}"))?;
        request.metadata_mut().insert("x-forwarded-for", spoofed);
        match app.auth.clone().login(request).await {
            Err(status) if status.code() == Code::ResourceExhausted => throttled += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::Unauthenticated);
                tried += 1;
            }
            Ok(_) => return Err("a spray login succeeded".into()),
        }
    }
    // The burst is 5 attempts from this address (the resource service's own
    // IssueServiceToken at start came from it too); the rest are throttled.
    assert!(tried <= 5 && throttled >= 3, "tried {tried}, throttled {throttled}");
    Ok(())
}

#[tokio::test]
async fn bf_02_behind_a_trusted_proxy_each_forwarded_client_address_has_its_own_limit() -> TestResult {
    let app = TestApp::spawn_with(
        |a| {
            a.trusted_proxies = vec![[127, 0, 0, 1].into()];
            a.throttle.source_per_sec = 1;
            a.throttle.source_burst = 2;
        },
        |_| {},
    )
    .await?;
    // Wrong client secrets: the same admission as a login, without a hash's
    // wait, so the attempts fall well inside one second's allowance.
    let attempt = |i: u32, forwarded: &'static str| {
        let mut auth = app.auth.clone();
        async move {
            let issue = IssueServiceTokenRequest {
                client_id: format!("client-{i}"),
                client_secret: "apcs_guess".into(),
                scope: String::new(),
                ..Default::default()
            };
            let mut request = Request::new(issue);
            request.metadata_mut().insert("x-forwarded-for", MetadataValue::from_static(forwarded));
            auth.issue_service_token(request).await.map(drop)
        }
    };
    for i in 0..2 {
        assert_eq!(answer(attempt(i, "203.0.113.7").await).0, Code::Unauthenticated);
    }
    retry_after(attempt(2, "203.0.113.7").await)?;
    // The proxy appends the address it saw; what a client put before it
    // changes nothing.
    retry_after(attempt(3, "198.51.100.1, 203.0.113.7").await)?;
    // Another client behind the same proxy is not held back.
    assert_eq!(answer(attempt(4, "203.0.113.7, 203.0.113.8").await).0, Code::Unauthenticated);
    Ok(())
}

#[tokio::test]
async fn wrong_client_secrets_are_throttled_like_wrong_passwords() -> TestResult {
    let app = TestApp::spawn_with(|a| a.throttle.free_failures = 2, |_| {}).await?;
    let (client_id, secret) = app.service_account("batch", &["profile"]).await?;
    let issue = |secret: &str| IssueServiceTokenRequest {
        client_id: client_id.clone(),
        client_secret: secret.into(),
        scope: String::new(),
        ..Default::default()
    };
    for _ in 0..2 {
        let status = app.auth.clone().issue_service_token(issue("apcs_guess")).await.err().ok_or("accepted")?;
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let result = app.auth.clone().issue_service_token(issue(&secret)).await.map(drop);
    retry_after(result)?;
    Ok(())
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Result<RefreshResponse, Status> {
    Ok(app.auth.clone().refresh(RefreshRequest { refresh_token: refresh_token.into() }).await?.into_inner())
}

#[track_caller]
fn assert_invalid_refresh(result: Result<RefreshResponse, Status>, what: &str) {
    let status = result.err().unwrap_or_else(|| panic!("{what}: accepted"));
    assert_eq!(
        answer(Err(status)),
        (Code::Unauthenticated, "invalid refresh token".into(), Some("REFRESH_TOKEN_INVALID".into())),
        "{what}"
    );
}

/// Random refresh tokens from one address until one is throttled: how many
/// were refused as invalid first, and the throttled answer.
async fn flood_until_throttled(app: &TestApp) -> (u32, Status) {
    let mut invalid = 0;
    loop {
        assert!(invalid < 1000, "1,000 random refresh tokens and never throttled");
        let random = format!("aprt_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        match refresh(app, &random).await {
            Ok(_) => panic!("a random refresh token was accepted"),
            Err(status) if status.code() == Code::Unauthenticated => {
                assert_invalid_refresh(Err(status), "random");
                invalid += 1;
            }
            Err(status) => return (invalid, status),
        }
    }
}

#[tokio::test]
async fn rf_05_damaged_refresh_tokens_are_refused_and_a_random_flood_is_throttled_while_successes_never_count()
-> TestResult {
    // The production limits (10 a second per source, a burst of 20), not the
    // harness's lifted ones.
    let app = TestApp::spawn_with(|a| a.throttle = Default::default(), |_| {}).await?;
    app.create_user("rita", "rita-password", &[]).await?;
    let mut session = RefreshResponse::from(app.login("rita", "rita-password").await?);
    // More rotations than the failure burst (20): successes are not counted.
    for _ in 0..30 {
        session = refresh(&app, &session.refresh_token).await?;
    }
    let real = session.refresh_token;

    let middle = real.len() / 2;
    let flipped_char = if &real[middle..=middle] == "A" { "B" } else { "A" };
    let flipped = format!("{}{flipped_char}{}", &real[..middle], &real[middle + 1..]);
    assert_invalid_refresh(refresh(&app, &flipped).await, "one character changed");
    assert_invalid_refresh(refresh(&app, &real[..real.len() - 1]).await, "truncated");

    // Random tokens, back to back from one address: invalid until the
    // failures outrun 10/s with a burst of 20, then throttled.
    let (invalid, throttled) = flood_until_throttled(&app).await;
    assert!((15..=40).contains(&invalid), "throttled after {invalid} random tokens");
    let wait = retry_after(Err(throttled))?;
    assert!(wait <= Duration::from_millis(100), "RetryInfo {wait:?}");

    // While throttled, the source's real token waits too, unread; afterwards
    // it still works. The block lasts until the next allowance, as little as
    // a few milliseconds, so on a slow host it can end before the next call
    // arrives: that call is then served (a rotation), and the source is
    // throttled again, up to five rounds.
    let mut real = real;
    let mut rounds = 0;
    let held = loop {
        match refresh(&app, &real).await {
            Err(status) => break retry_after(Err(status))?,
            Ok(rotated) => real = rotated.refresh_token,
        }
        rounds += 1;
        assert!(rounds < 5, "the real token was never held while the source was throttled");
        let (invalid, _) = flood_until_throttled(&app).await;
        assert!(invalid < 10, "throttled again only after {invalid} more random tokens");
    };
    tokio::time::sleep(held).await;
    refresh(&app, &real).await?;
    Ok(())
}
