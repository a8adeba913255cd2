//! What the auth service's database holds of secrets (docs/security.md,
//! SH-03), read straight from its tables: argon2id password hashes at OWASP
//! parameters, salted; refresh tokens and client secrets only as SHA-256;
//! signing keys sealed with the master key, never as PEM or PKCS#8 bytes.
//! And how the start treats master keys: plaintext keys sealed, a wrong
//! master key refused, a previous one rotated out.

use std::{path::Path, time::Duration};

use auth_service::keys::sealing::MasterKey;
use authpair_proto::auth::v1::{GetJwksRequest, ListUsersRequest, RefreshRequest, RotateSigningKeyRequest};
use authpair_tests::{
    AuthConfig, Backend, RESOURCE_CLIENT_ID, RESOURCE_CLIENT_SECRET, TestApp, TestResult, auth_database, bearer,
    master_key_file, open_signing_key, stored_signing_keys,
};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};

const CREATE_ONE: &str = "create one with: head -c 32 /dev/urandom | base64 > master.key; chmod 600 master.key";

fn check_value(path: &Path) -> anyhow::Result<String> {
    Ok(MasterKey::read_file(path)?.check_value().to_owned())
}

fn master_key_of(config: &AuthConfig) -> anyhow::Result<std::path::PathBuf> {
    config.master_key_file.clone().ok_or_else(|| anyhow::anyhow!("the config names no master key"))
}

/// What refuses `config`'s start: the innermost error's message. A start
/// that is not refused within 30 s fails the test.
async fn refused_start(config: AuthConfig) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let serving = auth_service::serve(listener, config, std::future::pending());
    let refused = tokio::time::timeout(Duration::from_secs(30), serving).await;
    match refused {
        Ok(Err(error)) => Ok(error.root_cause().to_string()),
        _ => anyhow::bail!("the start was not refused"),
    }
}

fn other_master_key(message_kid: &str, sealed_with: &str, ours: &str) -> String {
    format!(
        "signing key {message_kid} was sealed with a different master key (key check {sealed_with}; this master \
         key's is {ours}): start with the master key that sealed it, or pass that one as --previous-master-key-file \
         to re-seal with this one"
    )
}

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

#[tokio::test]
async fn after_a_start_with_a_master_key_no_signing_key_is_stored_as_pem_or_as_its_pkcs8_bytes() -> TestResult {
    let app = TestApp::spawn().await?;
    // A rotated-in key is stored the same way as the first.
    let admin = app.admin_token().await?;
    app.admin.clone().rotate_signing_key(bearer(RotateSigningKeyRequest {}, &admin)).await?;

    let check = check_value(&master_key_of(&app.auth_config)?)?;
    let rows = stored_signing_keys(&app.auth_config).await?;
    assert_eq!(rows.len(), 2);
    for (kid, stored) in &rows {
        assert!(stored.starts_with(&format!("sealed:v1:{check}:")), "{stored}");
        assert!(!stored.contains("-----BEGIN"), "{stored}");
        // The key it holds is the one with this kid...
        let pem = open_signing_key(&app.auth_config, kid, stored)?;
        assert_eq!(authpair_claims::SigningKey::from_pkcs8_pem(pem.expose_secret())?.kid(), kid);
        // ...and neither its PKCS#8 document nor its seed is in the row, as
        // PEM text or inside the sealed bytes.
        let body: String = pem.expose_secret().lines().filter(|line| !line.starts_with("-----")).collect();
        let pkcs8 = STANDARD.decode(&body)?;
        let seed = &pkcs8[pkcs8.len() - 32..];
        assert!(!stored.contains(&body));
        let sealed = URL_SAFE_NO_PAD.decode(stored.rsplit(':').next().unwrap_or_default())?;
        assert!(!sealed.windows(pkcs8.len()).any(|w| w == pkcs8.as_slice()));
        assert!(!sealed.windows(seed.len()).any(|w| w == seed));
    }
    Ok(())
}

