//! The measurement: workers on shared connections, each making calls back
//! to back until the deadline or the request budget, timing every call.

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::AtomicU64},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use authpair_proto::auth::v1::{GetJwksRequest, RefreshRequest, auth_service_client::AuthServiceClient};
use secrecy::ExposeSecret as _;
use tonic::{Code, transport::Channel};

use crate::{
    LatencySummary, Mode, Options, Report,
    cpu::CpuClock,
    drive::{Call, connect, drive},
    setup,
};

/// Waits until the service at `url` accepts connections and its health
/// Watch stream says SERVING, for at most `limit`.
async fn wait_until_serving(url: &str, limit: Duration) -> anyhow::Result<()> {
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
    let deadline = Instant::now() + limit;
    loop {
        let attempt = async {
            let channel = tonic::transport::Endpoint::from_shared(url.to_owned())?.connect().await?;
            let request = HealthCheckRequest { service: String::new() };
            let mut updates = HealthClient::new(channel).watch(request).await?.into_inner();
            while let Some(update) = updates.message().await? {
                if update.status() == ServingStatus::Serving {
                    return Ok(());
                }
            }
            anyhow::bail!("health stream ended")
        };
        match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), attempt).await {
            Ok(Ok(())) => return Ok(()),
            // Not listening yet: a process that was just started.
            Ok(Err(_)) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            Ok(Err(e)) => return Err(e),
            Err(_) => anyhow::bail!("{url} did not become SERVING within {limit:?}"),
        }
    }
}

