//! The scale-out deployment with the real binaries: two auth-service and two
//! resource-service processes over one PostgreSQL (a schema per service)
//! and one Redis (a key prefix of its own).

use std::time::{Duration, Instant};

use authpair_proto::{
    auth::v1::{
        CreateUserRequest, LoginRequest, LoginResponse, LogoutRequest, admin_service_client::AdminServiceClient,
        auth_service_client::AuthServiceClient,
    },
    resource::v1::{GetMyProfileRequest, SearchRequest, resource_service_client::ResourceServiceClient},
};
use authpair_tests::{
    PgSchema, Process, RedisPrefix, ServingStatus, TestResult, bearer, channel, reason, redis_or_skip, wait_for_health,
};
use secrecy::ExposeSecret;
use tonic::{Code, Status, transport::Channel};

const ADMIN: &str = "root:multi-process-admin-password";
const SERVICE_ACCOUNT: &str = "resource-service:multi-process-resource-secret";

struct Deployment {
    auth: [Process; 2],
    resource: [Process; 2],
    _schemas: [PgSchema; 2],
    _prefix: RedisPrefix,
    _data: tempfile::TempDir,
}

impl Deployment {
    async fn start() -> anyhow::Result<Self> {
        let data = tempfile::tempdir()?;
        let schemas = [PgSchema::create("auth").await?, PgSchema::create("resource").await?];
        let prefix = RedisPrefix::new();
        let auth_db = schemas[0].url();
        let dir = |name: &str| data.path().join(name).display().to_string();
        // Every instance on the database has the same master key.
        let master_key = authpair_tests::master_key_file(data.path())?.display().to_string();
        let start_auth = |name: &'static str| {
            let (dir, db, prefix) = (dir(name), auth_db.expose_secret().to_owned(), prefix.0.clone());
            let master_key = master_key.clone();
            async move {
                let args =
                    ["--listen", "127.0.0.1:0", "--metrics-listen", "off", "--http-listen", "off", "--data-dir", &dir];
                let env = [
                    ("AUTH_MASTER_KEY_FILE", master_key.as_str()),
                    ("AUTH_DATABASE_URL", db.as_str()),
                    ("AUTH_BOOTSTRAP_ADMIN", ADMIN),
                    ("AUTH_BOOTSTRAP_SERVICE_ACCOUNT", SERVICE_ACCOUNT),
                    ("AUTH_REDIS_URL", "redis://127.0.0.1:6379"),
                    ("AUTH_REDIS_PREFIX", &prefix),
                    ("AUTH_LOG", "info"),
                    // Instances sharing a database agree on the issuer.
                    ("AUTH_ISSUER", authpair_tests::ISSUER),
                ];
                Process::spawn("auth-service", &args, &env).await
            }
        };
        // Both at once on the new database: they agree on one first key,
        // one admin and one service account.
        let (a, b) = tokio::join!(start_auth("auth-a"), start_auth("auth-b"));
        let auth = [a?, b?];
        let auth_urls = format!("{},{}", auth[0].url(), auth[1].url());
        let resource_db = schemas[1].url();
        let start_resource = |name: &'static str| {
            let (dir, db, urls) = (dir(name), resource_db.expose_secret().to_owned(), auth_urls.clone());
            let prefix = prefix.0.clone();
            let secret = SERVICE_ACCOUNT.split_once(':').map(|(_, s)| s).unwrap_or_default();
            async move {
                let args = ["--listen", "127.0.0.1:0", "--metrics-listen", "off", "--data-dir", &dir];
                let env = [
                    ("RESOURCE_AUTH_URL", urls.as_str()),
                    ("RESOURCE_CLIENT_SECRET", secret),
                    ("RESOURCE_DATABASE_URL", db.as_str()),
                    ("RESOURCE_REDIS_URL", "redis://127.0.0.1:6379"),
                    ("RESOURCE_REDIS_PREFIX", &prefix),
                    ("RESOURCE_PLAN_QUOTAS", "free=3,pro=100"),
                    ("RESOURCE_LOG", "info"),
                ];
                Process::spawn("resource-service", &args, &env).await
            }
        };
        let (r1, r2) = tokio::join!(start_resource("resource-1"), start_resource("resource-2"));
        let resource = [r1?, r2?];
        for process in auth.iter().chain(&resource) {
            wait_for_health(process.addr, ServingStatus::Serving).await?;
        }
        Ok(Self { auth, resource, _schemas: schemas, _prefix: prefix, _data: data })
    }

    fn auth(&self, i: usize) -> anyhow::Result<AuthServiceClient<Channel>> {
        Ok(AuthServiceClient::new(channel(self.auth[i].addr)?))
    }

    fn resource(&self, i: usize) -> anyhow::Result<ResourceServiceClient<Channel>> {
        Ok(ResourceServiceClient::new(channel(self.resource[i].addr)?))
    }
}

