//! authpair-gate, asked as Envoy asks it: `Check` over gRPC with Envoy's
//! own messages and client stubs (PyPI's xds-protos over grpcio), beside a
//! real auth service and resource service. Its answers are compared with
//! the resource service's for the same tokens and methods: a gRPC upstream
//! behind the gate refuses exactly what a service linked with
//! authpair-claims refuses, with the same code and reason.

use std::time::Duration;

use authpair_claims::defaults::AUDIENCE;
use authpair_proto::{
    auth::v1::LogoutRequest,
    resource::v1::{GetAdminDashboardRequest, GetMyProfileRequest},
};
use authpair_tests::{
    Forger, TestApp, TestResult, bearer,
    gate::{Case, check, start_gate, xds_or_skip},
    grpcurl::grpcurl_or_skip,
    now, reason,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::Value;
use tonic::Code;

const WEB: &str = "web-api";

/// A gRPC upstream (the resource service's own policy, from its descriptor
/// set) and an HTTP one with rules, each with its audience.
const ROUTES: &str = r#"
default_route = "resource"

[[route]]
name = "resource"
audience = "authpair"
descriptor_sets = ["resource.binpb"]
services = ["resource.v1.ResourceService"]

[[route]]
name = "web"
audience = "web-api"

[[route.rule]]
method = "GET"
path = "/health"
access = "public"

[[route.rule]]
method = "GET"
path = "/v1/items/*"
access = "authenticated"
principal = "user"
scopes = ["profile"]

[[route.rule]]
method = "POST"
path = "/v1/items"
access = "authenticated"
any_role = ["editor"]

[[route.rule]]
method = "DELETE"
path = "/v1/items/*"
access = "authenticated"
scopes = ["admin"]

[[route.rule]]
method = "GET"
path = "/v1/reports/**"
access = "authenticated"
quota = "reports"
"#;

async fn app() -> anyhow::Result<TestApp> {
    TestApp::spawn_with(|a| a.audiences = vec![AUDIENCE.into(), WEB.into()], |_| {}).await
}

/// (status code, ErrorInfo reason) of a gate's answer; reason "" when allowed.
fn outcome(answer: &Value) -> (i64, String) {
    let body: Value = answer["body"].as_str().and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default();
    (answer["code"].as_i64().unwrap_or(-1), body["error"]["details"][0]["reason"].as_str().unwrap_or("").to_owned())
}

/// (status code, reason) of a resource service's answer.
fn resource_outcome<T>(result: Result<T, tonic::Status>) -> (i64, String) {
    match result {
        Ok(_) => (0, String::new()),
        Err(status) => (status.code() as i64, reason(&status).unwrap_or_default()),
    }
}

#[tokio::test]
async fn for_a_grpc_upstream_the_gate_refuses_exactly_what_the_resource_service_refuses_with_the_same_code_and_reason()
-> TestResult {
    if !xds_or_skip("gate")? {
        return Ok(());
    }
    let app = app().await?;
    let gate = start_gate(&app, ROUTES, |_| {}).await?;
    let (_, viewer) = app.user_with_token("vivi", &["viewer"]).await?;
    let (_, admin) = app.user_with_token("ada", &["admin"]).await?;
    let web = app.login_for("vivi", "vivi-password", WEB).await?.access_token;
    let forger = Forger::from_auth_config(&app.auth_config).await?;
    let mut expired = forger.claims("ghost", &["viewer"]);
    expired["aud"] = AUDIENCE.into();
    expired["iat"] = (now() - 7200).into();
    expired["nbf"] = (now() - 7200).into();
    expired["exp"] = (now() - 3600).into();
    let expired = forger.sign(&forger.header(), &expired);
    let mut forged = viewer.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");

    let tokens: [(&str, Option<&str>); 7] = [
        ("a viewer's token", Some(&viewer)),
        ("an admin's token", Some(&admin)),
        ("no token", None),
        ("an expired token", Some(&expired)),
        ("a token with a forged signature", Some(&forged)),
        ("a token for another route's audience", Some(&web)),
        ("a token for the auth service", Some(&app.admin_token().await?)),
    ];
    let methods = ["/resource.v1.ResourceService/GetMyProfile", "/resource.v1.ResourceService/GetAdminDashboard"];
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for method in methods {
        for (what, token) in &tokens {
            let mut case = Case::new("resource", "POST", method).header("content-type", "application/grpc");
            if let Some(token) = token {
                case = case.bearer(token);
            }
            cases.push(case);
            let resource = app.resource.clone();
            let answered = match (method.ends_with("GetMyProfile"), token) {
                (true, Some(t)) => {
                    resource_outcome(resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, t)).await)
                }
                (true, None) => resource_outcome(resource.clone().get_my_profile(GetMyProfileRequest {}).await),
                (false, Some(t)) => {
                    resource_outcome(resource.clone().get_admin_dashboard(bearer(GetAdminDashboardRequest {}, t)).await)
                }
                (false, None) => {
                    resource_outcome(resource.clone().get_admin_dashboard(GetAdminDashboardRequest {}).await)
                }
            };
            expected.push((format!("{what} on {method}"), answered));
        }
    }
    let answers = check(gate.server.addr, &cases).await?;
    for ((what, resource), answer) in expected.iter().zip(&answers) {
        assert_eq!(&outcome(answer), resource, "{what}: the gate said {answer}");
    }
    // The comparison covered each kind of answer, not only one.
    let seen: std::collections::BTreeSet<String> = expected.iter().map(|(_, (_, reason))| reason.clone()).collect();
    for reason in ["", "TOKEN_MISSING", "TOKEN_EXPIRED", "TOKEN_INVALID", "ROLE_REQUIRED"] {
        assert!(seen.contains(reason), "no case answered {reason:?}: {seen:?}");
    }

    // A gRPC caller gets the gRPC status Envoy hands on; a refusal of a
    // token names itself in WWW-Authenticate (RFC 6750).
    let missing = &answers[2];
    assert_eq!(missing["http_status"], 401);
    assert_eq!(missing["headers"]["grpc-status"], "16");
    assert_eq!(missing["headers"]["www-authenticate"], r#"Bearer realm="authpair""#);
    let invalid = &answers[4];
    assert_eq!(
        invalid["headers"]["www-authenticate"],
        r#"Bearer realm="authpair", error="invalid_token", error_description="invalid token signature""#
    );
    let role = &answers[tokens.len()];
    assert_eq!((role["http_status"].as_i64(), role["headers"]["grpc-status"].as_str()), (Some(403), Some("7")));
    Ok(())
}