/// Runs `opts` and reports. Setup (logins, tokens) happens before timing.
pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    if opts.wait_secs > 0 {
        let limit = Duration::from_secs(opts.wait_secs);
        wait_until_serving(&opts.auth, limit).await?;
        if !matches!(opts.mode, Mode::Login | Mode::Enumeration) {
            wait_until_serving(&opts.resource, limit).await?;
        }
        if let (Mode::CompareFresh, Some(baseline)) = (opts.mode, &opts.baseline) {
            wait_until_serving(baseline, limit).await?;
        }
    }
    let auth = tonic::transport::Endpoint::from_shared(opts.auth.clone())?.connect().await?;
    let given = opts.tokens_file.as_deref().map(setup::read_tokens).transpose()?;
    let calls_with_tokens = matches!(
        opts.mode,
        Mode::Reuse | Mode::Users | Mode::Fresh | Mode::Compare | Mode::CompareFloor | Mode::CompareFresh
    );
    if given.is_some() && !calls_with_tokens {
        anyhow::bail!("--tokens-file does not apply to --mode {}: it logs in as users it creates", opts.mode);
    }
    // Log in as the admin only when something must be created.
    let admin = match &opts.admin {
        _ if opts.mode == Mode::Public || given.is_some() => None,
        Some(admin) => Some(setup::admin_token(&auth, admin.expose_secret(), &opts.admin_audience).await?),
        None if calls_with_tokens => {
            anyhow::bail!(
                "--mode {} needs --admin (or AUTHPAIR_LOAD_ADMIN) to prepare tokens, or --tokens-file",
                opts.mode
            )
        }
        None => {
            anyhow::bail!("--mode {} needs --admin (or AUTHPAIR_LOAD_ADMIN): it creates its own users", opts.mode)
        }
    };
    let admin = admin.as_deref();
    if opts.mode == Mode::Enumeration {
        return enumeration(&auth, admin.context("no admin")?, opts.requests.unwrap_or(300) as usize, opts).await;
    }
    let tokens = match opts.mode {
        Mode::Public | Mode::Login | Mode::Enumeration => Vec::new(),
        _ => tokens(&auth, opts, given, admin).await?,
    };
    if matches!(opts.mode, Mode::Compare | Mode::CompareFloor | Mode::CompareFresh) {
        return crate::compare::compare(tokens, opts).await;
    }
    let (call, url) = match opts.mode {
        Mode::Public => (Call::Status, &opts.resource),
        Mode::Reuse | Mode::Mixed | Mode::Users | Mode::Fresh => (Call::profile(tokens)?, &opts.resource),
        // (Enumeration and the compare modes returned above.)
        Mode::Login | Mode::Enumeration | Mode::Compare | Mode::CompareFloor | Mode::CompareFresh => {
            let users = setup::users(&auth, admin.context("no admin")?, opts.users.clamp(1, 50)).await?;
            let creds = users.into_iter().map(|(u, p, _)| (u, p)).collect();
            (Call::Login { users: Arc::new(creds), next: Arc::default() }, &opts.auth)
        }
    };
    let channels = connect(url, opts.connections.max(1)).await?;
    let concurrency = channels.len() * opts.streams.max(1);
    let budget = opts.requests.map(|n| Arc::new(AtomicU64::new(n)));
    if matches!(opts.mode, Mode::Reuse | Mode::Users) {
        call.warm_tokens(&channels, concurrency).await?;
    }
    // `login` mode's probe logs in before the clock starts: once 500 logins
    // are queued for the hasher, its own login would wait behind them.
    let side_session = match opts.mode {
        Mode::Login => {
            setup::ensure_user(&auth, admin.context("no admin")?, "load-side", "load-side-password", "pro").await?;
            Some(setup::login(&auth, "load-side", "load-side-password").await?.refresh_token)
        }
        _ => None,
    };
    let mixed = match (opts.mode, &opts.admin) {
        (Mode::Mixed, Some(credentials)) => {
            let side = crate::mixed::Side {
                auth: auth.clone(),
                resource: tonic::transport::Endpoint::from_shared(opts.resource.clone())?.connect().await?,
                admin: credentials.clone(),
                admin_audience: opts.admin_audience.clone(),
                tag: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
            };
            side.prepare(admin.context("no admin")?).await?;
            Some(side)
        }
        (Mode::Mixed, None) => anyhow::bail!("--mode mixed needs --admin: its side traffic creates users"),
        _ => None,
    };
    let cpu = CpuClock::start(opts.server_pid);
    let start = Instant::now();
    let deadline = start + opts.duration();

    let side = side_session.map(|refresh_token| tokio::spawn(side_calls(auth.clone(), refresh_token, deadline)));
    let mixed = mixed.map(|side| tokio::spawn(side.run(deadline)));
    let mut outcome = drive(&call, &channels, concurrency, deadline, budget, opts.rate).await?;
    let elapsed = start.elapsed();
    let mut report = Report::new(opts.mode, call.method(), channels.len(), concurrency, elapsed);
    report.calls = outcome.latencies.len() as u64;
    report.cpu = cpu.stop(elapsed.as_secs_f64(), report.calls);
    if opts.mode == Mode::Fresh {
        report.fresh_tokens = call.token_reuse();
    }
    report.calls_per_sec = report.calls as f64 / elapsed.as_secs_f64();
    report.latency = LatencySummary::from_micros(&mut outcome.latencies);
    report.statuses = outcome.status_names();
    report.unexpected =
        report.statuses.iter().filter(|(code, _)| code.as_str() != "Ok").map(|(c, n)| (c.clone(), *n)).collect();
    if let Some(task) = side {
        report.side_calls = Some(task.await??);
    }
    if let Some(task) = mixed {
        let side = task.await??;
        report.revocation_propagation = Some(side.propagation);
        report.revocation_observed = Some(side.observed);
        report.unexpected.extend(side.unexpected);
        report.side_statuses = Some(side.statuses);
    }
    Ok(report)
}

