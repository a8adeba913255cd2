//! The `authpair` admin CLI, the real binary, against the real auth
//! service: each command's effect is checked through the API itself, and
//! its session file (mode 0600, no password) through the file system.

use std::{path::PathBuf, process::Output};

use authpair_proto::{
    auth::v1::{GetJwksRequest, ListUsersRequest, RefreshRequest},
    resource::v1::GetMyProfileRequest,
};
use authpair_tests::{
    ADMIN_AUDIENCE, ADMIN_PASSWORD, ADMIN_USERNAME, TestApp, TestResult, assert_refresh_refused, assert_status, bearer,
    binary_path, now,
};
use serde_json::Value;
use tempfile::TempDir;
use tonic::Code;

/// The CLI with a config dir of its own, pointed at one auth service.
struct Cli {
    binary: PathBuf,
    config: TempDir,
    url: String,
}

impl Cli {
    fn new(app: &TestApp) -> anyhow::Result<Self> {
        Self::at(app.auth_server.url())
    }

    /// The CLI for the auth service at `url`.
    fn at(url: String) -> anyhow::Result<Self> {
        Ok(Self { binary: binary_path("authpair")?, config: tempfile::tempdir()?, url })
    }

    /// Runs `authpair args…` with `stdin`. On a blocking thread: the
    /// services under test run on this test's runtime.
    async fn run(&self, args: &[&str], stdin: &str) -> anyhow::Result<Output> {
        self.run_with_env(args, stdin, &[]).await
    }