#[tokio::test]
async fn a_plaintext_database_is_sealed_by_the_first_start_with_a_master_key_and_its_tokens_still_verify() -> TestResult
{
    let plaintext = |a: &mut AuthConfig| {
        a.master_key_file = None;
        a.allow_plaintext_keys = true;
    };
    let mut app = TestApp::spawn_with(plaintext, |_| {}).await?;
    let before = stored_signing_keys(&app.auth_config).await?;
    assert_eq!(before.len(), 1);
    let (kid, pem) = before[0].clone();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "--allow-plaintext-keys starts, keys in plaintext");
    let admin = app.admin_token().await?;

    let path = master_key_file(app.data_dir.path())?;
    app.auth_config.master_key_file = Some(path.clone());
    app.auth_config.allow_plaintext_keys = false;
    app.restart_auth().await?;
    let after = stored_signing_keys(&app.auth_config).await?;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].0, kid, "the same key, not a new one");
    assert!(after[0].1.starts_with(&format!("sealed:v1:{}:", check_value(&path)?)), "{}", after[0].1);
    assert_eq!(open_signing_key(&app.auth_config, &kid, &after[0].1)?.expose_secret(), pem);
    // A token signed before the seal still verifies, and the key still signs.
    app.admin.clone().list_users(bearer(ListUsersRequest::default(), &admin)).await?;
    let jwks = app.auth.clone().get_jwks(GetJwksRequest {}).await?.into_inner().keys;
    assert_eq!(jwks.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), [kid.as_str()]);

    // Sealing is done once: the next start rewrites nothing.
    app.restart_auth().await?;
    assert_eq!(stored_signing_keys(&app.auth_config).await?, after);
    Ok(())
}

#[tokio::test]
async fn a_database_sealed_with_another_master_key_refuses_the_start_naming_both_key_checks() -> TestResult {
    let mut app = TestApp::spawn().await?;
    app.auth_server.stop().await?;
    let before = stored_signing_keys(&app.auth_config).await?;
    let other = master_key_file(&app.data_dir.path().join("other"))?;
    let config = AuthConfig { master_key_file: Some(other.clone()), ..app.auth_config.clone() };

    let message = refused_start(config).await?;
    let sealed_with = check_value(&master_key_of(&app.auth_config)?)?;
    assert_eq!(message, other_master_key(&before[0].0, &sealed_with, &check_value(&other)?));
    assert_eq!(stored_signing_keys(&app.auth_config).await?, before, "no key minted in its place, none rewritten");
    Ok(())
}

#[tokio::test]
async fn without_a_master_key_or_allow_plaintext_keys_the_auth_service_refuses_to_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = AuthConfig { master_key_file: None, ..AuthConfig::new(dir.path().join("auth")) };
    let message = refused_start(config).await?;
    assert_eq!(
        message,
        format!(
            "no master key to seal the signing keys with: pass --master-key-file (AUTH_MASTER_KEY_FILE), a file of \
             32 random bytes in base64, or --allow-plaintext-keys to store them unencrypted ({CREATE_ONE})"
        )
    );
    assert!(!dir.path().join("auth/auth.db").exists(), "refused before the database was created");
    Ok(())
}

#[tokio::test]
async fn a_new_master_key_with_the_previous_one_re_seals_every_key_and_the_previous_alone_then_fails() -> TestResult {
    let mut app = TestApp::spawn().await?;
    let admin = app.admin_token().await?;
    let old = master_key_of(&app.auth_config)?;
    let new = master_key_file(&app.data_dir.path().join("new"))?;
    app.auth_config.master_key_file = Some(new.clone());
    app.auth_config.previous_master_key_file = Some(old.clone());
    app.restart_auth().await?;

    let rows = stored_signing_keys(&app.auth_config).await?;
    let new_check = check_value(&new)?;
    assert!(rows.iter().all(|(_, stored)| stored.starts_with(&format!("sealed:v1:{new_check}:"))), "{rows:?}");
    app.admin.clone().list_users(bearer(ListUsersRequest::default(), &admin)).await?;

    app.auth_server.stop().await?;
    let old_alone =
        AuthConfig { master_key_file: Some(old.clone()), previous_master_key_file: None, ..app.auth_config.clone() };
    assert_eq!(refused_start(old_alone).await?, other_master_key(&rows[0].0, &new_check, &check_value(&old)?));
    // The new key alone is all a start needs now.
    app.auth_config.previous_master_key_file = None;
    app.restart_auth().await?;
    app.admin.clone().list_users(bearer(ListUsersRequest::default(), &admin)).await?;
    Ok(())
}

