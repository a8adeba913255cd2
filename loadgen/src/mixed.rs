//! `mixed` mode's side traffic, run beside the reused-token calls: what a
//! day of real use does, at a pace the auth service's default per-source
//! login limit (10 a second) admits even for two load tools at once.
//!
//! - **Fresh tokens** (every 400 ms): a login as one of a few users, a call
//!   with the new access token (one the resource service has never seen, so
//!   its signature is checked), a refresh, and a call with the refreshed
//!   token.
//! - **Revocations** (every second): a login, a refresh and a call, then the
//!   session ends, by turns through the user's Logout and the admin's
//!   RevokeUserSessions; the revoked access token is probed every
//!   millisecond until the resource service rejects it, and the time from
//!   the revocation's answer to the first rejected probe's sending is one
//!   sample.
//! - **Quota-limited searches** (every second): Search as a user on the
//!   `free` plan, which runs out of its allowance and is refused until the
//!   window moves on.
//!
//! Every step's status is counted under `"<step> <code>"`; a status the step
//! does not expect lands in the report's unexpected statuses and fails the
//! run, and the step's iteration stops there (the next one starts afresh).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use authpair_proto::{
    auth::v1::{
        LoginResponse, LogoutRequest, RefreshRequest, RefreshResponse, RevokeUserSessionsRequest, UserRef,
        admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient, user_ref,
    },
    resource::v1::{GetMyProfileRequest, SearchRequest, resource_service_client::ResourceServiceClient},
};
use secrecy::{ExposeSecret as _, SecretString};
use tonic::{Code, Status, transport::Channel};

use crate::{LatencySummary, setup};

/// A revocation slower than this fails the run: the feed's promise.
pub const REVOCATION_LIMIT: Duration = Duration::from_secs(1);
/// How long a revoked token is probed before the run gives up on it.
const PROBE_LIMIT: Duration = Duration::from_secs(5);
/// The admin's token is renewed this often (access tokens are short-lived).
const ADMIN_TOKEN_AGE: Duration = Duration::from_secs(300);

const FRESH_EVERY: Duration = Duration::from_millis(400);
const REVOKE_EVERY: Duration = Duration::from_secs(1);
const SEARCH_EVERY: Duration = Duration::from_secs(1);
const FRESH_USERS: usize = 4;

/// A timer ticking every `period`; a tick missed while a step ran long is
/// not made up in a burst (tokio's default), which would break the pace the
/// login limit admits.
fn paced(period: Duration) -> tokio::time::Interval {
    let mut pace = tokio::time::interval(period);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    pace
}

/// The users the side traffic logs in as. `tag` keeps two load tools'
/// users apart (one's RevokeUserSessions must not end the other's
/// sessions); the quota user is shared on purpose, so that a quota shared
/// between instances is seen to be.
fn fresh_user(tag: &str, i: usize) -> (String, String) {
    (format!("load-fresh-{tag}-{i}"), format!("load-fresh-password-{i}"))
}
fn revoke_user(tag: &str) -> (String, String) {
    (format!("load-mixed-{tag}"), "load-mixed-password".to_owned())
}
const SEARCH_USER: (&str, &str) = ("load-search", "load-search-password");

/// What the side traffic saw.
#[derive(Debug, Default)]
pub struct Mixed {
    /// Calls per `"<step> <code>"`.
    pub statuses: BTreeMap<String, u64>,
    /// The subset of `statuses` its step does not expect, plus
    /// `"revocation over 1 s"` and `"revoked token still accepted"` counts.
    pub unexpected: BTreeMap<String, u64>,
    /// From a revocation's answer to the first rejected probe's sending.
    pub propagation: LatencySummary,
    /// From a revocation's answer to the first rejection's answer.
    pub observed: LatencySummary,
}

impl Mixed {
    /// Counts `result` under `step`; `Ok(value)` if the step may go on.
    fn record<T>(&mut self, step: &str, result: Result<T, Status>, expected: &[Code]) -> Option<T> {
        let code = result.as_ref().err().map_or(Code::Ok, Status::code);
        let key = format!("{step} {code:?}");
        *self.statuses.entry(key.clone()).or_default() += 1;
        if !expected.contains(&code) {
            *self.unexpected.entry(key).or_default() += 1;
        }
        result.ok()
    }

    fn merge(&mut self, other: Mixed) {
        for (key, n) in other.statuses {
            *self.statuses.entry(key).or_default() += n;
        }
        for (key, n) in other.unexpected {
            *self.unexpected.entry(key).or_default() += n;
        }
    }
}