    /// [`Cli::run`] with environment variables set.
    async fn run_with_env(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> anyhow::Result<Output> {
        use std::io::Write as _;
        let mut command = std::process::Command::new(&self.binary);
        command.args(args).env("AUTHPAIR_CONFIG_DIR", self.config.path());
        for var in ["AUTHPAIR_URL", "AUTHPAIR_AUDIENCE", "AUTHPAIR_ADMIN_AUDIENCE", "AUTHPAIR_AUTH_CA"] {
            command.env_remove(var);
        }
        command.envs(env.iter().copied());
        let stdin = stdin.to_owned();
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()?;
            if let Some(mut pipe) = child.stdin.take() {
                // A command that ends before reading its input (a refusal
                // of its arguments) has closed the pipe: that is its answer,
                // not the test's error.
                match pipe.write_all(stdin.as_bytes()) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                    written => written?,
                }
            }
            child.wait_with_output()
        });
        Ok(output.await??)
    }

    /// Runs a command that must succeed; its stdout.
    async fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self.run(args, "").await?;
        anyhow::ensure!(output.status.success(), "authpair {args:?} failed: {}", text(&output.stderr));
        Ok(text(&output.stdout))
    }

    /// Runs a `--json` command that must succeed; its stdout parsed.
    async fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.ok(&[args, &["--json"][..]].concat()).await?)?)
    }

    /// `authpair login USER --password-stdin` at this service.
    async fn login(&self, username: &str, password: &str, more: &[&str]) -> anyhow::Result<Output> {
        let args = [&["--auth-url", &self.url, "login", username, "--password-stdin"][..], more].concat();
        self.run(&args, &format!("{password}\n")).await
    }

    async fn login_as_root(&self) -> anyhow::Result<()> {
        let output = self.login(ADMIN_USERNAME, ADMIN_PASSWORD, &[]).await?;
        anyhow::ensure!(output.status.success(), "login failed: {}", text(&output.stderr));
        Ok(())
    }

    fn session_path(&self) -> PathBuf {
        self.config.path().join("session.json")
    }

    fn session_file(&self) -> anyhow::Result<Value> {
        Ok(serde_json::from_slice(&std::fs::read(self.session_path())?)?)
    }

    /// The stored session for `audience`.
    fn session(&self, audience: &str) -> anyhow::Result<Value> {
        let file = self.session_file()?;
        let sessions = file["sessions"].as_array().cloned().unwrap_or_default();
        let found = sessions.into_iter().find(|s| s["audience"] == audience);
        found.ok_or_else(|| anyhow::anyhow!("no session for {audience} in {}", self.session_path().display()))
    }

    fn edit_session(&self, audience: &str, edit: impl FnOnce(&mut Value)) -> anyhow::Result<()> {
        let mut file = self.session_file()?;
        let sessions = file["sessions"].as_array_mut().ok_or_else(|| anyhow::anyhow!("no sessions"))?;
        let session = sessions.iter_mut().find(|s| s["audience"] == audience);
        edit(session.ok_or_else(|| anyhow::anyhow!("no session for {audience}"))?);
        std::fs::write(self.session_path(), serde_json::to_vec(&file)?)?;
        Ok(())
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn str_of(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// The user `username` as the admin API lists it.
async fn listed_user(app: &TestApp, username: &str) -> anyhow::Result<authpair_proto::auth::v1::User> {
    let token = app.admin_token().await?;
    let users = app.admin.clone().list_users(bearer(ListUsersRequest::default(), &token)).await?.into_inner().users;
    users.into_iter().find(|u| u.username == username).ok_or_else(|| anyhow::anyhow!("{username} not listed"))
}

#[tokio::test]
async fn login_with_password_stdin_keeps_a_0600_session_file_without_the_password() -> TestResult {
    use std::os::unix::fs::PermissionsExt as _;
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    let output = cli.login(ADMIN_USERNAME, ADMIN_PASSWORD, &[]).await?;
    assert!(output.status.success(), "{output:?}");

    let mode = std::fs::metadata(cli.session_path())?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let raw = std::fs::read_to_string(cli.session_path())?;
    assert!(!raw.contains(ADMIN_PASSWORD), "the session file holds the password");
    let session = cli.session(ADMIN_AUDIENCE)?;
    assert_eq!((str_of(&session["username"]), str_of(&session["url"])), (ADMIN_USERNAME.into(), cli.url.clone()));
    // What was printed holds neither the password nor the refresh token.
    let refresh_token = str_of(&session["refresh_token"]);
    assert!(!refresh_token.is_empty());
    let printed = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(!printed.contains(ADMIN_PASSWORD) && !printed.contains(&refresh_token), "{printed}");
    assert!(printed.lines().any(|l| l.starts_with("logged in as:") && l.ends_with(" root")), "{printed}");
    // The stored refresh token is live: a later command works without --auth-url.
    let users = cli.json(&["users", "list"]).await?;
    assert_eq!(users[0]["username"], ADMIN_USERNAME);
    Ok(())
}

#[tokio::test]
async fn users_create_then_list_json_shows_the_user() -> TestResult {
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    cli.login_as_root().await?;
    let created = cli.run(
        &["users", "create", "alice", "--role", "editor", "--plan", "pro", "--password-stdin"],
        "alice-password\n",
    );
    let created = created.await?;
    assert!(created.status.success(), "{created:?}");
    assert!(!text(&created.stdout).contains("alice-password"));

    let users = cli.json(&["users", "list"]).await?;
    let alice = users.as_array().into_iter().flatten().find(|u| u["username"] == "alice").cloned();
    let alice = alice.ok_or("alice not listed")?;
    assert_eq!(
        (&alice["roles"], &alice["plan"], &alice["disabled"]),
        (&serde_json::json!(["editor"]), &"pro".into(), &false.into())
    );
    assert_eq!(str_of(&alice["id"]), listed_user(&app, "alice").await?.id);
    // She can log in with the password given on stdin.
    app.login("alice", "alice-password").await?;
    // The table for people has a header and one aligned row per user.
    let table = cli.ok(&["users", "list"]).await?;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("USERNAME") && lines.len() == 3, "{table}");
    assert!(lines.iter().any(|l| l.starts_with("alice ") && l.contains("editor")), "{table}");
    Ok(())
}

#[tokio::test]
async fn set_roles_disable_enable_and_revoke_sessions_each_take_effect() -> TestResult {
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    cli.login_as_root().await?;
    app.create_user("bob", "bob-password", &["viewer"]).await?;

    let user = cli.json(&["users", "set-roles", "bob", "editor,viewer"]).await?;
    assert_eq!(user["roles"], serde_json::json!(["editor", "viewer"]));
    assert_eq!(listed_user(&app, "bob").await?.roles, ["editor", "viewer"]);

    let session = app.login("bob", "bob-password").await?;
    let revoked = cli.json(&["users", "revoke-sessions", "bob"]).await?;
    assert_eq!(revoked["sessions_revoked"], 1);
    let refresh = RefreshRequest { refresh_token: session.refresh_token };
    assert_refresh_refused(app.auth.clone().refresh(refresh).await);

    let user = cli.json(&["users", "disable", "bob"]).await?;
    assert_eq!(user["disabled"], true);
    assert_status(
        app.login("bob", "bob-password").await,
        Code::Unauthenticated,
        "invalid credentials",
        "INVALID_CREDENTIALS",
    );

    let user = cli.json(&["users", "enable", "--id", &str_of(&user["id"])]).await?;
    assert_eq!((&user["username"], &user["disabled"]), (&"bob".into(), &false.into()));
    app.login("bob", "bob-password").await?;
    Ok(())
}

#[tokio::test]
async fn a_service_account_secret_printed_by_create_works_until_delete() -> TestResult {
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    cli.login_as_root().await?;
    let output = cli.run(&["service-accounts", "create", "ci-bot", "--scope", "documents:read", "--json"], "").await?;
    assert!(output.status.success(), "{output:?}");
    assert!(text(&output.stderr).contains("shown only this once"), "{output:?}");
    let created: Value = serde_json::from_slice(&output.stdout)?;
    let (client_id, secret) = (str_of(&created["client_id"]), str_of(&created["client_secret"]));
    assert_eq!((client_id.as_str(), &created["account"]["scopes"]), ("ci-bot", &serde_json::json!(["documents:read"])));
    let token = app.issue_service_token(&client_id, &secret, "").await?;
    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?.into_inner();
    assert_eq!(profile.username, "svc:ci-bot");

    let listed = cli.json(&["service-accounts", "list"]).await?;
    assert!(listed.as_array().into_iter().flatten().any(|a| a["name"] == "ci-bot"), "{listed}");
    assert_eq!(cli.json(&["service-accounts", "delete", "ci-bot"]).await?["deleted"], "ci-bot");
    let refused = app.issue_service_token(&client_id, &secret, "").await;
    assert_status(refused, Code::Unauthenticated, "invalid credentials", "INVALID_CREDENTIALS");
    let listed = cli.json(&["service-accounts", "list"]).await?;
    assert!(!listed.as_array().into_iter().flatten().any(|a| a["name"] == "ci-bot"), "{listed}");
    Ok(())
}

#[tokio::test]
async fn an_account_created_with_a_public_key_has_no_secret_and_its_keys_are_added_listed_and_removed() -> TestResult {
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    cli.login_as_root().await?;
    let jwk = |kid: &str| -> anyhow::Result<String> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let x = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, key.public_key_raw());
        Ok(serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid}).to_string())
    };
    let first = cli.config.path().join("first.jwk");
    std::fs::write(&first, jwk("first")?)?;
    let args = ["service-accounts", "create", "keyed", "--scope", "documents:read", "--public-key"];
    let output = cli.run(&[&args[..], &[first.to_str().unwrap_or_default(), "--json"]].concat(), "").await?;
    assert!(output.status.success(), "{output:?}");
    assert!(!text(&output.stderr).contains("shown only this once"), "no secret, no warning: {output:?}");
    let created: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(
        (str_of(&created["client_secret"]), &created["account"]["key_ids"]),
        (String::new(), &serde_json::json!(["first"]))
    );

    let second = cli.config.path().join("second.jwk");
    std::fs::write(&second, jwk("second")?)?;
    let added =
        cli.json(&["service-accounts", "add-key", "keyed", "--jwk", second.to_str().unwrap_or_default()]).await?;
    assert_eq!(added["kid"], "second");
    let keyed = |listed: &Value| listed.as_array().into_iter().flatten().find(|a| a["name"] == "keyed").cloned();
    let listed = cli.json(&["service-accounts", "list"]).await?;
    assert_eq!(keyed(&listed).map(|a| a["key_ids"].clone()), Some(serde_json::json!(["first", "second"])));
    assert_eq!(cli.json(&["service-accounts", "remove-key", "keyed", "first"]).await?["removed"], "first");
    let listed = cli.json(&["service-accounts", "list"]).await?;
    assert_eq!(keyed(&listed).map(|a| a["key_ids"].clone()), Some(serde_json::json!(["second"])));
    // This deployment trusts no external issuer: a mapping is refused, and said why.
    let federate = [
        "service-accounts",
        "federate",
        "keyed",
        "--issuer",
        "https://k8s.example",
        "--subject",
        "system:serviceaccount:a:b",
    ];
    let refused = cli.run(&federate, "").await?;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(text(&refused.stderr).contains("is not one --federation trusts"), "{refused:?}");
    Ok(())
}