#[tokio::test]
async fn gx_01_an_allowed_request_carries_the_verified_identity_and_never_the_one_the_client_sent() -> TestResult {
    if !xds_or_skip("gate")? {
        return Ok(());
    }
    let app = app().await?;
    let gate = start_gate(&app, ROUTES, |g| g.strip_authorization = true).await?;
    let (user, _) = app.user_with_token("ivy", &["viewer"]).await?;
    let web = app.login_for("ivy", "ivy-password", WEB).await?.access_token;
    let spoofed = |case: Case| {
        case.header("x-authpair-subject", "someone-else")
            .header("x-authpair-roles", "admin")
            .header("x-authpair-actors", "svc:trusted")
    };
    let answers = check(
        gate.server.addr,
        &[
            spoofed(Case::new("web", "GET", "/v1/items/42?debug=1").bearer(&web)),
            spoofed(Case::new("web", "GET", "/health")),
        ],
    )
    .await?;

    let allowed = &answers[0];
    assert_eq!((allowed["code"].as_i64(), allowed["allowed"].as_bool()), (Some(0), Some(true)), "{allowed}");
    assert_eq!(allowed["headers"]["x-authpair-subject"], user.id.as_str());
    assert_eq!(allowed["headers"]["x-authpair-roles"], "viewer");
    assert_eq!(allowed["headers"]["x-authpair-principal"], "user");
    assert_eq!(allowed["headers"]["x-authpair-scopes"], "documents:read profile");
    assert!(allowed["headers"]["x-authpair-token-id"].as_str().is_some_and(|id| !id.is_empty()));
    // A direct call has no actors: the header the client sent is removed.
    assert_eq!(
        allowed["headers_to_remove"],
        serde_json::json!(["x-authpair-actors", "authorization"]),
        "the token stays with the gate"
    );

    // Anonymous on a public rule: every identity header the client sent is removed.
    let public = &answers[1];
    assert_eq!(public["allowed"], true, "{public}");
    assert_eq!(public["headers"], serde_json::json!({}));
    let removed: Vec<&str> =
        public["headers_to_remove"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for name in [
        "x-authpair-subject",
        "x-authpair-roles",
        "x-authpair-principal",
        "x-authpair-scopes",
        "x-authpair-actors",
        "authorization",
    ] {
        assert!(removed.contains(&name), "{name} not removed: {removed:?}");
    }
    Ok(())
}

#[tokio::test]
async fn http_rules_deny_a_missing_role_or_scope_an_unknown_route_method_or_path_two_tokens_and_a_spent_quota()
-> TestResult {
    if !xds_or_skip("gate")? {
        return Ok(());
    }
    let app = app().await?;
    let gate = start_gate(&app, ROUTES, |g| {
        g.quotas.plan_quotas = authpair_tests::plan_quotas("free=2,pro=100");
    })
    .await?;
    app.create_user("rex", "rex-password", &["viewer"]).await?;
    let web = app.login_for("rex", "rex-password", WEB).await?.access_token;
    let report = || Case::new("web", "GET", "/v1/reports/2026/q4").bearer(&web);
    // As Envoy sends them with `encode_raw_headers`: one entry per line.
    let mut two_authorization_lines = Case::new("web", "GET", "/v1/items/42");
    two_authorization_lines.raw_headers = Some(vec![
        ("authorization".into(), format!("Bearer {web}")),
        ("authorization".into(), "Bearer forged.token.value".into()),
    ]);
    let answers = check(
        gate.server.addr,
        &[
            Case::new("web", "POST", "/v1/items").bearer(&web),
            Case::new("web", "DELETE", "/v1/items/42").bearer(&web),
            Case::new("nope", "GET", "/v1/items/42").bearer(&web),
            Case::new("web", "PATCH", "/v1/items/42").bearer(&web),
            Case::new("web", "GET", "/v1/items/42/../../admin").bearer(&web),
            Case::new("web", "GET", "/v1/items/42"),
            two_authorization_lines,
            report(),
            report(),
            report(),
        ],
    )
    .await?;
    let outcomes: Vec<(i64, String)> = answers.iter().map(outcome).collect();
    let denied = |code: Code, reason: &str| (code as i64, reason.to_owned());
    assert_eq!(outcomes[0], denied(Code::PermissionDenied, "ROLE_REQUIRED"));
    assert_eq!(outcomes[1], denied(Code::PermissionDenied, "SCOPE_REQUIRED"));
    assert_eq!(
        answers[1]["headers"]["www-authenticate"],
        r#"Bearer realm="authpair", error="insufficient_scope", scope="admin""#
    );
    for (i, what) in [(2, "an unknown route"), (3, "a method no rule has"), (4, "a path not in normal form")] {
        assert_eq!(outcomes[i], denied(Code::PermissionDenied, "METHOD_NOT_ALLOWED"), "{what}");
        assert_eq!(answers[i]["http_status"], 403, "{what}");
    }
    assert_eq!(outcomes[5], denied(Code::Unauthenticated, "TOKEN_MISSING"));
    assert_eq!(outcomes[6], denied(Code::Unauthenticated, "TOKEN_MALFORMED"), "two authorization lines");
    assert_eq!((outcomes[7].0, outcomes[8].0), (0, 0), "two reports within the free plan's quota");
    assert_eq!(outcomes[9], denied(Code::ResourceExhausted, "QUOTA_EXCEEDED"));
    assert_eq!(answers[9]["http_status"], 429);
    let retry: u64 = answers[9]["headers"]["retry-after"].as_str().unwrap_or("").parse()?;
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    Ok(())
}

#[tokio::test]
async fn gx_03_a_logout_is_refused_by_the_gate_within_a_second_and_a_stale_revocation_list_fails_closed() -> TestResult
{
    if !xds_or_skip("gate")? {
        return Ok(());
    }
    let mut app = app().await?;
    let gate = start_gate(&app, ROUTES, |g| g.follow.max_revocation_staleness = Duration::from_secs(2)).await?;
    app.create_user("lou", "lou-password", &["viewer"]).await?;
    let pair = app.login("lou", "lou-password").await?;
    let live = app.login("lou", "lou-password").await?.access_token;
    let profile =
        |token: &str| Case::new("resource", "POST", "/resource.v1.ResourceService/GetMyProfile").bearer(token);
    assert_eq!(outcome(&check(gate.server.addr, &[profile(&pair.access_token)]).await?[0]).0, 0);

    let logout = LogoutRequest { refresh_token: pair.refresh_token.clone() };
    app.auth.clone().logout(bearer(logout, &pair.access_token)).await?;
    let revoked = &check(gate.server.addr, &[profile(&pair.access_token).until_code(Code::Unauthenticated)]).await?[0];
    assert_eq!(outcome(revoked), (Code::Unauthenticated as i64, "TOKEN_REVOKED".to_owned()), "{revoked}");
    let elapsed = revoked["elapsed_ms"].as_u64().unwrap_or(u64::MAX);
    assert!(elapsed < 1000, "the logout reached the gate after {elapsed} ms");

    // With the auth service gone past the staleness bound: fail closed.
    app.auth_server.stop().await?;
    let stale = &check(gate.server.addr, &[profile(&live).until_code(Code::Unavailable)]).await?[0];
    assert_eq!(outcome(stale), (Code::Unavailable as i64, "REVOCATIONS_STALE".to_owned()), "{stale}");
    assert_eq!(stale["http_status"], 503);
    Ok(())
}

#[tokio::test]
async fn grpcurl_finds_the_check_service_through_reflection_and_is_denied_without_a_token() -> TestResult {
    let Some(grpcurl) = grpcurl_or_skip("gate")? else {
        return Ok(());
    };
    let app = app().await?;
    let gate = start_gate(&app, ROUTES, |_| {}).await?;
    let listed = grpcurl.run(gate.server.addr, &["list"]).await?;
    assert!(listed.ok && listed.text.lines().any(|l| l == "envoy.service.auth.v3.Authorization"), "{}", listed.text);
    let request = r#"{"attributes": {"request": {"http": {"method": "GET", "path": "/v1/items/1"}},
        "contextExtensions": {"authpair_route": "web"}}}"#;
    let denied = grpcurl.run(gate.server.addr, &["-d", request, "envoy.service.auth.v3.Authorization/Check"]).await?;
    assert!(denied.ok, "{}", denied.text);
    let answer: Value = serde_json::from_str(&denied.text)?;
    assert_eq!(answer["status"]["code"], Code::Unauthenticated as i64, "{answer}");
    assert_eq!(answer["deniedResponse"]["status"]["code"], "Unauthorized", "{answer}");
    Ok(())
}