/// Where the side traffic goes, and as whom.
pub struct Side {
    pub auth: Channel,
    pub resource: Channel,
    /// `username:password` of an admin.
    pub admin: SecretString,
    pub admin_audience: String,
    /// Keeps this load tool's fresh-token users apart from another's.
    pub tag: String,
}

impl Side {
    /// Creates the users the side traffic needs, with an admin token.
    pub async fn prepare(&self, admin_token: &str) -> anyhow::Result<()> {
        for i in 0..FRESH_USERS {
            let (username, password) = fresh_user(&self.tag, i);
            setup::ensure_user(&self.auth, admin_token, &username, &password, "pro").await?;
        }
        let (username, password) = revoke_user(&self.tag);
        setup::ensure_user(&self.auth, admin_token, &username, &password, "pro").await?;
        setup::ensure_user(&self.auth, admin_token, SEARCH_USER.0, SEARCH_USER.1, "free").await?;
        Ok(())
    }

    /// Runs the three loops until `deadline` and merges what they saw.
    pub async fn run(self, deadline: Instant) -> anyhow::Result<Mixed> {
        let side = std::sync::Arc::new(self);
        let fresh = tokio::spawn(side.clone().fresh_tokens(deadline));
        let revoke = tokio::spawn(side.clone().revocations(deadline));
        let search = tokio::spawn(side.clone().searches(deadline));
        let (mut mixed, samples) = revoke.await??;
        mixed.merge(fresh.await??);
        mixed.merge(search.await??);
        let (mut sent, mut answered) = samples;
        mixed.propagation = LatencySummary::from_micros(&mut sent);
        mixed.observed = LatencySummary::from_micros(&mut answered);
        Ok(mixed)
    }

