//! Handlers whose callers go away (a deadline passes, the client hangs up)
//! in the middle of a write that logs a revocation. The calls go through
//! the gRPC handlers with a verified caller, as the interceptor leaves them.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::anyhow;
use authpair_claims::{Claims, Plan, Role, Verifier, VerifierConfig};
use authpair_proto::auth::v1::{
    LogoutRequest, RevokeUserSessionsRequest, UserRef, admin_service_server::AdminService,
    auth_service_server::AuthService, user_ref,
};
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tonic::{Request, Status};

use super::{admin::AdminApi, auth::AuthApi};
use crate::{
    Config, grants,
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
    let (mut finished, mut given_up) = (0, 0);
    for round in 0..ROUNDS {
        let target = UserRef { user: Some(user_ref::User::Id(user.id.clone())) };
        let request = as_caller(&state, &verifier, &user, RevokeUserSessionsRequest { user: Some(target) })?;
        match given_up_after(round, api.revoke_user_sessions(request)).await {
            Some(done) => {
                done.map_err(|e| anyhow!("round {round}: {e:?}"))?;
                finished += 1;
            }
            None => given_up += 1,
        }
        settled(&state).await.map_err(|e| anyhow!("round {round}: {e}"))?;
    }
    assert!(finished > 0 && given_up > 0, "{finished} finished, {given_up} given up: the rounds did not cover both");
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
    let (mut finished, mut given_up) = (0, 0);
    for round in 0..ROUNDS {
        let session = state.next_refresh(now())?;
        state.store.start_refresh_family(&user.id, &session.record, now(), now() + 3600).await?;
        let refresh_token = session.token.expose_secret().to_owned();
        let request = as_caller(&state, &verifier, &user, LogoutRequest { refresh_token })?;
        match given_up_after(round, api.logout(request)).await {
            Some(done) => {
                let done = done.map_err(|e| anyhow!("round {round}: {e:?}"))?;
                assert!(done.get_ref().access_token_revoked, "round {round}: the caller's own token was kept");
                finished += 1;
            }
            None => given_up += 1,
        }
        settled(&state).await.map_err(|e| anyhow!("round {round}: {e}"))?;
    }
    assert!(finished > 0 && given_up > 0, "{finished} finished, {given_up} given up: the rounds did not cover both");
    Ok(())
}

/// An auth service's state on an empty SQLite database in a temporary data
/// dir, and one user: an admin, because a store with no enabled admin
/// refuses to revoke anyone.
async fn started() -> anyhow::Result<(Arc<AuthState>, UserRow, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    // The sender is dropped: nothing here streams the feed.
    let (_, stopping) = watch::channel(false);
    let state = AuthState::open(Config::new(dir.path()), stopping).await?;
    let user =
        NewUser { username: "leaving".into(), password_hash: "-".into(), roles: vec![Role::Admin], plan: Plan::Free };
    let user = state.store.create_user(user, now()).await?;
    Ok((state, user, dir))
}

fn verifier(state: &AuthState) -> anyhow::Result<Verifier> {
    let config = &state.config;
    let verifier = Verifier::new(VerifierConfig::new(
        config.issuer.clone(),
        config.audience.clone(),
        config.leeway,
        config.access_token_ttl,
    ));
    verifier.set_keys(&state.keys.published())?;
    Ok(verifier)
}

/// `message` sent by `user` with a new access token, verified as the
/// interceptor would.
fn as_caller<T>(state: &AuthState, verifier: &Verifier, user: &UserRow, message: T) -> anyhow::Result<Request<T>> {
    let grant = grants::for_user(user, &state.config.role_scopes, 0);
    let issued = state.sign(&grant).map_err(|e| anyhow!("{e:?}"))?;
    let claims: Arc<Claims> = verifier.verify(issued.token.expose_secret())?;
    let mut request = Request::new(message);
    request.extensions_mut().insert(claims);
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

/// Waits (5 s at most) until every committed log entry is applied and
/// announced here. A write still running in the background may finish; one
/// whose apply was lost never settles.
async fn settled(state: &AuthState) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let head = state.store.revocation_head().await?;
        let (applied, announced) = (state.denylist.sequence(), state.feed.head());
        if applied == head && announced == head {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(anyhow!(
                "entry {head} is committed, but applied only to {applied} and announced to {announced}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