async fn login(auth: &AuthServiceClient<Channel>, username: &str, password: &str) -> Result<LoginResponse, Status> {
    login_for(auth, username, password, "").await
}

async fn login_for(
    auth: &AuthServiceClient<Channel>,
    username: &str,
    password: &str,
    audience: &str,
) -> Result<LoginResponse, Status> {
    let request = LoginRequest { username: username.into(), password: password.into(), audience: audience.into() };
    Ok(auth.clone().login(request).await?.into_inner())
}

async fn profile(resource: &ResourceServiceClient<Channel>, token: &str) -> Result<String, Status> {
    Ok(resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, token)).await?.into_inner().username)
}

/// Logs out `session` through `auth`, then calls both resources until
/// each refuses its access token; returns the slower of the two delays.
async fn revoke_and_time(
    auth: &AuthServiceClient<Channel>,
    resources: &[ResourceServiceClient<Channel>; 2],
    session: LoginResponse,
) -> anyhow::Result<Duration> {
    let request = bearer(LogoutRequest { refresh_token: session.refresh_token }, &session.access_token);
    auth.clone().logout(request).await?;
    let start = Instant::now();
    for resource in resources {
        loop {
            match profile(resource, &session.access_token).await {
                Err(status) => {
                    assert_eq!(
                        (status.code(), reason(&status).as_deref()),
                        (Code::Unauthenticated, Some("TOKEN_REVOKED"))
                    );
                    break;
                }
                Ok(_) => anyhow::ensure!(start.elapsed() < Duration::from_secs(1), "still accepted after 1 s"),
            }
        }
    }
    Ok(start.elapsed())
}

#[tokio::test]
async fn two_auth_and_two_resource_processes_share_sessions_revocations_and_quotas_and_survive_losing_an_auth()
-> TestResult {
    if !redis_or_skip("multi-process deployment").await? {
        return Ok(());
    }
    let mut deployment = Deployment::start().await?;
    let (auth_a, auth_b) = (deployment.auth(0)?, deployment.auth(1)?);
    let resources = [deployment.resource(0)?, deployment.resource(1)?];

    // A user created through A logs in through A and is known on resource 2.
    let (admin_user, admin_password) = ADMIN.split_once(':').ok_or("bad admin")?;
    let admin = login_for(&auth_a, admin_user, admin_password, authpair_tests::ADMIN_AUDIENCE).await?.access_token;
    let create = CreateUserRequest {
        username: "pat".into(),
        password: "pat-password".into(),
        roles: vec!["viewer".into()],
        plan: "free".into(),
    };
    AdminServiceClient::new(channel(deployment.auth[0].addr)?).create_user(bearer(create, &admin)).await?;
    let session = login(&auth_a, "pat", "pat-password").await?;
    assert_eq!(profile(&resources[1], &session.access_token).await?, "pat");

    // The free plan's 3 searches hold across both resources (Redis).
    for resource in [&resources[0], &resources[1], &resources[0]] {
        resource.clone().search(bearer(SearchRequest { query: "x".into() }, &session.access_token)).await?;
    }
    for resource in &resources {
        let request = bearer(SearchRequest { query: "x".into() }, &session.access_token);
        let status = resource.clone().search(request).await.err().ok_or("the quota was per instance")?;
        assert_eq!((status.code(), reason(&status).as_deref()), (Code::ResourceExhausted, Some("QUOTA_EXCEEDED")));
    }

    // Revoked through B (the session came from A): refused on both
    // resources within a second.
    let delay = revoke_and_time(&auth_b, &resources, session).await?;
    eprintln!("revocation through auth B refused on both resources after {delay:?}");

    // A steady stream of calls on both resources while auth A is killed:
    // none fails, and both keep their revocation feed through B.
    let live = login(&auth_b, "pat", "pat-password").await?;
    let stream = {
        let (resources, token) = (resources.clone(), live.access_token.clone());
        tokio::spawn(async move {
            let mut calls = 0u32;
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(3) {
                for resource in &resources {
                    if let Err(status) = profile(resource, &token).await {
                        return Err(format!("call {calls} failed: {status:?}"));
                    }
                    calls += 1;
                }
            }
            Ok(calls)
        })
    };
    deployment.auth[0].kill()?;
    let after_kill = login(&auth_b, "pat", "pat-password").await?;
    let delay = revoke_and_time(&auth_b, &resources, after_kill).await?;
    eprintln!("with auth A dead, revocation through B refused on both resources after {delay:?}");
    let calls = stream.await?.map_err(|e| format!("the stream broke: {e}"))?;
    eprintln!("{calls} calls during the kill, none failed");
    for process in &deployment.resource {
        wait_for_health(process.addr, ServingStatus::Serving).await?;
    }
    assert_eq!(profile(&resources[0], &live.access_token).await?, "pat");
    Ok(())
}