#[tokio::test]
async fn gx_02_a_grpc_path_is_matched_exactly_and_every_variant_of_a_method_is_denied() -> TestResult {
    if !xds_or_skip("gate")? {
        return Ok(());
    }
    let app = app().await?;
    let gate = start_gate(&app, ROUTES, |_| {}).await?;
    let (_, viewer) = app.user_with_token("gus", &["viewer"]).await?;
    let method = "/resource.v1.ResourceService/GetMyProfile";
    let long = format!("{method}/{}", "a".repeat(9 * 1024));
    let variants = [
        format!("{method}/"),
        format!("/{method}"),
        "/resource.v1.ResourceService//GetMyProfile".to_owned(),
        "/resource.v1.ResourceService/./GetMyProfile".to_owned(),
        "/resource.v1.ResourceService/x/../GetMyProfile".to_owned(),
        "/resource.v1.ResourceService%2FGetMyProfile".to_owned(),
        "/resource.v1.ResourceService/GetMyProfile%2E".to_owned(),
        format!("{method}?admin=1"),
        "/resource.v1.ResourceService/getmyprofile".to_owned(),
        "/RESOURCE.V1.RESOURCESERVICE/GetMyProfile".to_owned(),
        long,
    ];
    let mut cases = vec![Case::new("resource", "POST", method).bearer(&viewer)];
    cases.extend(variants.iter().map(|path| Case::new("resource", "POST", path).bearer(&viewer)));
    let answers = check(gate.server.addr, &cases).await?;
    assert_eq!(outcome(&answers[0]).0, 0, "the method itself is allowed: {}", answers[0]);
    for (path, answer) in variants.iter().zip(&answers[1..]) {
        assert_eq!(
            outcome(answer),
            (Code::PermissionDenied as i64, "METHOD_NOT_ALLOWED".to_owned()),
            "{}",
            &path[..path.len().min(80)]
        );
    }
    Ok(())
}