    fn auth_client(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.auth.clone())
    }

    fn resource_client(&self) -> ResourceServiceClient<Channel> {
        ResourceServiceClient::new(self.resource.clone())
    }

    async fn login(&self, mixed: &mut Mixed, (username, password): (&str, &str)) -> Option<LoginResponse> {
        let request = authpair_proto::auth::v1::LoginRequest {
            username: username.into(),
            password: password.into(),
            audience: String::new(),
        };
        let result = self.auth_client().login(request).await.map(tonic::Response::into_inner);
        mixed.record("Login", result, &[Code::Ok])
    }

    async fn refresh(&self, mixed: &mut Mixed, refresh_token: String) -> Option<RefreshResponse> {
        let result =
            self.auth_client().refresh(RefreshRequest { refresh_token }).await.map(tonic::Response::into_inner);
        mixed.record("Refresh", result, &[Code::Ok])
    }

    async fn profile(&self, mixed: &mut Mixed, step: &str, access_token: &str) -> Option<()> {
        let request = setup::bearer(GetMyProfileRequest {}, access_token).ok()?;
        let result = self.resource_client().get_my_profile(request).await.map(drop);
        mixed.record(step, result, &[Code::Ok])
    }

    async fn fresh_tokens(self: std::sync::Arc<Self>, deadline: Instant) -> anyhow::Result<Mixed> {
        let mut mixed = Mixed::default();
        let mut pace = paced(FRESH_EVERY);
        let mut turn = 0;
        while Instant::now() < deadline {
            pace.tick().await;
            let (username, password) = fresh_user(&self.tag, turn % FRESH_USERS);
            turn += 1;
            let Some(first) = self.login(&mut mixed, (&username, &password)).await else { continue };
            if self.profile(&mut mixed, "GetMyProfile (fresh token)", &first.access_token).await.is_none() {
                continue;
            }
            let Some(second) = self.refresh(&mut mixed, first.refresh_token).await else { continue };
            self.profile(&mut mixed, "GetMyProfile (refreshed token)", &second.access_token).await;
        }
        Ok(mixed)
    }

    async fn searches(self: std::sync::Arc<Self>, deadline: Instant) -> anyhow::Result<Mixed> {
        let mut mixed = Mixed::default();
        let mut pace = paced(SEARCH_EVERY);
        // The latest tokens, whichever of Login or Refresh gave them.
        let mut session: Option<(RefreshResponse, Instant)> = None;
        while Instant::now() < deadline {
            pace.tick().await;
            // The access token is renewed a minute before it expires.
            let (tokens, obtained) = match session.take() {
                Some((tokens, obtained)) if obtained.elapsed().as_secs() as i64 + 60 < tokens.expires_in => {
                    (tokens, obtained)
                }
                Some((old, _)) => match self.refresh(&mut mixed, old.refresh_token).await {
                    Some(tokens) => (tokens, Instant::now()),
                    None => continue,
                },
                None => match self.login(&mut mixed, SEARCH_USER).await {
                    Some(tokens) => (tokens.into(), Instant::now()),
                    None => continue,
                },
            };
            if let Ok(request) = setup::bearer(SearchRequest { query: "load".into() }, &tokens.access_token) {
                let result = self.resource_client().search(request).await.map(drop);
                mixed.record("Search", result, &[Code::Ok, Code::ResourceExhausted]);
            }
            session = Some((tokens, obtained));
        }
        Ok(mixed)
    }

    async fn admin_token(&self) -> anyhow::Result<String> {
        setup::admin_token(&self.auth, self.admin.expose_secret(), &self.admin_audience).await
    }

    #[allow(clippy::type_complexity)]
    async fn revocations(
        self: std::sync::Arc<Self>,
        deadline: Instant,
    ) -> anyhow::Result<(Mixed, (Vec<u32>, Vec<u32>))> {
        let mut mixed = Mixed::default();
        let (mut sent, mut answered) = (Vec::new(), Vec::new());
        let mut admin = (self.admin_token().await?, Instant::now());
        let mut pace = paced(REVOKE_EVERY);
        let mut turn = 0u64;
        let (username, password) = revoke_user(&self.tag);
        while Instant::now() < deadline {
            pace.tick().await;
            turn += 1;
            let Some(first) = self.login(&mut mixed, (&username, &password)).await else { continue };
            let Some(pair) = self.refresh(&mut mixed, first.refresh_token).await else { continue };
            if self.profile(&mut mixed, "GetMyProfile (before revocation)", &pair.access_token).await.is_none() {
                continue;
            }
            let ended = if turn % 2 == 1 {
                let request = setup::bearer(LogoutRequest { refresh_token: pair.refresh_token }, &pair.access_token)?;
                let result = self.auth_client().logout(request).await.map(drop);
                mixed.record("Logout", result, &[Code::Ok])
            } else {
                if admin.1.elapsed() > ADMIN_TOKEN_AGE {
                    admin = (self.admin_token().await?, Instant::now());
                }
                let user = UserRef { user: Some(user_ref::User::Username(username.clone())) };
                let request = setup::bearer(RevokeUserSessionsRequest { user: Some(user) }, &admin.0)?;
                let result = AdminServiceClient::new(self.auth.clone()).revoke_user_sessions(request).await.map(drop);
                mixed.record("RevokeUserSessions", result, &[Code::Ok])
            };
            if ended.is_none() {
                continue;
            }
            let revoked = Instant::now();
            match self.first_rejection(&pair.access_token, revoked, &mut mixed).await? {
                Some(at) => {
                    let took = at.saturating_duration_since(revoked);
                    if took > REVOCATION_LIMIT {
                        *mixed.unexpected.entry("revocation over 1 s".into()).or_default() += 1;
                    }
                    sent.push(took.as_micros() as u32);
                    answered.push(revoked.elapsed().as_micros() as u32);
                }
                None => *mixed.unexpected.entry("revoked token still accepted".into()).or_default() += 1,
            }
        }
        Ok((mixed, (sent, answered)))
    }

    /// Probes `token` every millisecond from `revoked`; when the first probe
    /// the resource service rejected was sent, or `None` after the probe
    /// limit. Probes answer OK (not yet) or UNAUTHENTICATED; anything else is
    /// counted as unexpected.
    async fn first_rejection(
        &self,
        token: &str,
        revoked: Instant,
        mixed: &mut Mixed,
    ) -> anyhow::Result<Option<Instant>> {
        let (answers, mut answered) = tokio::sync::mpsc::unbounded_channel::<(Instant, Result<(), Status>)>();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let mut in_flight = 0usize;
        let mut rejected_at = None;
        loop {
            tokio::select! {
                Some((sent, result)) = answered.recv() => {
                    in_flight -= 1;
                    let code = result.as_ref().err().map(Status::code);
                    if code == Some(Code::Unauthenticated) {
                        rejected_at = Some(rejected_at.map_or(sent, |at: Instant| at.min(sent)));
                    }
                    mixed.record("GetMyProfile (revoked token probe)", result, &[Code::Ok, Code::Unauthenticated]);
                    if rejected_at.is_some() && in_flight == 0 {
                        return Ok(rejected_at);
                    }
                }
                _ = tick.tick(), if rejected_at.is_none() => {
                    if revoked.elapsed() > PROBE_LIMIT {
                        if in_flight == 0 {
                            return Ok(None);
                        }
                        continue;
                    }
                    let (mut resource, answers) = (self.resource_client(), answers.clone());
                    let request = setup::bearer(GetMyProfileRequest {}, token)?;
                    let sent = Instant::now();
                    in_flight += 1;
                    tokio::spawn(async move {
                        let result = resource.get_my_profile(request).await.map(drop);
                        let _ = answers.send((sent, result));
                    });
                }
            }
        }
    }
}