#[tokio::test]
async fn keys_rotate_publishes_a_new_signing_key() -> TestResult {
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    cli.login_as_root().await?;
    let rotated = cli.json(&["keys", "rotate"]).await?;
    let (kid, previous) = (str_of(&rotated["kid"]), str_of(&rotated["previous_kid"]));
    assert!(!kid.is_empty() && kid != previous, "{rotated}");
    let jwks = app.auth.clone().get_jwks(GetJwksRequest {}).await?.into_inner();
    let published: Vec<&str> = jwks.keys.iter().map(|k| k.kid.as_str()).collect();
    assert!(published.contains(&kid.as_str()) && published.contains(&previous.as_str()), "{published:?}");
    Ok(())
}

#[tokio::test]
async fn token_for_another_audience_needs_a_login_for_it_and_then_the_resource_service_accepts_it() -> TestResult {
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    cli.login_as_root().await?;
    // Only an admin-audience session: no resource token is minted from it.
    let refused = cli.run(&["token", "--audience", "authpair"], "").await?;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(refused.stdout.is_empty());
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("not logged in for audience \"authpair\""), "{stderr}");
    assert!(stderr.contains("authpair login USER --audience authpair"), "{stderr}");

    let output = cli.login(ADMIN_USERNAME, ADMIN_PASSWORD, &["--audience", "authpair"]).await?;
    assert!(output.status.success(), "{output:?}");
    let token = cli.ok(&["token", "--audience", "authpair"]).await?;
    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, token.trim())).await?;
    assert_eq!(profile.into_inner().username, ADMIN_USERNAME);
    // The admin-audience session is kept beside it, and its token is the admin API's alone.
    let admin_token = cli.ok(&["token"]).await?;
    let wrong = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, admin_token.trim())).await;
    assert_eq!(
        wrong.map_err(|s| (s.code(), s.message().to_owned())).err(),
        Some((Code::Unauthenticated, "wrong token audience".into()))
    );
    cli.json(&["users", "list"]).await?;
    Ok(())
}

