//! The integration-test harness: spawns the real services in-process on
//! port 0 with a real database, and returns typed clients.
//!
//! - [`TestApp::spawn`]: both services, a bootstrap admin, clients.
//! - [`Backend`]: SQLite in a temp dir, or, in the `postgres` test binary
//!   (which reruns the storage-touching modules of `it`), a schema of its
//!   own per service on the machine's PostgreSQL ([`PgSchema`]).
//! - [`Server`]: one running service that can be stopped and restarted.
//! - [`bearer`]: attach a token to a request.
//! - [`Forger`]: mints tokens with the real signing key from the data dir, for
//!   the cases an attacker cannot produce without the signing key.
//!
//! - [`raw_h2`]: HTTP/2 frames and HPACK written by hand.
//! - [`foreign`]: JWT verifiers authpair did not write (jose, PyJWT).
//! - [`grpcurl`]: the real grpcurl, as a user runs it.
//! - [`gate`]: authpair-gate beside the services, and Envoy's Check asked
//!   by Envoy's own client stubs (xds-protos).
//! - [`http1`]: one-shot HTTP/1.1 requests (hyper's client), for the auth
//!   service's HTTP listener.
//! - [`podman`]: podman with the repository's settings, the Containerfile's
//!   images built from this build's binaries, cleanup.
//!
//! Readiness is awaited through the health service's Watch stream, never by
//! sleeping.

pub mod authlib;
pub mod foreign;
pub mod gate;
pub mod grpcurl;
pub mod http1;
pub mod podman;
pub mod raw_h2;

use std::{future::Future, net::SocketAddr, path::Path};

use authpair_proto::{
    auth::v1::{
        CreateServiceAccountRequest, CreateUserRequest, IssueServiceTokenRequest, LoginRequest, LoginResponse,
        LogoutRequest, User, admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
    },
    resource::v1::{GetMyProfileRequest, resource_service_client::ResourceServiceClient},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer as _, pkcs8::DecodePrivateKey};
use serde_json::Value;
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};
pub use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

pub use auth_service::Config as AuthConfig;
pub use resource_service::Config as ResourceConfig;
use secrecy::{ExposeSecret, SecretString};

