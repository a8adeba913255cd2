//! `POST /oauth2/token` on the auth service's HTTP listener: each RFC 6749
//! grant end to end, its token taken by the gRPC API, and every refusal
//! with the exact RFC 6749 §5.2 code and status.

use authpair_proto::{
    auth::v1::{ListUsersRequest, LoginRequest, RefreshRequest},
    resource::v1::GetMyProfileRequest,
};
use authpair_tests::{
    ADMIN_AUDIENCE, ADMIN_PASSWORD, ADMIN_USERNAME, TestApp, TestResult, bearer,
    http1::{self, Answer, Ask},
    reason,
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::Value;
use tonic::Code;

const TOKEN: &str = "/oauth2/token";
const FORM: &str = "application/x-www-form-urlencoded";

/// POSTs `form` to the token endpoint, with `Authorization: Basic` for
/// `basic` (id and secret as given: none of the tests' hold a character
/// form encoding changes).
async fn post(app: &TestApp, form: &str, basic: Option<(&str, &str)>) -> anyhow::Result<Answer> {
    let http = app.auth_server.http_addr.ok_or_else(|| anyhow::anyhow!("no HTTP listener"))?;
    let mut ask = Ask::method("POST", TOKEN).header("content-type", FORM).body(form.to_owned());
    if let Some((id, secret)) = basic {
        ask = ask.header("authorization", format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))));
    }
    http1::send(http, ask).await
}

/// A 200 answer's JSON, after checking it is never cached (RFC 6749 §5.1).
fn issued(answer: &Answer) -> TestResult<Value> {
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(
        (answer.header("content-type"), answer.header("cache-control"), answer.header("pragma")),
        ("application/json", "no-store", "no-cache")
    );
    let body = answer.json()?;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    Ok(body)
}

/// A refusal's (status, error), after checking it is JSON and never cached.
fn refused(answer: &Answer) -> TestResult<(u16, String)> {
    assert_eq!((answer.header("content-type"), answer.header("cache-control")), ("application/json", "no-store"));
    let body = answer.json()?;
    let error = body["error"].as_str().ok_or("no error")?.to_owned();
    Ok((answer.status.as_u16(), error))
}

/// The `sub` the resource service sees in `token`, over gRPC.
async fn subject(app: &TestApp, token: &str) -> Result<String, tonic::Status> {
    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, token)).await?;
    Ok(profile.into_inner().subject)
}

fn text<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name].as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_password_grant_gives_the_pair_login_gives_and_its_access_token_works_on_the_grpc_api() -> TestResult {
    let app = TestApp::spawn().await?;
    let alice = app.create_user("alice", "alice-password", &[]).await?;
    let body = issued(&post(&app, "grant_type=password&username=alice&password=alice-password", None).await?)?;
    assert!(!text(&body, "refresh_token").is_empty(), "{body}");
    let grpc = app.login("alice", "alice-password").await?;
    assert_eq!(body.get("scope").and_then(Value::as_str).unwrap_or_default(), grpc.scope);
    assert_eq!(subject(&app, text(&body, "access_token")).await?, alice.id);
    // The refresh token is a session's, good for the gRPC Refresh too.
    let refresh = RefreshRequest { refresh_token: text(&body, "refresh_token").into() };
    assert!(!app.auth.clone().refresh(refresh).await?.into_inner().access_token.is_empty());

    // `audience` picks the token's audience, as Login's field does.
    let form =
        format!("grant_type=password&username={ADMIN_USERNAME}&password={ADMIN_PASSWORD}&audience={ADMIN_AUDIENCE}");
    let admin = issued(&post(&app, &form, None).await?)?;
    let users = app.admin.clone().list_users(bearer(ListUsersRequest::default(), text(&admin, "access_token"))).await?;
    assert!(users.into_inner().users.iter().any(|u| u.username == "alice"));
    Ok(())
}

