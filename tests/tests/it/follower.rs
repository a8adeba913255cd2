//! The revocation follower (`authpair_claims::follower`) on its own: why the
//! feed runs on a thread of its own.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use authpair_claims::{
    AuthError, Claims, Denylist, Verifier, VerifierConfig,
    follower::{DEFAULT_UNKNOWN_KID_REFETCH, Follower, FollowerConfig, SecretString},
};
use authpair_proto::auth::v1::{LoginRequest, LogoutRequest, auth_service_client::AuthServiceClient};
use authpair_tests::{ADMIN_AUDIENCE, RESOURCE_CLIENT_ID, RESOURCE_CLIENT_SECRET, bearer};
use tonic::transport::Channel;

/// Polls `probe` until it returns Some, for at most 10 s. It runs on the
/// caller's thread, which is the point: that thread's runtime is blocked.
fn blocking_wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = probe() {
            return Ok(found);
        }
        anyhow::ensure!(Instant::now() < deadline, "{what}: not within 10 s");
        std::thread::park_timeout(Duration::from_millis(1));
    }
}

/// A revocation must reach the denylist even while the runtime that serves
/// calls is busy. Here that runtime, the one that started the follower, is
/// blocked outright for the whole test; a feed spawned onto it would never
/// run, and the test would fail at its deadline.
#[test]
fn rv_01_the_feed_applies_a_revocation_while_the_runtime_that_started_it_is_blocked() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // The auth service on a runtime of its own; bound before it serves, so
    // clients can connect at once.
    let auth_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let mut config = auth_service::Config::new(dir.path().join("auth"));
    config.bootstrap_admin = Some(auth_service::BootstrapAdmin::new("root", "root-password-for-feed-test"));
    config.bootstrap_service_account =
        Some(auth_service::BootstrapServiceAccount::new(RESOURCE_CLIENT_ID, RESOURCE_CLIENT_SECRET));
    let listener = auth_runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}", listener.local_addr()?);
    auth_runtime.spawn(auth_service::serve(listener, config, std::future::pending()));
    let auth = auth_runtime.block_on(Channel::from_shared(url.clone())?.connect())?;
    let mut client = AuthServiceClient::new(auth);
    let login =
        LoginRequest { username: "root".into(), password: "root-password-for-feed-test".into(), ..Default::default() };
    let session = auth_runtime.block_on(client.login(login))?.into_inner();

    let verifier = Arc::new(Verifier::new(VerifierConfig::following(
        "authpair".into(),
        Duration::from_secs(30),
        Duration::from_secs(3600),
    )));
    let denylist = Arc::new(Denylist::fed(Duration::from_secs(60)));
    let serving = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    serving.block_on(async {
        let _follower = Follower::start(
            FollowerConfig {
                service: "follower-test",
                auth_urls: vec![url],
                tls: None,
                client_id: RESOURCE_CLIENT_ID.into(),
                client_secret: SecretString::from(RESOURCE_CLIENT_SECRET),
                auth_audience: ADMIN_AUDIENCE.into(),
                unknown_kid_refetch: DEFAULT_UNKNOWN_KID_REFETCH,
                policy: None,
            },
            verifier.clone(),
            denylist.clone(),
        )?;
        // From here to the end of this block, this runtime's one thread never
        // yields to it: nothing else on it can run, the key fetcher included.
        let claims: Arc<Claims> = blocking_wait_for("the feed's keys and snapshot", || {
            verifier.verify(&session.access_token).ok().filter(|_| !denylist.is_stale())
        })?;
        assert_eq!(denylist.check(&claims), Ok(()));

        // Log out with the access token attached, which revokes it; from
        // another thread, on the auth service's runtime.
        let logout = bearer(LogoutRequest { refresh_token: session.refresh_token.clone() }, &session.access_token);
        let handle = auth_runtime.handle().clone();
        let done = std::thread::spawn(move || handle.block_on(client.logout(logout)));
        let done = done.join().map_err(|_| anyhow::anyhow!("the logout thread panicked"))??.into_inner();
        assert!(done.access_token_revoked);

        blocking_wait_for("the revocation", || (denylist.check(&claims) == Err(AuthError::Revoked)).then_some(()))
    })
}
