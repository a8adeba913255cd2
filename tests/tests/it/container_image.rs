//! The Containerfile's images, built with podman and run as a user would:
//! the auth and resource containers on the machine's PostgreSQL and Redis,
//! reached only at 127.0.0.1 (host network), a login through grpcurl from
//! the host, a call to the resource container, health from the images' own
//! HEALTHCHECK, a restart of the auth container that keeps users and keys,
//! secrets read from mounted files (`<VARIABLE>_FILE`),
//! SIGTERM stopping each within the drain, non-root on a read-only root;
//! the gate's image beside them, answering Envoy's Check from the host.
//!
//! No image can be pulled here: the runtime base is made from this
//! machine's own files (`deploy/image/runtime-from-host.sh`) and the
//! Containerfile is fed the binaries this test build made
//! (`BINARIES=prebuilt`); everything else is the file users build. CI
//! installs podman and runc (`.ci/run`); podman reads
//! `deploy/podman/containers.conf`.

use std::{net::SocketAddr, time::Duration};

use authpair_proto::{
    auth::v1::{
        CreateServiceAccountRequest, LoginRequest, admin_service_client::AdminServiceClient,
        auth_service_client::AuthServiceClient,
    },
    resource::v1::{GetMyProfileRequest, resource_service_client::ResourceServiceClient},
};
use authpair_tests::{
    ADMIN_AUDIENCE, PgSchema, RedisPrefix, TestResult, bearer, channel,
    gate::{Case, check, xds_or_skip},
    grpcurl::{field, grpcurl_or_skip},
    podman::{Made, build_images, free_port, podman, podman_async, podman_or_skip, run, serving, stop},
};
use secrecy::ExposeSecret as _;

const ADMIN: &str = "root";
const ADMIN_PASSWORD: &str = "container-admin-password";
const FEED_SECRET: &str = "container-feed-secret-0123456789";
/// The services' default drain is 30 s; a stop must not need podman's kill.
const STOP_WITHIN: Duration = Duration::from_secs(20);

/// The gate's service account, made through the auth container's admin
/// API: (client id, secret).
async fn gate_account(addr: SocketAddr) -> anyhow::Result<(String, String)> {
    let mut auth = AuthServiceClient::new(channel(addr)?);
    let request =
        LoginRequest { username: ADMIN.into(), password: ADMIN_PASSWORD.into(), audience: ADMIN_AUDIENCE.into() };
    let admin = auth.login(request).await?.into_inner().access_token;
    let create = CreateServiceAccountRequest {
        name: "authpair-gate".into(),
        scopes: vec!["revocations:watch".into()],
        plan: String::new(),
        audiences: vec![ADMIN_AUDIENCE.into()],
        ..Default::default()
    };
    let created = AdminServiceClient::new(channel(addr)?).create_service_account(bearer(create, &admin)).await?;
    let created = created.into_inner();
    Ok((created.client_id, created.client_secret))
}

async fn login(addr: SocketAddr) -> anyhow::Result<String> {
    let mut auth = AuthServiceClient::new(channel(addr)?);
    let request = LoginRequest { username: ADMIN.into(), password: ADMIN_PASSWORD.into(), audience: String::new() };
    Ok(auth.login(request).await?.into_inner().access_token)
}

