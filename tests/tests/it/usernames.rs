//! Usernames that cannot impersonate: names are compared in their RFC 8265
//! (UsernameCaseMapped) canonical form, so case, width and Unicode
//! normalization variants of a name are that name, and names with invisible
//! or text-direction characters are refused at creation and unknown at login.

use authpair_proto::{
    auth::v1::{SetUserRolesRequest, User},
    resource::v1::GetMyProfileRequest,
};
use authpair_tests::{
    ADMIN_USERNAME, TestApp, TestResult, assert_invalid_argument, auth_database, bearer, by_name, now, reason,
    start_auth,
};
use tonic::{Code, Status};

const PASSWORD: &str = "correct horse battery";

/// (code, message, ErrorInfo reason): everything a caller can tell apart.
fn answer<T: std::fmt::Debug>(result: Result<T, Status>) -> (Code, String, Option<String>) {
    match result {
        Ok(v) => panic!("expected a refusal, got OK {v:?}"),
        Err(status) => (status.code(), status.message().to_owned(), reason(&status)),
    }
}

#[track_caller]
fn assert_already_exists(result: Result<User, Status>, typed: &str) {
    let status = result.err().unwrap_or_else(|| panic!("{typed:?} was created next to admin"));
    assert_eq!((status.code(), status.message()), (Code::AlreadyExists, "username already exists"), "{typed:?}");
}

/// The subject of the session `username` logs in to.
async fn subject_of_login(app: &TestApp, username: &str) -> anyhow::Result<String> {
    let token = app.login(username, PASSWORD).await?.access_token;
    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?.into_inner();
    Ok(profile.subject)
}

#[tokio::test]
async fn names_that_differ_from_admin_only_in_case_or_width_already_exist() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("admin", PASSWORD, &[]).await?;
    for typed in ["Admin", "ADMIN", "ａｄｍｉｎ", "ＡＤＭＩＮ"] {
        assert_already_exists(app.create_user(typed, PASSWORD, &[]).await, typed);
    }
    Ok(())
}

#[tokio::test]
async fn invisible_and_text_direction_characters_make_a_username_an_invalid_argument() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("admin", PASSWORD, &[]).await?;
    let cases = [
        ("ad\u{200B}min", "200B"),
        ("admin\u{200D}", "200D"),
        ("\u{200F}admin", "200F"),
        ("\u{202E}nimda", "202E"),
        ("\u{202A}admin", "202A"),
        ("\u{2066}admin\u{2069}", "2066"),
        ("\u{FEFF}admin", "FEFF"),
    ];
    for (typed, code_point) in cases {
        assert_invalid_argument(
            app.create_user(typed, PASSWORD, &[]).await,
            &format!("username must not contain invisible or text-direction characters (found U+{code_point})"),
        );
    }
    assert_invalid_argument(
        app.create_user("snow\u{2603}man", PASSWORD, &[]).await,
        "username must not contain U+2603: usernames are letters, digits and ASCII symbols (RFC 8265)",
    );
    assert_invalid_argument(
        app.create_user("two  spaces", PASSWORD, &[]).await,
        "username must not start or end with a space, or hold two spaces in a row",
    );
    Ok(())
}

#[tokio::test]
async fn logging_in_as_admin_in_capitals_or_full_width_is_logging_in_as_admin() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.create_user("admin", PASSWORD, &[]).await?;
    for typed in ["admin", "ADMIN", "Admin", "ａｄｍｉｎ"] {
        assert_eq!(subject_of_login(&app, typed).await?, admin.id, "{typed:?}");
    }
    let token = app.login("ＡＤＭＩＮ", PASSWORD).await?.access_token;
    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?.into_inner();
    assert_eq!(profile.username, "admin", "tokens carry the name as it was created");
    Ok(())
}

#[tokio::test]
async fn cafe_typed_precomposed_or_with_a_combining_accent_is_one_account() -> TestResult {
    let app = TestApp::spawn().await?;
    let (nfc, nfd) = ("caf\u{E9}", "cafe\u{301}");
    let user = app.create_user(nfc, PASSWORD, &[]).await?;
    assert_eq!(user.username, nfc);
    assert_already_exists(app.create_user(nfd, PASSWORD, &[]).await, nfd);
    assert_already_exists(app.create_user("CAFE\u{301}", PASSWORD, &[]).await, "CAFE\u{301}");
    assert_eq!(subject_of_login(&app, nfd).await?, user.id);
    Ok(())
}

