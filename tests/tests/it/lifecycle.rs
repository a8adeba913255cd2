//! Token lifecycle: refresh rotation and lifetimes, revocation that reaches
//! the resource service at once, key rotation, durability across restarts.

use std::time::{Duration, Instant};

use authpair_proto::{
    auth::v1::{
        DeleteServiceAccountRequest, DisableUserRequest, EnableUserRequest, GetJwksRequest, ListUsersRequest,
        LogoutRequest, RefreshRequest, RefreshResponse, RevokeUserSessionsRequest, RotateSigningKeyRequest,
        SetUserRolesRequest, WatchRevocationsRequest, WatchRevocationsResponse, watch_revocations_response::Event,
    },
    resource::v1::{GetAdminDashboardRequest, GetMyProfileRequest, GetStatusRequest},
};
use authpair_tests::{
    ADMIN_AUDIENCE, ServingStatus, TestApp, TestResult, assert_refresh_refused, auth_database, bearer, by_name, reason,
    resource_config, start_auth_at, start_resource, wait_for_health,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use tonic::{Code, Status};

async fn profile(app: &TestApp, token: &str) -> Result<String, Status> {
    Ok(app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, token)).await?.into_inner().subject)
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Result<RefreshResponse, Status> {
    Ok(app.auth.clone().refresh(RefreshRequest { refresh_token: refresh_token.into() }).await?.into_inner())
}

#[track_caller]
fn assert_revoked<T: std::fmt::Debug>(result: Result<T, Status>) {
    match result {
        Ok(v) => panic!("expected token revoked, got OK {v:?}"),
        Err(status) => {
            assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "token revoked"), "{status:?}");
            assert_eq!(reason(&status).as_deref(), Some("TOKEN_REVOKED"));
        }
    }
}

/// One JSON segment of a compact token: 0 the header, 1 the claims.
fn segment(token: &str, index: usize) -> Option<serde_json::Value> {
    let raw = URL_SAFE_NO_PAD.decode(token.split('.').nth(index)?).ok()?;
    serde_json::from_slice(&raw).ok()
}

fn kid_of(token: &str) -> Option<String> {
    segment(token, 0)?.get("kid")?.as_str().map(str::to_owned)
}

#[tokio::test]
async fn rv_01_logout_revokes_the_session_and_the_access_token_sent_with_it() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("lou", "lou-password", &[]).await?;
    let tokens = app.login("lou", "lou-password").await?;
    let request = bearer(LogoutRequest { refresh_token: tokens.refresh_token.clone() }, &tokens.access_token);
    let done = app.auth.clone().logout(request).await?.into_inner();
    assert!(done.access_token_revoked);
    app.time_until_revoked(&tokens.access_token, Duration::from_secs(1)).await?;
    assert_revoked(profile(&app, &tokens.access_token).await);
    assert_refresh_refused(refresh(&app, &tokens.refresh_token).await);
    // An unknown refresh token is refused.
    let unknown = app.auth.clone().logout(LogoutRequest { refresh_token: "aprt_unknown".into() }).await;
    assert_refresh_refused(unknown);
    Ok(())
}

#[tokio::test]
async fn rv_01_a_logged_out_token_is_refused_by_the_auth_service_at_once_and_everywhere_after_the_feed() -> TestResult {
    let app = TestApp::spawn().await?;
    let tokens = app.login(authpair_tests::ADMIN_USERNAME, authpair_tests::ADMIN_PASSWORD).await?;
    // A token for the resource service is still checked by the auth service
    // when it comes with a public call there, denylist included.
    let list = |token: &str| {
        let mut auth = app.auth.clone();
        let request = bearer(GetJwksRequest::default(), token);
        async move { auth.get_jwks(request).await.map(drop) }
    };
    list(&tokens.access_token).await?;
    let request = bearer(LogoutRequest { refresh_token: tokens.refresh_token.clone() }, &tokens.access_token);
    assert!(app.auth.clone().logout(request).await?.into_inner().access_token_revoked);
    // The instance that logged out applied the revocation before answering.
    assert_revoked(list(&tokens.access_token).await);
    // The resource service hears it on the feed (the propagation target:
    // p99 under 100 ms); from then on the token stays refused on both, every
    // call of a second's worth.
    app.time_until_revoked(&tokens.access_token, Duration::from_secs(1)).await?;
    let start = Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    while start.elapsed() < Duration::from_secs(1) {
        poll.tick().await;
        assert_revoked(list(&tokens.access_token).await);
        assert_revoked(profile(&app, &tokens.access_token).await);
    }
    Ok(())
}

