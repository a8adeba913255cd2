//! SH-02: run a full session with every log line captured (authpair's own at
//! debug, sqlx's statements too) and prove no token, refresh token, client
//! secret or password appears in any of them. Its own test binary, because
//! it installs the process-wide log subscriber.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use authpair_proto::{
    auth::v1::{IssueServiceTokenRequest, LoginRequest, LogoutRequest, RefreshRequest},
    resource::v1::{GetAdminDashboardRequest, GetMyProfileRequest},
};
use authpair_tests::{ADMIN_PASSWORD, ADMIN_USERNAME, TestApp, TestResult, bearer};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn sh_02_no_log_line_of_a_full_session_contains_a_secret() -> TestResult {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug,h2=info,hyper=info,tower=info,tonic=info"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()?;

    // Two wrong passwords lock the account, so the lock's audit line is
    // among those checked (BF-03: the lockout is logged).
    let app = TestApp::spawn_with(|a| a.throttle.lock_after = 2, |_| {}).await?;
    let password = "pw-logcheck-7f3a9c";
    let user = app.create_user("logcheck", password, &["viewer"]).await?;
    let mut auth = app.auth.clone();
    let first = auth
        .login(LoginRequest { username: "logcheck".into(), password: password.into(), ..Default::default() })
        .await?
        .into_inner();
    for _ in 0..2 {
        let _ = auth
            .login(LoginRequest { username: "logcheck".into(), password: "pw-wrong-2b8e".into(), ..Default::default() })
            .await;
    }
    let second = auth.refresh(RefreshRequest { refresh_token: first.refresh_token.clone() }).await?.into_inner();
    let _ = auth.refresh(RefreshRequest { refresh_token: first.refresh_token.clone() }).await; // reuse
    let mut resource = app.resource.clone();
    let _ = resource.get_my_profile(bearer(GetMyProfileRequest {}, &first.access_token)).await;
    let _ = resource.get_admin_dashboard(bearer(GetAdminDashboardRequest {}, &first.access_token)).await;
    let _ = resource.get_my_profile(bearer(GetMyProfileRequest {}, &format!("{}x", first.access_token))).await;
    let (client_id, secret) = app.service_account("logcheck-svc", &["profile"]).await?;
    let issue = IssueServiceTokenRequest {
        client_id: client_id.clone(),
        client_secret: secret.clone(),
        scope: String::new(),
        ..Default::default()
    };
    let service = auth.issue_service_token(issue).await?.into_inner();
    let wrong = IssueServiceTokenRequest {
        client_id,
        client_secret: "apcs_wrong-secret".into(),
        scope: String::new(),
        ..Default::default()
    };
    let _ = auth.issue_service_token(wrong).await;
    // The reuse above revoked the family, its access tokens with it: the
    // logout is of another session, the admin's.
    let admin = app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await?;
    auth.logout(bearer(LogoutRequest { refresh_token: admin.refresh_token.clone() }, &admin.access_token)).await?;
    drop(app);

    let text = String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    assert!(text.contains("login_succeeded") && text.contains("refresh_token_reused"), "logs were not captured");
    let locked =
        text.lines().find(|line| line.contains("event=\"account_locked\"")).ok_or("the lock was not logged")?;
    assert!(locked.contains("WARN") && locked.contains("failures=2"), "{locked}");
    // It names the account by its stable id, never by the typed name.
    assert!(locked.contains(&format!("subject=\"{}\"", user.id)) && !locked.contains("logcheck"), "{locked}");
    let secrets = [
        password,
        "pw-wrong-2b8e",
        ADMIN_PASSWORD,
        &first.access_token,
        &first.refresh_token,
        &second.access_token,
        &second.refresh_token,
        &admin.access_token,
        &admin.refresh_token,
        &secret,
        "apcs_wrong-secret",
        &service.access_token,
        "eyJ",
        "aprt_",
        "apcs_",
        "Bearer ",
    ];
    for secret in secrets {
        assert!(!text.contains(secret), "a log line contains {secret:?}");
    }
    eprintln!("checked {} log lines", text.lines().count());
    Ok(())
}