#[tokio::test]
async fn the_refresh_token_grant_rotates_the_session_and_the_spent_token_is_invalid_grant() -> TestResult {
    let app = TestApp::spawn().await?;
    let alice = app.create_user("alice", "alice-password", &[]).await?;
    let first = app.login("alice", "alice-password").await?;
    let form = format!("grant_type=refresh_token&refresh_token={}", first.refresh_token);
    let body = issued(&post(&app, &form, None).await?)?;
    let next = text(&body, "refresh_token");
    assert!(!next.is_empty() && next != first.refresh_token, "{body}");
    assert_eq!(subject(&app, text(&body, "access_token")).await?, alice.id);
    // The spent token again: reuse, so the session ends, as over gRPC.
    assert_eq!(refused(&post(&app, &form, None).await?)?, (400, "invalid_grant".to_owned()));
    let after = app.auth.clone().refresh(RefreshRequest { refresh_token: next.into() }).await;
    assert_eq!(reason(&after.err().ok_or("the session outlived a reuse")?).as_deref(), Some("REFRESH_TOKEN_INVALID"));
    let unknown = post(&app, "grant_type=refresh_token&refresh_token=aprt_nothing", None).await?;
    assert_eq!(refused(&unknown)?, (400, "invalid_grant".to_owned()));
    Ok(())
}