/// `s + L` for an Ed25519 signature's little-endian `s`: the same
/// signature, non-canonically encoded (RFC 8032 §5.1.7 requires `s < L`).
fn s_plus_l(signature: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (byte, l) in signature[32..].iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
}

#[tokio::test]
async fn rv_03_a_revoked_token_re_encoded_is_still_refused() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("rex", "rex-password", &[]).await?;
    let tokens = app.logged_out("rex", "rex-password").await?;
    app.time_until_revoked(&tokens.access_token, Duration::from_secs(1)).await?;

    let (signed, signature) = tokens.access_token.rsplit_once('.').ok_or("not a JWT")?;
    let mut bytes = URL_SAFE_NO_PAD.decode(signature)?;
    // Two of the last character's four unused bits set: the same bytes to a
    // lenient decoder.
    let last = signature.chars().last().ok_or("empty signature")?;
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).ok_or("not base64url")?;
    let trailing = alphabet.chars().nth(index | 0b11).ok_or("index")?;
    let padded_bits = format!("{signed}.{}{trailing}", &signature[..signature.len() - 1]);
    s_plus_l(&mut bytes);
    let malleated = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&bytes));
    let cases = [
        (padded_bits, "malformed token", "TOKEN_MALFORMED"),
        (malleated, "invalid token signature", "TOKEN_INVALID"),
        (format!("{signed}.{signature}="), "malformed token", "TOKEN_MALFORMED"),
    ];
    for (token, message, expected_reason) in cases {
        let refused = profile(&app, &token).await.err().ok_or(format!("accepted: {token}"))?;
        assert_eq!((refused.code(), refused.message()), (Code::Unauthenticated, message), "{token}");
        assert_eq!(reason(&refused).as_deref(), Some(expected_reason));
    }
    assert_revoked(profile(&app, &tokens.access_token).await);
    Ok(())
}

#[tokio::test]
async fn revocation_reaches_the_resource_service_within_one_second_over_100_trials() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("tess", "tess-password", &[]).await?;
    let mut session = RefreshResponse::from(app.login("tess", "tess-password").await?);
    let mut delays = Vec::with_capacity(100);
    for _ in 0..100 {
        let next = refresh(&app, &session.refresh_token).await?;
        assert_eq!(profile(&app, &next.access_token).await?.len(), 36);
        // Revoke this access token alone, through the auth service, by
        // logging out a throwaway session with it attached.
        let throwaway = app.login("tess", "tess-password").await?;
        let request = bearer(LogoutRequest { refresh_token: throwaway.refresh_token }, &next.access_token);
        app.auth.clone().logout(request).await?;
        delays.push(app.time_until_revoked(&next.access_token, Duration::from_secs(1)).await?);
        session = next;
    }
    delays.sort();
    let (p50, p99) = (delays[49], delays[98]);
    eprintln!("revocation propagation over 100 trials: p50 {p50:?}, p99 {p99:?}, max {:?}", delays[99]);
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
    Ok(())
}

/// A revocation committed to the log but never applied: its handler was
/// dropped between the commit and the step that applies and announces it
/// (the caller's deadline passed, or it hung up). The log is the truth, so
/// the entry still reaches the resource service, within one feed heartbeat
/// (200 ms here). The entry is written straight into the auth service's log,
/// as such a handler leaves it.
#[tokio::test]
async fn rv_02_a_revocation_committed_but_never_announced_still_reaches_the_resource_service_within_a_heartbeat()
-> TestResult {
    let app = TestApp::spawn_with(|auth| auth.feed_heartbeat = Duration::from_millis(200), |_| {}).await?;
    let (_, token) = app.user_with_token("cyd", &["viewer"]).await?;
    profile(&app, &token).await?;
    let claims = segment(&token, 1).ok_or("no claims in the token")?;
    let field = |name: &str| claims.get(name).cloned().ok_or(format!("no {name}"));
    let (sub, jti, exp) = (field("sub")?, field("jti")?, field("exp")?);
    let mut db = auth_database(&app.auth_config, "rw").await?;
    sqlx::query(
        "INSERT INTO revocations (kind, subject, token_id, expires_at, reason, created_at) \
         VALUES ('token', $1, $2, $3, 'cancelled handler', $4)",
    )
    .bind(sub.as_str())
    .bind(jti.as_str())
    .bind(exp.as_i64())
    .bind(exp.as_i64().map(|e| e - 900))
    .execute(&mut db)
    .await?;
    let took = app.time_until_revoked(&token, Duration::from_secs(5)).await?;
    eprintln!("a revocation left unannounced reached the resource service after {took:?}");
    Ok(())
}