#[tokio::test]
async fn a_username_with_a_bidi_override_at_login_gets_the_unknown_user_answer() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("admin", PASSWORD, &[]).await?;
    let unknown = answer(app.login("nobody-here", PASSWORD).await);
    assert_eq!(unknown, (Code::Unauthenticated, "invalid credentials".into(), Some("INVALID_CREDENTIALS".into())));
    for typed in ["\u{202E}nimda", "ad\u{200B}min", "\u{2066}admin\u{2069}", "snow\u{2603}man", "two  spaces"] {
        assert_eq!(answer(app.login(typed, PASSWORD).await), unknown, "{typed:?}");
    }
    assert_eq!(answer(app.login("ADMIN", "wrong password").await), unknown, "a wrong password reads the same");
    Ok(())
}

#[tokio::test]
async fn the_admin_api_finds_a_user_by_any_case_or_width_of_their_name() -> TestResult {
    let app = TestApp::spawn().await?;
    let user = app.create_user("admin", PASSWORD, &["viewer"]).await?;
    let token = app.admin_token().await?;
    let request = SetUserRolesRequest { user: by_name("ＡＤＭＩＮ"), roles: vec!["editor".into()] };
    let changed = app.admin.clone().set_user_roles(bearer(request, &token)).await?.into_inner();
    let changed = changed.user.ok_or("no user")?;
    assert_eq!((changed.id, changed.roles), (user.id, vec!["editor".to_owned()]));
    let request = SetUserRolesRequest { user: by_name("\u{202E}nimda"), roles: vec!["editor".into()] };
    let status = app.admin.clone().set_user_roles(bearer(request, &token)).await.err().ok_or("found")?;
    assert_eq!((status.code(), status.message()), (Code::NotFound, "user not found"));
    Ok(())
}

#[tokio::test]
async fn failed_logins_as_case_or_width_variants_of_a_name_count_against_that_one_account() -> TestResult {
    let app = TestApp::spawn_with(
        |a| {
            a.throttle.free_failures = 100;
            a.throttle.lock_after = 3;
            a.throttle.lock_for = std::time::Duration::from_secs(60);
        },
        |_| {},
    )
    .await?;
    app.create_user("admin", PASSWORD, &[]).await?;
    for typed in ["ADMIN", "Admin", "ａｄｍｉｎ"] {
        assert_eq!(answer(app.login(typed, "wrong password").await).0, Code::Unauthenticated, "{typed:?}");
    }
    let locked = answer(app.login("admin", PASSWORD).await);
    assert_eq!((locked.0, locked.2.as_deref()), (Code::ResourceExhausted, Some("TOO_MANY_ATTEMPTS")));
    Ok(())
}

/// Stores a user behind the service's back, with no canonical form yet, as
/// rows written before the column existed are; `like` lends its password.
pub(crate) async fn seed_without_canonical_form(
    app: &TestApp,
    id: &str,
    username: &str,
    like: &User,
) -> anyhow::Result<()> {
    let mut db = auth_database(&app.auth_config, "rw").await?;
    let (hash,): (String,) =
        sqlx::query_as("SELECT password_hash FROM users WHERE id = $1").bind(&like.id).fetch_one(&mut db).await?;
    sqlx::query(
        "INSERT INTO users (id, username, username_canonical, password_hash, roles, plan, disabled, created_at, \
         updated_at) VALUES ($1, $2, NULL, $3, 'viewer', 'free', FALSE, $4, $4)",
    )
    .bind(id)
    .bind(username)
    .bind(hash)
    .bind(now())
    .execute(&mut db)
    .await?;
    Ok(())
}

#[tokio::test]
async fn stored_usernames_without_a_canonical_form_get_one_when_the_service_starts() -> TestResult {
    let mut app = TestApp::spawn().await?;
    let lender = app.create_user("lender", PASSWORD, &[]).await?;
    app.auth_server.stop().await?;
    seed_without_canonical_form(&app, "seeded-carol", "Carol", &lender).await?;
    app.restart_auth().await?;
    assert_eq!(subject_of_login(&app, "CAROL").await?, "seeded-carol");
    assert_already_exists(app.create_user("carol", PASSWORD, &[]).await, "carol");
    Ok(())
}