pub const ADMIN_USERNAME: &str = "root";
pub const ADMIN_PASSWORD: &str = "root-password-for-tests";
/// The resource service's own service account, provisioned at auth start.
/// The auth service's own audience (its admin API), as both services default it.
pub const ADMIN_AUDIENCE: &str = authpair_claims::defaults::ADMIN_AUDIENCE;
/// The issuer the harness's auth service is started with. Its default (the
/// public URL) would change with every restart on a new port; the tests of
/// that default start their own.
pub const ISSUER: &str = "https://auth.authpair.test";
pub const RESOURCE_CLIENT_ID: &str = "resource-service";
pub const RESOURCE_CLIENT_SECRET: &str = "resource-service-secret-for-tests";

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One running service.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    /// The auth service's HTTP listener (JWKS, discovery), when it has one.
    pub http_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Binds 127.0.0.1:0 first, so the address is known and connectable
    /// before `serve` runs; then serves in a task.
    pub async fn start<F, Fut>(addr: SocketAddr, serve: F) -> anyhow::Result<Self>
    where
        F: FnOnce(TcpListener, oneshot::Receiver<()>) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, stopped));
        Ok(Self { addr, http_addr: None, stop: Some(stop), task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://` and the HTTP listener's address; panics without one.
    pub fn http_url(&self) -> String {
        match self.http_addr {
            Some(addr) => format!("http://{addr}"),
            None => panic!("this service has no HTTP listener"),
        }
    }

    /// Waits until it serves; if it stopped instead, says why. A service
    /// that never gets ready (say, a resource service whose auth service
    /// refuses its credentials) fails the test after 30 s, not never.
    pub async fn wait_until_serving(mut self) -> anyhow::Result<Self> {
        let ready = tokio::time::timeout(std::time::Duration::from_secs(30), wait_until_serving(self.addr));
        let ready = ready.await.unwrap_or_else(|_| Err(anyhow::anyhow!("{} not SERVING after 30 s", self.addr)));
        match ready {
            Ok(()) => Ok(self),
            Err(e) if self.task.is_finished() => match (&mut self.task).await {
                Ok(Err(serve)) => Err(serve.context("the service failed to start")),
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Ends the service abruptly, like a crash: no graceful shutdown.
    pub async fn kill(&mut self) {
        self.stop = None;
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    /// Graceful stop: calls in flight finish; returns what `serve` returned.
    /// A second call does nothing.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        match self.stop.take() {
            Some(stop) => {
                let _ = stop.send(());
                (&mut self.task).await?
            }
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The loopback address with a port the OS picks.
pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub async fn start_auth(config: AuthConfig) -> anyhow::Result<Server> {
    start_auth_at(any_port(), config).await
}

/// Starts the auth service on `addr`, e.g. the address of one just stopped.
/// Its HTTP listener, unless off, is bound here too (on port 0 by default,
/// as `AuthConfig::new` has it), so its address is known.
pub async fn start_auth_at(addr: SocketAddr, config: AuthConfig) -> anyhow::Result<Server> {
    let http = match config.http_listen {
        Some(http_addr) => Some(TcpListener::bind(http_addr).await?),
        None => None,
    };
    let http_addr = http.as_ref().map(TcpListener::local_addr).transpose()?;
    let mut server = Server::start(addr, |listener, stopped| async move {
        auth_service::serve_with_http(listener, http, config, async move {
            let _ = stopped.await;
        })
        .await
    })
    .await?;
    server.http_addr = http_addr;
    server.wait_until_serving().await
}

pub async fn start_resource(config: ResourceConfig) -> anyhow::Result<Server> {
    let server = Server::start(any_port(), |listener, stopped| async move {
        resource_service::serve(listener, config, async move {
            let _ = stopped.await;
        })
        .await
    })
    .await?;
    server.wait_until_serving().await
}

pub fn channel(addr: SocketAddr) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?.connect_lazy())
}

/// Waits, on the health service's Watch stream, until the server reports
/// SERVING. The listener is already bound, so the connection succeeds as
/// soon as `serve` starts accepting.
pub async fn wait_until_serving(addr: SocketAddr) -> anyhow::Result<()> {
    wait_for_health(addr, ServingStatus::Serving).await
}

/// Waits on the health Watch stream until the server reports `status`.
pub async fn wait_for_health(addr: SocketAddr, status: ServingStatus) -> anyhow::Result<()> {
    let watch = async {
        let mut health = HealthClient::new(channel(addr)?);
        let mut updates = health.watch(HealthCheckRequest { service: String::new() }).await?.into_inner();
        while let Some(update) = updates.message().await? {
            if update.status() == status {
                return Ok(());
            }
        }
        anyhow::bail!("health stream of {addr} ended before {status:?}")
    };
    // A bound, so a service that never gets there fails the test rather
    // than hanging it.
    match tokio::time::timeout(std::time::Duration::from_secs(30), watch).await {
        Ok(result) => result,
        Err(_) => anyhow::bail!("{addr} was not {status:?} within 30 s"),
    }
}

/// `message` with `authorization: Bearer <token>`.
pub fn bearer<T>(message: T, token: &str) -> Request<T> {
    with_authorization(message, &format!("Bearer {token}"))
}

/// `message` with a raw `authorization` value.
pub fn with_authorization<T>(message: T, value: &str) -> Request<T> {
    let mut request = Request::new(message);
    match MetadataValue::try_from(value) {
        Ok(value) => {
            request.metadata_mut().insert("authorization", value);
        }
        Err(e) => panic!("test built an invalid header value: {e}"),
    }
    request
}

/// A resource-service config following `auth` as its service account.
/// A `--plan-quotas` value for a test's resource service.
pub fn plan_quotas(text: &str) -> authpair_server::quota::PlanQuotas {
    match authpair_server::quota::PlanQuotas::parse(text) {
        Ok(quotas) => quotas,
        Err(e) => panic!("plan quotas {text:?}: {e}"),
    }
}

pub fn resource_config(auth: &Server, data_dir: std::path::PathBuf) -> ResourceConfig {
    let mut config = ResourceConfig::new(auth.url(), data_dir);
    config.client_id = RESOURCE_CLIENT_ID.into();
    config.follow.client_secret = Some(RESOURCE_CLIENT_SECRET.into());
    config
}

/// Both services, with a bootstrap admin, and clients for each.
#[derive(Debug)]
pub struct TestApp {
    pub auth_server: Server,
    pub resource_server: Server,
    pub auth_config: AuthConfig,
    pub auth: AuthServiceClient<Channel>,
    pub admin: AdminServiceClient<Channel>,
    pub resource: ResourceServiceClient<Channel>,
    pub data_dir: TempDir,
    /// The PostgreSQL schemas of both services, dropped after the servers.
    pub schemas: Vec<PgSchema>,
}

impl TestApp {
    pub async fn spawn() -> anyhow::Result<Self> {
        Self::spawn_with(|_| {}, |_| {}).await
    }

    /// Spawns with configs adjusted by the two closures.
    pub async fn spawn_with(
        auth: impl FnOnce(&mut AuthConfig),
        resource: impl FnOnce(&mut ResourceConfig),
    ) -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir()?;
        let mut auth_config = AuthConfig::new(data_dir.path().join("auth"));
        auth_config.bootstrap_admin = Some(auth_service::BootstrapAdmin::new(ADMIN_USERNAME, ADMIN_PASSWORD));
        auth_config.issuer = Some(ISSUER.into());
        // Tests log in far faster than the per-source default allows; the
        // brute-force tests set their own limits.
        auth_config.throttle.source_per_sec = 1_000_000;
        auth_config.throttle.source_burst = 1_000_000;
        auth_config.bootstrap_service_account =
            Some(auth_service::BootstrapServiceAccount::new(RESOURCE_CLIENT_ID, RESOURCE_CLIENT_SECRET));
        let mut schemas = Vec::new();
        if Backend::of_this_binary() == Backend::Postgres {
            schemas = vec![PgSchema::create("auth").await?, PgSchema::create("resource").await?];
            auth_config.shared.database_url = Some(schemas[0].url());
        }
        auth(&mut auth_config);
        let auth_server = start_auth(auth_config.clone()).await?;
        let mut resource_config = resource_config(&auth_server, data_dir.path().join("resource"));
        if let Some(schema) = schemas.get(1) {
            resource_config.shared.database_url = Some(schema.url());
        }
        resource(&mut resource_config);
        let resource_server = start_resource(resource_config).await?;
        let auth_channel = channel(auth_server.addr)?;
        Ok(Self {
            auth: AuthServiceClient::new(auth_channel.clone()),
            admin: AdminServiceClient::new(auth_channel),
            resource: ResourceServiceClient::new(channel(resource_server.addr)?),
            auth_server,
            resource_server,
            auth_config,
            data_dir,
            schemas,
        })
    }

    /// Stops the auth service gracefully and starts it again on the same
    /// data dir (on a new port); the clients follow it.
    pub async fn restart_auth(&mut self) -> anyhow::Result<()> {
        self.auth_server.stop().await?;
        self.auth_server = start_auth(self.auth_config.clone()).await?;
        let channel = channel(self.auth_server.addr)?;
        self.auth = AuthServiceClient::new(channel.clone());
        self.admin = AdminServiceClient::new(channel);
        Ok(())
    }

    /// Logs in for the default audience: tokens for the resource service.
    pub async fn login(&self, username: &str, password: &str) -> Result<LoginResponse, Status> {
        self.login_for(username, password, "").await
    }

    /// Logs in for `audience` ("" for the default).
    pub async fn login_for(&self, username: &str, password: &str, audience: &str) -> Result<LoginResponse, Status> {
        let request = LoginRequest { username: username.into(), password: password.into(), audience: audience.into() };
        Ok(self.auth.clone().login(request).await?.into_inner())
    }

    /// The bootstrap admin's token for the admin API (the auth service's own
    /// audience).
    pub async fn admin_token(&self) -> Result<String, Status> {
        Ok(self.login_for(ADMIN_USERNAME, ADMIN_PASSWORD, ADMIN_AUDIENCE).await?.access_token)
    }

    /// The bootstrap admin's token for the resource service, where the admin
    /// role opens the dashboard and every document.
    pub async fn root_token(&self) -> Result<String, Status> {
        Ok(self.login(ADMIN_USERNAME, ADMIN_PASSWORD).await?.access_token)
    }

    /// Logs in and out again, the access token sent with the logout; returns
    /// the session's tokens, all revoked now.
    pub async fn logged_out(&self, username: &str, password: &str) -> anyhow::Result<LoginResponse> {
        let tokens = self.login(username, password).await?;
        let request = bearer(LogoutRequest { refresh_token: tokens.refresh_token.clone() }, &tokens.access_token);
        let done = self.auth.clone().logout(request).await?.into_inner();
        anyhow::ensure!(done.access_token_revoked, "the logout did not revoke the access token");
        Ok(tokens)
    }

    /// Calls GetMyProfile with `token` until the resource service refuses it
    /// as revoked, for at most `limit`; returns how long that took. Each
    /// round is a real call; there is no sleep.
    pub async fn time_until_revoked(
        &self,
        token: &str,
        limit: std::time::Duration,
    ) -> anyhow::Result<std::time::Duration> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Err(status) = self.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, token)).await {
                anyhow::ensure!(
                    (status.code(), status.message()) == (tonic::Code::Unauthenticated, "token revoked"),
                    "refused, but not as revoked: {status:?}"
                );
                return Ok(start.elapsed());
            }
        }
        anyhow::bail!("still accepted after {limit:?}")
    }

    /// Creates a user through the admin API, as the bootstrap admin.
    pub async fn create_user(&self, username: &str, password: &str, roles: &[&str]) -> Result<User, Status> {
        let token = self.admin_token().await?;
        let request = CreateUserRequest {
            username: username.into(),
            password: password.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            plan: String::new(),
        };
        let created = self.admin.clone().create_user(bearer(request, &token)).await?.into_inner();
        created.user.ok_or_else(|| Status::internal("CreateUser answered without the user"))
    }

    /// A fresh user with `roles`, logged in: (user, access token).
    pub async fn user_with_token(&self, username: &str, roles: &[&str]) -> Result<(User, String), Status> {
        let password = format!("{username}-password");
        let user = self.create_user(username, &password, roles).await?;
        let token = self.login(username, &password).await?.access_token;
        Ok((user, token))
    }

    /// Creates service account `name` with `scopes` and returns a token for
    /// it, asking for `scope` (space-separated; empty for all granted).
    pub async fn service_token(&self, name: &str, scopes: &[&str], scope: &str) -> Result<String, Status> {
        self.service_token_for(name, scopes, scope, "").await
    }

    /// As [`Self::service_token`], for `audience` ("" for the default), which
    /// the new account is granted.
    pub async fn service_token_for(
        &self,
        name: &str,
        scopes: &[&str],
        scope: &str,
        audience: &str,
    ) -> Result<String, Status> {
        let audiences: &[&str] = if audience.is_empty() { &[] } else { &[audience] };
        let (client_id, client_secret) = self.service_account_for(name, scopes, audiences).await?;
        let request = IssueServiceTokenRequest {
            client_id,
            client_secret,
            scope: scope.into(),
            audience: audience.into(),
            ..Default::default()
        };
        Ok(self.auth.clone().issue_service_token(request).await?.into_inner().access_token)
    }

    /// A token for service account `client_id`, all its scopes, for
    /// `audience` ("" for the default).
    pub async fn issue_service_token(&self, client_id: &str, secret: &str, audience: &str) -> Result<String, Status> {
        let request = IssueServiceTokenRequest {
            client_id: client_id.into(),
            client_secret: secret.into(),
            audience: audience.into(),
            ..Default::default()
        };
        Ok(self.auth.clone().issue_service_token(request).await?.into_inner().access_token)
    }

    /// A new service account `name` with scope revocations:watch, and a
    /// token for the auth service's own audience: what opens the feed.
    pub async fn watcher_token(&self, name: &str) -> Result<String, Status> {
        self.service_token_for(name, &["revocations:watch"], "", ADMIN_AUDIENCE).await
    }

    /// Creates service account `name`, for the default audience; returns
    /// (client id, client secret).
    pub async fn service_account(&self, name: &str, scopes: &[&str]) -> Result<(String, String), Status> {
        self.service_account_for(name, scopes, &[]).await
    }

    /// Creates service account `name`, granted `audiences` (none: the default
    /// audience alone); returns (client id, client secret).
    pub async fn service_account_for(
        &self,
        name: &str,
        scopes: &[&str],
        audiences: &[&str],
    ) -> Result<(String, String), Status> {
        let admin = self.admin_token().await?;
        let request = CreateServiceAccountRequest {
            name: name.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            plan: String::new(),
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        };
        let created = self.admin.clone().create_service_account(bearer(request, &admin)).await?.into_inner();
        Ok((created.client_id, created.client_secret))
    }

    /// A forger holding the auth service's real signing key.
    pub async fn forger(&self) -> anyhow::Result<Forger> {
        Forger::from_auth_config(&self.auth_config).await
    }
}

