//! Token exchange (RFC 8693) on a user's behalf, against the real services
//! (docs/security.md TX-01 to TX-03): what an exchanged token carries, each
//! refusal with its reason, the chain of actors and its bound, and
//! revocation that follows the user (and the acting service) within a
//! second at the resource service.

use std::time::Duration;

use authpair_proto::{
    auth::v1::{
        DeleteServiceAccountRequest, ExchangeTokenRequest, ExchangeTokenResponse, IntrospectRequest, LogoutRequest,
        RevokeUserSessionsRequest, SetUserRolesRequest,
    },
    resource::v1::{GetMyProfileRequest, ListDocumentsRequest},
};
use authpair_tests::{ADMIN_AUDIENCE, TestApp, TestResult, bearer, by_name, now, reason};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tonic::{Code, Status};

/// The deployment's default audience, which the resource service takes.
const RESOURCE: &str = authpair_claims::defaults::AUDIENCE;

/// The services here and what `orders` may carry for a user at the
/// resource service; `billing` is in no entry.
async fn spawn() -> anyhow::Result<TestApp> {
    TestApp::spawn_with(
        |auth| {
            auth.delegations = match auth_service::config::Delegations::parse(&format!(
                "orders@{RESOURCE}=profile,documents:read,documents:write"
            )) {
                Ok(table) => Some(table),
                Err(e) => panic!("delegations: {e}"),
            }
        },
        |_| {},
    )
    .await
}

/// A service token for `name`, a new account with scope tokens:exchange
/// (and `more`), for the auth service's own audience.
async fn actor(app: &TestApp, name: &str) -> Result<String, Status> {
    app.service_token_for(name, &["tokens:exchange"], "", ADMIN_AUDIENCE).await
}

async fn exchange(
    app: &TestApp,
    actor: &str,
    subject: &str,
    audience: &str,
    scope: &str,
) -> Result<ExchangeTokenResponse, Status> {
    let request =
        ExchangeTokenRequest { subject_token: subject.into(), audience: audience.into(), scope: scope.into() };
    Ok(app.auth.clone().exchange_token(bearer(request, actor)).await?.into_inner())
}

fn payload(token: &str) -> anyhow::Result<Value> {
    let part = token.split('.').nth(1).ok_or_else(|| anyhow::anyhow!("not a JWT"))?;
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part)?)?)
}

fn assert_refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, why: &str, asked: &str) {
    let refused = result.err().unwrap_or_else(|| panic!("{asked}: exchanged"));
    assert_eq!((refused.code(), reason(&refused).as_deref()), (code, Some(why)), "{asked}: {refused:?}");
}

#[tokio::test]
async fn an_exchanged_token_is_the_users_with_the_service_as_act_no_roles_and_only_the_scopes_both_hold() -> TestResult
{
    let app = spawn().await?;
    let (user, token) = app.user_with_token("ann", &["viewer"]).await?;
    let orders = actor(&app, "orders").await?;

    let exchanged = exchange(&app, &orders, &token, "", "").await?;
    assert_eq!(
        (exchanged.issued_token_type.as_str(), exchanged.token_type.as_str()),
        ("urn:ietf:params:oauth:token-type:access_token", "Bearer")
    );
    // viewer holds profile and documents:read; the table allows those and
    // documents:write: both hold the first two.
    assert_eq!(exchanged.scope, "documents:read profile");
    let (claims, subject) = (payload(&exchanged.access_token)?, payload(&token)?);
    assert_eq!(claims["sub"], json!(user.id));
    assert_eq!(claims["aud"], json!(RESOURCE));
    assert_eq!(claims["act"], json!({"sub": "svc:orders"}));
    assert_eq!((&claims["roles"], &claims["client_id"]), (&json!([]), &json!("orders")));
    assert!(claims["exp"].as_u64() <= subject["exp"].as_u64(), "{claims} outlives {subject}");

    // The resource service sees the user and the service acting for them.
    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &exchanged.access_token)).await?;
    let profile = profile.into_inner();
    assert_eq!((profile.subject, profile.actors, profile.roles), (user.id, vec!["svc:orders".to_owned()], vec![]));
    app.resource.clone().list_documents(bearer(ListDocumentsRequest::default(), &exchanged.access_token)).await?;

    // Introspection names the actor (RFC 8693 §4.1).
    let inspector = app.service_token_for("inspector", &["tokens:introspect"], "", ADMIN_AUDIENCE).await?;
    let ask = IntrospectRequest { token: exchanged.access_token.clone() };
    let seen = app.auth.clone().introspect(bearer(ask, &inspector)).await?.into_inner();
    assert_eq!(seen.act.map(|a| (a.sub, a.act.is_none())), Some(("svc:orders".to_owned(), true)));

    // Asked for one scope, it carries that one.
    let narrow = exchange(&app, &orders, &token, RESOURCE, "profile").await?;
    assert_eq!(narrow.scope, "profile");
    Ok(())
}

