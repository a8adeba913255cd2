//! An auth database restored from an older backup. The resource service had
//! applied revocations the restored log no longer holds, so the log's new
//! entries are numbered at or below where it stands; the feed tells it the
//! log was reset and it starts over, so revocations made after the restore
//! still reach it. SQLite only: the backup is a copy of the data directory.

use std::{path::Path, time::Duration};

use authpair_proto::{auth::v1::LogoutRequest, resource::v1::GetMyProfileRequest};
use authpair_tests::{TestApp, TestResult, bearer, start_auth_at};
use tonic::Code;

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

/// Logs `username` in and out; returns the access token the logout revoked.
async fn log_in_and_out(app: &TestApp, username: &str, password: &str) -> TestResult<String> {
    let tokens = app.login(username, password).await?;
    let request = bearer(LogoutRequest { refresh_token: tokens.refresh_token }, &tokens.access_token);
    assert!(app.auth.clone().logout(request).await?.into_inner().access_token_revoked);
    Ok(tokens.access_token)
}

/// Calls GetMyProfile with `token` until the resource service refuses it as
/// revoked, for at most `limit`; each round is a real call.
async fn refused_within(app: &TestApp, token: &str, limit: Duration) -> TestResult {
    let start = std::time::Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    while start.elapsed() < limit {
        poll.tick().await;
        if let Err(status) = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, token)).await {
            assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "token revoked"), "{status:?}");
            return Ok(());
        }
    }
    Err(format!("still accepted after {limit:?}").into())
}

#[tokio::test]
async fn after_the_auth_database_is_restored_from_an_older_backup_new_revocations_still_reach_the_resource_service()
-> TestResult {
    let mut app = TestApp::spawn().await?;
    app.create_user("ria", "ria-password", &[]).await?;
    // The backup: a graceful stop, a copy, the same service again.
    app.auth_server.stop().await?;
    let backup = app.data_dir.path().join("auth-backup");
    copy_dir(&app.auth_config.data_dir, &backup)?;
    app.auth_server = start_auth_at(app.auth_server.addr, app.auth_config.clone()).await?;
    // Revocations after the backup, which the resource service applies.
    for _ in 0..3 {
        let revoked = log_in_and_out(&app, "ria", "ria-password").await?;
        refused_within(&app, &revoked, Duration::from_secs(10)).await?;
    }

    // The restore: the same address, the older database.
    app.auth_server.stop().await?;
    let mut restored = app.auth_config.clone();
    restored.data_dir = backup;
    app.auth_server = start_auth_at(app.auth_server.addr, restored).await?;
    let revoked = log_in_and_out(&app, "ria", "ria-password").await?;
    refused_within(&app, &revoked, Duration::from_secs(20)).await
}