/// A connection to the auth service's own database, behind its back: its
/// PostgreSQL schema, or its SQLite file opened with `sqlite_mode` ("ro" to
/// read, "rw" to write what a test needs it to find).
pub async fn auth_database(config: &AuthConfig, sqlite_mode: &str) -> anyhow::Result<sqlx::AnyConnection> {
    sqlx::any::install_default_drivers();
    let url = match &config.shared.database_url {
        Some(url) => url.expose_secret().to_owned(),
        None => format!("sqlite://{}?mode={sqlite_mode}", config.shared.data_dir.join("auth.db").display()),
    };
    Ok(<sqlx::AnyConnection as sqlx::Connection>::connect(&url).await?)
}

/// A signing key as the auth service stored it, opened: with the config's
/// master key, or as it is if it is plaintext.
pub fn open_signing_key(config: &AuthConfig, kid: &str, stored: &str) -> anyhow::Result<SecretString> {
    use auth_service::keys::sealing::{MasterKey, StoredKey, classify};
    if classify(stored).map_err(|e| anyhow::anyhow!("signing key {kid} {e}"))? == StoredKey::Plaintext {
        return Ok(stored.into());
    }
    let path = config.master_key_file.as_deref().ok_or_else(|| anyhow::anyhow!("a sealed key and no master key"))?;
    MasterKey::read_file(path)?.open(kid, stored).map_err(|e| anyhow::anyhow!("signing key {kid} {e}"))
}

