//! Every method of every service, driven from the policy table itself: no
//! token, a bad token, the wrong kind of principal, the wrong role, a
//! missing scope and a token for the other service each get the exact code
//! and reason. A method added to the
//! .proto files is covered here without touching this file.

use authpair_claims::{Access, Policy, Principal, RoleScopes, policy::STANDARD_METHODS};
use authpair_proto::{AUTH_SERVICES, FILE_DESCRIPTOR_SET, RESOURCE_SERVICES};
use authpair_tests::{ADMIN_AUDIENCE, Forger, TestApp, TestResult, reason};
use serde_json::json;
use tonic::{Code, Request, Status, codegen::http::uri::PathAndQuery, metadata::MetadataValue, transport::Channel};

/// Calls `path` with an empty request message (valid for any proto3
/// message) and returns the status; the response body is not read.
async fn call(channel: Channel, path: &str, token: Option<&str>) -> Status {
    let mut request = Request::new(());
    if let Some(token) = token {
        match MetadataValue::try_from(format!("Bearer {token}")) {
            Ok(value) => {
                request.metadata_mut().insert("authorization", value);
            }
            Err(e) => return Status::internal(format!("bad test token: {e}")),
        }
    }
    let mut grpc = tonic::client::Grpc::new(channel);
    if let Err(e) = grpc.ready().await {
        return Status::unavailable(e.to_string());
    }
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let path = match PathAndQuery::try_from(path) {
        Ok(path) => path,
        Err(e) => return Status::internal(format!("bad path: {e}")),
    };
    let result = if path.as_str().ends_with("/WatchRevocations") {
        grpc.server_streaming(request, path, codec).await.map(drop)
    } else {
        grpc.unary(request, path, codec).await.map(drop)
    };
    result.err().unwrap_or_else(|| Status::ok(""))
}

fn channel_for(app: &TestApp, path: &str) -> Channel {
    let addr = if path.starts_with("/auth.") { app.auth_server.addr } else { app.resource_server.addr };
    match authpair_tests::channel(addr) {
        Ok(channel) => channel,
        Err(e) => panic!("channel: {e}"),
    }
}

/// The audience of `path`'s service: the auth service's own for its
/// methods, the resource service's for the rest.
fn audience_of(path: &str) -> &'static str {
    if path.starts_with("/auth.") { ADMIN_AUDIENCE } else { "authpair" }
}

/// A token for `audience` with exactly these roles and scopes, for a user or
/// a service.
fn token_for(forger: &Forger, audience: &str, service: bool, roles: &[&str], scopes: &[&str]) -> String {
    let sub = if service { "svc:matrix" } else { "matrix-user" };
    let mut claims = forger.claims(sub, roles);
    claims["scope"] = json!(scopes.join(" "));
    claims["aud"] = json!(audience);
    forger.sign(&forger.header(), &claims)
}

#[track_caller]
fn expect(status: &Status, code: Code, why: &str, path: &str) {
    assert_eq!(status.code(), code, "{path}: {status:?}");
    assert_eq!(reason(status).as_deref(), Some(why), "{path}: {status:?}");
}

#[tokio::test]
async fn az_01_tm_01_every_method_refuses_each_missing_credential_with_the_right_code_and_reason() -> TestResult {
    let app = TestApp::spawn().await?;
    let forger = app.forger().await?;
    let all_scopes = RoleScopes::default().scopes();
    let all_scopes: Vec<&str> = all_scopes.iter().map(String::as_str).collect();
    let all_scopes = all_scopes.as_slice();
    let services = [AUTH_SERVICES, RESOURCE_SERVICES].concat();
    let policy = Policy::from_descriptors(FILE_DESCRIPTOR_SET, &services)?;
    let declared = policy.rules().filter(|(path, _)| !STANDARD_METHODS.contains(path));
    for (path, method) in declared {
        let any_role: Vec<&str> = method.any_role.iter().map(String::as_str).collect();
        let scopes: Vec<&str> = method.scopes.iter().map(String::as_str).collect();
        let (any_role, scopes) = (any_role.as_slice(), scopes.as_slice());
        let channel = || channel_for(&app, path);
        let token = |forger: &Forger, service: bool, roles: &[&str], scopes: &[&str]| {
            token_for(forger, audience_of(path), service, roles, scopes)
        };

        let bad = call(channel(), path, Some("not.a.token")).await;
        expect(&bad, Code::Unauthenticated, "TOKEN_MALFORMED", path);

        let anonymous = call(channel(), path, None).await;
        if method.access == Access::Public {
            assert_ne!(anonymous.code(), Code::Unauthenticated, "{path}: {anonymous:?}");
            assert_ne!(anonymous.code(), Code::PermissionDenied, "{path}: {anonymous:?}");
            continue;
        }
        expect(&anonymous, Code::Unauthenticated, "TOKEN_MISSING", path);

        let is_service = method.principal == Principal::Service;
        match method.principal {
            Principal::User => {
                let service = token(&forger, true, &[], all_scopes);
                expect(
                    &call(channel(), path, Some(&service)).await,
                    Code::PermissionDenied,
                    "USER_TOKEN_REQUIRED",
                    path,
                );
            }
            Principal::Service => {
                let user = token(&forger, false, &["admin", "editor", "viewer"], all_scopes);
                let status = call(channel(), path, Some(&user)).await;
                expect(&status, Code::PermissionDenied, "SERVICE_TOKEN_REQUIRED", path);
            }
            Principal::Any => {}
        }
        if !method.any_role.is_empty() {
            let roleless = token(&forger, is_service, &[], all_scopes);
            expect(&call(channel(), path, Some(&roleless)).await, Code::PermissionDenied, "ROLE_REQUIRED", path);
        }
        if !method.scopes.is_empty() {
            let unscoped = token(&forger, is_service, any_role, &[]);
            expect(&call(channel(), path, Some(&unscoped)).await, Code::PermissionDenied, "SCOPE_REQUIRED", path);
        }
        // Everything the policy asks for, but for the other service (TF-11 d).
        let elsewhere = if audience_of(path) == ADMIN_AUDIENCE { "authpair" } else { ADMIN_AUDIENCE };
        let misdirected = token_for(&forger, elsewhere, is_service, any_role, scopes);
        let status = call(channel(), path, Some(&misdirected)).await;
        expect(&status, Code::Unauthenticated, "TOKEN_INVALID", path);
        assert_eq!(status.message(), "wrong token audience", "{path}");
        // With everything the policy asks for, the call gets past auth: any
        // error now is the handler's (empty input, no such object).
        let enough = token(&forger, is_service, any_role, scopes);
        let status = call(channel(), path, Some(&enough)).await;
        assert!(
            !matches!(status.code(), Code::Unauthenticated | Code::PermissionDenied),
            "{path}: a caller with every requirement was refused: {status:?}"
        );
    }
    Ok(())
}
