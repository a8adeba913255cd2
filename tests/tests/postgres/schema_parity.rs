//! The two migration directories of each service describe the same tables:
//! every table, column and NOT NULL is the same after migrating SQLite and
//! PostgreSQL, so a column added to one backend only fails here.

use std::collections::BTreeSet;

use authpair_tests::{AuthConfig, TestApp, TestResult, resource_config, start_auth, start_resource};
use secrecy::ExposeSecret;
use sqlx::Connection as _;

/// (table, column, nullable)
type Columns = BTreeSet<(String, String, bool)>;

async fn sqlite_columns(file: &std::path::Path) -> anyhow::Result<Columns> {
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", file.display())).await?;
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_sqlx%' ESCAPE '\\' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )
    .fetch_all(&mut db)
    .await?;
    let mut columns = Columns::new();
    for (table,) in tables {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as("SELECT name, \"notnull\", pk FROM pragma_table_info($1)")
            .bind(&table)
            .fetch_all(&mut db)
            .await?;
        for (column, not_null, primary_key) in rows {
            columns.insert((table.clone(), column, not_null == 0 && primary_key == 0));
        }
    }
    Ok(columns)
}

async fn postgres_columns(url: &str) -> anyhow::Result<Columns> {
    let mut db = sqlx::PgConnection::connect(url).await?;
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, is_nullable::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut db)
    .await?;
    Ok(rows.into_iter().map(|(table, column, nullable)| (table, column, nullable == "YES")).collect())
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_give_both_services_the_same_tables_columns_and_constraints() -> TestResult {
    // PostgreSQL: the harness's schemas (this binary runs on PostgreSQL).
    let app = TestApp::spawn().await?;
    let (auth_url, resource_url) = (app.schemas[0].url(), app.schemas[1].url());
    // SQLite: the same services on their embedded defaults.
    let data = tempfile::tempdir()?;
    let mut config = AuthConfig::new(data.path().join("auth"));
    config.bootstrap_service_account = app.auth_config.bootstrap_service_account.clone();
    let auth = start_auth(config).await?;
    let _resource = start_resource(resource_config(&auth, data.path().join("resource"))).await?;

    let auth_sqlite = sqlite_columns(&data.path().join("auth/auth.db")).await?;
    let auth_postgres = postgres_columns(auth_url.expose_secret()).await?;
    assert!(auth_sqlite.len() >= 30, "{auth_sqlite:?}");
    assert_eq!(auth_sqlite, auth_postgres);
    let resource_sqlite = sqlite_columns(&data.path().join("resource/resource.db")).await?;
    let resource_postgres = postgres_columns(resource_url.expose_secret()).await?;
    assert_eq!(resource_sqlite.len(), 6, "{resource_sqlite:?}");
    assert_eq!(resource_sqlite, resource_postgres);
    Ok(())
}