#[tokio::test]
async fn rv_05_revoke_user_sessions_ends_every_session_and_older_token_but_not_newer_ones() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("mia", "mia-password", &[]).await?;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(app.login("mia", "mia-password").await?);
    }
    let admin = app.admin_token().await?;
    let request = bearer(RevokeUserSessionsRequest { user: by_name("mia") }, &admin);
    let revoked = app.admin.clone().revoke_user_sessions(request).await?.into_inner();
    assert_eq!(revoked.sessions_revoked, 3);
    for session in &sessions {
        app.time_until_revoked(&session.access_token, Duration::from_secs(1)).await?;
        assert_revoked(profile(&app, &session.access_token).await);
        assert_refresh_refused(refresh(&app, &session.refresh_token).await);
    }
    // Logging in again right away, in the same second, gives a working token.
    let fresh = app.login("mia", "mia-password").await?;
    assert_eq!(profile(&app, &fresh.access_token).await?.len(), 36);
    Ok(())
}

#[tokio::test]
async fn a_second_revocation_in_the_same_second_still_catches_a_token_issued_between_them() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("sol", "sol-password", &[]).await?;
    let admin = app.admin_token().await?;
    let revoke = || {
        let mut api = app.admin.clone();
        let request = bearer(RevokeUserSessionsRequest { user: by_name("sol") }, &admin);
        async move { api.revoke_user_sessions(request).await }
    };
    revoke().await?;
    let between = app.login("sol", "sol-password").await?;
    assert_eq!(profile(&app, &between.access_token).await?.len(), 36);
    revoke().await?;
    app.time_until_revoked(&between.access_token, Duration::from_secs(1)).await?;
    let after = app.login("sol", "sol-password").await?;
    assert_eq!(profile(&app, &after.access_token).await?.len(), 36);
    Ok(())
}

#[tokio::test]
async fn rv_05_a_disabled_user_cannot_log_in_refresh_or_use_old_tokens_until_enabled() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("dan", "dan-password", &[]).await?;
    let session = app.login("dan", "dan-password").await?;
    let admin = app.admin_token().await?;
    let disabled = app.admin.clone().disable_user(bearer(DisableUserRequest { user: by_name("dan") }, &admin)).await?;
    assert!(disabled.into_inner().user.ok_or("no user")?.disabled);
    app.time_until_revoked(&session.access_token, Duration::from_secs(1)).await?;
    assert_refresh_refused(refresh(&app, &session.refresh_token).await);
    let login = app.login("dan", "dan-password").await.err().ok_or("a disabled user logged in")?;
    assert_eq!((login.code(), login.message()), (Code::Unauthenticated, "invalid credentials"));

    let enabled = app.admin.clone().enable_user(bearer(EnableUserRequest { user: by_name("dan") }, &admin)).await?;
    assert!(!enabled.into_inner().user.ok_or("no user")?.disabled);
    let again = app.login("dan", "dan-password").await?;
    assert_eq!(profile(&app, &again.access_token).await?.len(), 36);
    assert_revoked(profile(&app, &session.access_token).await);
    Ok(())
}

#[tokio::test]
async fn rv_06_a_demoted_admin_loses_admin_rights_at_once_on_both_services() -> TestResult {
    let app = TestApp::spawn().await?;
    let (_, old_admin_token) = app.user_with_token("ada", &["admin"]).await?;
    let root = app.admin_token().await?;
    let demote = SetUserRolesRequest { user: by_name("ada"), roles: vec!["viewer".into()] };
    app.admin.clone().set_user_roles(bearer(demote, &root)).await?;
    app.time_until_revoked(&old_admin_token, Duration::from_secs(1)).await?;
    let dashboard =
        app.resource.clone().get_admin_dashboard(bearer(GetAdminDashboardRequest {}, &old_admin_token)).await;
    assert_revoked(dashboard);
    // The auth service's own admin API refuses it too.
    assert_revoked(app.admin.clone().list_users(bearer(ListUsersRequest::default(), &old_admin_token)).await);
    Ok(())
}

#[tokio::test]
async fn rf_01_refresh_token_reuse_revokes_every_access_token_of_the_family_within_one_second() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("tia", "tia-password", &[]).await?;
    let login = app.login("tia", "tia-password").await?;
    let first = refresh(&app, &login.refresh_token).await?;
    let other_session = app.login("tia", "tia-password").await?;
    for token in [&login.access_token, &first.access_token] {
        assert_eq!(profile(&app, token).await?.len(), 36);
    }
    // The thief (or the victim) presents the rotated refresh token again.
    assert_refresh_refused(refresh(&app, &login.refresh_token).await);
    for token in [&first.access_token, &login.access_token] {
        app.time_until_revoked(token, Duration::from_secs(1)).await?;
        assert_revoked(profile(&app, token).await);
    }
    assert_refresh_refused(refresh(&app, &first.refresh_token).await);
    // Only that session: the user's other one goes on.
    assert_eq!(profile(&app, &other_session.access_token).await?.len(), 36);
    let renewed = refresh(&app, &other_session.refresh_token).await?;
    assert_eq!(profile(&app, &renewed.access_token).await?.len(), 36);
    Ok(())
}