/// Every signing key as the auth service stored it: (kid, stored form),
/// read from its table directly.
pub async fn stored_signing_keys(config: &AuthConfig) -> anyhow::Result<Vec<(String, String)>> {
    let mut db = auth_database(config, "ro").await?;
    let query = "SELECT kid, private_key_pem FROM signing_keys ORDER BY kid";
    Ok(sqlx::query_as(query).fetch_all(&mut db).await?)
}

/// A new master key file `master.key` in `dir`, for an auth service started
/// as a process (`AUTH_MASTER_KEY_FILE`).
pub fn master_key_file(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join("master.key");
    auth_service::keys::sealing::create_master_key_file(&path)?;
    Ok(path)
}

/// Mints tokens with chosen header and claims, signed by the real key.
#[derive(Debug)]
pub struct Forger {
    key: ed25519_dalek::SigningKey,
    pub kid: String,
}

impl Forger {
    /// Reads the key that signs now from the auth service's database,
    /// opened with its master key.
    pub async fn from_auth_config(config: &AuthConfig) -> anyhow::Result<Self> {
        let mut db = auth_database(config, "ro").await?;
        let (kid, stored): (String, String) = sqlx::query_as(
            "SELECT kid, private_key_pem FROM signing_keys WHERE signs_from <= $1 \
             ORDER BY signs_from DESC, created_at DESC LIMIT 1",
        )
        .bind(now())
        .fetch_one(&mut db)
        .await?;
        let pem = open_signing_key(config, &kid, &stored)?;
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem.expose_secret())?;
        Ok(Self { key, kid })
    }

    /// The header every real access token has.
    pub fn header(&self) -> Value {
        serde_json::json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": self.kid })
    }

    /// Valid claims for `sub`, issued now for 15 minutes.
    pub fn claims(&self, sub: &str, roles: &[&str]) -> Value {
        let now = now();
        serde_json::json!({
            "iss": ISSUER, "aud": "authpair", "sub": sub,
            "iat": now, "nbf": now, "exp": now + 900,
            "jti": format!("forged-{now}-{sub}"), "gen": 0, "client_id": "login",
            "preferred_username": sub, "roles": roles, "scope": "profile", "plan": "free",
        })
    }

    /// Signs `header.claims` exactly as given (JSON text, so duplicate keys
    /// and odd types can be expressed).
    pub fn sign_raw(&self, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
        let signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(&header.to_string(), &claims.to_string())
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A user reference by username, for admin requests.
pub fn by_name(name: &str) -> Option<authpair_proto::auth::v1::UserRef> {
    use authpair_proto::auth::v1::{UserRef, user_ref};
    Some(UserRef { user: Some(user_ref::User::Username(name.into())) })
}

/// Asserts the one answer every refused refresh gets, whatever the cause
/// (unknown, reused, revoked, expired), so a refusal reveals nothing.
#[track_caller]
pub fn assert_refresh_refused<T: std::fmt::Debug>(result: Result<T, Status>) {
    match result {
        Ok(v) => panic!("expected refresh refused, got OK {v:?}"),
        Err(status) => {
            assert_eq!((status.code(), status.message()), (tonic::Code::Unauthenticated, "invalid refresh token"));
        }
    }
}

/// Asserts a refusal with exactly `code`, `message` and ErrorInfo reason.
#[track_caller]
pub fn assert_status<T: std::fmt::Debug>(result: Result<T, Status>, code: tonic::Code, message: &str, why: &str) {
    match result {
        Ok(v) => panic!("expected {code:?} {why}, got OK {v:?}"),
        Err(status) => {
            assert_eq!((status.code(), status.message()), (code, message), "{status:?}");
            assert_eq!(reason(&status).as_deref(), Some(why), "{status:?}");
        }
    }
}

/// Asserts INVALID_ARGUMENT with exactly `message` (it carries no reason).
#[track_caller]
pub fn assert_invalid_argument<T: std::fmt::Debug>(result: Result<T, Status>, message: &str) {
    match result {
        Ok(v) => panic!("expected INVALID_ARGUMENT {message:?}, got OK {v:?}"),
        Err(status) => {
            assert_eq!((status.code(), status.message()), (tonic::Code::InvalidArgument, message), "{status:?}")
        }
    }
}

/// The `google.rpc.ErrorInfo` reason of an authpair status, if any.
pub fn reason(status: &Status) -> Option<String> {
    authpair_claims::reason_of(status)
}

/// A TCP proxy for fault tests: forwards to `target` until cut, then drops
/// every connection and refuses new ones until restored.
#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        use std::sync::{Arc, Mutex, atomic::AtomicBool};
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (accept_open, accept_links) = (open.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accept_open.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                accept_links.lock().unwrap_or_else(|p| p.into_inner()).push(link);
            }
        });
        Ok(Self { addr, open, links, accept })
    }

    /// Cuts the link: live connections are dropped, new ones refused.
    pub fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// `url` (a PostgreSQL URL of [`PgSchema`]) routed through `proxy`.
