//! Handlers whose callers go away (a deadline passes, the client hangs up)
//! in the middle of a write: ones that log revocations, one that is
//! audited. The calls go through
//! the gRPC handlers with a verified caller, as the interceptor leaves them.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::anyhow;
use authpair_claims::{ADMIN_ROLE, Caller, Claims, Verifier, VerifierConfig};
use authpair_proto::auth::v1::{
    CreateServiceAccountRequest, LogoutRequest, RefreshRequest, RevokeUserSessionsRequest, UserRef,
    admin_service_server::AdminService, auth_service_server::AuthService, user_ref,
};
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tonic::{Request, Status};
use tracing_subscriber::{
    Layer,
    layer::{Context, SubscriberExt as _},
};

use super::{admin::AdminApi, auth::AuthApi};
use crate::{
    Config,
    sessions::grants,
    state::{AuthState, now},
    store::{NewUser, UserRow},
};

/// Rounds per test; round `n` gives its call up after `(n % 40)²` turns of
/// the runtime (0 to 1,521), so some rounds give up as the commit completes.
const ROUNDS: u32 = 2_000;

/// RV-02: an admin's RevokeUserSessions given up at every point of its
/// write. Whatever the round, once the entry is committed it is in force in
/// this instance's denylist and announced on its feed: at once, not one
/// feed heartbeat later when the log sweep would find it.
#[tokio::test]
async fn rv_02_a_session_revocation_whose_caller_goes_away_after_its_commit_is_in_force_and_announced_at_once()
-> anyhow::Result<()> {
    let (state, user, _dir) = started().await?;
    let api = AdminApi::new(state.clone());
    let verifier = verifier(&state)?;
    let mut tally = Tally::default();
    for round in 0..ROUNDS {
        let target = UserRef { user: Some(user_ref::User::Id(user.id.clone())) };
        let request = as_caller(&state, &verifier, &user, RevokeUserSessionsRequest { user: Some(target) })?;
        tally.count(round, given_up_after(round, api.revoke_user_sessions(request)).await)?;
        settled(&state).await.map_err(|e| anyhow!("round {round}: {e}"))?;
    }
    tally.covered_both();
    Ok(())
}

/// RV-02 for Logout with the caller's own access token, which logs that
/// token's revocation in the transaction that ends the session.
#[tokio::test]
async fn rv_02_a_logout_whose_caller_goes_away_after_its_commit_has_its_access_token_revoked_at_once()
-> anyhow::Result<()> {
    let (state, user, _dir) = started().await?;
    let api = AuthApi::new(state.clone());
    let verifier = verifier(&state)?;
    let mut tally = Tally::default();
    for round in 0..ROUNDS {
        let session = state.next_refresh(now())?;
        let access = state.next_access(now())?;
        state.store.start_refresh_family(&user.id, "", (&session.record, &access.record), now(), now() + 3600).await?;
        let refresh_token = session.token.expose_secret().to_owned();
        let request = as_caller(&state, &verifier, &user, LogoutRequest { refresh_token })?;
        if let Some(done) = tally.count(round, given_up_after(round, api.logout(request)).await)? {
            assert!(done.get_ref().access_token_revoked, "round {round}: the caller's own token was kept");
        }
        settled(&state).await.map_err(|e| anyhow!("round {round}: {e}"))?;
    }
    tally.covered_both();
    Ok(())
}