#[tokio::test]
async fn rf_01_reuse_inside_the_grace_window_of_a_refreshed_successor_also_revokes_the_replayed_access_token()
-> TestResult {
    let app = TestApp::spawn_with(|a| a.refresh_grace = Duration::from_secs(60), |_| {}).await?;
    app.create_user("gus", "gus-password", &[]).await?;
    let login = app.login("gus", "gus-password").await?;
    let first = refresh(&app, &login.refresh_token).await?;
    // A retry inside the grace window gets the same successor and an
    // access token of its own, of the same family.
    let replayed = refresh(&app, &login.refresh_token).await?;
    assert_eq!(replayed.refresh_token, first.refresh_token);
    assert_ne!(replayed.access_token, first.access_token);
    // The successor is spent; presenting the original again is reuse.
    let second = refresh(&app, &first.refresh_token).await?;
    assert_refresh_refused(refresh(&app, &login.refresh_token).await);
    for token in [&login.access_token, &first.access_token, &replayed.access_token, &second.access_token] {
        app.time_until_revoked(token, Duration::from_secs(1)).await?;
    }
    Ok(())
}

#[tokio::test]
async fn rf_04_idle_and_absolute_refresh_lifetimes_are_enforced() -> TestResult {
    let idle = TestApp::spawn_with(|a| a.refresh_token_idle = Duration::ZERO, |_| {}).await?;
    idle.create_user("ivy", "ivy-password", &[]).await?;
    let tokens = idle.login("ivy", "ivy-password").await?;
    assert_refresh_refused(refresh(&idle, &tokens.refresh_token).await);

    let absolute = TestApp::spawn_with(|a| a.refresh_token_ttl = Duration::ZERO, |_| {}).await?;
    absolute.create_user("abe", "abe-password", &[]).await?;
    let tokens = absolute.login("abe", "abe-password").await?;
    assert_refresh_refused(refresh(&absolute, &tokens.refresh_token).await);
    Ok(())
}

#[tokio::test]
async fn rf_04_refreshing_again_and_again_does_not_stretch_a_session_past_its_absolute_lifetime() -> TestResult {
    let app = TestApp::spawn_with(|a| a.refresh_token_ttl = Duration::from_secs(2), |_| {}).await?;
    app.create_user("ada", "ada-password", &[]).await?;
    let login = Instant::now();
    let mut token = app.login("ada", "ada-password").await?.refresh_token;
    // Lifetimes count in whole seconds, so the session ends 1-2 s after the
    // login; each refresh's new token is never idle, only the session old.
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    let mut refreshed = 0;
    let refused = loop {
        poll.tick().await;
        match refresh(&app, &token).await {
            Ok(next) => {
                token = next.refresh_token;
                refreshed += 1;
            }
            Err(status) => break status,
        }
        // A session that each rotation stretched would never end.
        if login.elapsed() > Duration::from_secs(10) {
            return Err(format!("still refreshing after {refreshed} rotations in 10 s").into());
        }
    };
    assert!(login.elapsed() > Duration::from_millis(900), "{:?}", login.elapsed());
    assert!(refreshed >= 3, "{refreshed} refreshes before the end");
    assert_refresh_refused::<()>(Err(refused));
    Ok(())
}

#[tokio::test]
async fn r_06_a_retry_inside_the_grace_window_gets_the_same_successor_and_never_forks() -> TestResult {
    let app = TestApp::spawn_with(|a| a.refresh_grace = Duration::from_secs(60), |_| {}).await?;
    app.create_user("gus", "gus-password", &[]).await?;
    let first = app.login("gus", "gus-password").await?;
    let second = refresh(&app, &first.refresh_token).await?;
    let retried = refresh(&app, &first.refresh_token).await?;
    assert_eq!(retried.refresh_token, second.refresh_token, "the retry gets the same successor");
    let third = refresh(&app, &second.refresh_token).await?;
    // The successor is used now: presenting the first token again is reuse.
    assert_refresh_refused(refresh(&app, &first.refresh_token).await);
    assert_refresh_refused(refresh(&app, &third.refresh_token).await);
    Ok(())
}

