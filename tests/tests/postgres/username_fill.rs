//! Several auth instances starting together on one PostgreSQL schema whose
//! users have no canonical username (nor skeleton) yet: the fills run once,
//! under a lock, and every instance starts and serves the filled names.

use authpair_proto::auth::v1::{LoginRequest, auth_service_client::AuthServiceClient};
use authpair_tests::{TestApp, TestResult, auth_database, channel, start_auth};

use crate::usernames::seed_without_canonical_form;

#[tokio::test]
async fn instances_starting_together_fill_stored_usernames_once_and_all_serve_them() -> TestResult {
    let mut app = TestApp::spawn().await?;
    let lender = app.create_user("lender", "lender-password", &[]).await?;
    app.auth_server.stop().await?;
    for i in 0..40 {
        seed_without_canonical_form(&app, &format!("seeded-{i:02}"), &format!("User-{i:02}"), &lender).await?;
    }
    let config = &app.auth_config;
    let (a, b, c) = tokio::join!(start_auth(config.clone()), start_auth(config.clone()), start_auth(config.clone()));
    let instances = [a?, b?, c?];
    let mut db = auth_database(config, "ro").await?;
    let (unfilled,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM users WHERE username_canonical IS NULL").fetch_one(&mut db).await?;
    assert_eq!(unfilled, 0);
    let (no_skeleton,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM users WHERE username_skeleton IS NULL").fetch_one(&mut db).await?;
    assert_eq!(no_skeleton, 0, "no two seeded names look alike, so each has its skeleton");
    let (key,): (String,) =
        sqlx::query_as("SELECT username_canonical FROM users WHERE id = 'seeded-07'").fetch_one(&mut db).await?;
    assert_eq!(key, "user-07");
    for instance in &instances {
        let login =
            LoginRequest { username: "USER-07".into(), password: "lender-password".into(), audience: "".into() };
        AuthServiceClient::new(channel(instance.addr)?).login(login).await?;
    }
    Ok(())
}