#[tokio::test]
async fn the_client_credentials_grant_takes_basic_or_form_credentials_and_no_refresh_token() -> TestResult {
    let app = TestApp::spawn().await?;
    let (id, secret) = app.service_account("reporting", &["documents:read", "profile"]).await?;
    let by_basic = issued(&post(&app, "grant_type=client_credentials", Some((&id, &secret))).await?)?;
    assert_eq!(text(&by_basic, "scope"), "documents:read profile");
    assert!(by_basic.get("refresh_token").is_none(), "{by_basic}");
    let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=profile");
    let by_form = issued(&post(&app, &form, None).await?)?;
    assert_eq!(text(&by_form, "scope"), "profile");
    for body in [&by_basic, &by_form] {
        assert_eq!(subject(&app, text(body, "access_token")).await?, "svc:reporting");
    }
    Ok(())
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_invalid_grant() -> TestResult {
    let app = TestApp::spawn().await?;
    app.create_user("alice", "alice-password", &[]).await?;
    let wrong = post(&app, "grant_type=password&username=alice&password=guess-one", None).await?;
    let unknown = post(&app, "grant_type=password&username=nobody&password=guess-one", None).await?;
    assert_eq!(refused(&wrong)?, (400, "invalid_grant".to_owned()));
    assert_eq!((wrong.status, &wrong.body), (unknown.status, &unknown.body));
    assert_eq!(wrong.json()?["error_description"], "invalid username or password");
    Ok(())
}

#[tokio::test]
async fn wrong_client_credentials_are_401_invalid_client_with_a_basic_challenge() -> TestResult {
    let app = TestApp::spawn().await?;
    let (id, secret) = app.service_account("billing", &["profile"]).await?;
    let basic = post(&app, "grant_type=client_credentials", Some((&id, "apcs_wrong"))).await?;
    let form = format!("grant_type=client_credentials&client_id=nobody&client_secret={secret}");
    let in_form = post(&app, &form, None).await?;
    let none = post(&app, "grant_type=client_credentials", None).await?;
    let id_alone = post(&app, &format!("grant_type=client_credentials&client_id={id}"), None).await?;
    for answer in [&basic, &in_form, &none, &id_alone] {
        assert_eq!(refused(answer)?, (401, "invalid_client".to_owned()));
        assert_eq!(answer.header("www-authenticate"), r#"Basic realm="authpair", charset="UTF-8""#);
    }
    assert_eq!(basic.body, in_form.body, "an unknown client and a wrong secret read the same");
    // Both ways at once is one too many (RFC 6749 §2.3).
    let form = format!("grant_type=client_credentials&client_secret={secret}");
    let both = post(&app, &form, Some((&id, &secret))).await?;
    assert_eq!(refused(&both)?, (400, "invalid_request".to_owned()));
    // A user's grants take no client authentication, and say so.
    let user = post(&app, "grant_type=password&username=a&password=b", Some((&id, &secret))).await?;
    assert_eq!(refused(&user)?, (401, "invalid_client".to_owned()));
    Ok(())
}

#[tokio::test]
async fn a_scope_or_audience_not_granted_and_an_unknown_grant_get_their_own_codes() -> TestResult {
    let app = TestApp::spawn().await?;
    let (id, secret) = app.service_account("billing", &["profile"]).await?;
    let wider = post(&app, "grant_type=client_credentials&scope=profile+admin", Some((&id, &secret))).await?;
    assert_eq!(refused(&wider)?, (400, "invalid_scope".to_owned()));
    assert_eq!(wider.json()?["error_description"], "scope 'admin' was not granted to this client");
    let form = format!("grant_type=client_credentials&audience={ADMIN_AUDIENCE}");
    let other = post(&app, &form, Some((&id, &secret))).await?;
    assert_eq!(refused(&other)?, (400, "invalid_target".to_owned()));
    let unknown = post(&app, "grant_type=password&username=a&password=b&audience=elsewhere", None).await?;
    assert_eq!(refused(&unknown)?, (400, "invalid_target".to_owned()));
    let grant = post(&app, "grant_type=authorization_code&code=x", None).await?;
    assert_eq!(refused(&grant)?, (400, "unsupported_grant_type".to_owned()));
    Ok(())
}

#[tokio::test]
async fn a_request_the_endpoint_cannot_read_is_invalid_request() -> TestResult {
    let app = TestApp::spawn().await?;
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    for form in [
        "username=a&password=b",
        "grant_type=password&password=b",
        "grant_type=password&username=a&username=a&password=b",
        "grant_type=refresh_token",
    ] {
        assert_eq!(refused(&post(&app, form, None).await?)?, (400, "invalid_request".to_owned()), "{form}");
    }
    let json =
        Ask::method("POST", TOKEN).header("content-type", "application/json").body(r#"{"grant_type":"password"}"#);
    assert_eq!(refused(&http1::send(http, json).await?)?, (400, "invalid_request".to_owned()));
    let big = format!("grant_type=password&username=a&password={}", "x".repeat(24 * 1024));
    assert_eq!(refused(&post(&app, &big, None).await?)?, (413, "invalid_request".to_owned()));
    let get = http1::get(http, TOKEN).await?;
    assert_eq!((get.status.as_u16(), get.header("allow")), (405, "POST"));
    Ok(())
}

#[tokio::test]
async fn the_http_password_grant_counts_toward_the_same_lock_as_grpc_logins() -> TestResult {
    let app = TestApp::spawn_with(
        |a| {
            a.throttle.free_failures = 100;
            a.throttle.lock_after = 3;
        },
        |_| {},
    )
    .await?;
    app.create_user("alice", "alice-password", &[]).await?;
    for _ in 0..3 {
        let answer = post(&app, "grant_type=password&username=alice&password=guess", None).await?;
        assert_eq!(refused(&answer)?, (400, "invalid_grant".to_owned()));
    }
    // Locked over gRPC by the HTTP failures, and over HTTP, right password or not.
    let request = LoginRequest { username: "alice".into(), password: "alice-password".into(), ..Default::default() };
    let grpc = app.auth.clone().login(request).await.err().ok_or("logged in while locked")?;
    assert_eq!((grpc.code(), reason(&grpc).as_deref()), (Code::ResourceExhausted, Some("TOO_MANY_ATTEMPTS")));
    let http = post(&app, "grant_type=password&username=alice&password=alice-password", None).await?;
    assert_eq!(refused(&http)?, (429, "temporarily_unavailable".to_owned()));
    assert!(http.header("retry-after").parse::<u64>().is_ok_and(|s| s >= 1), "{:?}", http.headers);
    Ok(())
}