#[tokio::test]
async fn watch_revocations_is_for_service_tokens_with_the_watch_scope_only() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.admin_token().await?;
    let mut auth = app.auth.clone();

    let anonymous = auth.watch_revocations(WatchRevocationsRequest::default()).await.err().ok_or("feed opened")?;
    assert_eq!((anonymous.code(), anonymous.message()), (Code::Unauthenticated, "missing bearer token"));

    let user = auth.watch_revocations(bearer(WatchRevocationsRequest::default(), &admin)).await;
    let user = user.err().ok_or("a user token opened the feed")?;
    assert_eq!((user.code(), user.message()), (Code::PermissionDenied, "requires a service token"));
    assert_eq!(reason(&user).as_deref(), Some("SERVICE_TOKEN_REQUIRED"));

    let reader = app.service_token_for("reader", &["documents:read"], "", ADMIN_AUDIENCE).await?;
    let unscoped = auth.watch_revocations(bearer(WatchRevocationsRequest::default(), &reader)).await;
    let unscoped = unscoped.err().ok_or("a service without the scope opened the feed")?;
    assert_eq!((unscoped.code(), unscoped.message()), (Code::PermissionDenied, "requires scope revocations:watch"));
    assert_eq!(reason(&unscoped).as_deref(), Some("SCOPE_REQUIRED"));

    let watcher = app.watcher_token("watcher").await?;
    let mut stream = auth.watch_revocations(bearer(WatchRevocationsRequest::default(), &watcher)).await?.into_inner();
    use authpair_proto::auth::v1::watch_revocations_response::Event;
    let first = stream.message().await?.ok_or("empty feed")?;
    let Some(Event::Deployment(deployment)) = first.event else { return Err(format!("first: {first:?}").into()) };
    assert_eq!(deployment.issuer, authpair_tests::ISSUER);
    assert!(deployment.roles.iter().any(|grant| grant.role == "admin"), "{deployment:?}");
    let second = stream.message().await?.ok_or("no keys")?;
    assert!(matches!(second.event, Some(Event::Keys(_))), "{second:?}");
    Ok(())
}

#[tokio::test]
async fn a_watcher_ahead_of_the_log_is_told_where_it_ends_so_it_starts_over() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.admin_token().await?;
    app.create_user("wes", "wes-password", &[]).await?;
    app.admin.clone().revoke_user_sessions(bearer(RevokeUserSessionsRequest { user: by_name("wes") }, &admin)).await?;
    let watcher = app.watcher_token("watcher").await?;
    // Where the log ends now: the sequence a watch from the start reaches.
    let request = bearer(WatchRevocationsRequest::default(), &watcher);
    let mut from_start = app.auth.clone().watch_revocations(request).await?.into_inner();
    let head = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), from_start.message()).await??;
        let event = event.ok_or("the watch ended before its snapshot")?;
        if matches!(event.event, Some(Event::SnapshotComplete(_))) {
            break event.sequence;
        }
    };
    assert!(head >= 1, "{head}");
    // A watcher that stands past it (its auth database was restored from a
    // backup, say) gets a snapshot that ends below where it stands, at once,
    // and the stream ends: resuming there would skip every new entry.
    for after in [head + 100, u64::MAX] {
        let request = bearer(WatchRevocationsRequest { after_sequence: after }, &watcher);
        let mut stream = app.auth.clone().watch_revocations(request).await?.into_inner();
        // The stream must end by itself: a live one sends heartbeats forever.
        let events = tokio::time::timeout(Duration::from_secs(10), async {
            let mut events = Vec::new();
            while let Some(event) = stream.message().await? {
                events.push(event);
            }
            Ok::<_, Status>(events)
        })
        .await
        .map_err(|_| format!("after_sequence {after}: the watch went on past its snapshot"))??;
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(matches!(events[0].event, Some(Event::Deployment(_))), "{events:?}");
        assert!(matches!(events[1].event, Some(Event::Keys(_))), "{events:?}");
        assert!(matches!(events[2].event, Some(Event::SnapshotComplete(_))), "{events:?}");
        assert_eq!(events[2].sequence, head);
    }
    Ok(())
}

/// Opens a revocation watch with `token` and reads it up to its
/// SnapshotComplete, so what follows is live.
async fn live_watch(app: &TestApp, token: &str) -> TestResult<tonic::Streaming<WatchRevocationsResponse>> {
    let mut stream =
        app.auth.clone().watch_revocations(bearer(WatchRevocationsRequest::default(), token)).await?.into_inner();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.message()).await?;
        if matches!(event?.ok_or("the watch ended before its snapshot")?.event, Some(Event::SnapshotComplete(_))) {
            return Ok(stream);
        }
    }
}

