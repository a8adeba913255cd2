//! Both services on one PostgreSQL URL, as the README's "Scaling out"
//! example runs them: each keeps its tables, and its migration history, in a
//! schema of its own.

use authpair_proto::resource::v1::CreateDocumentRequest;
use authpair_tests::{PgDatabase, TestApp, TestResult, bearer};
use secrecy::ExposeSecret as _;

#[tokio::test]
async fn both_services_on_one_database_url_start_and_keep_their_tables_in_schemas_of_their_own() -> TestResult {
    let database = PgDatabase::create("same_url").await?;
    let url = database.url();
    let (auth_url, resource_url) = (url.clone(), url.clone());
    let app =
        TestApp::spawn_with(|a| a.shared.database_url = Some(auth_url), |r| r.shared.database_url = Some(resource_url))
            .await?;
    let (_, editor) = app.user_with_token("eddie", &["editor"]).await?;
    let document = CreateDocumentRequest { title: "t".into(), body: "b".into() };
    app.resource.clone().create_document(bearer(document, &editor)).await?;

    let mut db = database.connect().await?;
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text FROM information_schema.tables \
         WHERE table_name IN ('users', 'documents', '_sqlx_migrations') ORDER BY 1, 2",
    )
    .fetch_all(&mut db)
    .await?;
    let expected = [
        ("authpair_auth", "_sqlx_migrations"),
        ("authpair_auth", "users"),
        ("authpair_resource", "_sqlx_migrations"),
        ("authpair_resource", "documents"),
    ];
    let tables: Vec<(&str, &str)> = tables.iter().map(|(s, t)| (s.as_str(), t.as_str())).collect();
    assert_eq!(tables, expected);
    Ok(())
}

#[tokio::test]
async fn a_service_whose_tables_are_in_public_refuses_to_start_and_says_how_to_move_them() -> TestResult {
    let database = PgDatabase::create("legacy_public").await?;
    // The earlier layout: the auth service's tables in `public`.
    let legacy =
        secrecy::SecretString::from(format!("{}?options=-c%20search_path%3Dpublic", database.url().expose_secret()));
    let dir = tempfile::tempdir()?;
    let mut config = authpair_tests::AuthConfig::new(dir.path().join("auth"));
    config.issuer = Some(authpair_tests::ISSUER.into());
    config.shared.database_url = Some(legacy);
    let mut first = authpair_tests::start_auth(config.clone()).await?;
    first.stop().await?;

    config.shared.database_url = Some(database.url());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let refused = auth_service::serve(listener, config, std::future::pending()).await;
    let message = format!("{:#}", refused.err().ok_or("started on an empty schema beside its data")?);
    assert!(message.contains("ALTER TABLE") && message.contains("authpair_auth"), "{message}");
    // Nothing was created where it would have hidden the data.
    let mut db = database.connect().await?;
    let users: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('authpair_auth.users')::text").fetch_one(&mut db).await?;
    assert_eq!(users, None);
    Ok(())
}