#[tokio::test]
async fn tx_01_a_scope_or_audience_beyond_the_user_or_the_delegation_table_is_refused_with_its_reason() -> TestResult {
    let app = spawn().await?;
    let (_, token) = app.user_with_token("bob", &["viewer"]).await?;
    let orders = actor(&app, "orders").await?;
    let billing = actor(&app, "billing").await?;

    // Delegated, but the user does not hold it.
    assert_refused(
        exchange(&app, &orders, &token, "", "documents:write").await,
        Code::PermissionDenied,
        "SCOPE_NOT_HELD",
        "documents:write",
    );
    // Not delegated, whatever the user holds.
    assert_refused(
        exchange(&app, &orders, &token, "", "admin").await,
        Code::PermissionDenied,
        "SCOPE_NOT_DELEGATED",
        "admin",
    );
    assert_refused(
        exchange(&app, &orders, &token, "", "profile admin").await,
        Code::PermissionDenied,
        "SCOPE_NOT_DELEGATED",
        "profile admin",
    );
    // The admin API's audience, or one the deployment does not issue for.
    for audience in [ADMIN_AUDIENCE, "elsewhere"] {
        assert_refused(
            exchange(&app, &orders, &token, audience, "").await,
            Code::InvalidArgument,
            "INVALID_REQUEST",
            audience,
        );
    }
    // A service the table does not name acts for nobody.
    let refused = exchange(&app, &billing, &token, "", "").await.err().ok_or("billing exchanged")?;
    assert_eq!((refused.code(), reason(&refused).as_deref()), (Code::PermissionDenied, Some("DELEGATION_NOT_ALLOWED")));
    assert_eq!(refused.message(), format!("svc:billing may not act on a user's behalf for audience {RESOURCE}"));
    Ok(())
}