#[tokio::test]
async fn a_non_admin_users_call_exits_1_with_permission_denied_and_role_required() -> TestResult {
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    app.create_user("vic", "vic-password", &["viewer"]).await?;
    let login = cli.login("vic", "vic-password", &[]).await?;
    assert!(login.status.success(), "{login:?}");

    let denied = cli.run(&["users", "list"], "").await?;
    assert_eq!(denied.status.code(), Some(1), "{denied:?}");
    assert!(denied.stdout.is_empty());
    let first = text(&denied.stderr).lines().next().map(str::to_owned);
    assert_eq!(first.as_deref(), Some("error: PERMISSION_DENIED: requires role admin (reason: ROLE_REQUIRED)"));

    let denied = cli.run(&["service-accounts", "list", "--json"], "").await?;
    assert_eq!(denied.status.code(), Some(1), "{denied:?}");
    let error: Value = serde_json::from_slice(&denied.stderr)?;
    assert_eq!(
        (&error["error"]["code"], &error["error"]["reason"], &error["error"]["message"]),
        (&"PERMISSION_DENIED".into(), &"ROLE_REQUIRED".into(), &"requires role admin".into())
    );
    Ok(())
}

#[tokio::test]
async fn an_expired_access_token_in_the_session_file_is_refreshed_transparently() -> TestResult {
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    cli.login_as_root().await?;
    let before = cli.session(ADMIN_AUDIENCE)?;
    cli.edit_session(ADMIN_AUDIENCE, |s| s["expires_at"] = (now() - 60).into())?;

    let users = cli.json(&["users", "list"]).await?;
    assert_eq!(users[0]["username"], ADMIN_USERNAME);
    let after = cli.session(ADMIN_AUDIENCE)?;
    assert_ne!(after["access_token"], before["access_token"]);
    assert_ne!(after["refresh_token"], before["refresh_token"]);
    assert!(after["expires_at"].as_i64().unwrap_or_default() > now() + 600, "{}", after["expires_at"]);
    // The stored tokens are the live successors.
    cli.json(&["users", "list"]).await?;
    // The old refresh token was spent: presenting it again is reuse, which
    // ends the session with the access tokens it issued, the stored ones
    // included.
    let old = RefreshRequest { refresh_token: str_of(&before["refresh_token"]) };
    assert_refresh_refused(app.auth.clone().refresh(old).await);
    let ended = cli.run(&["users", "list"], "").await?;
    assert_eq!(ended.status.code(), Some(1), "{ended:?}");
    let first = text(&ended.stderr).lines().next().map(str::to_owned);
    assert_eq!(first.as_deref(), Some("error: UNAUTHENTICATED: token revoked (reason: TOKEN_REVOKED)"));
    Ok(())
}