/// Reads a live watch until it ends in an error (within 10 s); only
/// heartbeats may come first.
async fn watch_error(stream: &mut tonic::Streaming<WatchRevocationsResponse>) -> TestResult<Status> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.message()).await? {
            Err(status) => return Ok(status),
            Ok(Some(WatchRevocationsResponse { event: Some(Event::Heartbeat(_)), .. })) => continue,
            Ok(other) => return Err(format!("the watch went on: {other:?}").into()),
        }
    }
}

/// The auth service closes every connection at max age + grace, a revocation
/// feed's included. The resource service's feed then reconnects and resumes:
/// calls go on (its denylist never goes stale), and a revocation made after
/// the cut still reaches it.
#[tokio::test]
async fn a_feed_cut_at_its_connections_max_age_plus_grace_resumes_and_still_carries_revocations() -> TestResult {
    // A grace of 2 s: no unary call of this test (a login hashes) is still
    // in flight at the cut, only the feeds.
    let (age, grace) = (Duration::from_secs(1), Duration::from_secs(2));
    let app = TestApp::spawn_with(
        |a| (a.shared.serving.max_connection_age, a.shared.serving.max_connection_age_grace) = (age, grace),
        |_| {},
    )
    .await?;
    let (_, token) = app.user_with_token("ivy", &["viewer"]).await?;
    let (_, bystander) = app.user_with_token("jon", &["viewer"]).await?;
    // A watch of our own, opened after the resource service's: once it is
    // cut, the resource service's feed has been cut at least once too.
    let watcher = app.watcher_token("watcher").await?;
    let mut watch = live_watch(&app, &watcher).await?;
    let cut = watch_error(&mut watch).await?;
    eprintln!("our own watch was cut: {cut:?}");

    profile(&app, &bystander).await?;
    let admin = app.admin_token().await?;
    app.admin.clone().revoke_user_sessions(bearer(RevokeUserSessionsRequest { user: by_name("ivy") }, &admin)).await?;
    let took = app.time_until_revoked(&token, Duration::from_secs(5)).await?;
    eprintln!("a revocation after the cut reached the resource service after {took:?}");
    profile(&app, &bystander).await?;
    Ok(())
}

#[tokio::test]
async fn az_05_a_watcher_whose_service_account_is_deleted_is_cut_off_mid_stream_while_others_watch_on() -> TestResult {
    let app = TestApp::spawn().await?;
    let doomed = app.watcher_token("watcher-a").await?;
    let other = app.watcher_token("watcher-b").await?;
    let mut doomed_stream = live_watch(&app, &doomed).await?;
    let mut other_stream = live_watch(&app, &other).await?;

    let admin = app.admin_token().await?;
    let request = bearer(DeleteServiceAccountRequest { name: "watcher-a".into() }, &admin);
    app.admin.clone().delete_service_account(request).await?;

    // The interceptor admitted the call once; the feed checks every event.
    let status = watch_error(&mut doomed_stream).await?;
    assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "token revoked"), "{status:?}");
    assert_eq!(reason(&status).as_deref(), Some("TOKEN_REVOKED"));

    // The other watcher is told about the deletion and stays connected.
    let told = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), other_stream.message()).await??;
        match event.ok_or("the other watch ended")?.event {
            Some(Event::Heartbeat(_)) => continue,
            told => break told,
        }
    };
    match told {
        Some(Event::Subject(s)) => assert_eq!(s.subject, "svc:watcher-a"),
        other => panic!("expected the subject revocation, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn az_05_a_watch_ends_with_token_expired_when_the_watchers_token_expires() -> TestResult {
    let app = TestApp::spawn_with(|a| a.access_token_ttl = Duration::from_secs(2), |_| {}).await?;
    let watcher = app.watcher_token("watcher").await?;
    let expires_at = segment(&watcher, 1).and_then(|c| c["exp"].as_i64()).ok_or("no exp")?;
    let mut stream = live_watch(&app, &watcher).await?;

    let status = watch_error(&mut stream).await?;
    assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "token expired"), "{status:?}");
    assert_eq!(reason(&status).as_deref(), Some("TOKEN_EXPIRED"));
    assert!(authpair_tests::now() >= expires_at, "ended before the token expired");
    Ok(())
}

#[tokio::test]
async fn ds_06_a_flood_of_unknown_kids_causes_at_most_one_key_fetch() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.root_token().await?;
    let fetches = |app: &TestApp, admin: String| {
        let mut resource = app.resource.clone();
        async move {
            Ok::<_, Status>(
                resource
                    .get_admin_dashboard(bearer(GetAdminDashboardRequest {}, &admin))
                    .await?
                    .into_inner()
                    .key_fetches,
            )
        }
    };
    let before = fetches(&app, admin.clone()).await?;
    let forger = app.forger().await?;
    let claims = forger.claims("mallory", &["admin"]);
    for i in 0..1000 {
        let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": format!("random-{i}")});
        let status = profile(&app, &forger.sign(&header, &claims)).await.err().ok_or("unknown kid accepted")?;
        assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "unknown signing key"));
    }
    let after = fetches(&app, admin.clone()).await?;
    eprintln!("key fetches caused by 1000 unknown kids: {}", after - before);
    assert!(after - before <= 1, "{before} -> {after}");
    Ok(())
}

