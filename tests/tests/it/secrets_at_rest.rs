//! What the auth service's database holds of secrets (security matrix
//! SH-03), read straight from its tables: argon2id password hashes at OWASP
//! parameters, salted; refresh tokens and client secrets only as SHA-256.

use authpair_proto::auth::v1::RefreshRequest;
use authpair_tests::{RESOURCE_CLIENT_ID, RESOURCE_CLIENT_SECRET, TestApp, TestResult, auth_database};
use sha2::{Digest as _, Sha256};

fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn sh_03_the_database_holds_salted_argon2id_hashes_and_refresh_tokens_only_as_sha_256() -> TestResult {
    let app = TestApp::spawn().await?;
    let password = "the-same-password";
    app.create_user("sam", password, &[]).await?;
    app.create_user("sue", password, &[]).await?;
    let first = app.login("sam", password).await?.refresh_token;
    let second = app.auth.clone().refresh(RefreshRequest { refresh_token: first.clone() }).await?;
    let second = second.into_inner().refresh_token;

    let mut db = auth_database(&app.auth_config, "ro").await?;
    let hashes: Vec<(String,)> =
        sqlx::query_as("SELECT password_hash FROM users WHERE username IN ('sam', 'sue') ORDER BY username")
            .fetch_all(&mut db)
            .await?;
    assert_eq!(hashes.len(), 2);
    for (hash,) in &hashes {
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(!hash.contains(password));
    }
    assert_ne!(hashes[0], hashes[1], "the same password, salted apart");

    let stored: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT token_hash, successor_hash FROM refresh_tokens").fetch_all(&mut db).await?;
    let stored: Vec<String> =
        stored.into_iter().flat_map(|(hash, successor)| [Some(hash), successor]).flatten().collect();
    for token in [&first, &second] {
        assert!(stored.contains(&sha256_hex(token)), "no SHA-256 of a refresh token stored");
        assert!(stored.iter().all(|value| !value.contains(token.as_str())), "a refresh token stored raw");
    }
    assert!(stored.iter().all(|hash| hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())));

    let (secret_hash,): (String,) = sqlx::query_as("SELECT secret_hash FROM service_accounts WHERE name = $1")
        .bind(RESOURCE_CLIENT_ID)
        .fetch_one(&mut db)
        .await?;
    assert_eq!(secret_hash, sha256_hex(RESOURCE_CLIENT_SECRET));
    Ok(())
}
