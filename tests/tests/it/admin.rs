//! The admin API: bad input gets a clear INVALID_ARGUMENT, ALREADY_EXISTS,
//! NOT_FOUND or FAILED_PRECONDITION, and the service keeps serving.

use authpair_proto::auth::v1::{CreateUserRequest, ListUsersRequest, SetUserRolesRequest};
use authpair_tests::{ADMIN_USERNAME, TestApp, TestResult, bearer, by_name};
use tonic::Code;

fn create(username: &str, password: &str, roles: &[&str], plan: &str) -> CreateUserRequest {
    CreateUserRequest {
        username: username.into(),
        password: password.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        plan: plan.into(),
    }
}

#[tokio::test]
async fn bad_create_user_requests_get_a_clear_invalid_argument() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = app.admin_token().await?;
    let mut admin = app.admin.clone();
    let long_name = "u".repeat(257);
    let long_password = "p".repeat(1025);
    let cases = [
        (create("", "good-password", &[], ""), "username is required"),
        (create(&long_name, "good-password", &[], ""), "username must be at most 256 bytes"),
        (create("nul\0name", "good-password", &[], ""), "username must not contain NUL characters"),
        (create("line\nbreak", "good-password", &[], ""), "username must not contain control characters"),
        (create("zoe", "", &[], ""), "password is required"),
        (create("zoe", "short", &[], ""), "password must be at least 8 characters"),
        (create("zoe", &long_password, &[], ""), "password must be at most 1024 bytes"),
        (create("zoe", "good-password", &["root"], ""), "unknown role \"root\""),
        (create("zoe", "good-password", &[], "gold"), "unknown plan \"gold\""),
    ];
    for (request, message) in cases {
        let status = admin.create_user(bearer(request, &token)).await.err().ok_or(message)?;
        assert_eq!((status.code(), status.message()), (Code::InvalidArgument, message));
    }
    // Still serving, and none of the bad requests created anyone.
    let users = admin.list_users(bearer(ListUsersRequest::default(), &token)).await?.into_inner().users;
    assert_eq!(users.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), [ADMIN_USERNAME]);
    Ok(())
}

#[tokio::test]
async fn a_duplicate_username_is_already_exists() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("yara", "yara-password", &[]).await?;
    let status = app.create_user("yara", "other-password", &[]).await.err().ok_or("duplicate accepted")?;
    assert_eq!((status.code(), status.message()), (Code::AlreadyExists, "username already exists"));
    Ok(())
}

#[tokio::test]
async fn usernames_that_look_like_json_or_unicode_tricks_stay_exact_and_distinct() -> TestResult {
    let app = TestApp::spawn().await?;
    let mut subjects = std::collections::HashSet::new();
    // Cyrillic letters are letters RFC 8265 allows, so "админ" is a name of
    // its own; a Latin name with one Cyrillic letter, a look-alike and
    // invisible characters are refused (see usernames.rs).
    for name in ["quo\"te\",\"roles\":[\"admin\"]", "админ", "r\u{f6}ot"] {
        let (user, token) = app.user_with_token(name, &["viewer"]).await?;
        let profile = app
            .resource
            .clone()
            .get_my_profile(bearer(authpair_proto::resource::v1::GetMyProfileRequest {}, &token))
            .await?
            .into_inner();
        assert_eq!(profile.username, name);
        assert_eq!(profile.roles, ["viewer"]);
        assert!(subjects.insert(user.id), "two users share a sub");
    }
    Ok(())
}

#[tokio::test]
async fn set_user_roles_reports_unknown_users_and_protects_the_last_admin() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = app.admin_token().await?;
    let mut admin = app.admin.clone();

    let missing = SetUserRolesRequest { user: by_name("ghost"), roles: vec!["viewer".into()] };
    let status = admin.set_user_roles(bearer(missing, &token)).await.err().ok_or("ghost found")?;
    assert_eq!((status.code(), status.message()), (Code::NotFound, "user not found"));

    let no_user = SetUserRolesRequest { user: None, roles: vec!["viewer".into()] };
    let status = admin.set_user_roles(bearer(no_user, &token)).await.err().ok_or("accepted")?;
    assert_eq!(status.code(), Code::InvalidArgument);

    let no_roles = SetUserRolesRequest { user: by_name(ADMIN_USERNAME), roles: vec![] };
    let status = admin.set_user_roles(bearer(no_roles, &token)).await.err().ok_or("accepted")?;
    assert_eq!((status.code(), status.message()), (Code::InvalidArgument, "at least one role is required"));

    let demote = SetUserRolesRequest { user: by_name(ADMIN_USERNAME), roles: vec!["viewer".into()] };
    let status = admin.set_user_roles(bearer(demote, &token)).await.err().ok_or("last admin demoted")?;
    assert_eq!(
        (status.code(), status.message()),
        (Code::FailedPrecondition, "cannot remove or disable the last enabled admin")
    );
    Ok(())
}

#[tokio::test]
async fn list_users_pages_through_everyone_in_username_order() -> TestResult {
    let app = TestApp::spawn().await?;
    for name in ["u1", "u2", "u3", "u4"] {
        app.create_user(name, "page-password", &[]).await?;
    }
    let token = app.admin_token().await?;
    let mut admin = app.admin.clone();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = ListUsersRequest { page_size: 2, page_token: page_token.clone() };
        let page = admin.list_users(bearer(request, &token)).await?.into_inner();
        assert!(page.users.len() <= 2);
        seen.extend(page.users.into_iter().map(|u| u.username));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen, [ADMIN_USERNAME, "u1", "u2", "u3", "u4"]);
    let bad = ListUsersRequest { page_size: 2, page_token: "%%%".into() };
    let status = admin.list_users(bearer(bad, &token)).await.err().ok_or("bad page token accepted")?;
    assert_eq!((status.code(), status.message()), (Code::InvalidArgument, "invalid page_token"));
    Ok(())
}