pub fn through_proxy(url: &SecretString, proxy: &Proxy) -> SecretString {
    SecretString::from(url.expose_secret().replace(POSTGRES_ADDR, &proxy.addr.to_string()))
}

/// Whether the machine's Redis at 127.0.0.1:6379 answers. Under CI=true a
/// missing Redis is an error; elsewhere the caller skips, saying so.
/// Says that `test` skipped, and why, on the process's stderr: past the test
/// harness's capture, so the skip shows in a plain `cargo test` run, not
/// only with `--nocapture` (where a skipped test would otherwise read as
/// passed).
pub fn say_skipped(test: &str, why: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("SKIPPED {test}: {why}\n").as_bytes());
}

pub async fn redis_or_skip(test: &str) -> anyhow::Result<bool> {
    let reachable = async {
        let client = redis::Client::open("redis://127.0.0.1:6379")?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut connection).await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), reachable).await {
        Ok(Ok(_)) => Ok(true),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            anyhow::bail!("{test}: Redis at 127.0.0.1:6379 is required in CI")
        }
        _ => {
            say_skipped(test, "no Redis at 127.0.0.1:6379");
            Ok(false)
        }
    }
}

/// Which database the services under test run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// PostgreSQL in the `postgres` test binary, SQLite everywhere else. The
    /// binary decides, so one `cargo test` runs the same test code on both
    /// and no test sets an environment variable.
    pub fn of_this_binary() -> Self {
        let exe = std::env::current_exe().ok();
        let name = exe.as_deref().and_then(Path::file_name).and_then(|n| n.to_str()).unwrap_or_default();
        if name == "postgres" || name.starts_with("postgres-") { Backend::Postgres } else { Backend::Sqlite }
    }
}