#[tokio::test]
async fn r_04_signing_key_rotation_under_load_fails_no_call() -> TestResult {
    let app = TestApp::spawn_with(|a| a.key_publish_delay = Duration::from_secs(1), |_| {}).await?;
    app.create_user("rob", "rob-password", &[]).await?;
    let old = app.login("rob", "rob-password").await?;
    let old_kid = kid_of(&old.access_token).ok_or("no kid")?;
    let admin = app.admin_token().await?;

    // Load: refresh for a new token, then call with it, over and over.
    let load = {
        let (auth, resource) = (app.auth.clone(), app.resource.clone());
        let mut refresh_token = old.refresh_token.clone();
        let old_kid = old_kid.clone();
        tokio::spawn(async move {
            let (mut auth, mut resource) = (auth, resource);
            let (mut calls, mut failures, mut new_kid_calls) = (0u32, Vec::new(), 0u32);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(4) {
                let pair = match auth.refresh(RefreshRequest { refresh_token: refresh_token.clone() }).await {
                    Ok(pair) => pair.into_inner(),
                    Err(status) => {
                        failures.push(status);
                        break;
                    }
                };
                refresh_token = pair.refresh_token.clone();
                for _ in 0..5 {
                    calls += 1;
                    match resource.get_my_profile(bearer(GetMyProfileRequest {}, &pair.access_token)).await {
                        Ok(_) => {}
                        Err(status) => failures.push(status),
                    }
                }
                if kid_of(&pair.access_token).as_deref() != Some(old_kid.as_str()) {
                    new_kid_calls += 5;
                }
            }
            (calls, failures, new_kid_calls)
        })
    };
    let rotated = app.admin.clone().rotate_signing_key(bearer(RotateSigningKeyRequest {}, &admin)).await?;
    let rotated = rotated.into_inner();
    assert_eq!(rotated.previous_kid, old_kid);
    assert_ne!(rotated.kid, old_kid);
    // Published at once, before it signs anything.
    let jwks = app.auth.clone().get_jwks(GetJwksRequest {}).await?.into_inner();
    let kids: Vec<_> = jwks.keys.iter().map(|k| k.kid.as_str()).collect();
    assert!(kids.contains(&rotated.kid.as_str()) && kids.contains(&old_kid.as_str()), "{kids:?}");

    let (calls, failures, new_kid_calls) = load.await?;
    eprintln!("rotation under load: {calls} calls, {} failed, {new_kid_calls} with the new key", failures.len());
    assert!(failures.is_empty(), "{failures:?}");
    assert!(new_kid_calls > 0, "the new key never signed during the test");
    // A token signed by the old key stays valid until it expires.
    assert_eq!(profile(&app, &old.access_token).await?.len(), 36);
    Ok(())
}

#[tokio::test]
async fn r_04_once_the_old_key_is_retired_a_token_it_signed_is_unauthenticated() -> TestResult {
    // Retired after the longest a token it signed can live (2 s lifetime, no
    // leeway at the auth service). The resource service keeps its default
    // 30 s leeway, so the old token is refused for its key, not its age.
    let app = TestApp::spawn_with(
        |a| {
            a.access_token_ttl = Duration::from_secs(2);
            a.shared.tokens.leeway = Duration::ZERO;
            a.key_publish_delay = Duration::ZERO;
        },
        |_| {},
    )
    .await?;
    app.create_user("rue", "rue-password", &[]).await?;
    let old = app.login("rue", "rue-password").await?;
    let admin = app.admin_token().await?;
    let rotated = app.admin.clone().rotate_signing_key(bearer(RotateSigningKeyRequest {}, &admin)).await?;
    assert_eq!(rotated.into_inner().previous_kid, kid_of(&old.access_token).ok_or("no kid")?);
    assert_eq!(profile(&app, &old.access_token).await?.len(), 36, "published until retired");

    // The resource service first trusts both keys (the rotation reaches it
    // over the feed), then only the new one: the old key goes within its
    // grace plus a maintenance tick and the feed's hop. Asked every 20 ms,
    // not assumed after a fixed sleep; a single count of 1 could still be the
    // old key alone, before the rotation arrived.
    let start = Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    for (keys, waiting_for) in [(2, "the new key is not trusted"), (1, "the old key is still published")] {
        loop {
            poll.tick().await;
            let status = app.resource.clone().get_status(GetStatusRequest {}).await?.into_inner();
            if status.signing_keys == keys {
                break;
            }
            if start.elapsed() > Duration::from_secs(15) {
                return Err(format!("{waiting_for}: {status:?}").into());
            }
        }
    }
    let refused = profile(&app, &old.access_token).await.err().ok_or("a retired key's token was accepted")?;
    assert_eq!((refused.code(), refused.message()), (Code::Unauthenticated, "unknown signing key"));
    assert_eq!(reason(&refused).as_deref(), Some("TOKEN_INVALID"));
    let new = refresh(&app, &old.refresh_token).await?;
    assert_ne!(kid_of(&new.access_token), kid_of(&old.access_token));
    assert_eq!(profile(&app, &new.access_token).await?.len(), 36);
    Ok(())
}