/// RV-02 for a Refresh that presents a rotated refresh token again: the
/// reuse revokes the family and logs its access tokens as revoked, and
/// those entries are in force and announced at once however early the
/// caller gives up after the commit.
#[tokio::test]
async fn rv_02_a_refresh_reuse_whose_caller_goes_away_has_the_familys_access_tokens_revoked_at_once()
-> anyhow::Result<()> {
    let (state, user, _dir) = started().await?;
    let api = AuthApi::new(state.clone());
    let (mut finished, mut given_up) = (0, 0);
    // Every (round % 40)² of `given_up_after`, ten times over.
    for round in 0..400 {
        let session = state.next_refresh(now())?;
        let access = state.next_access(now())?;
        state.store.start_refresh_family(&user.id, "", (&session.record, &access.record), now(), now() + 3600).await?;
        let refresh = || Request::new(RefreshRequest { refresh_token: session.token.expose_secret().to_owned() });
        let rotated = AuthService::refresh(&api, refresh()).await?.into_inner().access_token;
        let rotated = jti_of(&rotated)?;
        let before = state.store.revocation_head().await?;
        match given_up_after(round, AuthService::refresh(&api, refresh())).await {
            None => given_up += 1,
            Some(Err(status)) if status.message() == "invalid refresh token" => {
                finished += 1;
                // The login's access token and the rotation's, each once.
                // Counted by token id: an earlier round whose caller gave
                // up may commit its own entries in the background meanwhile.
                let mut logged: Vec<String> = state
                    .store
                    .revocations_after(&state.deployment.issuer, before, now())
                    .await?
                    .into_iter()
                    .filter_map(|(_, revocation)| match revocation {
                        authpair_claims::Revocation::Token { token_id, .. }
                            if token_id == access.record.token_id || token_id == rotated =>
                        {
                            Some(token_id)
                        }
                        _ => None,
                    })
                    .collect();
                logged.sort();
                let mut expected = vec![access.record.token_id.clone(), rotated.clone()];
                expected.sort();
                assert_eq!(logged, expected, "round {round}: the family's access tokens logged as revoked");
            }
            Some(other) => return Err(anyhow!("round {round}: reuse answered {other:?}")),
        }
        settled(&state).await.map_err(|e| anyhow!("round {round}: {e}"))?;
    }
    assert!(finished > 0 && given_up > 0, "{finished} finished, {given_up} given up: the rounds did not cover both");
    Ok(())
}

/// The `jti` of an access token, read without verifying it.
fn jti_of(token: &str) -> anyhow::Result<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).ok_or_else(|| anyhow!("not a JWS"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?)?;
    claims["jti"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("no jti"))
}

/// Every admin write that commits is audited, even when its caller goes
/// away: CreateServiceAccount here, the write that stores no password hash,
/// so 2,000 rounds stay quick. Each service account is one audit line.
#[tokio::test]
async fn an_admin_write_whose_caller_goes_away_after_its_commit_is_still_audited() -> anyhow::Result<()> {
    let audited = AuditLines::default();
    // This thread's subscriber: the runtime of a `tokio::test` runs every
    // task it spawns on this thread.
    let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(audited.clone()));
    let (state, user, _dir) = started().await?;
    let api = AdminApi::new(state.clone());
    let verifier = verifier(&state)?;
    let mut tally = Tally::default();
    for round in 0..ROUNDS {
        let account = CreateServiceAccountRequest {
            name: format!("svc-{round}"),
            scopes: vec!["documents:read".into()],
            plan: "free".into(),
            audiences: Vec::new(),
            ..Default::default()
        };
        let request = as_caller(&state, &verifier, &user, account)?;
        tally.count(round, given_up_after(round, api.create_service_account(request)).await)?;
    }
    tally.covered_both();
    // Every stored account has its line.
    within_5s(|| async {
        let (stored, lines) = (state.store.service_accounts().await?.len(), audited.count());
        Ok((stored != lines).then(|| format!("{stored} service accounts stored, {lines} audited")))
    })
    .await
}

/// Counts `service_account_created` audit events.
#[derive(Clone, Default)]
struct AuditLines(Arc<AtomicUsize>);