/// The machine's PostgreSQL (trust auth); tests never stop it.
pub const POSTGRES_ADDR: &str = "127.0.0.1:5432";
const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema of its own on the shared PostgreSQL, so tests run in parallel;
/// dropped with everything in it when this is dropped.
#[derive(Debug)]
pub struct PgSchema {
    pub name: String,
}

impl PgSchema {
    /// Without PostgreSQL (and outside CI) the test binary says it skipped
    /// and exits cleanly: everything that needs a schema needs the server.
    pub async fn create(label: &str) -> anyhow::Result<Self> {
        postgres_or_exit().await?;
        // The creation time is in the name, so schemas a killed test run
        // could not drop are swept by a later one.
        let name = format!("t_{}_{}_{label}", now(), uuid::Uuid::new_v4().simple());
        let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(POSTGRES_URL).await?;
        sweep_abandoned_schemas(&mut db).await?;
        sqlx::query(&format!("CREATE SCHEMA {name}")).execute(&mut db).await?;
        Ok(Self { name })
    }

    /// The URL a service uses for this schema.
    pub fn url(&self) -> SecretString {
        self.url_at(POSTGRES_ADDR)
    }

    /// The URL through another address, e.g. a [`Proxy`] in front of PostgreSQL.
    pub fn url_at(&self, addr: impl std::fmt::Display) -> SecretString {
        SecretString::from(format!("postgres://postgres@{addr}/test?options=-c%20search_path%3D{}", self.name))
    }
}