/// What of a plaintext signing key's PEM can be looked for in raw database
/// files: its armour, its base64 body, its PKCS#8 bytes and its seed.
fn traces_of(pem: &str) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    let pkcs8 = STANDARD.decode(&body)?;
    let seed = pkcs8[pkcs8.len() - 32..].to_vec();
    Ok(vec![
        ("PRIVATE KEY", b"PRIVATE KEY".to_vec()),
        ("the PEM body", body.into_bytes()),
        ("PKCS#8", pkcs8),
        ("seed", seed),
    ])
}

/// The database files that hold `traces`, each with what it holds: on
/// SQLite `auth.db` and its `-wal` and `-shm`; on PostgreSQL the files of
/// the `signing_keys` table, read after a CHECKPOINT has written them.
async fn files_holding(config: &AuthConfig, traces: &[(&'static str, Vec<u8>)]) -> anyhow::Result<Vec<String>> {
    let files = match Backend::of_this_binary() {
        Backend::Sqlite => {
            let dir = &config.shared.data_dir;
            let files: Vec<_> = ["auth.db", "auth.db-wal", "auth.db-shm"].iter().map(|f| dir.join(f)).collect();
            files.into_iter().filter(|f| f.exists()).collect()
        }
        Backend::Postgres => {
            let mut db = auth_database(config, "ro").await?;
            sqlx::query("CHECKPOINT").execute(&mut db).await?;
            let (data, heap): (String, String) =
                sqlx::query_as("SELECT current_setting('data_directory'), pg_relation_filepath('signing_keys')")
                    .fetch_one(&mut db)
                    .await?;
            vec![Path::new(&data).join(heap)]
        }
    };
    anyhow::ensure!(!files.is_empty(), "no database file found");
    let mut holding = Vec::new();
    for file in files {
        let bytes = std::fs::read(&file)?;
        for (what, trace) in traces {
            if bytes.windows(trace.len()).any(|w| w == trace.as_slice()) {
                holding.push(format!("{} holds {what}", file.display()));
            }
        }
    }
    Ok(holding)
}

#[tokio::test]
async fn once_a_plaintext_database_is_sealed_and_serving_no_database_file_holds_the_plaintext_key() -> TestResult {
    let plaintext = |a: &mut AuthConfig| {
        a.master_key_file = None;
        a.allow_plaintext_keys = true;
    };
    let mut app = TestApp::spawn_with(plaintext, |_| {}).await?;
    let (_, pem) = stored_signing_keys(&app.auth_config).await?.remove(0);
    let traces = traces_of(&pem)?;
    if Backend::of_this_binary() == Backend::Sqlite {
        // The files do hold it while plaintext keys are allowed: what the
        // search below looks for is there to be found.
        assert!(!files_holding(&app.auth_config, &traces).await?.is_empty(), "the plaintext key was not found");
    }

    let file_before = table_file(&app.auth_config).await?;

    app.auth_config.master_key_file = Some(master_key_file(app.data_dir.path())?);
    app.auth_config.allow_plaintext_keys = false;
    app.restart_auth().await?;
    assert!(stored_signing_keys(&app.auth_config).await?[0].1.starts_with("sealed:v1:"));
    if let Some(before) = file_before {
        // VACUUM FULL rewrote the table into a new file.
        assert_ne!(table_file(&app.auth_config).await?, Some(before), "signing_keys was not rewritten");
    }
    assert_eq!(files_holding(&app.auth_config, &traces).await?, Vec::<String>::new());
    Ok(())
}

/// On PostgreSQL, the file `signing_keys` is stored in (it changes when the
/// table is rewritten); None on SQLite.
async fn table_file(config: &AuthConfig) -> anyhow::Result<Option<String>> {
    if Backend::of_this_binary() != Backend::Postgres {
        return Ok(None);
    }
    let mut db = auth_database(config, "ro").await?;
    Ok(Some(sqlx::query_scalar("SELECT pg_relation_filepath('signing_keys')").fetch_one(&mut db).await?))
}