impl AuditLines {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl<S: tracing::Subscriber> Layer<S> for AuditLines {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct IsCreation(bool);
        impl tracing::field::Visit for IsCreation {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.0 |= field.name() == "event" && value == "service_account_created";
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        if event.metadata().target() == "authpair::audit" {
            let mut creation = IsCreation(false);
            event.record(&mut creation);
            if creation.0 {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// An auth service's state on an empty SQLite database in a temporary data
/// dir, and one user: an admin, because a store with no enabled admin
/// refuses to revoke anyone.
async fn started() -> anyhow::Result<(Arc<AuthState>, UserRow, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    // The sender is dropped: nothing here streams the feed.
    let (_, stopping) = watch::channel(false);
    let config = Config::new(dir.path());
    let deployment = config.deployment("http://127.0.0.1:50061");
    let audiences = vec![deployment.issuer.clone()];
    let state = AuthState::open(config, deployment, audiences, stopping).await?;
    let user = NewUser {
        username: "leaving".into(),
        canonical: "leaving".into(),
        skeleton: "leaving".into(),
        password_hash: "-".into(),
        roles: vec![ADMIN_ROLE.into()],
        plan: "free".into(),
    };
    let user = state.store.create_user(user, now()).await?;
    Ok((state, user, dir))
}

fn verifier(state: &AuthState) -> anyhow::Result<Verifier> {
    let config = &state.config;
    let verifier = Verifier::new(VerifierConfig::new(
        state.deployment.issuer.clone(),
        config.admin_audience.clone(),
        config.shared.tokens.leeway,
        config.access_token_ttl,
    ));
    verifier.set_keys(&state.keys.published())?;
    Ok(verifier)
}

/// `message` sent by `user` with a new access token, verified as the
/// interceptor would.
fn as_caller<T>(state: &AuthState, verifier: &Verifier, user: &UserRow, message: T) -> anyhow::Result<Request<T>> {
    let grant = grants::for_user(user, &state.config.role_scopes, 0, &state.config.admin_audience);
    let issued = state.sign(&grant, None).map_err(|e| anyhow!("{e:?}"))?;
    let claims: Arc<Claims> = verifier.verify(issued.token.expose_secret())?;
    let mut request = Request::new(message);
    // The handlers read only the caller, not the path.
    let context = Caller::new(claims);
    request.extensions_mut().insert(context);
    Ok(request)
}

/// Polls `call` until it finishes (Some) or round `round`'s turns are used
/// up (None: the call is dropped, as tonic drops a cancelled one).
async fn given_up_after<T>(round: u32, call: impl Future<Output = Result<T, Status>>) -> Option<Result<T, Status>> {
    let give_up = async {
        for _ in 0..(round % 40).pow(2) {
            tokio::task::yield_now().await;
        }
    };
    tokio::select! {
        biased;
        done = call => Some(done),
        () = give_up => None,
    }
}

/// Waits until every committed log entry is applied and announced here.
async fn settled(state: &AuthState) -> anyhow::Result<()> {
    within_5s(|| async {
        let head = state.store.revocation_head().await?;
        let (applied, announced) = (state.denylist.sequence(), state.feed.head());
        let settled = applied == head && announced == head;
        Ok((!settled)
            .then(|| format!("entry {head} is committed, but applied only to {applied} and announced to {announced}")))
    })
    .await
}

/// Polls `check` (None when what it checks holds, else why not) for 5 s at
/// most. A write still running in the background may finish meanwhile; one
/// whose effect was lost never does.
async fn within_5s<F, Fut>(mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<String>>>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match check().await? {
            None => return Ok(()),
            Some(why) if Instant::now() > deadline => return Err(anyhow!(why)),
            Some(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

/// How many rounds' calls finished and how many were given up.
#[derive(Default)]
struct Tally {
    finished: u32,
    given_up: u32,
}

impl Tally {
    /// Counts one round's outcome; a call that finished must have succeeded.
    fn count<T>(&mut self, round: u32, outcome: Option<Result<T, Status>>) -> anyhow::Result<Option<T>> {
        let Some(done) = outcome else {
            self.given_up += 1;
            return Ok(None);
        };
        self.finished += 1;
        done.map(Some).map_err(|e| anyhow!("round {round}: {e:?}"))
    }

    fn covered_both(&self) {
        let Self { finished, given_up } = self;
        assert!(
            *finished > 0 && *given_up > 0,
            "{finished} finished, {given_up} given up: the rounds did not cover both"
        );
    }
}
