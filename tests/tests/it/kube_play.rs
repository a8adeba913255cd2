//! The Helm chart's Deployments, rendered by Helm and run by `podman kube
//! play`: two releases (each one auth and one resource replica, on host
//! ports of their own) on the machine's PostgreSQL and Redis, the images
//! built from the Containerfile. A login through one auth replica, a call
//! to each resource replica, and a logout that both resource replicas
//! refuse within a second.
//!
//! What podman 4.3 (Debian's) cannot do, and how the test stands in for the
//! kubelet there, without changing what the chart renders:
//! - a Secret in the played file reaches neither `secretKeyRef` variables
//!   (podman wants its own JSON form) nor volumes (raw base64, mode 0644,
//!   `defaultMode` and `fsGroup` ignored). So the releases name an existing
//!   Secret (`secrets.existingSecret`), which the test creates as podman
//!   keeps one: a JSON map of base64 values for the variables, and a volume
//!   of the same name holding the master key as the kubelet would mount it
//!   for `fsGroup: 65532` and `defaultMode: 0440` (root's, the group's to
//!   read). The service refuses a key anyone else may read.
//! - gRPC probes are ignored; readiness is awaited here through health.
//! - Services, the PodDisruptionBudget and the like are skipped by podman.

use std::{net::SocketAddr, os::unix::fs::PermissionsExt as _, time::Duration};

use authpair_proto::{
    auth::v1::{LoginRequest, LogoutRequest, auth_service_client::AuthServiceClient},
    resource::v1::{GetMyProfileRequest, resource_service_client::ResourceServiceClient},
};
use authpair_tests::{
    PgSchema, RedisPrefix, TestResult, bearer, channel,
    podman::{Made, build_images, free_port, podman, podman_async, podman_or_skip, serving},
    reason,
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use tokio::time::Instant;
use tonic::Code;

use crate::helm_chart::{render_release, tools_or_skip};

const ADMIN: &str = "root";
const ADMIN_PASSWORD: &str = "kube-play-admin-password";
const FEED_SECRET: &str = "kube-play-feed-secret-0123456789";
const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// One release's host ports.
struct Release {
    name: String,
    auth: SocketAddr,
    auth_http: u16,
    resource: SocketAddr,
    metrics: [u16; 2],
}

impl Release {
    fn new(name: String) -> anyhow::Result<Self> {
        let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
        Ok(Self {
            name,
            auth: at(free_port()?),
            auth_http: free_port()?,
            resource: at(free_port()?),
            metrics: [free_port()?, free_port()?],
        })
    }

    /// The chart's values for this release: host networking, the test's
    /// images, one replica of each service following this release's own
    /// auth replica, every instance with one issuer.
    fn values(&self, tag: &str, issuer: &str, secret: &str, redis_prefix: &str) -> Value {
        json!({
            "image": {
                "auth": {"repository": "localhost/authpair-test-auth-service", "tag": tag},
                "resource": {"repository": "localhost/authpair-test-resource-service", "tag": tag},
            },
            "hostNetwork": true,
            "auth": {
                "replicas": 1,
                "publicUrl": issuer,
                "grpcPort": self.auth.port(),
                "httpPort": self.auth_http,
                "metricsPort": self.metrics[0],
                "env": {"AUTH_REDIS_PREFIX": redis_prefix},
            },
            "resource": {
                "replicas": 1,
                "grpcPort": self.resource.port(),
                "metricsPort": self.metrics[1],
                "authUrl": format!("http://{}", self.auth),
                "env": {"RESOURCE_REDIS_PREFIX": redis_prefix},
            },
            "secrets": {"existingSecret": secret},
        })
    }

    /// The container podman names for `service` (`auth-service` or
    /// `resource-service`): the Deployment's pod, then the container.
    fn container(&self, service: &str) -> String {
        let deployment = service.trim_end_matches("-service");
        format!("{}-authpair-{deployment}-pod-0-{service}", self.name)
    }
}

/// The existing Secret both releases name, as podman 4.3 keeps one: a JSON
/// map of base64 values for `secretKeyRef`, and a volume of the same name
/// holding `master-key`, root's and readable by group 65532 only.
fn existing_secret(made: &mut Made, name: &str, keys: &[(&str, String)]) -> anyhow::Result<()> {
    let map: serde_json::Map<String, Value> =
        keys.iter().map(|(key, value)| ((*key).to_owned(), Value::String(STANDARD.encode(value)))).collect();
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), Value::Object(map).to_string())?;
    podman(&["secret", "create", name, &file.path().to_string_lossy()])?;
    made.secrets.push(name.to_owned());

    podman(&["volume", "create", name])?;
    made.volumes.push(name.to_owned());
    let dir = podman(&["volume", "inspect", "--format", "{{.Mountpoint}}", name])?;
    let key = std::path::Path::new(&dir).join("master-key");
    std::fs::write(&key, MASTER_KEY)?;
    std::os::unix::fs::chown(&key, Some(0), Some(65532))?;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o440))?;
    Ok(())
}