#[tokio::test]
async fn r_01_revocations_sessions_and_keys_survive_a_crash_of_both_services() -> TestResult {
    let mut app = TestApp::spawn().await?;
    app.create_user("kim", "kim-password", &[]).await?;
    app.create_user("lee", "lee-password", &[]).await?;
    let revoked = app.login("kim", "kim-password").await?;
    let request = bearer(LogoutRequest { refresh_token: revoked.refresh_token.clone() }, &revoked.access_token);
    app.auth.clone().logout(request).await?;
    let live = app.login("lee", "lee-password").await?;
    let other = app.login("kim", "kim-password").await?;
    let admin = app.admin_token().await?;
    app.admin.clone().revoke_user_sessions(bearer(RevokeUserSessionsRequest { user: by_name("kim") }, &admin)).await?;

    app.resource_server.kill().await;
    app.auth_server.kill().await;
    let auth = start_auth_at(app.auth_server.addr, app.auth_config.clone()).await?;
    let resource = start_resource(resource_config(&auth, app.data_dir.path().join("resource-after"))).await?;
    app.resource = authpair_proto::resource::v1::resource_service_client::ResourceServiceClient::new(
        authpair_tests::channel(resource.addr)?,
    );

    assert_revoked(profile(&app, &revoked.access_token).await);
    assert_revoked(profile(&app, &other.access_token).await);
    assert_refresh_refused(refresh(&app, &other.refresh_token).await);
    assert_eq!(profile(&app, &live.access_token).await?.len(), 36);
    let refreshed = refresh(&app, &live.refresh_token).await?;
    assert_eq!(profile(&app, &refreshed.access_token).await?.len(), 36);
    assert!(!app.login("kim", "kim-password").await?.access_token.is_empty());
    Ok(())
}

#[tokio::test]
async fn r_08_while_the_auth_service_is_down_the_last_list_holds_then_calls_fail_closed_then_recover() -> TestResult {
    let mut app = TestApp::spawn_with(|_| {}, |r| r.follow.max_revocation_staleness = Duration::from_secs(2)).await?;
    app.create_user("nat", "nat-password", &[]).await?;
    let revoked = app.login("nat", "nat-password").await?;
    let live = app.login("nat", "nat-password").await?;
    let request = bearer(LogoutRequest { refresh_token: revoked.refresh_token }, &revoked.access_token);
    app.auth.clone().logout(request).await?;
    app.time_until_revoked(&revoked.access_token, Duration::from_secs(1)).await?;

    app.auth_server.stop().await?;
    // Down, within the staleness bound: the last-known list holds.
    assert_revoked(profile(&app, &revoked.access_token).await);
    assert_eq!(profile(&app, &live.access_token).await?.len(), 36);
    // Past it: fail closed.
    wait_for_health(app.resource_server.addr, ServingStatus::NotServing).await?;
    let stale = profile(&app, &live.access_token).await.err().ok_or("served on a stale list")?;
    assert_eq!((stale.code(), stale.message()), (Code::Unavailable, "revocation list is stale"));
    assert_eq!(reason(&stale).as_deref(), Some("REVOCATIONS_STALE"));
    let status = app.resource.clone().get_status(GetStatusRequest {}).await?.into_inner();
    assert!(status.revocation_feed_age_seconds >= 2, "{status:?}");

    // Back on the same address: the feed resumes by itself.
    let _auth = start_auth_at(app.auth_server.addr, app.auth_config.clone()).await?;
    wait_for_health(app.resource_server.addr, ServingStatus::Serving).await?;
    assert_eq!(profile(&app, &live.access_token).await?.len(), 36);
    assert_revoked(profile(&app, &revoked.access_token).await);
    Ok(())
}