#[tokio::test]
async fn the_images_run_non_root_on_a_read_only_root_and_serve_login_calls_health_restart_and_sigterm() -> TestResult {
    const TEST: &str = "container_image";
    if !podman_or_skip(TEST)? || !authpair_tests::postgres_or_skip(TEST).await? {
        return Ok(());
    }
    let tag = format!("t{}", std::process::id());
    let mut made = Made::default();
    let images = build_images(&mut made, &tag)?;
    let (auth_image, resource_image) = (images.auth.clone(), images.resource.clone());

    let (auth_schema, resource_schema) = (PgSchema::create("image_auth").await?, PgSchema::create("image_res").await?);
    let redis = RedisPrefix::new();
    let (grpc, http, resource_port) = (free_port()?, free_port()?, free_port()?);
    let auth_addr = SocketAddr::from(([127, 0, 0, 1], grpc));
    let resource_addr = SocketAddr::from(([127, 0, 0, 1], resource_port));

    // The master key, mounted read-only as Kubernetes mounts a secret for a
    // pod with fsGroup 65532: root's file, readable by that group only.
    let secrets = tempfile::tempdir()?;
    let key_file = secrets.path().join("master.key");
    std::fs::write(&key_file, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")?;
    // The auth database's URL and the feed secret as files too, read
    // through `<VARIABLE>_FILE`, as secrets are mounted.
    let url_file = secrets.path().join("auth-database-url");
    std::fs::write(&url_file, format!("{}\n", auth_schema.url().expose_secret()))?;
    let feed_file = secrets.path().join("feed-secret");
    std::fs::write(&feed_file, format!("{FEED_SECRET}\n"))?;
    for file in [&key_file, &url_file, &feed_file] {
        std::os::unix::fs::chown(file, Some(0), Some(65532))?;
        std::fs::set_permissions(file, std::os::unix::fs::PermissionsExt::from_mode(0o440))?;
    }
    let auth_volume = format!("authpair-test-auth-{tag}");
    podman(&["volume", "create", &auth_volume])?;
    made.volumes.push(auth_volume.clone());

    let auth_name = format!("authpair-test-auth-{tag}");
    let auth_env = vec![
        ("AUTH_LISTEN", format!("127.0.0.1:{grpc}")),
        ("AUTH_HTTP_LISTEN", format!("127.0.0.1:{http}")),
        ("AUTH_METRICS_LISTEN", "off".into()),
        ("AUTH_PUBLIC_URL", format!("http://127.0.0.1:{http}")),
        ("AUTH_DATABASE_URL_FILE", "/run/secrets/auth-database-url".into()),
        ("AUTH_REDIS_URL", "redis://127.0.0.1:6379".into()),
        ("AUTH_REDIS_PREFIX", redis.0.clone()),
        ("AUTH_MASTER_KEY_FILE", "/run/secrets/master.key".into()),
        ("AUTH_BOOTSTRAP_ADMIN", format!("{ADMIN}:{ADMIN_PASSWORD}")),
        ("AUTH_BOOTSTRAP_SERVICE_ACCOUNT", format!("resource-service:{FEED_SECRET}")),
    ];
    let auth_mounts = vec![
        format!("{auth_volume}:/data"),
        format!("{}:/run/secrets/master.key:ro", key_file.display()),
        format!("{}:/run/secrets/auth-database-url:ro", url_file.display()),
    ];
    run(&mut made, &auth_name, &auth_image, &auth_mounts, &auth_env)?;
    serving(&auth_name, auth_addr).await?;

    let resource_name = format!("authpair-test-resource-{tag}");
    let resource_env = vec![
        ("RESOURCE_LISTEN", format!("127.0.0.1:{resource_port}")),
        ("RESOURCE_METRICS_LISTEN", "off".into()),
        ("RESOURCE_AUTH_URL", format!("http://{auth_addr}")),
        ("RESOURCE_CLIENT_SECRET_FILE", "/run/secrets/feed-secret".into()),
        ("RESOURCE_DATABASE_URL", resource_schema.url().expose_secret().to_owned()),
        ("RESOURCE_REDIS_URL", "redis://127.0.0.1:6379".into()),
        ("RESOURCE_REDIS_PREFIX", redis.0.clone()),
    ];
    let resource_mounts = vec![format!("{}:/run/secrets/feed-secret:ro", feed_file.display())];
    run(&mut made, &resource_name, &resource_image, &resource_mounts, &resource_env)?;
    serving(&resource_name, resource_addr).await?;

    // A login through the real grpcurl from the host, then a call to the
    // resource container with its token.
    let token = match grpcurl_or_skip(TEST)? {
        Some(grpcurl) => {
            let body = format!(r#"{{"username":"{ADMIN}","password":"{ADMIN_PASSWORD}"}}"#);
            let out = grpcurl.run(auth_addr, &["-d", &body, "auth.v1.AuthService/Login"]).await?;
            assert!(out.ok, "grpcurl login failed: {}", out.text);
            field(&out.text, "accessToken").ok_or("no accessToken in grpcurl's answer")?
        }
        None => login(auth_addr).await?,
    };
    let mut resource = ResourceServiceClient::new(channel(resource_addr)?);
    let profile = resource.get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?.into_inner();
    assert_eq!(profile.username, ADMIN);

    // The gate's image beside them: its own service account, the routes
    // file mounted, Envoy's Check from the host allowing the same call.
    let gate_port = free_port()?;
    let gate_addr = SocketAddr::from(([127, 0, 0, 1], gate_port));
    let (gate_id, gate_secret) = gate_account(auth_addr).await?;
    let routes = tempfile::tempdir()?;
    std::fs::set_permissions(routes.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    std::fs::write(routes.path().join("resource.binpb"), authpair_proto::FILE_DESCRIPTOR_SET)?;
    std::fs::write(
        routes.path().join("routes.toml"),
        "[[route]]\nname = \"resource\"\naudience = \"authpair\"\ndescriptor_sets = [\"resource.binpb\"]\nservices = [\"resource.v1.ResourceService\"]\n",
    )?;
    let gate_name = format!("authpair-test-gate-{tag}");
    let gate_env = vec![
        ("GATE_LISTEN", format!("127.0.0.1:{gate_port}")),
        ("GATE_METRICS_LISTEN", "off".into()),
        ("GATE_AUTH_URL", format!("http://{auth_addr}")),
        ("GATE_CLIENT_ID", gate_id),
        ("GATE_CLIENT_SECRET", gate_secret),
    ];
    let gate_mounts = vec![format!("{}:/etc/authpair-gate:ro", routes.path().display())];
    run(&mut made, &gate_name, &images.gate, &gate_mounts, &gate_env)?;
    serving(&gate_name, gate_addr).await?;
    if xds_or_skip(TEST)? {
        let case = Case::new("resource", "POST", "/resource.v1.ResourceService/GetMyProfile").bearer(&token);
        let answer = &check(gate_addr, &[case]).await?[0];
        assert_eq!((answer["code"].as_i64(), answer["allowed"].as_bool()), (Some(0), Some(true)), "{answer}");
        assert_eq!(answer["headers"]["x-authpair-roles"], "admin", "{answer}");
    }

    // Non-root, read-only root filesystem, as configured and as running.
    for name in [&auth_name, &resource_name, &gate_name] {
        assert_eq!(podman(&["inspect", "--format", "{{.Config.User}}", name])?, "65532:65532", "{name}'s user");
        assert_eq!(podman(&["inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", name])?, "true");
        let users = podman(&["top", name, "user", "huser"])?;
        // USER as the container names it, HUSER as the host does.
        let rows: Vec<Vec<&str>> = users.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
        assert!(!rows.is_empty(), "no process in {name}");
        assert!(rows.iter().all(|r| r[..] == ["nonroot", "65532"]), "{name} runs as:\n{users}");
        // The image's HEALTHCHECK: the service's own binary, no shell.
        podman(&["healthcheck", "run", name]).map_err(|e| anyhow::anyhow!("{name} is not healthy: {e}"))?;
    }

    // SIGTERM stops the auth container within the drain, cleanly; started
    // again on the same volume and database, its users and keys are kept:
    // the token issued before still passes, and the admin logs in again.
    let (took, code) = stop(&auth_name).await?;
    assert!(took < STOP_WITHIN, "the auth container took {took:?} to stop on SIGTERM");
    assert_eq!(code, "0", "the auth container's exit code after SIGTERM");
    podman_async(&["start", &auth_name]).await?;
    serving(&auth_name, auth_addr).await?;
    login(auth_addr).await?;
    let again = resource.get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?.into_inner();
    assert_eq!(again.username, ADMIN, "the token signed before the restart still verifies");

    let (took, code) = stop(&resource_name).await?;
    assert!(took < STOP_WITHIN, "the resource container took {took:?} to stop on SIGTERM");
    assert_eq!(code, "0", "the resource container's exit code after SIGTERM");
    let (took, code) = stop(&gate_name).await?;
    assert!(took < STOP_WITHIN, "the gate's container took {took:?} to stop on SIGTERM");
    assert_eq!(code, "0", "the gate's container's exit code after SIGTERM");
    Ok(())
}