/// Renders `release` with `values` and plays it; its file joins `made`.
async fn play(made: &mut Made, release: &Release, values: &Value, dir: &std::path::Path) -> anyhow::Result<()> {
    let manifests = render_release(values, &release.name)?;
    let file = dir.join(format!("{}.yaml", release.name));
    std::fs::write(&file, manifests)?;
    made.kube_files.push(file.clone());
    for deployment in ["auth", "resource"] {
        made.pods.push(format!("{}-authpair-{deployment}-pod-0", release.name));
    }
    podman_async(&["kube", "play", &file.to_string_lossy()]).await?;
    serving(&release.container("auth-service"), release.auth).await?;
    serving(&release.container("resource-service"), release.resource).await
}

async fn profile(addr: SocketAddr, token: &str) -> Result<String, tonic::Status> {
    let mut resource = ResourceServiceClient::new(channel(addr).map_err(|e| tonic::Status::unknown(e.to_string()))?);
    Ok(resource.get_my_profile(bearer(GetMyProfileRequest {}, token)).await?.into_inner().username)
}

#[tokio::test]
async fn two_releases_of_the_chart_run_under_podman_kube_play_and_a_logout_reaches_both_resource_replicas_within_a_second()
-> TestResult {
    const TEST: &str = "kube_play";
    if !podman_or_skip(TEST)? || !tools_or_skip(TEST)? || !authpair_tests::postgres_or_skip(TEST).await? {
        return Ok(());
    }
    let id = std::process::id();
    let tag = format!("k{id}");
    let mut made = Made::default();
    build_images(&mut made, &tag)?;

    let (auth_schema, resource_schema) = (PgSchema::create("kube_auth").await?, PgSchema::create("kube_res").await?);
    let redis = RedisPrefix::new();
    let secret = format!("authpair-kube-{id}");
    existing_secret(
        &mut made,
        &secret,
        &[
            ("feed-secret", FEED_SECRET.to_owned()),
            ("bootstrap-service-account", format!("resource-service:{FEED_SECRET}")),
            ("bootstrap-admin", format!("{ADMIN}:{ADMIN_PASSWORD}")),
            ("auth-database-url", auth_schema.url().expose_secret().to_owned()),
            ("resource-database-url", resource_schema.url().expose_secret().to_owned()),
            ("redis-url", "redis://127.0.0.1:6379".to_owned()),
        ],
    )?;

    // podman 4.3 makes each pod's emptyDir `data` a volume of that name.
    made.volumes.push("data".to_owned());
    let files = tempfile::tempdir()?;
    let releases = [Release::new(format!("ka{id}"))?, Release::new(format!("kb{id}"))?];
    let issuer = format!("http://127.0.0.1:{}", releases[0].auth_http);
    // One after the other: the first creates the schema and the signing key.
    for release in &releases {
        play(&mut made, release, &release.values(&tag, &issuer, &secret, &redis.0), files.path()).await?;
        for service in ["auth-service", "resource-service"] {
            let name = release.container(service);
            assert_eq!(podman(&["inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", &name])?, "true", "{name}");
            let users = podman(&["top", &name, "huser"])?;
            assert!(users.lines().skip(1).all(|user| user.trim() == "65532"), "{name} runs as:\n{users}");
        }
    }

    let mut auth = AuthServiceClient::new(channel(releases[0].auth)?);
    let login = LoginRequest { username: ADMIN.into(), password: ADMIN_PASSWORD.into(), audience: String::new() };
    let pair = auth.login(login).await?.into_inner();
    for release in &releases {
        assert_eq!(profile(release.resource, &pair.access_token).await?, ADMIN, "release {}", release.name);
    }

    let logout = LogoutRequest { refresh_token: pair.refresh_token.clone() };
    auth.logout(bearer(logout, &pair.access_token)).await?;
    let started = Instant::now();
    for release in &releases {
        loop {
            match profile(release.resource, &pair.access_token).await {
                Err(status) if status.code() == Code::Unauthenticated => {
                    assert_eq!(reason(&status).as_deref(), Some("TOKEN_REVOKED"), "{status:?}");
                    break;
                }
                answer => assert!(
                    started.elapsed() < Duration::from_secs(1),
                    "release {} still answers {answer:?} a second after the logout",
                    release.name
                ),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    eprintln!("kube play: the logout reached both resource replicas in {:?}", started.elapsed());
    Ok(())
}
