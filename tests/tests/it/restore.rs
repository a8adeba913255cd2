//! An auth database restored from an older backup. The resource service had
//! applied revocations the restored log no longer holds, so the log's new
//! entries are numbered at or below where it stands; the feed tells it the
//! log was reset and it starts over, so revocations made after the restore
//! still reach it. SQLite only: the backup is a copy of the data directory.

use std::{path::Path, time::Duration};

use authpair_tests::{TestApp, TestResult, start_auth_at};

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

#[tokio::test]
async fn after_the_auth_database_is_restored_from_an_older_backup_new_revocations_still_reach_the_resource_service()
-> TestResult {
    let mut app = TestApp::spawn().await?;
    app.create_user("ria", "ria-password", &[]).await?;
    // The backup: a graceful stop, a copy, the same service again.
    app.auth_server.stop().await?;
    let backup = app.data_dir.path().join("auth-backup");
    copy_dir(&app.auth_config.shared.data_dir, &backup)?;
    app.auth_server = start_auth_at(app.auth_server.addr, app.auth_config.clone()).await?;
    // Revocations after the backup, which the resource service applies.
    for _ in 0..3 {
        let revoked = app.logged_out("ria", "ria-password").await?.access_token;
        app.time_until_revoked(&revoked, Duration::from_secs(10)).await?;
    }

    // The restore: the same address, the older database.
    app.auth_server.stop().await?;
    let mut restored = app.auth_config.clone();
    restored.shared.data_dir = backup;
    app.auth_server = start_auth_at(app.auth_server.addr, restored).await?;
    let revoked = app.logged_out("ria", "ria-password").await?.access_token;
    app.time_until_revoked(&revoked, Duration::from_secs(20)).await?;
    Ok(())
}