#[tokio::test]
async fn cb_01_a_certificate_bound_token_passes_the_gate_only_with_the_client_certificate_envoy_forwards() -> TestResult
{
    if !xds_or_skip("gate")? {
        return Ok(());
    }
    let pki = crate::tls::Pki::new()?;
    let app = app().await?;
    let gate = start_gate(&app, ROUTES, |_| {}).await?;
    let (user, _) = app.user_with_token("cy", &["viewer"]).await?;
    let forger = Forger::from_auth_config(&app.auth_config).await?;
    let mut claims = forger.claims(&user.id, &["viewer"]);
    claims["aud"] = AUDIENCE.into();
    claims["cnf"] = serde_json::json!({"x5t#S256": URL_SAFE_NO_PAD.encode(pki.thumbprint("client"))});
    let bound = forger.sign(&forger.header(), &claims);
    let profile = || Case::new("resource", "POST", "/resource.v1.ResourceService/GetMyProfile").bearer(&bound);
    let with = |name: &str| -> anyhow::Result<Case> {
        let mut case = profile();
        case.certificate = Some(std::fs::read_to_string(pki.path(&format!("{name}.pem")))?);
        Ok(case)
    };
    let answers = check(gate.server.addr, &[with("client")?, with("other")?, profile()]).await?;
    assert_eq!(outcome(&answers[0]).0, 0, "with its own certificate: {}", answers[0]);
    for (answer, over) in answers[1..].iter().zip(["another client's certificate", "no certificate"]) {
        assert_eq!(
            outcome(answer),
            (Code::Unauthenticated as i64, "CERTIFICATE_MISMATCH".to_owned()),
            "over {over}: {answer}"
        );
    }
    Ok(())
}