/// Drops test schemas created over an hour ago: no test runs that long, so
/// they were left by a run that was killed before its Drop ran.
async fn sweep_abandoned_schemas(db: &mut sqlx::PgConnection) -> anyhow::Result<()> {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 't\\_%'").fetch_all(&mut *db).await?;
    for (name,) in names {
        let created = name.split('_').nth(1).and_then(|t| t.parse::<i64>().ok());
        if created.is_some_and(|t| t < now() - 3600) {
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).execute(&mut *db).await?;
        }
    }
    Ok(())
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        clean_up(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

/// Runs a cleanup statement on the shared test database from a `Drop`,
/// which may run inside a runtime: so on a thread and a runtime of its own.
fn clean_up(sql: String) {
    let statement = sql.clone();
    let cleanup = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(POSTGRES_URL).await?;
            sqlx::query(&statement).execute(&mut db).await?;
            anyhow::Ok(())
        })
    });
    if let Ok(Err(e)) = cleanup.join() {
        eprintln!("could not clean up after a test ({sql}): {e}");
    }
}

/// A database of its own on the shared PostgreSQL, for what a schema per
/// test cannot show (services choosing their own schemas); dropped, with
/// every connection to it, when this is dropped.
#[derive(Debug)]
pub struct PgDatabase {
    pub name: String,
}