#[tokio::test]
async fn a_token_the_service_refuses_as_expired_is_renewed_and_the_call_retried_once() -> TestResult {
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    cli.login_as_root().await?;
    let root = listed_user(&app, ADMIN_USERNAME).await?;
    // The file says the token is good for long, but it expired two minutes
    // ago (beyond the 30 s leeway), as if the clocks disagreed.
    let forger = app.forger().await?;
    let mut claims = forger.claims(&root.id, &["admin"]);
    let t = now();
    claims["aud"] = ADMIN_AUDIENCE.into();
    claims["scope"] = "profile documents:read documents:write admin".into();
    (claims["iat"], claims["nbf"], claims["exp"]) = ((t - 600).into(), (t - 600).into(), (t - 120).into());
    let expired = forger.sign(&forger.header(), &claims);
    cli.edit_session(ADMIN_AUDIENCE, |s| s["access_token"] = expired.clone().into())?;

    let users = cli.json(&["users", "list"]).await?;
    assert_eq!(users[0]["username"], ADMIN_USERNAME);
    assert_ne!(str_of(&cli.session(ADMIN_AUDIENCE)?["access_token"]), expired);
    Ok(())
}

#[tokio::test]
async fn logout_revokes_the_session_and_deletes_the_file() -> TestResult {
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    cli.login_as_root().await?;
    let session = cli.session(ADMIN_AUDIENCE)?;

    let out = cli.ok(&["logout"]).await?;
    assert_eq!(out.trim(), "Logged out (authpair-admin).");
    assert!(!cli.session_path().exists());
    let refresh = RefreshRequest { refresh_token: str_of(&session["refresh_token"]) };
    assert_refresh_refused(app.auth.clone().refresh(refresh).await);
    // The access token sent with the logout was revoked too.
    let request = bearer(ListUsersRequest::default(), &str_of(&session["access_token"]));
    let admin = app.admin.clone().list_users(request).await;
    assert_status(admin, Code::Unauthenticated, "token revoked", "TOKEN_REVOKED");

    let after = cli.run(&["users", "list"], "").await?;
    assert_eq!(after.status.code(), Some(1));
    assert!(text(&after.stderr).contains("no session is stored"), "{after:?}");
    Ok(())
}

/// A listener nobody trusts, that only accepts: what it is sent is never
/// read, as the CLI must not connect to it at all.
struct Untrusted {
    listener: tokio::net::TcpListener,
    url: String,
}

impl Untrusted {
    async fn bind() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        Ok(Self { listener, url })
    }

    /// Whether anyone connected before now. Connects once itself, then
    /// accepts: connections queue in order, so a connection made by the
    /// CLI earlier comes out first, and this one at once if there was none.
    async fn was_connected_to(&self) -> anyhow::Result<bool> {
        let marker = tokio::net::TcpStream::connect(self.listener.local_addr()?).await?;
        let (_, first) = self.listener.accept().await?;
        Ok(first != marker.local_addr()?)
    }
}