/// The tokens a mode calls with: those given (the first only, for the modes
/// that reuse one), or prepared with the admin's token: logged-in users, or
/// service tokens for the fresh-token modes.
async fn tokens(
    auth: &Channel,
    opts: &Options,
    given: Option<Vec<String>>,
    admin: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let one = matches!(opts.mode, Mode::Reuse | Mode::Compare | Mode::CompareFloor | Mode::Mixed);
    if let Some(mut given) = given {
        if one {
            given.truncate(1);
        }
        return Ok(given);
    }
    let admin = admin.context("no admin")?;
    if matches!(opts.mode, Mode::Fresh | Mode::CompareFresh) {
        return setup::service_tokens(auth, admin, opts.fresh_tokens.max(1)).await;
    }
    let users = setup::users(auth, admin, if one { 1 } else { opts.users.max(1) }).await?;
    Ok(users.into_iter().map(|(_, _, tokens)| tokens.access_token).collect())
}

/// `login` mode's other traffic: a Refresh and a GetJwks every 50 ms, timed.
/// Paced, not back to back: it probes latency without taking CPU from the
/// logins it runs beside.
async fn side_calls(auth: Channel, mut refresh_token: String, deadline: Instant) -> anyhow::Result<LatencySummary> {
    let mut client = AuthServiceClient::new(auth);
    let mut samples = Vec::new();
    let mut pace = tokio::time::interval(Duration::from_millis(50));
    while Instant::now() < deadline {
        pace.tick().await;
        let began = Instant::now();
        let pair = client.refresh(RefreshRequest { refresh_token: refresh_token.clone() }).await?.into_inner();
        samples.push(began.elapsed().as_micros() as u32);
        refresh_token = pair.refresh_token;
        let began = Instant::now();
        client.get_jwks(GetJwksRequest {}).await?;
        samples.push(began.elapsed().as_micros() as u32);
    }
    Ok(LatencySummary::from_micros(&mut samples))
}

/// EN-02: `pairs` sequential pairs of failed logins, one for an unknown
/// username and one for a known user with a wrong password (a different user
/// each time, so no account reaches its throttle).
async fn enumeration(auth: &Channel, admin: &str, pairs: usize, opts: &Options) -> anyhow::Result<Report> {
    let mut known = Vec::with_capacity(pairs);
    for i in 0..pairs {
        let username = format!("load-enum-{i}");
        setup::ensure_user(auth, admin, &username, "load-enum-password", "pro").await?;
        known.push(username);
    }
    let mut client = AuthServiceClient::new(auth.clone());
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let (mut unknown, mut wrong) = (Vec::with_capacity(pairs), Vec::with_capacity(pairs));
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let start = Instant::now();
    for (i, username) in known.iter().enumerate() {
        for (name, samples) in [(format!("nobody-{nonce}-{i}"), &mut unknown), (username.clone(), &mut wrong)] {
            let request = authpair_proto::auth::v1::LoginRequest {
                username: name,
                password: "not-the-password".into(),
                ..Default::default()
            };
            let began = Instant::now();
            let code = client.login(request).await.err().map_or(Code::Ok, |s| s.code());
            samples.push(began.elapsed().as_micros() as u32);
            *statuses.entry(format!("{code:?}")).or_default() += 1;
        }
    }
    let elapsed = start.elapsed();
    let (unknown_user, wrong_password) =
        (LatencySummary::from_micros(&mut unknown), LatencySummary::from_micros(&mut wrong));
    let mut all: Vec<u32> = unknown.iter().chain(&wrong).copied().collect();
    let mut report = Report::new(opts.mode, "auth.v1.AuthService/Login", 1, 1, elapsed);
    report.calls = all.len() as u64;
    report.calls_per_sec = report.calls as f64 / elapsed.as_secs_f64();
    report.latency = LatencySummary::from_micros(&mut all);
    report.unexpected =
        statuses.iter().filter(|(code, _)| code.as_str() != "Unauthenticated").map(|(c, n)| (c.clone(), *n)).collect();
    report.statuses = statuses;
    report.enumeration = Some(crate::report::Enumeration {
        median_gap_ms: (unknown_user.p50_ms - wrong_password.p50_ms).abs(),
        unknown_user,
        wrong_password,
    });
    Ok(report)
}