#[tokio::test]
async fn tx_02_a_dead_subject_token_is_refused_and_an_exchanged_chain_ends_at_four_services() -> TestResult {
    let app = spawn().await?;
    let orders = actor(&app, "orders").await?;
    let (user, token) = app.user_with_token("cat", &["viewer"]).await?;

    assert_refused(exchange(&app, &orders, "", "", "").await, Code::InvalidArgument, "INVALID_REQUEST", "no subject");
    assert_refused(
        exchange(&app, &orders, "not-a-token", "", "").await,
        Code::InvalidArgument,
        "SUBJECT_TOKEN_MALFORMED",
        "garbage",
    );
    // Signed with the real key, but expired; and current but from no session.
    let forger = app.forger().await?;
    let mut expired = forger.claims(&user.id, &["viewer"]);
    expired["iat"] = json!(now() - 2000);
    expired["exp"] = json!(now() - 1000);
    let expired = forger.sign(&forger.header(), &expired);
    assert_refused(
        exchange(&app, &orders, &expired, "", "").await,
        Code::InvalidArgument,
        "SUBJECT_TOKEN_EXPIRED",
        "expired",
    );
    let sessionless = forger.sign(&forger.header(), &forger.claims(&user.id, &["viewer"]));
    assert_refused(
        exchange(&app, &orders, &sessionless, "", "").await,
        Code::InvalidArgument,
        "SUBJECT_SESSION_ENDED",
        "no session",
    );
    // A service's own token is not a user's.
    assert_refused(
        exchange(&app, &orders, &orders, "", "").await,
        Code::InvalidArgument,
        "SUBJECT_NOT_A_USER",
        "a service token",
    );
    // A logged-out session's token.
    let login = app.login("cat", "cat-password").await?;
    let logout = LogoutRequest { refresh_token: login.refresh_token.clone() };
    app.auth.clone().logout(bearer(logout, &login.access_token)).await?;
    assert_refused(
        exchange(&app, &orders, &login.access_token, "", "").await,
        Code::InvalidArgument,
        "SUBJECT_TOKEN_REVOKED",
        "logged out",
    );

    // Exchanged again and again: each hop nests the one before, never
    // outlives it, and a fifth service is refused.
    let (mut subject, mut chain) = (token, Vec::<String>::new());
    for hop in 0..authpair_claims::token::claims::MAX_ACTORS {
        let next = exchange(&app, &orders, &subject, "", "").await?.access_token;
        chain.insert(0, "svc:orders".into());
        let (claims, before) = (payload(&next)?, payload(&subject)?);
        assert!(claims["exp"].as_u64() <= before["exp"].as_u64(), "hop {hop}");
        let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &next)).await?;
        assert_eq!(profile.into_inner().actors, chain, "hop {hop}");
        subject = next;
    }
    assert_eq!(
        payload(&subject)?["act"],
        json!({"sub": "svc:orders", "act": {"sub": "svc:orders", "act": {"sub": "svc:orders", "act": {"sub": "svc:orders"}}}})
    );
    assert_refused(
        exchange(&app, &orders, &subject, "", "").await,
        Code::PermissionDenied,
        "DELEGATION_CHAIN_TOO_LONG",
        "a fifth",
    );
    Ok(())
}

#[tokio::test]
async fn tx_03_only_a_service_with_its_own_token_for_the_auth_service_and_scope_tokens_exchange_may_exchange()
-> TestResult {
    let app = spawn().await?;
    let (_, token) = app.user_with_token("dan", &["viewer"]).await?;
    let ask = || ExchangeTokenRequest { subject_token: token.clone(), ..Default::default() };

    let anonymous = app.auth.clone().exchange_token(ask()).await;
    assert_refused(anonymous, Code::Unauthenticated, "TOKEN_MISSING", "no token");
    // The user exchanging their own token.
    assert_refused(
        app.auth.clone().exchange_token(bearer(ask(), &token)).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
        "a resource token",
    );
    let admin_user = app.admin_token().await?;
    assert_refused(
        app.auth.clone().exchange_token(bearer(ask(), &admin_user)).await,
        Code::PermissionDenied,
        "SERVICE_TOKEN_REQUIRED",
        "a user",
    );
    // A service without the scope, or with a token for another audience.
    let unscoped = app.service_token_for("orders", &["revocations:watch"], "", ADMIN_AUDIENCE).await?;
    assert_refused(
        app.auth.clone().exchange_token(bearer(ask(), &unscoped)).await,
        Code::PermissionDenied,
        "SCOPE_REQUIRED",
        "no scope",
    );
    let elsewhere = app.service_token("reporter", &["documents:read"], "").await?;
    assert_refused(
        app.auth.clone().exchange_token(bearer(ask(), &elsewhere)).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
        "another audience",
    );
    Ok(())
}

/// The resource service refuses `token` as revoked within a second.
async fn revoked_within_a_second(app: &TestApp, token: &str, after: &str) -> TestResult {
    let took = app.time_until_revoked(token, Duration::from_secs(1)).await?;
    println!("{after}: the exchanged token was refused after {took:?}");
    Ok(())
}