impl PgDatabase {
    pub async fn create(label: &str) -> anyhow::Result<Self> {
        postgres_or_exit().await?;
        let name = format!("t_{}_{}_{label}", now(), uuid::Uuid::new_v4().simple());
        let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(POSTGRES_URL).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut db).await?;
        Ok(Self { name })
    }

    /// The URL a service uses, with no `search_path` of its own.
    pub fn url(&self) -> SecretString {
        SecretString::from(format!("postgres://postgres@{POSTGRES_ADDR}/{}", self.name))
    }

    /// A connection to it, to look at what the services wrote.
    pub async fn connect(&self) -> anyhow::Result<sqlx::PgConnection> {
        Ok(<sqlx::PgConnection as sqlx::Connection>::connect(self.url().expose_secret()).await?)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        clean_up(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

async fn postgres_reachable() -> bool {
    let connect = <sqlx::PgConnection as sqlx::Connection>::connect(POSTGRES_URL);
    matches!(tokio::time::timeout(std::time::Duration::from_secs(2), connect).await, Ok(Ok(_)))
}

/// Whether PostgreSQL answers. Under CI=true a missing PostgreSQL is an
/// error; elsewhere the caller skips, saying so.
pub async fn postgres_or_skip(test: &str) -> anyhow::Result<bool> {
    if postgres_reachable().await {
        return Ok(true);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        anyhow::bail!("{test}: PostgreSQL at {POSTGRES_ADDR} is required in CI");
    }
    say_skipped(test, &format!("no PostgreSQL at {POSTGRES_ADDR}"));
    Ok(false)
}

/// For the `postgres` binary, where every test needs PostgreSQL: without
/// it (and outside CI) the whole binary says it skipped and exits cleanly.
/// Each check is a fresh connection attempt, so it costs a round trip.
async fn postgres_or_exit() -> anyhow::Result<()> {
    if !postgres_or_skip("the PostgreSQL suite").await? {
        std::process::exit(0);
    }
    Ok(())
}

/// A Redis key prefix of its own, so tests run in parallel; every key under
/// it is deleted when this is dropped.
#[derive(Debug)]
pub struct RedisPrefix(pub String);

impl RedisPrefix {
    pub fn new() -> Self {
        Self(format!("authpair-test:{}:", uuid::Uuid::new_v4()))
    }
}

impl Default for RedisPrefix {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let cleanup = || -> redis::RedisResult<()> {
            let mut connection = redis::Client::open("redis://127.0.0.1:6379")?.get_connection()?;
            let keys: Vec<String> =
                redis::Commands::scan_match(&mut connection, format!("{}*", self.0))?.collect::<Result<_, _>>()?;
            if !keys.is_empty() {
                redis::Commands::del::<_, ()>(&mut connection, keys)?;
            }
            Ok(())
        };
        if let Err(e) = cleanup() {
            eprintln!("could not delete the test keys under {}: {e}", self.0);
        }
    }
}

/// A service running as its own process, from the real binary, killed
/// (SIGKILL) when dropped. Readiness comes from its "listening" log line,
/// which carries the address it bound (`--listen 127.0.0.1:0`): no sleeps.
#[derive(Debug)]
pub struct Process {
    pub addr: SocketAddr,
    child: std::process::Child,
}

impl Process {
    /// Starts `binary` (auth-service or resource-service) with `args` and
    /// environment `env`, and waits for its listening line.
    pub async fn spawn(binary: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::spawn_until(binary, &format!("{binary} listening"), args, env).await
    }

    /// Starts `binary` and waits for a log line holding `marker` and an
    /// `addr=`, which becomes [`Process::addr`] (the stack logs one such
    /// line for each service it runs).
    pub async fn spawn_until(binary: &str, marker: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(binary_path(binary)?)
            .args(args)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?;
        let (found, listening) = std::sync::mpsc::channel();
        let marker = marker.to_owned();
        let tail: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let lines = tail.clone();
        // Reads every line to the end, so the child never blocks on a full
        // pipe; keeps the last few to explain a failed start.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut kept = lines.lock().unwrap_or_else(|p| p.into_inner());
                if kept.len() == 20 {
                    kept.remove(0);
                }
                kept.push(line.clone());
                drop(kept);
                if line.contains(&marker) {
                    let addr = line.split("addr=").nth(1).and_then(|rest| rest.split_whitespace().next());
                    let _ = found.send(addr.unwrap_or_default().to_owned());
                }
            }
        });
        let addr = tokio::task::spawn_blocking(move || listening.recv()).await?;
        let addr = match addr {
            Ok(addr) => addr.parse()?,
            Err(_) => {
                let status = child.wait()?;
                let tail = tail.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
                anyhow::bail!("{binary} exited before listening ({status}):\n{tail}")
            }
        };
        Ok(Self { addr, child })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL, like a crashed machine: nothing is flushed or closed.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(drop)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// The workspace's root: `tests/` sits directly under it.
pub fn repo_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, at any depth.
pub fn rust_files(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    Ok(found)
}

/// The workspace binary `name` (a service, or the `authpair` CLI), in the
/// target dir this test runs from, built first if it is not current.
pub fn binary_path(name: &str) -> anyhow::Result<std::path::PathBuf> {
    // `cargo test --workspace` builds every server's binary (each package
    // has an integration test that runs it, and Cargo builds a package's
    // binaries only for its own integration tests). Asking the same command again, with
    // the same feature set, is a no-op when they are current and rebuilds
    // them when not, so a test never runs a stale binary. Once per process.
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = std::process::Command::new(env!("CARGO"))
                .args(["test", "--workspace", "--no-run", "--quiet"])
                .status()
                .map_err(|e| e.to_string())?;
            if status.success() { Ok(()) } else { Err(format!("building the workspace failed: {status}")) }
        })
        .clone()
        .map_err(anyhow::Error::msg)?;
    let exe = std::env::current_exe()?;
    let target = exe.parent().and_then(Path::parent).ok_or_else(|| anyhow::anyhow!("no target dir"))?;
    Ok(target.join(name))
}