#[tokio::test]
async fn the_service_refuses_to_start_on_stored_names_with_one_canonical_form_and_names_both() -> TestResult {
    let mut app = TestApp::spawn().await?;
    let lender = app.create_user("lender", PASSWORD, &[]).await?;
    app.auth_server.stop().await?;
    seed_without_canonical_form(&app, "seeded-upper", "Admin", &lender).await?;
    seed_without_canonical_form(&app, "seeded-lower", "admin", &lender).await?;
    let failed = start_auth(app.auth_config.clone()).await;
    let message = format!("{:#}", failed.err().ok_or("started with two users named admin")?);
    assert!(
        message.contains(
            "existing users have names that are one username once case, width and Unicode normalization are set \
             aside (RFC 8265): \"admin\" (id seeded-lower) and \"Admin\" (id seeded-upper) are both \"admin\". \
             Accounts are never merged"
        ),
        "{message}"
    );
    // Nothing was merged or half-filled: both rows are as seeded.
    let mut db = auth_database(&app.auth_config, "ro").await?;
    let (unfilled,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM users WHERE username_canonical IS NULL").fetch_one(&mut db).await?;
    assert_eq!(unfilled, 2);
    Ok(())
}

#[tokio::test]
async fn a_capital_sigma_ending_a_name_is_final_sigma_so_sas_in_capitals_and_in_lower_case_are_one_account()
-> TestResult {
    let app = TestApp::spawn().await?;
    let user = app.create_user("ΣΑΣ", PASSWORD, &[]).await?;
    assert_eq!(user.username, "ΣΑΣ", "kept as typed");
    assert_already_exists(app.create_user("σας", PASSWORD, &[]).await, "σας");
    assert_already_exists(app.create_user("Σας", PASSWORD, &[]).await, "Σας");
    for typed in ["ΣΑΣ", "σας", "Σας"] {
        assert_eq!(subject_of_login(&app, typed).await?, user.id, "{typed:?}");
    }
    Ok(())
}

/// The refusal of a name that looks like `existing`, as CreateUser gives it.
fn looks_like(existing: &str) -> (Code, String, Option<String>) {
    (
        Code::AlreadyExists,
        format!("username looks like the existing username {existing:?} (UTS #39 confusables)"),
        Some("USERNAME_CONFUSABLE".into()),
    )
}

#[tokio::test]
async fn names_that_look_like_an_existing_account_in_another_script_are_already_exists_naming_it() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("admin", PASSWORD, &[]).await?;
    app.create_user("ace", PASSWORD, &[]).await?;
    let cases = [
        ("\u{430}dmin", "admin"),         // Cyrillic а
        ("adm\u{131}n", "admin"),         // dotless ı, all Latin
        ("ADM\u{131}N", "admin"),         // the same in capitals
        ("r\u{3BF}ot", ADMIN_USERNAME),   // Greek ο in the bootstrap admin's "root"
        ("\u{430}\u{441}\u{435}", "ace"), // all Cyrillic: асе
    ];
    for (typed, existing) in cases {
        assert_eq!(answer(app.create_user(typed, PASSWORD, &[]).await), looks_like(existing), "{typed:?}");
    }
    app.create_user("admins", PASSWORD, &[]).await?;
    Ok(())
}

#[tokio::test]
async fn a_new_name_that_mixes_scripts_is_an_invalid_argument_naming_the_scripts() -> TestResult {
    let app = TestApp::spawn().await?;
    let mixed = |scripts: &str| {
        (
            Code::InvalidArgument,
            format!(
                "username mixes scripts ({scripts}): a username is written in one script, or in Latin with Chinese, \
                 Japanese or Korean (UTS #39, highly restrictive)"
            ),
            Some("USERNAME_MIXED_SCRIPT".into()),
        )
    };
    assert_eq!(answer(app.create_user("p\u{430}ypal", PASSWORD, &[]).await), mixed("Latin, Cyrillic"));
    assert_eq!(answer(app.create_user("\u{3B1}lpha", PASSWORD, &[]).await), mixed("Greek, Latin"));
    for name in ["tanaka田中", "σοφια", "ивана", "bøb"] {
        app.create_user(name, PASSWORD, &[]).await.map_err(|e| format!("{name:?}: {e:?}"))?;
    }
    Ok(())
}

#[tokio::test]
async fn stored_names_that_look_alike_keep_logging_in_and_new_look_alikes_are_still_refused() -> TestResult {
    let mut app = TestApp::spawn().await?;
    let admin = app.create_user("admin", PASSWORD, &[]).await?;
    app.auth_server.stop().await?;
    seed_without_canonical_form(&app, "seeded-dotless", "adm\u{131}n", &admin).await?;
    seed_without_canonical_form(&app, "seeded-sigma", "ΣΑΣ", &admin).await?;
    app.restart_auth().await?;
    assert_eq!(subject_of_login(&app, "adm\u{131}n").await?, "seeded-dotless");
    assert_eq!(subject_of_login(&app, "admin").await?, admin.id);
    assert_eq!(subject_of_login(&app, "σας").await?, "seeded-sigma", "filled with the final sigma");
    let mut db = auth_database(&app.auth_config, "ro").await?;
    let skeletons: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT id, username_skeleton FROM users WHERE id IN ($1, 'seeded-dotless') ORDER BY id")
            .bind(&admin.id)
            .fetch_all(&mut db)
            .await?;
    let held: Vec<_> = skeletons.iter().map(|(id, skeleton)| (id == &admin.id, skeleton.is_some())).collect();
    assert!(held.contains(&(true, true)) && held.contains(&(false, false)), "{skeletons:?}");
    assert_eq!(answer(app.create_user("\u{430}dmin", PASSWORD, &[]).await), looks_like("admin"));
    Ok(())
}
