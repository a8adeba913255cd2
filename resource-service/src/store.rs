//! The resource service's own database: documents, through sqlx with
//! embedded migrations, SQLite by default or PostgreSQL shared by several
//! instances ([`authpair_server::db`]). Callers see only [`Store`].

use std::path::Path;

pub use authpair_server::db::StoreError;
use authpair_server::db::{Db, Migrations};
use secrecy::SecretString;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRow {
    pub id: String,
    pub owner: String,
    pub title: String,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
}

type Row = (String, String, String, String, i64, i64);
const COLUMNS: &str = "id, owner, title, body, created_at, updated_at";

fn decode((id, owner, title, body, created_at, updated_at): Row) -> DocumentRow {
    DocumentRow { id, owner, title, body, created_at, updated_at }
}

/// Where a page of a listing starts: after this (created_at, id).
pub type Cursor = (i64, String);

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

/// `%`, `_` and the escape character itself, escaped for LIKE ... ESCAPE '\'.
fn like_pattern(query: &str) -> String {
    let mut pattern = String::with_capacity(query.len() + 2);
    pattern.push('%');
    for c in query.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    /// Opens `database_url` (PostgreSQL or SQLite), or `resource.db` in
    /// `data_dir`, and migrates it.
    pub async fn open(data_dir: &Path, database_url: Option<&SecretString>) -> anyhow::Result<Self> {
        let migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES, schema: "authpair_resource" };
        Ok(Self { db: Db::open(database_url, &data_dir.join("resource.db"), migrations).await? })
    }

    pub async fn close(&self) {
        self.db.close().await;
    }

    pub async fn create(&self, owner: &str, title: &str, body: &str, now: i64) -> Result<DocumentRow, StoreError> {
        let document = DocumentRow {
            id: uuid::Uuid::new_v4().to_string(),
            owner: owner.to_owned(),
            title: title.to_owned(),
            body: body.to_owned(),
            created_at: now,
            updated_at: now,
        };
        sqlx::query(&format!("INSERT INTO documents ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
            .bind(&document.id)
            .bind(&document.owner)
            .bind(&document.title)
            .bind(&document.body)
            .bind(document.created_at)
            .bind(document.updated_at)
            .execute(self.db.reader())
            .await?;
        Ok(document)
    }

    pub async fn get(&self, id: &str) -> Result<Option<DocumentRow>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM documents WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.db.reader())
            .await?;
        Ok(row.map(decode))
    }

    /// A page of documents, oldest first; only `owner`'s unless None.
    pub async fn list(
        &self,
        owner: Option<&str>,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<DocumentRow>, StoreError> {
        let (after_time, after_id) = after.map_or((i64::MIN, ""), |(t, id)| (*t, id.as_str()));
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM documents WHERE ($1 IS NULL OR owner = $2) \
             AND (created_at > $3 OR (created_at = $4 AND id > $5)) ORDER BY created_at, id LIMIT $6"
        ))
        .bind(owner)
        .bind(owner)
        .bind(after_time)
        .bind(after_time)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(self.db.reader())
        .await?;
        Ok(rows.into_iter().map(decode).collect())
    }

    /// Replaces the title and/or body; None if there is no such document.
    pub async fn update(
        &self,
        id: &str,
        title: Option<&str>,
        body: Option<&str>,
        now: i64,
    ) -> Result<Option<DocumentRow>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "UPDATE documents SET title = COALESCE($1, title), body = COALESCE($2, body), updated_at = $3 \
             WHERE id = $4 RETURNING {COLUMNS}"
        ))
        .bind(title)
        .bind(body)
        .bind(now)
        .bind(id)
        .fetch_optional(self.db.reader())
        .await?;
        Ok(row.map(decode))
    }

    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM documents WHERE id = $1").bind(id).execute(self.db.reader()).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Newest first, matching `query` in title or body; only `owner`'s
    /// unless None.
    pub async fn search(&self, owner: Option<&str>, query: &str, limit: u32) -> Result<Vec<DocumentRow>, StoreError> {
        let pattern = like_pattern(query);
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM documents WHERE ($1 IS NULL OR owner = $2) \
             AND (LOWER(title) LIKE LOWER($3) ESCAPE '\\' OR LOWER(body) LIKE LOWER($4) ESCAPE '\\') ORDER BY created_at DESC, id DESC LIMIT $5"
        ))
        .bind(owner)
        .bind(owner)
        .bind(&pattern)
        .bind(&pattern)
        .bind(i64::from(limit))
        .fetch_all(self.db.reader())
        .await?;
        Ok(rows.into_iter().map(decode).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_a_query_match_only_themselves() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[tokio::test]
    async fn search_treats_wildcards_literally_and_filters_by_owner() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path(), None).await?;
        store.create("alice", "100% sure", "body", 1).await?;
        store.create("alice", "1000 sure", "body", 2).await?;
        store.create("bob", "100% bob", "body", 3).await?;
        let alice = store.search(Some("alice"), "100%", 10).await?;
        assert_eq!(alice.iter().map(|d| d.title.as_str()).collect::<Vec<_>>(), ["100% sure"]);
        assert_eq!(store.search(None, "100%", 10).await?.len(), 2);
        Ok(())
    }
}