/// The first line of stderr.
fn first_error_line(output: &Output) -> String {
    text(&output.stderr).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_session_made_for_one_url_is_not_sent_to_another() -> TestResult {
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    cli.login_as_root().await?;
    let untrusted = Untrusted::bind().await?;
    let before = cli.session(ADMIN_AUDIENCE)?;
    let refusal = format!(
        "error: not logged in at {} (a session for audience \"authpair-admin\" exists for {}); its tokens are sent \
         only where they were issued. Run `authpair login USER --auth-url {}`, or use --auth-url with the URL you \
         logged in at",
        untrusted.url, cli.url, untrusted.url
    );

    let by_env = cli.run_with_env(&["users", "list"], "", &[("AUTHPAIR_URL", &untrusted.url)]).await?;
    assert_eq!((by_env.status.code(), first_error_line(&by_env)), (Some(1), refusal.clone()), "{by_env:?}");
    assert!(by_env.stdout.is_empty());
    let by_flag = cli.run(&["--auth-url", &format!("{}/", untrusted.url), "token"], "").await?;
    assert_eq!((by_flag.status.code(), first_error_line(&by_flag)), (Some(1), refusal.clone()), "{by_flag:?}");
    assert!(by_flag.stdout.is_empty(), "a token was printed");
    assert!(!untrusted.was_connected_to().await?, "the CLI connected to a URL it holds no session for");
    assert_eq!(cli.session(ADMIN_AUDIENCE)?, before);

    // Another spelling of the URL the session was made at is that URL.
    let port = app.auth_server.addr.port();
    for same in [format!("{}/", cli.url), format!("HTTP://127.0.0.1:{port}/")] {
        let users = cli.json(&["--auth-url", &same, "users", "list"]).await?;
        assert_eq!(users[0]["username"], ADMIN_USERNAME, "{same}");
    }
    Ok(())
}

#[tokio::test]
async fn an_expired_session_is_refreshed_only_at_the_url_that_issued_it() -> TestResult {
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    cli.login_as_root().await?;
    let untrusted = Untrusted::bind().await?;
    cli.edit_session(ADMIN_AUDIENCE, |s| s["expires_at"] = (now() - 60).into())?;
    let before = cli.session(ADMIN_AUDIENCE)?;

    let refused = cli.run_with_env(&["users", "list"], "", &[("AUTHPAIR_URL", &untrusted.url)]).await?;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(first_error_line(&refused).starts_with(&format!("error: not logged in at {}", untrusted.url)));
    assert!(!untrusted.was_connected_to().await?, "the refresh token went to a URL that did not issue it");
    // Neither spent nor forgotten: the issuing service takes it.
    assert_eq!(cli.session(ADMIN_AUDIENCE)?, before);
    cli.json(&["users", "list"]).await?;
    let after = cli.session(ADMIN_AUDIENCE)?;
    assert_ne!(after["refresh_token"], before["refresh_token"]);
    assert_eq!(after["url"], before["url"]);
    Ok(())
}

#[tokio::test]
async fn a_url_whose_scheme_is_not_http_or_https_is_refused_before_anything_is_sent() -> TestResult {
    let untrusted = Untrusted::bind().await?;
    let port = untrusted.listener.local_addr()?.port();
    let cli = Cli::at(format!("ftp://127.0.0.1:{port}"))?;
    for args in [vec!["--auth-url", cli.url.as_str(), "login", "root", "--password-stdin"], vec!["users", "list"]] {
        let refused = cli.run_with_env(&args, "secret\n", &[("AUTHPAIR_URL", &cli.url)]).await?;
        assert_eq!(refused.status.code(), Some(1), "{refused:?}");
        assert_eq!(
            first_error_line(&refused),
            format!(
                "error: bad auth service URL \"ftp://127.0.0.1:{port}\": the scheme is \"ftp\"; the auth service \
                 speaks gRPC over http:// or https:// only"
            )
        );
    }
    assert!(!untrusted.was_connected_to().await?);
    Ok(())
}

#[tokio::test]
async fn a_session_file_others_can_read_warns_and_one_they_can_write_is_refused() -> TestResult {
    use std::os::unix::fs::PermissionsExt as _;
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    cli.login_as_root().await?;
    let path = cli.session_path();
    let chmod = |mode| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));

    chmod(0o644)?;
    let warned = cli.run(&["users", "list", "--json"], "").await?;
    assert!(warned.status.success(), "{warned:?}");
    assert_eq!(
        first_error_line(&warned),
        format!(
            "warning: {p} is readable by group or others (mode 0644), so its tokens may have been copied: make it \
             yours alone (chmod 600 {p}), and end its sessions with `authpair logout` and log in again",
            p = path.display()
        )
    );

    chmod(0o666)?;
    let refused = cli.run(&["users", "list"], "").await?;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert_eq!(
        first_error_line(&refused),
        format!(
            "error: {p} is writable by group or others (mode 0666), so the sessions in it cannot be trusted; make it \
             yours alone: chmod 600 {p}",
            p = path.display()
        )
    );

    chmod(0o600)?;
    std::fs::set_permissions(cli.config.path(), std::fs::Permissions::from_mode(0o777))?;
    let refused = cli.run(&["users", "list"], "").await?;
    std::fs::set_permissions(cli.config.path(), std::fs::Permissions::from_mode(0o700))?;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(first_error_line(&refused).ends_with(&format!("chmod 700 {}", cli.config.path().display())));
    let fine = cli.run(&["users", "list"], "").await?;
    assert!(fine.status.success() && fine.stderr.is_empty(), "{fine:?}");
    Ok(())
}