#[tokio::test]
async fn the_end_of_the_users_session_or_rights_or_of_the_acting_service_revokes_the_exchanged_token_within_a_second()
-> TestResult {
    let app = spawn().await?;
    let orders = actor(&app, "orders").await?;
    let admin = app.admin_token().await?;
    app.create_user("eve", "eve-password", &["editor"]).await?;
    let fresh = || async {
        let login = app.login("eve", "eve-password").await?;
        let exchanged = exchange(&app, &orders, &login.access_token, "", "").await?.access_token;
        app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &exchanged)).await?;
        Ok::<_, Status>((login, exchanged))
    };

    // A logout of the session it came from (only the refresh token).
    let (login, exchanged) = fresh().await?;
    app.auth.clone().logout(LogoutRequest { refresh_token: login.refresh_token }).await?;
    revoked_within_a_second(&app, &exchanged, "logout").await?;

    // The user's sessions revoked by an admin.
    let (_, exchanged) = fresh().await?;
    let revoke = RevokeUserSessionsRequest { user: by_name("eve") };
    app.admin.clone().revoke_user_sessions(bearer(revoke, &admin)).await?;
    revoked_within_a_second(&app, &exchanged, "sessions revoked").await?;

    // A role change.
    let (_, exchanged) = fresh().await?;
    let demote = SetUserRolesRequest { user: by_name("eve"), roles: vec!["viewer".into()] };
    app.admin.clone().set_user_roles(bearer(demote, &admin)).await?;
    revoked_within_a_second(&app, &exchanged, "role change").await?;

    // The acting service's account deleted.
    let (_, exchanged) = fresh().await?;
    let delete = DeleteServiceAccountRequest { name: "orders".into() };
    app.admin.clone().delete_service_account(bearer(delete, &admin)).await?;
    revoked_within_a_second(&app, &exchanged, "actor deleted").await?;
    Ok(())
}

#[tokio::test]
async fn the_http_token_endpoint_exchanges_for_a_client_that_may_and_names_each_refusal_as_rfc_8693_does() -> TestResult
{
    use authpair_tests::http1::{self, Ask};
    use base64::engine::general_purpose::STANDARD;
    const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
    let app = spawn().await?;
    let (user, token) = app.user_with_token("fran", &["viewer"]).await?;
    let orders = app.service_account_for("orders", &["tokens:exchange"], &[ADMIN_AUDIENCE]).await?;
    let reader = app.service_account("reader", &["documents:read"]).await?;
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    let post = |client: &(String, String), extra: &str| {
        let basic = format!("Basic {}", STANDARD.encode(format!("{}:{}", client.0, client.1)));
        let form = format!("grant_type={GRANT}&subject_token={token}&subject_token_type={ACCESS}{extra}");
        let ask = Ask::method("POST", "/oauth2/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", basic)
            .body(form);
        http1::send(http, ask)
    };

    let answer = post(&orders, "").await?;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let body = answer.json()?;
    assert_eq!((&body["issued_token_type"], &body["token_type"]), (&json!(ACCESS), &json!("Bearer")));
    assert_eq!(body["scope"], "documents:read profile");
    let exchanged = body["access_token"].as_str().ok_or("no access_token")?;
    assert_eq!(payload(exchanged)?["act"], json!({"sub": "svc:orders"}));
    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, exchanged)).await?.into_inner();
    assert_eq!((profile.subject, profile.actors), (user.id, vec!["svc:orders".to_owned()]));

    let wrong = (orders.0.clone(), "not-the-secret".to_owned());
    for (client, extra, status, error) in [
        (&reader, "", 400, "unauthorized_client"),
        (&wrong, "", 401, "invalid_client"),
        (&orders, "&actor_token=x", 400, "invalid_request"),
        (&orders, "&scope=admin", 400, "invalid_scope"),
        (&orders, "&scope=documents:write", 400, "invalid_scope"),
        (&orders, &format!("&audience={ADMIN_AUDIENCE}"), 400, "invalid_target"),
        (&orders, "&requested_token_type=urn:ietf:params:oauth:token-type:refresh_token", 400, "invalid_request"),
    ] {
        let refused = post(client, extra).await?;
        let body = refused.json()?;
        assert_eq!(
            (refused.status.as_u16(), body["error"].as_str()),
            (status, Some(error)),
            "{} {extra}: {body}",
            client.0
        );
    }
    Ok(())
}