#[tokio::test]
async fn http_to_a_tls_port_says_the_server_speaks_tls() -> TestResult {
    let pki = crate::tls::Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut auth = authpair_tests::AuthConfig::new(data.path().join("auth"));
    auth.bootstrap_admin = Some(auth_service::BootstrapAdmin::new(ADMIN_USERNAME, ADMIN_PASSWORD));
    auth.shared.serving.tls_cert = Some(pki.path("server.pem"));
    auth.shared.serving.tls_key = Some(pki.path("server.key"));
    let server = authpair_tests::Server::start(authpair_tests::any_port(), |listener, stopped| async move {
        auth_service::serve(listener, auth, async move {
            let _ = stopped.await;
        })
        .await
    })
    .await?;
    crate::tls::serving(pki.channel(server.addr, false)?).await?;

    let cli = Cli::at(format!("http://{}", server.addr))?;
    let refused = cli.login(ADMIN_USERNAME, ADMIN_PASSWORD, &[]).await?;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert_eq!(
        first_error_line(&refused),
        format!(
            "error: the server at http://{a} speaks TLS; use https://{a} (with --auth-ca and the CA that signed its \
             certificate)",
            a = server.addr
        )
    );
    assert!(!cli.session_path().exists());

    // As told: https with the CA.
    let https = Cli::at(format!("https://{}", server.addr))?;
    let ca = pki.path("ca.pem").display().to_string();
    let logged_in = https.login(ADMIN_USERNAME, ADMIN_PASSWORD, &["--auth-ca", &ca]).await?;
    assert!(logged_in.status.success(), "{logged_in:?}");
    let users = https.json(&["--auth-ca", &ca, "users", "list"]).await?;
    assert_eq!(users[0]["username"], ADMIN_USERNAME);
    Ok(())
}

#[tokio::test]
async fn users_create_of_a_taken_name_fails_before_the_password_is_asked_for() -> TestResult {
    let app = TestApp::spawn().await?;
    let cli = Cli::new(&app)?;
    cli.login_as_root().await?;
    // No password on stdin: asking for one would fail with "no password on stdin".
    for (name, why) in [
        ("ROOT", "username already exists: \"ROOT\" is the user \"root\""),
        ("r\u{43E}ot", "username looks like the existing username \"root\" (UTS #39 confusables)"),
    ] {
        let refused = cli.run(&["users", "create", name, "--password-stdin"], "").await?;
        assert_eq!(refused.status.code(), Some(1), "{refused:?}");
        assert_eq!(first_error_line(&refused), format!("error: {why}"));
    }
    let users = cli.json(&["users", "list"]).await?;
    assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
    // A free name goes on to the password.
    let asked = cli.run(&["users", "create", "carol", "--password-stdin"], "").await?;
    assert_eq!(first_error_line(&asked), "error: no password on stdin");
    Ok(())
}
